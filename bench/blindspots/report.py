"""The study's table in the layout of the paper's Table 1 (rows: signal; columns: the conv net,
every baseline, the best non-conv model with its name), as Markdown, CSV, JSON and HTML, and the
figure of one example per encoding with its amplified difference from the clean image.

Rendered from the cells alone (no data needed), so a fresh clone renders the committed results;
files whose content did not change are not rewritten."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tabulate import tabulate

from bench.blindspots.encodings import ENCODINGS
from bench.blindspots.models import TITLES
from bench.blindspots.runner import cell_config, cell_path, read_cell, rows
from bench.blindspots.suite import BlindSpotSuite, config_digest
from bench.results import atomic_write_text
from bench.stats import proportion_interval

FIGURE = "examples.png"


def table(suite: BlindSpotSuite) -> list[dict[str, Any]]:
    """One record per row: accuracies (injected and clean test) per model, the best non-conv
    model, the signal check; a model without a matching finished cell is None."""
    from bench.data import get

    k = get(suite.dataset).num_classes
    out = []
    for enc, scale in rows(suite):
        rec: dict[str, Any] = {"signal": ENCODINGS.get(enc).title, "encoding": enc, "scale": scale,
                               "injected": {}, "clean": {}, "errors": {}, "warnings": {}, "wall_time_s": {}, "n_train": None, "n_test": None,
                               "decodable_test": None}
        for model in suite.models:
            cell = read_cell(cell_path(suite.out_dir, enc, scale, model))
            if cell is None or cell.get("digest") != config_digest(cell_config(suite, enc, scale, model, k)):
                rec["injected"][model] = rec["clean"][model] = None
                continue
            rec["injected"][model], rec["clean"][model] = cell["accuracy"]["injected"], cell["accuracy"]["clean"]
            if cell.get("error"):
                rec["errors"][model] = cell["error"]
            if cell.get("warnings"):
                rec["warnings"][model] = cell["warnings"]
            rec["wall_time_s"][model] = round(sum(cell["wall_time_s"].values()), 1)
            rec["n_train"], rec["n_test"] = cell["n_train"], cell["n_test"]
            rec["decodable_test"] = cell["signal"]["decodable_test"]
        flat = {m: a for m, a in rec["injected"].items() if m != "conv" and a is not None}
        best = max(flat, key=lambda m: (flat[m], -suite.models.index(m))) if flat else None
        rec["best_non_conv"] = {"model": best, "title": TITLES[best] if best else None, "injected": flat.get(best) if best else None}
        out.append(rec)
    return out


def _interval(acc: float | None, n: int | None) -> list[float] | None:
    """The 95% Clopper-Pearson interval of an accuracy of n test images (None when missing)."""
    ci = proportion_interval(acc, n)
    return None if ci is None else [round(ci[0], 6), round(ci[1], 6)]


def _with_intervals(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with ``interval``: {injected|clean: {model: [lo, hi]}} of its accuracies."""
    return [{**r, "interval": {w: {m: _interval(a, r["n_test"]) for m, a in r[w].items()} for w in ("injected", "clean")}}
            for r in recs]


def widest_half_width(recs: list[dict[str, Any]]) -> float | None:
    """The largest half-width of any accuracy's interval in the table: one number the Markdown
    states instead of an interval beside each of its ~400 figures."""
    widths = [(ci[1] - ci[0]) / 2 for r in _with_intervals(recs) for w in ("injected", "clean")
              for ci in r["interval"][w].values() if ci is not None]
    return max(widths) if widths else None


def _pct(v: float | None, error: str | None = None) -> str:
    if error:
        return "fails"
    return "—" if v is None else f"{100 * v:.1f}%"


