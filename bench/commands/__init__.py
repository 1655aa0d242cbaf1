"""One module per ``bench`` subcommand, found by scanning this package, so adding a command touches
only its own file. A module defines ``register(subparsers)`` for a top-level command, or
``register_zoo(subparsers)`` for a ``bench zoo <x>`` subcommand."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from types import ModuleType

# the help of every --data-dir (the lookup itself: bench.data.base)
DATA_DIR_HELP = ("the dataset's folder, or a folder with <dataset>/ subfolders (default: the dataset's environment "
                 "variable, $BENCH_DATA_ROOT/<dataset>, system folders, the cache; `bench ls datasets` shows where each is found)")


def modules() -> list[ModuleType]:
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{n}") for n in names]


def register_all(sub: argparse._SubParsersAction) -> None:
    for module in modules():
        if hasattr(module, "register"):
            module.register(sub)
