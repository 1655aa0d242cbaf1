"""Decoder landscapes (thesis section 2.1, Figures 1-2): the probability of class 0 over a 2-D slice
of the code scores, the other scores held at values consistent with class 0.

They show why the ECOC decoder resists gradient attacks: the softmax goes from certain to wrong
across a thin band, while the sigmoid decoder leaves a wide uncertain region and a Hadamard code
needs many scores moved at once. Every decoder here is the real one (``ECOCClassifier._decode``),
so the pictures cannot drift from what the models compute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib import figure as mpl
from torch import nn

from bench.analysis.common import AnalysisContext, Figure, Section, new_figure, save_figure
from bench.errors import BenchError
from bench.models.base import Classifier
from bench.models.codes import hadamard_code, identity_code
from bench.models.ecoc import ECOCClassifier

Decoder = Callable[[torch.Tensor], torch.Tensor]  # code scores (n, bits) -> P(class 0), shape (n,)
LEVELS = (0.5, 0.999)  # contours drawn: the decision boundary and the thesis's magenta region


@dataclass
class Panel:
    """One landscape: ``prob[i, j]`` = P(class 0) at (axis[j], axis[i]) on the varied scores ``dims``."""

    title: str
    axis: np.ndarray
    prob: np.ndarray
    dims: tuple[int, int]


def ecoc_decoder(code: np.ndarray | torch.Tensor, activation: str, num_classes: int, floor: float = 1e-6) -> Decoder:
    """P(class 0) under the ECOC decoder with this code, activation and floor (thesis Eq. 1-2)."""
    model = ECOCClassifier(nn.Identity(), np.asarray(code, dtype=np.float32), activation, "ce", num_classes, floor)
    return lambda z: model._decode(z)[:, 0].exp()


def model_decoder(model: Classifier) -> tuple[Decoder, str]:
    """The model's own decoder and a label; a model without a code matrix is read as a softmax over
    its code scores (what ``Classifier.code_scores`` means for plain classifiers)."""
    if isinstance(model, ECOCClassifier):
        name = f"{model.activation}, {'learned' if model.label_encoder is not None else 'fixed'} code {tuple(model.code().shape)}"
        device = model.code().device
        return (lambda z: model._decode(z.to(device))[:, 0].exp().cpu()), name
    return (lambda z: torch.softmax(z, dim=1)[:, 0]), "softmax over code scores"


def softmax_on_code(code: torch.Tensor, num_classes: int) -> Decoder:
    """Softmax over the class scores z . C_k: the same code read with Eq. 1 instead of Eq. 2
    (for I_M it is the plain softmax; for any code, the softmax of the adaptive 'linear' surface)."""
    rows = code[:num_classes]
    return lambda z: torch.softmax(z @ rows.T, dim=1)[:, 0]


def ideal_anchor(code: torch.Tensor, scale: float) -> torch.Tensor:
    """Code scores consistent with class 0: +-scale along class 0's code word (0/1 or +-1 entries)."""
    row = code[0]
    return scale * (torch.sign(row) if float(row.min()) < 0 else 2 * row - 1)


@torch.no_grad()
def grid(decoder: Decoder, anchor: torch.Tensor, dims: tuple[int, int], extent: float | None = None, steps: int = 201) -> Panel:
    """P(class 0) with scores ``dims`` swept over [-extent, extent]^2 and the others at ``anchor``;
    by default the sweep reaches 1.5x the largest anchor score (at least 10), so a confident
    model's decision boundary stays in the picture."""
    extent = extent or max(10.0, 1.5 * float(anchor.abs().max()))
    axis = torch.linspace(-extent, extent, steps)
    zi, zj = torch.meshgrid(axis, axis, indexing="ij")
    z = anchor.float().repeat(steps * steps, 1)
    z[:, dims[0]] = zj.reshape(-1)
    z[:, dims[1]] = zi.reshape(-1)
    prob = decoder(z).reshape(steps, steps)
    return Panel("", axis.numpy(), prob.numpy(), dims)


