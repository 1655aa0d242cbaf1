"""Datasets stored as the four IDX files of MNIST (MNIST itself, Fashion-MNIST): one reader.

The md5 of the *decompressed* bytes is checked at every load because recompressed copies of the
files (Debian's, for one) differ in their gzip bytes only.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.request
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from bench.data.base import Dataset, Split
from bench.errors import BenchError

MAGIC = {"images": 2051, "labels": 2049}


def parse_idx(raw: bytes, magic: int, path: Path, title: str) -> np.ndarray:
    """The array of an IDX file; a one-line error for a wrong magic or a truncated body."""
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise BenchError(f"{title} file {path} has magic {got}, expected {magic}")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = len(raw) - 4 - 4 * ndim
    if body != int(np.prod(dims)):
        raise BenchError(f"{title} file {path} is truncated ({body} bytes of data, header says {int(np.prod(dims))})")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_bytes(path: Path, title: str) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError) as exc:
        raise BenchError(f"{title} file {path} is unreadable ({exc}); replace it with the canonical file") from None


class IdxDataset(Dataset):
    """``files``: split-part -> (stem, md5 of the decompressed bytes); ``mirrors``: base URLs."""

    files: ClassVar[dict[str, tuple[str, str]]]
    mirrors: ClassVar[tuple[str, ...]] = ()

    def file_stems(self) -> list[str]:
        return [stem for stem, _ in self.files.values()]

    def locate(self, folder: Path, stem: str) -> Path | None:
        for sub in self.subfolders(folder):
            for name in (stem + ".gz", stem):
                if (sub / name).is_file():
                    return sub / name
        return None

    def download(self, folder: Path) -> None:
        if not self.mirrors:
            super().download(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for stem in self.file_stems():
            target = folder / (stem + ".gz")
            if target.is_file():
                continue
            last: Exception | None = None
            for mirror in self.mirrors:
                try:
                    tmp = target.with_suffix(".part")
                    urllib.request.urlretrieve(mirror + stem + ".gz", tmp)  # noqa: S310 (fixed https mirrors)
                    tmp.replace(target)
                    break
                except Exception as exc:  # network errors of every kind mean "try the next mirror"
                    last = exc
            else:
                raise BenchError(f"{self.title} not found in {folder} and download failed ({last}); {self.how_to_get}")

    def read(self, folder: Path, split: str) -> Split:
        arrays = []
        for part in ("images", "labels"):
            stem, md5 = self.files[f"{split}-{part}"]
            path = self.locate(folder, stem)
            if path is None:
                raise BenchError(f"{self.title} file {stem} missing in {folder}; {self.how_to_get}")
            raw = read_bytes(path, self.title)
            digest = hashlib.md5(raw).hexdigest()  # noqa: S324 (checksum, not security)
            if digest != md5:
                raise BenchError(
                    f"{self.title} file {path} is corrupt (md5 {digest}, expected {md5}); "
                    f"replace it with the canonical file or point --data-dir/${self.env_var} elsewhere"
                )
            arrays.append(parse_idx(raw, MAGIC[part], path, self.title))
        images, labels = arrays
        if len(images) != len(labels):
            raise BenchError(f"{self.title} {split}: {len(images)} images but {len(labels)} labels in {folder}")
        x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        return Split(x=x, y=torch.from_numpy(labels.astype(np.int64)))
