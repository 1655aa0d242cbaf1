"""Attack backends: the same attacks run through ART, foolbox, or the harness's own torch code.

Each backend module exposes ``pgd(model, x, y, **params, ctx)`` and ``cw_l2(model, x, y, **params,
ctx)`` returning candidate inputs on the CPU. Inputs are processed in batches of
``ctx.batch_size`` with ``ctx.progress(n)`` called after each batch.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from bench.errors import BenchError

_MODULES = {"art": "bench.attacks.backends.art_backend", "foolbox": "bench.attacks.backends.foolbox_backend", "native": "bench.attacks.backends.native"}


def get_backend(name: str) -> ModuleType:
    """Import lazily: ART and foolbox take seconds to import and most commands need neither."""
    if name not in _MODULES:
        raise BenchError(f"unknown backend '{name}' (known: {', '.join(_MODULES)})")
    return importlib.import_module(_MODULES[name])
