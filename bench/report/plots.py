"""The report's figures (PNG bytes, matplotlib): robust accuracy vs eps of every model in one
plot, and each transfer matrix as a heat map. Rendered without a clock or version in the file, so
an unchanged report re-renders byte for byte."""

from __future__ import annotations

import io
import math

from bench.report.model import Figure, Report, Transfer

ROBUST_VS_EPS = "plots/robust_accuracy_vs_eps.png"


def transfer_plot(transfer: Transfer) -> str:
    return f"plots/transfer_{transfer.attack}.png"


def eps_curves(report: Report) -> dict[str, list[tuple[float, Figure]]]:
    """model -> [(eps, figure)] under L-inf: eps 0 the clean column, then the per-example worst
    case at each eps of the suite's worst cases by eps; a suite without those: the lowest robust
    accuracy of each eps's attacks. Models with fewer than two points are left out."""
    clean = report.clean_column
    worst = {float(c.eps): c for c in report.worst_columns if c.eps}
    attacks: dict[float, list[str]] = {}
    for col in report.of_role("attack"):
        t = col.threat
        if t is not None and t.adversarial and t.norm == "linf" and t.eps:
            attacks.setdefault(t.eps, []).append(col.key)
    curves = {}
    for row in report.rows:
        points = [(0.0, row.figure(clean.key))] if clean else []
        for eps in sorted(worst or attacks):  # where the suite has worst cases by eps, only those
            if eps in worst:
                points.append((eps, row.figure(worst[eps].key)))
            else:
                figs = [row.figure(k) for k in attacks[eps] if not row.figure(k).missing]
                if figs:
                    points.append((eps, min(figs, key=lambda f: f.value or 0.0)))
        points = [(e, f) for e, f in points if not f.missing]
        if len(points) >= 2:
            curves[row.model] = points
    return curves


def _png(fig: object) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})  # type: ignore[attr-defined]
    import matplotlib.pyplot as plt

    plt.close(fig)  # type: ignore[arg-type]
    return buf.getvalue()


def robust_vs_eps(report: Report) -> bytes | None:
    """One figure, a line per model with its 95% intervals as error bars; None without curves."""
    curves = eps_curves(report)
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("tab20")
    for i, (model, points) in enumerate(curves.items()):
        eps = [e for e, _ in points]
        value = [float(f.value or 0.0) for _, f in points]
        err = [[v - (f.lo if f.lo is not None else v) for (_, f), v in zip(points, value)],
               [(f.hi if f.hi is not None else v) - v for (_, f), v in zip(points, value)]]
        ax.errorbar(eps, value, yerr=err, marker="o", markersize=3, capsize=2, linewidth=1.2, color=cmap(i % 20), label=model)
    ax.set_xlabel("L∞ ε")
    ax.set_ylabel("robust accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{report.name}: robust accuracy vs ε (95% intervals)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(curves) > 10 else 1, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return _png(fig)


def transfer_heatmap(transfer: Transfer) -> bytes:
    """Error rate of each target (column) on each source's (row) adversarial examples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [[transfer.cell(s, t).value for t in transfer.targets] for s in transfer.sources]
    grid = [[math.nan if v is None else v for v in row] for row in rates]
    size = max(4.0, 0.45 * len(transfer.targets) + 3), max(3.0, 0.35 * len(transfer.sources) + 2)
    fig, ax = plt.subplots(figsize=size)
    image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(transfer.targets)), list(transfer.targets), rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(transfer.sources)), list(transfer.sources), fontsize=7)
    ax.set_xlabel("target model")
    ax.set_ylabel("source of the adversarial examples")
    ax.set_title(f"Transfer: {transfer.label} (error rate)", fontsize=9)
    if len(transfer.targets) * len(transfer.sources) <= 400:
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                if not math.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=5, color="white" if v < 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    return _png(fig)
