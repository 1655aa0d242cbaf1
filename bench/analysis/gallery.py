"""Adversarial galleries (Szegedy et al. Figures 5 and 7): for each attack of a run, the reference
image, the perturbation magnified, the adversarial example and the predictions, beside the same
image distorted by random noise of equal L2 norm, which the model usually still gets right.

Images come from a results folder: ``x_adv`` of each cell, the example indices and labels, and
the reference input the attack started from (the clean image, or the BSA-scaled one), rebuilt
with the attack kind's own ``prepare`` so that the perturbation shown is the one verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib import figure as mpl

from bench.analysis.common import AnalysisContext, Figure, Section, new_figure, save_figure, show_image
from bench.attacks import Context as AttackContext
from bench.attacks import get_kind
from bench.data import load
from bench.models.base import Classifier
from bench.results import ResultsStore
from bench.yaml_file import read_yaml


@dataclass
class Gallery:
    """Rows of one attack's gallery; ``perturbation`` is exactly ``adversarial - original``."""

    attack: str
    label: str
    index: torch.Tensor
    target: torch.Tensor
    original: torch.Tensor
    adversarial: torch.Tensor
    noisy: torch.Tensor
    pred_original: torch.Tensor
    pred_adversarial: torch.Tensor
    pred_noisy: torch.Tensor

    @property
    def perturbation(self) -> torch.Tensor:
        return self.adversarial - self.original

    @property
    def noise(self) -> torch.Tensor:
        return self.noisy - self.original


def adversarial_attacks(results: Path, model_id: str) -> list[str]:
    """Attacks of the run whose cells for this model kept their adversarial inputs (a zero budget,
    as for clean accuracy, perturbs nothing and is left out)."""
    store = ResultsStore(results)
    found = []
    for m, a in store.cells():
        threat = (store.read_cell(m, a) or {}).get("threat") or {}
        if m == model_id and threat.get("eps") != 0 and "x_adv" in (store.read_tensors(m, a) or {}):
            found.append(a)
    return found


def _split(results: Path, attack: str) -> tuple[str, str]:
    """The dataset and example split an attack used, from the resolved suite (mnist/test when unknown)."""
    path = ResultsStore(results).suite_yaml
    suite = (read_yaml(path) or {}) if path.is_file() else {}
    entry = next((a for a in suite.get("attacks") or [] if isinstance(a, dict) and a.get("id") == attack), {})
    return str(suite.get("dataset", "mnist")), str((entry.get("examples") or suite.get("examples") or {}).get("split", "test"))


def build(model: Classifier, results: Path, model_id: str, attack: str, count: int = 6, seed: int = 0,
          data_dir: str | None = None) -> Gallery:
    """The first ``count`` verified adversarial examples of one cell (right on the reference input,
    wrong on the attack's output); none when the attack never succeeded."""
    store = ResultsStore(results)
    cell, t = store.read_cell(model_id, attack) or {}, store.read_tensors(model_id, attack) or {}
    rows = (t["ref_correct"] & ~t["robust"]).nonzero().flatten()[:count]
    index, target = t["index"][rows], t["label"][rows]
    x = load(*_split(results, attack), data_dir).x[index]
    kind = get_kind(str(cell.get("kind")))
    original = kind.prepare(x, target, dict(cell.get("params") or {}), AttackContext(torch.device("cpu"), seed), index)
    adversarial = t["x_adv"][rows]
    direction = torch.randn(original.shape, generator=torch.Generator().manual_seed(seed))
    noisy = noise_of_norm(original, direction, (adversarial - original).flatten(1).norm(dim=1))
    return Gallery(attack, str(cell.get("label") or attack), index, target, original, adversarial, noisy,
                   model.predict(original), t["pred"][rows], model.predict(noisy))


