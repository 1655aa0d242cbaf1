"""Gradient-masking checks as a suite entry: reads the model's other cells (unbounded attack, eps
sweep, gradient-free vs gradient attacks), checks input gradients, and runs the binarization test
for the listed attacks. Warnings become leaderboard flags (marked in every format)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.attacks.base import CellKind, CellOutcome, Context, get_kind, register
from bench.attacks.spec import Param, non_negative, one_of, positive, unit_interval
from bench.data import load
from bench.masking import checks
from bench.masking.binarization import FEATURES, binarization_test
from bench.models.base import Classifier


@register
class MaskingChecks(CellKind):
    name = "masking_checks"
    description = "gradient-masking checks: unbounded attack, eps sweep, gradient-free gap, gradients, binarization test"
    params = {
        "unbounded": Param(str, "", None, "attack id run with eps covering the input range (eps=1)", ref=True),
        "unbounded_max": Param(float, 0.05, unit_interval, "max accuracy allowed under the unbounded attack"),
        "sweep": Param(list, [], None, "attack ids of one attack at increasing eps", ref=True),
        "sweep_tolerance": Param(float, 0.02, non_negative, "allowed rise of accuracy with eps"),
        "gradient_attacks": Param(list, [], None, "gradient attack ids at the headline eps", ref=True),
        "gradient_free": Param(str, "", None, "gradient-free attack id at the same eps", ref=True),
        "gradient_free_margin": Param(float, 0.03, non_negative, "allowed lead of the gradient-free attack"),
        "gradient_check": Param(int, 100, non_negative, "examples for the input-gradient check (0: skip)"),
        "zero_gradient_max": Param(float, 0.1, unit_interval, "max fraction of zero/non-finite gradients"),
        "binarization": Param(list, [], None, "attack ids (L-inf) to put through the binarization test", ref=True),
        "binarization_count": Param(int, 10, positive, "test points for the binarization test"),
        "binarization_inner": Param(int, 99, positive, "inner points sampled per test point"),
        "binarization_threshold": Param(float, 0.9, unit_interval, "min fraction of planted adversarials found"),
        "binarization_features": Param(str, "penultimate", one_of(*FEATURES),
                                       "what the binary readout reads: penultimate (the input of the last linear "
                                       "layer, as Zimmermann et al. 2022) or activation (the activated code scores)"),
    }
    metric = "masking_warnings"
    after_others = True

    def depends_on(self, params: dict[str, Any], models: list[str], model_id: str | None = None) -> list[tuple[str, str]]:
        ids = [params["unbounded"], params["gradient_free"], *params["sweep"], *params["gradient_attacks"]]
        return [(model_id or m, a) for a in ids if a for m in ([model_id] if model_id else models)]

    def evaluate(self, model: Classifier, model_id: str, params: dict[str, Any], ctx: Context) -> CellOutcome:
        store, suite = ctx.extra["store"], ctx.extra["suite"]

        def value(attack_id: str) -> float | None:
            cell = store.read_cell(model_id, attack_id) if attack_id else None
            return None if cell is None else float(cell["value"])

        curve = []
        for a in params["sweep"]:
            cell = store.read_cell(model_id, a)
            if cell is not None and cell.get("threat"):
                curve.append((float(cell["threat"]["eps"]), float(cell["value"])))
        grads = {a: v for a in params["gradient_attacks"] if (v := value(a)) is not None}
        split = load(suite.dataset, suite.examples.split, ctx.extra.get("data_dir"))
        idx = suite.examples.indices(len(split))
        results: dict[str, checks.Check] = {
            "unbounded": checks.unbounded_attack(value(params["unbounded"]), params["unbounded_max"]),
            "monotone": checks.monotone_in_eps(curve, params["sweep_tolerance"]),
            "gradient_free": checks.gradient_free_vs_gradient(value(params["gradient_free"]), grads, params["gradient_free_margin"]),
        }
        if params["gradient_check"]:
            sel = idx[: params["gradient_check"]]
            results["gradients"] = checks.gradient_health(model, split.x[sel], split.y[sel], ctx.device, params["zero_gradient_max"])
        bin_results = {}
        xb = split.x[idx[: params["binarization_count"]]]
        for attack_id in params["binarization"]:
            cfg = suite.attack(attack_id)
            kind = get_kind(cfg.kind)
            eps = float(kind.threat(cfg.params)["eps"])
            sub = Context(device=ctx.device, seed=ctx.seed, batch_size=1)

            def attack(m: Classifier, x: torch.Tensor, y: torch.Tensor, kind=kind, cfg=cfg, sub=sub) -> torch.Tensor:  # noqa: ANN001
                return kind.attack(m, x, y, cfg.params, cfg.backend, sub).candidates.x

            r = binarization_test(model, xb, eps, attack, ctx.device, params["binarization_inner"], seed=ctx.seed,
                                  features=params["binarization_features"])
            bin_results[attack_id] = {"attempted": r.attempted, "valid": r.valid, "found": r.found, "score": r.score,
                                      "features": r.features, "dim": r.dim}
            if ctx.progress is not None:
                ctx.progress(1)
        if params["binarization"]:
            results["binarization"] = checks.binarization(bin_results, params["binarization_threshold"])
        if curve:
            _plot_curve(store.plot(f"{model_id}_security_curve.png"), model_id, curve)
        warns = [k for k, c in results.items() if c.status == "warn"]
        return CellOutcome(
            value=float(len(warns)), n=len(results), count=len(warns),
            extra={"checks": {k: c.as_dict() for k, c in results.items()}, "binarization": bin_results,
                   "security_curve": sorted(curve), "flags": [f"masking ({k}): {results[k].evidence}" for k in warns]},
        )


def _plot_curve(path: Path, model_id: str, curve: list[tuple[float, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    pts = sorted(curve)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o")
    ax.set(xlabel="eps (L-inf)", ylabel="robust accuracy", title=f"{model_id}: security curve", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