def plot(panels: list[Panel], suptitle: str) -> mpl.Figure:
    """Side-by-side heat maps on one colour scale, with the 0.5 and 0.999 contours."""
    fig, axes = new_figure(1, len(panels), (4.0 * len(panels) + 1, 3.6), layout="constrained")
    image = None
    for ax, p in zip(axes[0], panels):
        extent = (p.axis[0], p.axis[-1], p.axis[0], p.axis[-1])
        image = ax.imshow(p.prob, origin="lower", extent=extent, vmin=0, vmax=1, cmap="viridis", aspect="equal")
        if p.prob.min() < max(LEVELS) < p.prob.max() or p.prob.min() < min(LEVELS) < p.prob.max():
            ax.contour(p.axis, p.axis, p.prob, levels=list(LEVELS), colors=["white", "magenta"], linewidths=1)
        ax.set_title(p.title, fontsize=8)
        ax.set_xlabel(f"z{p.dims[0]}", fontsize=8)
        ax.set_ylabel(f"z{p.dims[1]}", fontsize=8)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.85, label="P(class 0)")
    fig.suptitle(suptitle, fontsize=10)
    return fig


def generic_panels(num_classes: int = 10, bits: int = 16, scale: float = 5.0) -> list[Panel]:
    """The thesis Figure 2 comparison at M classes: softmax/I_M, logistic/I_M, tanh/Hadamard."""
    specs = [
        (f"softmax, I{num_classes}", identity_code(num_classes), "softmax"),
        (f"logistic, I{num_classes}", identity_code(num_classes), "sigmoid"),
        (f"tanh, Hadamard {num_classes}x{bits}", hadamard_code(bits, num_classes), "tanh"),
    ]
    panels = []
    for title, code, activation in specs:
        c = torch.as_tensor(code)
        dims = (c.shape[1] - 2, c.shape[1] - 1)  # the last two scores, as in thesis Figure 2
        panel = grid(ecoc_decoder(code, activation, num_classes), ideal_anchor(c, scale), dims)
        panel.title = title
        panels.append(panel)
    return panels


def _class0_scores(ctx: AnalysisContext, count: int = 500) -> torch.Tensor | None:
    """Mean code scores of the model on test images of class 0 it gets right (a real anchor)."""
    split = ctx.test_split()
    x = split.x[split.y == 0][:count].to(ctx.device)
    with torch.no_grad():
        right = ctx.model.predict(x) == 0
        return ctx.model.code_scores(x[right.to(x.device)]).mean(0).cpu() if right.any() else None


def model_panels(ctx: AnalysisContext, dims: tuple[int, int] | None = None, scale: float = 5.0) -> list[Panel]:
    """The model's decoder at its own code: around its real class-0 scores and an ideal anchor,
    and the softmax reading of the same code around the real scores."""
    decoder, name = model_decoder(ctx.model)
    real = _class0_scores(ctx)
    with torch.no_grad():
        bits = int(ctx.model.code_scores(ctx.test_split().x[:1].to(ctx.device)).shape[1])
    dims = dims or (bits - 2, bits - 1)
    if not all(0 <= d < bits for d in dims) or dims[0] == dims[1]:
        raise BenchError(f"--dims {dims[0]},{dims[1]}: need two different code scores in 0..{bits - 1}")
    code = ctx.model.code().detach().cpu() if isinstance(ctx.model, ECOCClassifier) else torch.eye(bits)
    panels = []
    if real is not None:
        panels.append(grid(decoder, real, dims))
        panels[-1].title = f"{name}\naround mean scores of test 0s"
    panels.append(grid(decoder, ideal_anchor(code, scale), dims))
    panels[-1].title = f"{name}\naround ±{scale:g} along code word 0"
    if real is not None:
        panels.append(grid(softmax_on_code(code, ctx.model.num_classes), real, dims))
        panels[-1].title = "softmax of z·C_k (same code)\naround mean scores of test 0s"
    return panels


def run(ctx: AnalysisContext) -> Section:
    """Per-model landscape plus the generic thesis comparison (PNG + NPZ of the grids)."""
    section = Section("Decoder landscape (thesis Figures 1-2)")
    out = ctx.out_dir
    for stem, panels, title in (
        ("landscape", model_panels(ctx, ctx.dims), f"{ctx.model_id}: P(class 0) over two code scores"),
        ("landscape_generic", generic_panels(ctx.model.num_classes), "Decoders compared (thesis Figure 2, 2-D slice)"),
    ):
        png = save_figure(plot(panels, title), out / f"{stem}.png")
        np.savez(out / f"{stem}.npz", axis=np.stack([p.axis for p in panels]), dims=np.array([p.dims for p in panels]),
                 prob=np.stack([p.prob for p in panels]), titles=np.array([p.title for p in panels]))
        caption = " | ".join(p.title.replace("\n", " ") for p in panels)
        section.figures.append(Figure(ctx.rel(png), f"{title}. Panels: {caption}. White: P=0.5; magenta: P=0.999."))
    return section
