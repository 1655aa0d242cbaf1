"""MNIST loading: verified bytes, clear one-line errors."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from bench.data import load_mnist, resolve_data_dir
from bench.errors import BenchError


def test_loads_verified_test_split(mnist_dir: Path) -> None:
    split = load_mnist("test", mnist_dir)
    assert split.x.shape == (10000, 1, 28, 28)
    assert float(split.x.min()) == 0.0 and float(split.x.max()) == 1.0
    assert split.y.tolist()[:5] == [7, 2, 1, 0, 4]


def test_missing_files_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match=str(tmp_path)) as exc:
        resolve_data_dir(tmp_path)
    assert "\n" not in str(exc.value) and "--data-dir" in str(exc.value)


def test_corrupt_file_is_refused(tmp_path: Path, mnist_dir: Path) -> None:
    for f in mnist_dir.glob("*.gz"):
        shutil.copy(f, tmp_path / f.name)
    raw = bytearray(gzip.decompress((tmp_path / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(BenchError, match="corrupt"):
        load_mnist("test", tmp_path)
