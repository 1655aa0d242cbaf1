"""What a dataset is to the harness, and where its files are looked for.

One class per dataset (bench/data/sets/, found by scanning) says its shape, classes, files and
checksums; this module owns the lookup order, so every dataset is found the same way:
``--data-dir`` (the folder itself or its ``<name>/`` subfolder), the dataset's own environment
variable, ``$BENCH_DATA_ROOT/<name>``, a system path where a distribution package installs the
files (Debian), then a user cache where the files are downloaded when the network allows.
An explicit folder (``--data-dir`` or the dataset's variable) is final: a file missing there is an
error, never a silent fall-back to another copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from bench.errors import BenchError

ROOT_ENV = "BENCH_DATA_ROOT"


@dataclass(frozen=True)
class Split:
    """Images as float32 in [0,1], shape (N, C, H, W); labels as int64, shape (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Found:
    """Where a dataset's files are (``folder``), which rule found it, or why not (``error``)."""

    folder: Path | None
    source: str
    error: str = ""


class Dataset:
    """A dataset's facts; subclasses fill the class attributes and ``files``/``read``."""

    name: ClassVar[str]
    title: ClassVar[str]
    input_shape: ClassVar[tuple[int, int, int]]
    class_names: ClassVar[tuple[str, ...]]
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    # examples per split, as published (the files are checksummed): `bench validate` checks a
    # suite's example ranges against them before anything is read
    split_sizes: ClassVar[dict[str, int]]
    env_var: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()  # other subfolder names accepted under a data root
    system_dirs: ClassVar[tuple[str, ...]] = ()
    how_to_get: ClassVar[str] = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # -- files ------------------------------------------------------------------------------
    def file_stems(self) -> list[str]:
        """Every file the dataset needs (all splits)."""
        raise NotImplementedError

    def locate(self, folder: Path, stem: str) -> Path | None:
        """The file ``stem`` in ``folder`` or one of its known subfolders, else None."""
        raise NotImplementedError

    def read(self, folder: Path, split: str) -> Split:
        """Read and verify one split from ``folder`` (one-line BenchError when it is wrong)."""
        raise NotImplementedError

    def download(self, folder: Path) -> None:
        """Fetch the files into ``folder`` (the cache); BenchError when that is impossible."""
        raise BenchError(f"{self.name}: no download source; {self.how_to_get}")

    # -- lookup -----------------------------------------------------------------------------
    def subfolders(self, folder: Path) -> list[Path]:
        """``folder`` itself, then its ``<name>/`` and alias subfolders (so a data root works)."""
        return [folder] + [folder / n for n in (self.name, *self.aliases)]

    def missing(self, folder: Path) -> list[str]:
        return [s for s in self.file_stems() if self.locate(folder, s) is None]

    def cache_dir(self) -> Path:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "bench" / self.name

    def candidates(self, data_dir: str | os.PathLike | None) -> list[tuple[str, Path, bool]]:
        """(rule, folder, final) in lookup order; a final folder ends the search either way."""
        if data_dir is not None:
            return [("--data-dir", Path(data_dir), True)]
        if os.environ.get(self.env_var):
            return [(f"${self.env_var}", Path(os.environ[self.env_var]), True)]
        out: list[tuple[str, Path, bool]] = []
        if os.environ.get(ROOT_ENV):
            out.append((f"${ROOT_ENV}", Path(os.environ[ROOT_ENV]), False))
        out += [("system", Path(d), False) for d in self.system_dirs]
        out.append(("cache", self.cache_dir(), False))
        return out

    def find(self, data_dir: str | os.PathLike | None = None, download: bool = True) -> Found:
        """The folder holding every file, or a Found with the reason it was not found."""
        looked = []
        for rule, folder, final in self.candidates(data_dir):
            missing = self.missing(folder)
            if missing and rule == "cache" and download:
                try:
                    self.download(folder)
                except BenchError as exc:
                    return Found(None, rule, f"{exc}")
                missing = self.missing(folder)
            if not missing:
                return Found(folder, rule)
            looked.append(f"{folder} ({rule})")
            if final:
                return Found(None, rule, f"{self.title} files missing in {folder} (from {rule}): "
                                         f"{', '.join(missing)}; {self.how_to_get}")
        return Found(None, "none", f"{self.title} not found (looked in {', '.join(looked)}); {self.how_to_get}")

    def resolve(self, data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
        found = self.find(data_dir, download)
        if found.folder is None:
            raise BenchError(found.error)
        return found.folder