def _grid(suite: BlindSpotSuite, recs: list[dict[str, Any]], which: str) -> tuple[list[str], list[list[str]]]:
    headers = ["Truth signal", "Scale"] + [TITLES[m] for m in suite.models]
    if which == "injected":
        headers += ["Best non-conv", "Best model", "Decodable"]
    body = []
    for r in recs:
        row = [r["signal"], "—" if r["scale"] is None else f"{r['scale']:g}"]
        row += [_pct(r[which][m], r["errors"].get(m)) for m in suite.models]
        if which == "injected":
            b = r["best_non_conv"]
            row += [_pct(b["injected"]), b["title"] or "—", _pct(r["decodable_test"])]
        body.append(row)
    return headers, body


def _wall_times(suite: BlindSpotSuite, recs: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per model over every row (fit + predict), as recorded in the cells."""
    return {m: round(sum(r["wall_time_s"].get(m, 0.0) for r in recs), 1) for m in suite.models}


def _precision(recs: list[dict[str, Any]]) -> str:
    """The sentence on the figures' sampling error."""
    widest = widest_half_width(recs)
    if widest is None:
        return ""
    return (f" Each accuracy's 95% (Clopper-Pearson) interval is at most +-{100 * widest:.1f} points (table.csv and "
            "table.json give each one).")


def markdown(suite: BlindSpotSuite, recs: list[dict[str, Any]]) -> str:
    n_train = next((r["n_train"] for r in recs if r["n_train"]), None)
    n_test = next((r["n_test"] for r in recs if r["n_test"]), None)
    lines = [f"# {suite.name}: blind spots (Hoffer, Fine & Soudry, Table 1 layout)", "",
             f"{suite.dataset}: models trained on {n_train or '?'} injected training images ({suite.fraction:g} of the "
             f"training set, seed {suite.seed}); accuracy on n = {n_test or '?'} test images carrying the same signal."
             f"{_precision(recs)} "
             "Best non-conv: the best model other than the conv net. Decodable: the fraction of injected test images "
             "from which the encoding's own rule reads the label (the signal survived clipping).", ""]
    lines.append(tabulate(*reversed(_grid(suite, recs, "injected")), tablefmt="github"))
    lines += ["", "## Accuracy on the clean test set (same models, images without the signal)", ""]
    lines.append(tabulate(*reversed(_grid(suite, recs, "clean")), tablefmt="github"))
    walls = _wall_times(suite, recs)
    lines += ["", "## Wall time per model (fit + predict, summed over the rows)", ""]
    lines.append(tabulate([[TITLES[m], f"{s / 60:.1f} min"] for m, s in walls.items()], headers=["model", "wall time"], tablefmt="github"))
    errors = sorted({e for r in recs for e in r["errors"].values()})
    if errors:
        lines += ["", "fails: the library refused the data: " + "; ".join(errors)]
    warned: dict[tuple[str, str], int] = {}
    for r in recs:
        for m, ws in r["warnings"].items():
            for w in ws:
                warned[(m, w)] = warned.get((m, w), 0) + 1
    if warned:
        lines += ["", "Warnings the libraries gave (each cell records its own):", ""]
        lines += [f"- {TITLES[m]}: {w} ({n} of {len(recs)} rows)" for (m, w), n in sorted(warned.items())]
    lines += ["", "How each encoding stays in [0,1]:", ""]
    lines += [f"- {ENCODINGS.get(e).title}: {ENCODINGS.get(e).clipping}" for e in suite.encodings]
    lines += ["", f"![one example per encoding]({FIGURE})", ""]
    return "\n".join(lines)


def records_json(suite: BlindSpotSuite, recs: list[dict[str, Any]]) -> str:
    return json.dumps({"suite": suite.name, "version": suite.version, "dataset": suite.dataset, "fraction": suite.fraction,
                       "seed": suite.seed, "models": suite.models, "rows": _with_intervals(recs),
                       "wall_time_s": _wall_times(suite, recs)}, indent=1, sort_keys=True) + "\n"


def records_csv(suite: BlindSpotSuite, recs: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["signal", "encoding", "scale", "model", "injected_accuracy", "injected_lo", "injected_hi", "clean_accuracy",
                "clean_lo", "clean_hi", "error", "wall_time_s", "n_train", "n_test", "decodable_test", "best_non_conv"])
    for r in _with_intervals(recs):
        for m in suite.models:
            ci = {w: r["interval"][w].get(m) or [None, None] for w in ("injected", "clean")}
            w.writerow([r["signal"], r["encoding"], "" if r["scale"] is None else r["scale"], m, _csv(r["injected"][m]),
                        *map(_csv, ci["injected"]), _csv(r["clean"][m]), *map(_csv, ci["clean"]), r["errors"].get(m, ""),
                        _csv(r["wall_time_s"].get(m)), _csv(r["n_train"]), _csv(r["n_test"]), _csv(r["decodable_test"]),
                        r["best_non_conv"]["model"] or ""])
    return buf.getvalue()


def _csv(v: Any) -> str:
    return "" if v is None else str(v)


def records_html(suite: BlindSpotSuite, recs: list[dict[str, Any]]) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(suite.name)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}</style></head><body>",
             f"<h1>{html.escape(suite.name)}: blind spots</h1>",
             f"<p>{html.escape(_precision(recs).strip())}</p>",
             "<h2>Accuracy on the injected test set</h2>", tabulate(*reversed(_grid(suite, recs, "injected")), tablefmt="html"),
             "<h2>Accuracy on the clean test set</h2>", tabulate(*reversed(_grid(suite, recs, "clean")), tablefmt="html"),
             "<h2>Wall time per model</h2>",
             tabulate([[TITLES[m], f"{s / 60:.1f} min"] for m, s in _wall_times(suite, recs).items()], headers=["model", "wall time"], tablefmt="html"),
             f"<h2>One example per encoding</h2><img src='{FIGURE}' alt='examples' style='max-width:100%'>",
             "</body></html>\n"]
    return "\n".join(parts)


