"""Seeing what the models do: decoder landscapes, adversarial galleries, unit analysis, activation
maximisation and Lipschitz bounds, one module each, gathered on one HTML page (`bench analyze`).

>>> from bench.analysis import analyze
>>> sections = analyze(ctx, ["landscape", "lipschitz"])   # PNGs and data under ctx.root / model id
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from bench.analysis import actmax, gallery, landscape, lipschitz, units
from bench.analysis.actmax import ActMaxConfig
from bench.analysis.common import Context, Section

ANALYSES: dict[str, Callable[[Context], Section]] = {
    "landscape": landscape.run,
    "gallery": gallery.run,
    "units": units.run,
    "actmax": actmax.run,
    "lipschitz": lipschitz.run,
}


def analyze(ctx: Context, what: Sequence[str], log: Callable[[str], None] = print) -> list[Section]:
    """Run the named analyses on one model, in order; each section notes its wall time."""
    sections = []
    for name in what:
        t0 = time.time()
        section = ANALYSES[name](ctx)
        elapsed = time.time() - t0
        section.notes.append(f"computed in {elapsed:.1f} s")
        log(f"{ctx.model_id} / {name}: {elapsed:.1f} s")
        sections.append(section)
    return sections


__all__ = ["ANALYSES", "ActMaxConfig", "Context", "Section", "analyze"]
