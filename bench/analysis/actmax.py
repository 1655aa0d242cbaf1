"""Activation maximisation (seed 001: Yosinski et al. 2015; Mahendran and Vedaldi 2016): inputs
synthesised by gradient ascent to excite a class score or a unit, with the regularisers that keep
them readable: L2 decay, Gaussian blur every few steps, clipping pixels of small norm or of small
contribution, and random jitter. Unregularised ascent gives noise the model loves; the
regularisers show what image structure, if any, the model has tied to a class.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench.analysis.common import AnalysisContext, Figure, Section, image_grid, save_figure, save_json
from bench.analysis.units import capture, default_layer, directions, get_layer
from bench.errors import BenchError
from bench.models.base import Classifier

Objective = Callable[[torch.Tensor], torch.Tensor]  # images (B,1,H,W) -> one value per image, (B,)


@dataclass
class ActMaxConfig:
    """Gradient ascent and regulariser settings (0 switches a regulariser off)."""

    steps: int = 200
    lr: float = 0.05  # largest pixel change per step (the gradient is scaled to max-norm 1)
    decay: float = 0.01  # L2 decay: x <- (1 - decay) * x after every step
    blur_every: int = 4  # Gaussian blur every k steps
    blur_sigma: float = 0.5
    clip_norm: float = 0.0  # percentile (0-100) of pixel norm |x| under which pixels are zeroed
    clip_contrib: float = 0.0  # percentile of pixel contribution |x * grad| under which pixels are zeroed
    jitter: int = 1  # random shift of up to this many pixels before each forward pass
    surface: str = "linear"  # class scores to maximise: linear (pre-decoder) or logprob
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps > 0, "lr": self.lr > 0, "decay": 0 <= self.decay < 1, "blur_every": self.blur_every >= 0,
            "blur_sigma": self.blur_sigma > 0, "clip_norm": 0 <= self.clip_norm < 100,
            "clip_contrib": 0 <= self.clip_contrib < 100, "jitter": self.jitter >= 0,
            "surface": self.surface in ("linear", "logprob"),
        }
        bad = [f"{k}={getattr(self, k)!r}" for k, ok in checks.items() if not ok]
        if bad:
            raise BenchError(f"activation maximisation: invalid setting(s) {', '.join(bad)} (see bench analyze --help)")


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with replicated borders, per channel."""
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _zero_below(x: torch.Tensor, score: torch.Tensor, percentile: float) -> torch.Tensor:
    """Zero the pixels whose score is under the image's ``percentile`` (per image)."""
    flat = score.flatten(1)
    cut = torch.quantile(flat, percentile / 100.0, dim=1, keepdim=True)
    return x * (flat >= cut).view_as(x)


def synthesize(objective: Objective, count: int, shape: tuple[int, ...], cfg: ActMaxConfig, device: torch.device,
               progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` images maximising ``objective`` (image i its own target); returns images, values."""
    g = torch.Generator().manual_seed(cfg.seed)
    x = (0.2 * torch.rand((count, *shape), generator=g)).to(device)
    for step in tqdm(range(cfg.steps), desc="activation maximisation", unit="step", disable=not progress, leave=False):
        dy, dx = (torch.randint(-cfg.jitter, cfg.jitter + 1, (2,), generator=g).tolist() if cfg.jitter else (0, 0))
        x.requires_grad_(True)
        value = objective(torch.roll(x, (dy, dx), dims=(2, 3)))
        (grad,) = torch.autograd.grad(value.sum(), x)
        with torch.no_grad():
            scale = grad.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, *([1] * len(shape)))
            x = x + cfg.lr * grad / scale
            x = x * (1 - cfg.decay)
            if cfg.blur_every and (step + 1) % cfg.blur_every == 0:
                x = blur(x, cfg.blur_sigma)
            if cfg.clip_norm:
                x = _zero_below(x, x.norm(dim=1, keepdim=True).expand_as(x), cfg.clip_norm)
            if cfg.clip_contrib:
                x = _zero_below(x, (x * grad).sum(1, keepdim=True).abs().expand_as(x), cfg.clip_contrib)
            x = x.clamp(0, 1)
    with torch.no_grad():
        return x.cpu(), objective(x).cpu()


def class_objective(model: Classifier, surface: str) -> Objective:
    """Image i maximises class i's score on the surface."""
    f = model.surface(surface)
    return lambda x: f(x)[torch.arange(len(x)), torch.arange(len(x))]


def unit_objective(model: Classifier, layer: str, units: list[int]) -> Objective:
    """Image i maximises ``units[i]`` of ``layer``."""
    module = get_layer(model, layer)
    index = torch.tensor(units)

    def value(x: torch.Tensor) -> torch.Tensor:
        with capture(module) as seen:
            model.code_scores(x)
        return seen[-1][torch.arange(len(x)), index.to(x.device)]

    return value


@torch.no_grad()
def _layer_width(ctx: AnalysisContext, layer: str) -> int:
    """Number of units of ``layer`` (one forward pass on a test image)."""
    with capture(get_layer(ctx.model, layer)) as seen:
        ctx.model.code_scores(ctx.test_split().x[:1].to(ctx.device))
    if not seen:
        raise BenchError(f"--layer {layer!r}: not used on the way to the code scores")
    return seen[-1].shape[1]


def run(ctx: AnalysisContext) -> Section:
    """Class images and unit images (the units of the unit analysis), with settings in actmax.json."""
    cfg, model = ctx.actmax, ctx.model
    section = Section("Activation maximisation (regularised gradient ascent, seed 001)")
    targets = [("actmax_classes", class_objective(model, cfg.surface), [f"class {k}" for k in range(model.num_classes)])]
    layer = ctx.layer or default_layer(model, ctx.test_split().x)
    units: list[int] = []
    if layer is None:
        section.notes.append("the model has no dense layer: no unit images (pass --layer)")
    else:
        _, _, units = directions(_layer_width(ctx, layer), ctx.units, ctx.seed)
        targets.append(("actmax_units", unit_objective(model, layer, units), [f"{layer}[{u}]" for u in units]))
    data: dict[str, object] = {"config": asdict(cfg), "layer": layer, "units": units}
    for stem, objective, names in targets:
        images, values = synthesize(objective, len(names), tuple(model.input_shape), cfg, ctx.device, ctx.progress)
        pred = model.predict(images)
        titles = [[f"{name}\n{float(v):.2f}, pred {int(p)}" for name, v, p in zip(names, values, pred)]]
        png = save_figure(image_grid([list(images)], titles, size=1.5), ctx.out_dir / f"{stem}.png")
        np.savez(ctx.out_dir / f"{stem}.npz", images=images.numpy(), values=values.numpy(), pred=pred.numpy())
        data[stem] = {"values": values.tolist(), "pred": pred.tolist()}
        what = f"class scores ({cfg.surface} surface)" if stem.endswith("classes") else f"units of {layer}"
        section.figures.append(Figure(ctx.rel(png), f"Inputs maximising {what}; title: target, value reached, "
                                      "the model's prediction on the image."))
    section.notes.append("settings: " + ", ".join(f"{k}={v}" for k, v in asdict(cfg).items()))
    save_json(ctx.out_dir / "actmax.json", data)
    return section
