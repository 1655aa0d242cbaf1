"""Datasets: a registry of the ``Dataset`` classes in bench/data/sets/ (found by scanning, so a
new dataset is one file) and one loader, ``load(name, split, data_dir)``, cached per process."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
import pkgutil

from bench.data import sets as _sets
from bench.data.base import Dataset, Found, Split
from bench.errors import BenchError
from bench.registry import Registry

DATASETS: Registry[Dataset] = Registry("dataset")
for _m in sorted(m.name for m in pkgutil.iter_modules(_sets.__path__)):
    _module = importlib.import_module(f"{_sets.__name__}.{_m}")
    for _obj in vars(_module).values():
        if isinstance(_obj, type) and issubclass(_obj, Dataset) and _obj.__module__ == _module.__name__:
            DATASETS.register(_obj.name, _obj())


def get(name: str) -> Dataset:
    """The registered dataset ``name``, or a one-line error listing the known ones."""
    if name not in DATASETS:
        raise BenchError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
    return DATASETS.get(name)


_CACHE: dict[tuple[str, str, str], Split] = {}


def load(name: str, split: str = "test", data_dir: str | os.PathLike | None = None) -> Split:
    """Load and verify one split of dataset ``name``; the checksums are checked on first load
    in a process, and the tensors are shared after that (callers must not modify them)."""
    ds = get(name)
    if split not in ds.splits:
        raise BenchError(f"unknown {ds.title} split {split!r}; use {' or '.join(repr(s) for s in ds.splits)}")
    folder = ds.resolve(data_dir)
    key = (name, str(folder.resolve()), split)
    if key not in _CACHE:
        _CACHE[key] = ds.read(folder, split)
    return _CACHE[key]


def load_mnist(split: str = "test", data_dir: str | os.PathLike | None = None) -> Split:
    """MNIST's split (most tests and the thesis protocol use it)."""
    return load("mnist", split, data_dir)


def resolve_data_dir(data_dir: str | os.PathLike | None = None, dataset: str = "mnist") -> Path:
    """The folder holding the verified files of ``dataset``, or a one-line BenchError."""
    return get(dataset).resolve(data_dir)


__all__ = ["DATASETS", "Dataset", "Found", "Split", "get", "load", "load_mnist", "resolve_data_dir"]
