"""CIFAR-10 (Krizhevsky 2009) from its *binary* distribution, never the pickled python one.

cifar-10-binary: six files of 10,000 fixed-size records, a label byte then 3,072 pixel bytes
(1,024 red, 1,024 green, 1,024 blue, each row-major 32x32). The distribution publishes the md5
of its tarball only, so a download is checked against that and the sha256 of each extracted file
is written beside it (``checksums.json``) and checked at every later load; a folder the user
provides without that file is checked for its exact structure (size, record count, labels < 10).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import torch

from bench.data.base import Dataset, Split
from bench.errors import BenchError

RECORD = 1 + 3 * 32 * 32
PER_FILE = 10_000
TARBALL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
TARBALL_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
SUBDIR = "cifar-10-batches-bin"
MANIFEST = "checksums.json"
SPLIT_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}


def write_records(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write (N,3,32,32) uint8 images and their labels in the binary format (tests, tools)."""
    rows = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(labels), -1).astype(np.uint8)], axis=1)
    path.write_bytes(rows.tobytes())


class CIFAR10(Dataset):
    name = "cifar10"
    title = "CIFAR-10"
    input_shape = (3, 32, 32)
    class_names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    split_sizes = {"train": 50_000, "test": 10_000}
    env_var = "BENCH_CIFAR10_DIR"
    aliases = ("cifar-10", SUBDIR)
    how_to_get = (f"no package ships it: download {TARBALL} (md5 {TARBALL_MD5}) where a network allows, unpack it "
                  f"and pass --data-dir DIR / set $BENCH_CIFAR10_DIR=DIR to the folder holding {SUBDIR}/")
    records_per_file = PER_FILE  # tests write smaller files and lower this on an instance

    def file_stems(self) -> list[str]:
        return [f for files in SPLIT_FILES.values() for f in files]

    def locate(self, folder: Path, stem: str) -> Path | None:
        for sub in self.subfolders(folder):
            for cand in (sub / stem, sub / SUBDIR / stem):
                if cand.is_file():
                    return cand
        return None

    def download(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        archive = folder / "cifar-10-binary.tar.gz"
        try:
            tmp = archive.with_suffix(".part")
            urllib.request.urlretrieve(TARBALL, tmp)  # noqa: S310 (fixed https source)
            tmp.replace(archive)
        except Exception as exc:  # any network failure: say how to get the files by hand
            raise BenchError(f"CIFAR-10 not found in {folder} and download failed ({exc}); {self.how_to_get}") from None
        digest = hashlib.md5(archive.read_bytes()).hexdigest()  # noqa: S324 (checksum, not security)
        if digest != TARBALL_MD5:
            raise BenchError(f"CIFAR-10 download {archive} is corrupt (md5 {digest}, expected {TARBALL_MD5})")
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(folder, filter="data")
        sums = {f: hashlib.sha256((folder / SUBDIR / f).read_bytes()).hexdigest() for f in self.file_stems()}
        (folder / SUBDIR / MANIFEST).write_text(json.dumps(sums, indent=1, sort_keys=True))
        archive.unlink()

    def _check(self, path: Path, raw: bytes) -> None:
        manifest = path.parent / MANIFEST
        if manifest.is_file():
            want = json.loads(manifest.read_text()).get(path.name)
            got = hashlib.sha256(raw).hexdigest()
            if want and got != want:
                raise BenchError(f"CIFAR-10 file {path} is corrupt (sha256 {got}, expected {want} from {manifest})")
        expected = self.records_per_file * RECORD
        if len(raw) != expected:
            raise BenchError(f"CIFAR-10 file {path} has {len(raw)} bytes, expected {expected} "
                             f"({self.records_per_file} records of {RECORD}): truncated or not the binary version")

    def read(self, folder: Path, split: str) -> Split:
        images, labels = [], []
        for stem in SPLIT_FILES[split]:
            path = self.locate(folder, stem)
            if path is None:
                raise BenchError(f"CIFAR-10 file {stem} missing in {folder}; {self.how_to_get}")
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise BenchError(f"CIFAR-10 file {path} is unreadable ({exc})") from None
            self._check(path, raw)
            rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
            if int(rows[:, 0].max()) >= len(self.class_names):
                raise BenchError(f"CIFAR-10 file {path} has label {int(rows[:, 0].max())}; labels are 0-9")
            labels.append(rows[:, 0])
            images.append(rows[:, 1:].reshape(-1, *self.input_shape))
        x = torch.from_numpy(np.concatenate(images).astype(np.float32) / 255.0)
        return Split(x=x, y=torch.from_numpy(np.concatenate(labels).astype(np.int64)))
