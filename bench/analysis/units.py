"""Unit analysis (Szegedy et al. section 3, Figures 1-2): the test images that most excite a unit
of a layer (natural basis) look no more alike than those that most excite a random direction of
the same layer, which says the meaning is in the space, not in single units."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from bench.analysis.common import AnalysisContext, Figure, Section, image_grid, save_figure, save_json
from bench.errors import BenchError
from bench.models.base import Classifier

PROBED = (nn.Linear, nn.Conv2d)


def layer_names(model: nn.Module) -> list[str]:
    """Dense and convolutional layers, in definition order (what ``--layer`` accepts)."""
    return [name for name, m in model.named_modules() if isinstance(m, PROBED)]


@torch.no_grad()
def default_layer(model: Classifier, x: torch.Tensor) -> str | None:
    """The penultimate dense layer *executed* on the way to the code scores (the representation
    phi(x) feeding the output layer), found by running ``x``; the only one when there is one;
    None without dense layers. Execution order, not definition order: an autoencoder's unused
    decoder is never picked."""
    order: list[str] = []
    handles = [m.register_forward_hook(lambda *_a, name=name: order.append(name))
               for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    try:
        model.code_scores(x[:1].to(next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    return order[-2] if len(order) > 1 else (order[0] if order else None)


def get_layer(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if name not in modules or not name:
        known = layer_names(model)
        shown = ", ".join(known[:12]) + (f", ... ({len(known)} in all)" if len(known) > 12 else "")
        raise BenchError(f"--layer {name!r}: no such module (dense/conv layers: {shown or 'none'})")
    return modules[name]


@contextmanager
def capture(module: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect the module's outputs, flattened per example, while the block runs."""
    seen: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: seen.append(out.flatten(1)))
    try:
        yield seen
    finally:
        handle.remove()


@torch.no_grad()
def activations(model: Classifier, layer: str, x: torch.Tensor, batch: int = 500, progress: bool = False) -> torch.Tensor:
    """phi(x) at ``layer`` for every image, shape (N, units), on the CPU."""
    device = next(model.parameters()).device
    out = []
    with capture(get_layer(model, layer)) as seen:
        for i in tqdm(range(0, len(x), batch), desc=f"activations {layer}", unit="batch", disable=not progress, leave=False):
            model.code_scores(x[i : i + batch].to(device))
            if not seen:
                raise BenchError(f"--layer {layer!r}: not used on the way to the code scores")
            out.append(seen.pop().cpu())
    return torch.cat(out)


def top_images(acts: torch.Tensor, directions: torch.Tensor, top: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each direction v (rows), the indices and values of the ``top`` largest <phi(x), v>."""
    scores = acts @ directions.T  # (N, directions)
    values, index = scores.topk(min(top, len(acts)), dim=0)
    return index.T, values.T


def directions(width: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """``count`` natural-basis vectors e_i (units drawn at random) and as many random unit vectors."""
    g = torch.Generator().manual_seed(seed)
    units = torch.randperm(width, generator=g)[: min(count, width)].sort().values.tolist()
    natural = torch.eye(width)[units]
    random = torch.randn(len(units), width, generator=g)
    return natural, random / random.norm(dim=1, keepdim=True), units


def run(ctx: AnalysisContext) -> Section:
    """Two image grids (natural basis, random directions) for the chosen layer, plus units.json."""
    split = ctx.test_split()
    layer = ctx.layer or default_layer(ctx.model, split.x)
    if layer is None:
        return Section("Unit analysis (Szegedy section 3)", notes=["the model has no dense layer: pass --layer"])
    x = split.x[: ctx.images]
    acts = activations(ctx.model, layer, x, progress=ctx.progress)
    natural, random, units = directions(acts.shape[1], ctx.units, ctx.seed)
    section = Section(f"Unit analysis at layer {layer} (Szegedy section 3)")
    data: dict[str, object] = {"layer": layer, "images": len(x), "width": acts.shape[1], "units": units}
    for stem, basis, labels in (("units_natural", natural, [f"unit {u}" for u in units]),
                                ("units_random", random, [f"random v{i}" for i in range(len(units))])):
        index, values = top_images(acts, basis, ctx.top)
        titles = [[f"{float(v):.2f} (y={int(split.y[j])})" for j, v in zip(row, vals)] for row, vals in zip(index, values)]
        fig = image_grid([x[row] for row in index], titles, labels,
                         f"{ctx.model_id}, layer {layer}: test images maximising "
                         f"{'<phi(x), e_i>' if stem.endswith('natural') else '<phi(x), v>, v random'}")
        png = save_figure(fig, ctx.out_dir / f"{stem}.png")
        data[stem] = {"index": index.tolist(), "value": values.tolist()}
        kind = "single units (natural basis)" if stem.endswith("natural") else "random directions"
        section.figures.append(Figure(ctx.rel(png), f"Top {index.shape[1]} of {len(x)} test images for {kind}; "
                                      "title: activation (true label)."))
    data["random_directions"] = np.round(random.numpy(), 6).tolist()
    save_json(ctx.out_dir / "units.json", data)
    return section