def noise_of_norm(x: torch.Tensor, direction: torch.Tensor, l2: torch.Tensor, iters: int = 40) -> torch.Tensor:
    """clip(x + s * direction) with s found by bisection so that the noise *after* clipping to
    [0,1] has L2 norm ``l2`` per image (the norm only grows with s, coordinate by coordinate); an
    image that cannot take that much noise gets as much as a 1e3 scale gives."""
    shape = (-1, *([1] * (x.dim() - 1)))
    unit = direction / direction.flatten(1).norm(dim=1).clamp_min(1e-30).view(shape)
    lo, hi = torch.zeros(len(x)), torch.full((len(x),), 1e3)
    for _ in range(iters):
        mid = (lo + hi) / 2
        too_big = ((x + mid.view(shape) * unit).clamp(0, 1) - x).flatten(1).norm(dim=1) > l2
        hi, lo = torch.where(too_big, mid, hi), torch.where(too_big, lo, mid)
    return (x + lo.view(shape) * unit).clamp(0, 1)


def magnification(g: Gallery) -> float:
    """Szegedy shows the difference x10, shifted to mid-grey and clamped; here the factor makes the
    largest shown perturbation span the grey range, so small and large budgets both stay visible."""
    peak = float(torch.cat([g.perturbation, g.noise]).abs().max())
    return 0.5 / peak if peak > 1e-6 else 1.0  # below that it is float rounding, not a perturbation


def plot(g: Gallery, magnify: float) -> mpl.Figure:
    """One row per example: reference, perturbation, adversarial, noise of equal L2, noisy image."""
    n = len(g.index)
    fig, axes = new_figure(n, 5, (7.2, 1.55 * n + 0.7))
    for i in range(n):
        d, e = g.perturbation[i], g.noise[i]
        cells = [
            (g.original[i], f"#{int(g.index[i])} y={int(g.target[i])} pred {int(g.pred_original[i])}"),
            (0.5 + magnify * d, f"L2 {float(d.norm()):.2f} L∞ {float(d.abs().max()):.2f}"),
            (g.adversarial[i], f"adversarial: pred {int(g.pred_adversarial[i])}"),
            (0.5 + magnify * e, f"noise L2 {float(e.norm()):.2f}"),
            (g.noisy[i], f"noisy: pred {int(g.pred_noisy[i])}"),
        ]
        for ax, (image, title) in zip(axes[i], cells):
            show_image(ax, image.clamp(0, 1), title)
    fig.suptitle(f"{g.label}: reference | perturbation x{magnify:.3g} | adversarial | "
                 f"random noise of equal L2 x{magnify:.3g} | noisy", fontsize=8)
    fig.tight_layout()
    return fig


def run(ctx: AnalysisContext) -> Section:
    """A gallery per attack of ``ctx.results`` that kept adversarial inputs for this model."""
    section = Section("Adversarial examples vs random noise of equal L2 (Szegedy Figures 5, 7)")
    if ctx.results is None:
        section.notes.append("no results folder given (--results): no gallery")
        return section
    attacks = adversarial_attacks(ctx.results, ctx.model_id)
    if not attacks:
        section.notes.append(f"{ctx.results}: no cell of {ctx.model_id} kept adversarial inputs (x_adv)")
    for attack in attacks:
        g = build(ctx.model, ctx.results, ctx.model_id, attack, ctx.examples, ctx.seed, ctx.data_dir)
        if not len(g.index):
            section.notes.append(f"{g.label}: no verified adversarial example in the run, nothing to show")
            continue
        m = ctx.magnify or magnification(g)
        png = save_figure(plot(g, m), ctx.out_dir / f"gallery_{attack}.png")
        np.savez(ctx.out_dir / f"gallery_{attack}.npz", index=g.index.numpy(), label=g.target.numpy(),
                 original=g.original.numpy(), adversarial=g.adversarial.numpy(), perturbation=g.perturbation.numpy(),
                 noisy=g.noisy.numpy(), pred_original=g.pred_original.numpy(),
                 pred_adversarial=g.pred_adversarial.numpy(), pred_noisy=g.pred_noisy.numpy())
        kept = int((g.pred_noisy == g.target).sum())
        section.figures.append(Figure(ctx.rel(png), f"{g.label}: {len(g.index)} verified adversarial examples, all "
                                      f"misclassified; the same images with random noise of equal L2 norm: "
                                      f"{kept}/{len(g.index)} still right."))
    return section
