"""Seeing what the models do: decoder landscapes, adversarial galleries, unit analysis, activation
maximisation and Lipschitz bounds, one module each, gathered on one HTML page (`bench analyze`).

>>> from bench.analysis import analyze
>>> sections = analyze(ctx, ["landscape", "lipschitz"])   # PNGs and data under ctx.root / model id
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.analysis import actmax, gallery, landscape, lipschitz, units
from bench.analysis.actmax import ActMaxConfig
from bench.analysis.common import AnalysisContext, Figure, Section, Table
from bench.results import ResultsStore, atomic_write_json

ANALYSES: dict[str, Callable[[AnalysisContext], Section]] = {
    "landscape": landscape.run,
    "gallery": gallery.run,
    "units": units.run,
    "actmax": actmax.run,
    "lipschitz": lipschitz.run,
}


def cache_key(ctx: AnalysisContext, name: str) -> str:
    """What an analysis' output depends on: checkpoint, options, and (galleries) the run's cells."""
    options = {k: getattr(ctx, k) for k in ("layer", "dims", "images", "units", "top", "examples", "magnify", "seed")}
    cells: dict[str, Any] = {}
    if name == "gallery" and ctx.results is not None:
        store = ResultsStore(Path(ctx.results))
        for model, attack in store.cells(ctx.model_id):
            cells[attack] = (store.read_cell(model, attack) or {}).get("config_hash")
    blob = {"analysis": name, "checkpoint": ctx.checkpoint_sha256, "options": options, "cells": cells,
            "actmax": asdict(ctx.actmax) if name == "actmax" else None}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def _cached(ctx: AnalysisContext, name: str, key: str) -> Section | None:
    path = ctx.out_dir / f"{name}.section.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if data.get("key") != key:
        return None
    s = data["section"]
    section = Section(s["title"], [Figure(**f) for f in s["figures"]], [Table(**t) for t in s["tables"]], list(s["notes"]))
    if not all((ctx.root / f.path).is_file() for f in section.figures):
        return None
    return section


def analyze(ctx: AnalysisContext, what: Sequence[str], log: Callable[[str], None] = print, force: bool = False) -> list[Section]:
    """Run the named analyses on one model, in order; each section notes its wall time.

    Why cached: analysing the whole zoo takes most of an hour on a CPU; like `bench run`, an
    interrupted or repeated call reuses every section whose inputs are unchanged (``force``
    recomputes), so one call can assemble the page from work done in several."""
    sections = []
    for name in what:
        key = cache_key(ctx, name)
        section = None if force or not ctx.checkpoint_sha256 else _cached(ctx, name, key)
        if section is not None:
            log(f"{ctx.model_id} / {name}: reused")
            sections.append(section)
            continue
        t0 = time.time()
        section = ANALYSES[name](ctx)
        elapsed = time.time() - t0
        section.notes.append(f"computed in {elapsed:.1f} s")
        log(f"{ctx.model_id} / {name}: {elapsed:.1f} s")
        if ctx.checkpoint_sha256:
            atomic_write_json(ctx.out_dir / f"{name}.section.json", {"key": key, "section": asdict(section)})
        sections.append(section)
    return sections


__all__ = ["ANALYSES", "ActMaxConfig", "AnalysisContext", "Section", "analyze"]
