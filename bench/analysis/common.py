"""What every analysis shares: its inputs (:class:`AnalysisContext`), what it hands to the report
(:class:`Section` of figures and tables) and the few plotting helpers that keep figures alike."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from matplotlib import figure as mpl
from matplotlib.axes import Axes

from bench.data import Split, load
from bench.models.base import Classifier

if TYPE_CHECKING:
    from bench.analysis.actmax import ActMaxConfig


@dataclass
class Figure:
    """A PNG written by an analysis; ``path`` is relative to the report folder."""

    path: str
    caption: str


@dataclass
class Table:
    """A small table for the report (``rows`` already formatted as text)."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""
    collapsed: bool = False  # long per-layer tables start folded in the HTML page


@dataclass
class Section:
    """One analysis of one model, as the report shows it."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class AnalysisContext:
    """Inputs of every analysis of one model; files go to ``root / model_id``."""

    model_id: str
    model: Classifier
    root: Path
    actmax: ActMaxConfig
    data_dir: str | None = None
    results: Path | None = None
    layer: str | None = None
    dims: tuple[int, int] | None = None  # code scores varied by the landscape (default: the last two)
    images: int = 10_000
    units: int = 4
    top: int = 8
    examples: int = 6
    magnify: float | None = None
    seed: int = 0
    progress: bool = True
    checkpoint_sha256: str = ""  # keys the reuse of finished sections (empty: never reused)
    dataset: str = "mnist"  # the model card's

    @property
    def out_dir(self) -> Path:
        path = self.root / self.model_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def rel(self, path: Path) -> str:
        """A path as the HTML page (in ``root``) links it."""
        return path.relative_to(self.root).as_posix()

    def test_split(self) -> Split:
        return load(self.dataset, "test", self.data_dir)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def new_figure(rows: int, cols: int, size: tuple[float, float], **kwargs: Any) -> tuple[mpl.Figure, np.ndarray]:
    """A figure and a (rows, cols) array of axes. Matplotlib's object API, not pyplot: no global
    backend or figure registry, so nothing needs a display or leaks between figures."""
    fig = mpl.Figure(figsize=size, **kwargs)
    return fig, np.asarray(fig.subplots(rows, cols, squeeze=False))


def save_figure(fig: mpl.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def save_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def show_image(ax: Axes, image: np.ndarray | torch.Tensor, title: str = "", cmap: str = "gray",
               vmin: float = 0.0, vmax: float = 1.0) -> None:
    """One (C,H,W) or (H,W) image on an axis with no ticks: grey for one channel, RGB for three
    when the values are pixels (vmin >= 0), else (a signed difference) the channel mean in ``cmap``."""
    img = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if img.ndim == 3 and img.shape[0] == 3 and vmin >= 0:
        ax.imshow(np.clip((img.transpose(1, 2, 0) - vmin) / (vmax - vmin), 0, 1), interpolation="nearest")
    else:
        flat = img.mean(0) if img.ndim == 3 else img
        ax.imshow(flat.reshape(flat.shape[-2:]), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def image_grid(rows: Sequence[Sequence[np.ndarray | torch.Tensor]], titles: Sequence[Sequence[str]] | None = None,
               row_labels: Sequence[str] | None = None, suptitle: str = "", size: float = 1.3) -> mpl.Figure:
    """A grid of grey images (rows may differ in length: missing cells stay blank)."""
    ncols = max((len(r) for r in rows), default=1)
    fig, axes = new_figure(len(rows), ncols, (size * ncols + 0.6, size * len(rows) + 0.6))
    for i, row in enumerate(rows):
        for j in range(ncols):
            ax = axes[i][j]
            if j < len(row):
                show_image(ax, row[j], titles[i][j] if titles else "")
            else:
                ax.axis("off")
        if row_labels:
            axes[i][0].set_ylabel(row_labels[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def fmt(value: float, digits: int = 4) -> str:
    """Numbers for tables: ``digits`` significant digits; an infinite bound is shown as ∞."""
    if not np.isfinite(value):
        return "∞" if value > 0 else "—"
    return f"{value:.{digits}g}"
