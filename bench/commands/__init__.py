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


def positive_int(text: str) -> int:
    """An argparse type: a count that must be at least 1 (examples, workers, steps)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an index or offset (0 allowed)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def modules() -> list[ModuleType]:
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{n}") for n in names]


def register_all(sub: argparse._SubParsersAction) -> None:
    for module in modules():
        if hasattr(module, "register"):
            module.register(sub)
