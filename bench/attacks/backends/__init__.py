"""Attack backends: the same attacks run through ART, foolbox, or the harness's own torch code.

Each backend module exposes ``pgd(model, x, y, **params, ctx)`` and ``cw_l2(model, x, y, **params,
ctx)`` returning candidate inputs on the CPU. ``params`` are the kind's, resolved (its Param spec is
the one place defaults live: a backend has none of its own). Inputs are processed in batches of
``ctx.batch_size`` with ``ctx.progress(n)`` called after each batch.

Each module also declares ``SUPPORTS``: for each operation it has, the parameters it can run only
at some values (``{"pgd": {"loss": ("ce",)}}``). ``bench validate`` asks it (``problems``), so a
combination a backend cannot run is refused before any cell is computed, never part-way through.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from bench.errors import BenchError

_MODULES = {
    "art": "bench.attacks.backends.art_backend",
    "foolbox": "bench.attacks.backends.foolbox_backend",
    "native": "bench.attacks.backends.native",
    "torchattacks": "bench.attacks.backends.torchattacks_backend",
}


def problems(name: str, op: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(parameter, message) for each value of ``params`` that backend ``name`` cannot run in ``op``."""
    supports: dict[str, dict[str, tuple[Any, ...]]] = getattr(get_backend(name), "SUPPORTS", {})
    if op not in supports:
        return [("", f"backend '{name}' has no '{op}' attack")]
    out = []
    for key, allowed in supports[op].items():
        if key in params and params[key] not in allowed:
            others = [b for b in _MODULES if b != name and params[key] in getattr(get_backend(b), "SUPPORTS", {}).get(op, {}).get(key, (params[key],))]
            hint = f"; use backend {' or '.join(repr(b) for b in others)}" if others else ""
            out.append((key, f"backend '{name}' runs {key} {' or '.join(map(repr, allowed))} only, got {params[key]!r}{hint}"))
    return out


def get_backend(name: str) -> ModuleType:
    """Import lazily: ART and foolbox take seconds to import and most commands need neither."""
    if name not in _MODULES:
        raise BenchError(f"unknown backend '{name}' (known: {', '.join(_MODULES)})")
    return importlib.import_module(_MODULES[name])
