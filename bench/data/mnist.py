"""MNIST from the four canonical IDX files, verified by the md5 of the decompressed bytes.

Lookup order: explicit ``data_dir`` (``--data-dir``), ``$BENCH_DATA_DIR``, then a user cache dir
where the files are downloaded when the network allows. The md5 of the *decompressed* bytes is
checked because recompressed copies of the files differ in their gzip bytes only.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.errors import BenchError

ENV_VAR = "BENCH_DATA_DIR"
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FILES = {
    "train-images": ("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb", 2051),
    "train-labels": ("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624", 2049),
    "test-images": ("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea", 2051),
    "test-labels": ("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637", 2049),
}


@dataclass(frozen=True)
class Split:
    """Images as float32 in [0,1], shape (N,1,28,28); labels as int64, shape (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bench" / "mnist"


def _candidates(data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    if data_dir is not None:
        return [("--data-dir", Path(data_dir))]
    if os.environ.get(ENV_VAR):
        return [(f"${ENV_VAR}", Path(os.environ[ENV_VAR]))]
    return [("cache", cache_dir())]


def _locate(folder: Path, stem: str) -> Path | None:
    """Accept ``folder`` or ``folder/mnist`` holding the file, gzipped or not."""
    for sub in (folder, folder / "mnist"):
        for name in (stem + ".gz", stem):
            if (sub / name).is_file():
                return sub / name
    return None


def _read(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError) as exc:
        raise BenchError(f"MNIST file {path} is unreadable ({exc}); replace it with the canonical file") from None


def _download(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, _, _ in FILES.values():
        target = folder / (stem + ".gz")
        if target.is_file():
            continue
        last: Exception | None = None
        for mirror in MIRRORS:
            try:
                tmp = target.with_suffix(".part")
                urllib.request.urlretrieve(mirror + stem + ".gz", tmp)  # noqa: S310 (fixed https mirrors)
                tmp.replace(target)
                break
            except Exception as exc:  # network errors of every kind mean "try the next mirror"
                last = exc
        else:
            raise BenchError(
                f"MNIST not found in {folder} and download failed ({last}); "
                f"point --data-dir or ${ENV_VAR} at a folder with the four MNIST .gz files"
            )


def _parse(raw: bytes, magic: int, path: Path) -> np.ndarray:
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise BenchError(f"MNIST file {path} has magic {got}, expected {magic}")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def resolve_data_dir(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Return the folder holding verified MNIST files, or raise a one-line BenchError."""
    source, folder = _candidates(data_dir)[0]
    missing = [stem for stem, _, _ in FILES.values() if _locate(folder, stem) is None]
    if missing and source == "cache" and download:
        _download(folder)
        missing = [stem for stem, _, _ in FILES.values() if _locate(folder, stem) is None]
    if missing:
        raise BenchError(
            f"MNIST files missing in {folder} (from {source}): {', '.join(missing)}; "
            f"pass --data-dir DIR or set ${ENV_VAR}=DIR to a folder with the four MNIST .gz files"
        )
    return folder


_CACHE: dict[tuple[str, str], Split] = {}


def load_mnist(split: str = "test", data_dir: str | os.PathLike | None = None) -> Split:
    """Load and md5-verify one MNIST split ('train' or 'test'); cached per process."""
    if split not in ("train", "test"):
        raise BenchError(f"unknown MNIST split {split!r}; use 'train' or 'test'")
    folder = resolve_data_dir(data_dir)
    key = (str(folder.resolve()), split)
    if key in _CACHE:
        return _CACHE[key]
    arrays = []
    for part in ("images", "labels"):
        stem, md5, magic = FILES[f"{split}-{part}"]
        path = _locate(folder, stem)
        assert path is not None
        raw = _read(path)
        digest = hashlib.md5(raw).hexdigest()  # noqa: S324 (checksum, not security)
        if digest != md5:
            raise BenchError(
                f"MNIST file {path} is corrupt (md5 {digest}, expected {md5}); "
                f"replace it with the canonical file or point --data-dir/${ENV_VAR} elsewhere"
            )
        arrays.append(_parse(raw, magic, path))
    images, labels = arrays
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    _CACHE[key] = Split(x=x, y=y)
    return _CACHE[key]