def render(suite: BlindSpotSuite) -> str:
    """Write table.md/.csv/.json/.html into the suite's results folder; return the Markdown."""
    recs = table(suite)
    out = suite.out_dir
    text = markdown(suite, recs)
    atomic_write_text(out / "table.md", text)
    atomic_write_text(out / "table.csv", records_csv(suite, recs))
    atomic_write_text(out / "table.json", records_json(suite, recs))
    atomic_write_text(out / "table.html", records_html(suite, recs))
    return text


def figure(suite: BlindSpotSuite, data: Any, force: bool = False) -> Path | None:
    """One test image per encoding at the suite's smallest scale, and below it the difference
    from the clean image divided by its largest magnitude (the factor is in the title)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.blindspots.encodings import make
    from bench.blindspots.runner import inject
    from bench.results import atomic_write_bytes

    path = suite.out_dir / FIGURE
    if path.is_file() and not force:
        return None
    encs = [e for e in suite.encodings if ENCODINGS.get(e).scaled]
    if not encs:
        return None
    scale = min(suite.scales)
    fig, axes = plt.subplots(2, len(encs), figsize=(2.2 * len(encs), 5.2), squeeze=False)
    clean = data.x_test[:1]
    for j, name in enumerate(encs):
        enc = make(name, data.input_shape, data.num_classes, suite.seed)
        enc.fit(data.x_train)
        x = inject(enc, suite, data, scale)[1][:1]
        diff = (x - clean)[0].mean(0).numpy()
        amp = float(np.abs(diff).max()) or 1.0
        axes[0, j].imshow(_image(x[0]), cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(f"{enc.title}\n(scale {scale:g})", fontsize=8)
        axes[1, j].imshow(diff / amp, cmap="RdBu_r", vmin=-1, vmax=1)
        axes[1, j].set_title(f"difference x{1 / amp:,.0f}", fontsize=8)
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path.is_file() and path.read_bytes() == buf.getvalue()):
        atomic_write_bytes(path, buf.getvalue())
    return path


def _image(x: torch.Tensor) -> np.ndarray:
    arr = x.permute(1, 2, 0).numpy()
    return arr[:, :, 0] if arr.shape[2] == 1 else arr
