"""The dataset registry: lookup order, verification, CIFAR-10's binary format on generated files,
`bench ls datasets`, and the refusal to run a model on another dataset's suite."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from bench.data import DATASETS, get, load
from bench.data.sets.cifar10 import CIFAR10, RECORD, SPLIT_FILES, write_records
from bench.errors import BenchError

REPO = Path(__file__).resolve().parents[1]


def _bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def test_registry_lists_the_three_datasets_with_their_shapes() -> None:
    assert list(DATASETS) == ["cifar10", "fashion_mnist", "mnist"]
    assert get("cifar10").input_shape == (3, 32, 32) and get("fashion_mnist").input_shape == (1, 28, 28)
    assert get("fashion_mnist").class_names[9] == "Ankle boot"
    with pytest.raises(BenchError, match="unknown dataset 'svhn'"):
        get("svhn")


def test_every_dataset_declares_the_size_of_each_split() -> None:
    """`bench validate` checks example ranges against these (bench.suite_stages.checks.fits_split)."""
    for name in DATASETS:
        dataset = get(name)
        assert set(dataset.split_sizes) == set(dataset.splits) and all(n > 0 for n in dataset.split_sizes.values()), name


def test_fashion_mnist_loads_verified(fashion_dir: Path) -> None:
    split = load("fashion_mnist", "test", fashion_dir)
    assert split.x.shape == (10000, 1, 28, 28) and split.y.tolist()[:5] == [9, 2, 1, 1, 6]
    assert len(split.y) == get("fashion_mnist").split_sizes["test"]
    assert torch.bincount(split.y).tolist() == [1000] * 10


def test_a_data_root_holds_every_dataset_in_subfolders(tmp_path: Path, mnist_dir: Path, fashion_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mnist").symlink_to(mnist_dir)
    (tmp_path / "fashion-mnist").symlink_to(fashion_dir)  # the alias spelling (Debian's folder name)
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    monkeypatch.delenv("BENCH_FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("BENCH_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert get("mnist").find(download=False).source == "$BENCH_DATA_ROOT"
    assert load("fashion_mnist", "test").y.tolist()[:2] == [9, 2]


def test_truncated_idx_file_is_a_one_line_error(tmp_path: Path, fashion_dir: Path) -> None:
    for f in fashion_dir.glob("*.gz"):
        shutil.copy(f, tmp_path / f.name)
    raw = gzip.decompress((tmp_path / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(BenchError) as exc:
        get("fashion_mnist").read(tmp_path, "test")
    assert "corrupt" in str(exc.value) and "\n" not in str(exc.value)


def _cifar_files(folder: Path, per_file: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Files in the exact cifar-10-binary layout, with known images and labels."""
    rng = np.random.default_rng(0)
    sub = folder / "cifar-10-batches-bin"
    sub.mkdir(parents=True)
    written = {}
    for stems in SPLIT_FILES.values():
        for stem in stems:
            images = rng.integers(0, 256, (per_file, 3, 32, 32), dtype=np.uint8)
            labels = rng.integers(0, 10, per_file, dtype=np.uint8)
            write_records(sub / stem, images, labels)
            written[stem] = (images, labels)
    return written


def test_cifar10_binary_records_are_read_exactly(tmp_path: Path) -> None:
    written = _cifar_files(tmp_path, per_file=7)
    ds = CIFAR10()
    ds.records_per_file = 7
    test = ds.read(ds.resolve(tmp_path, download=False), "test")
    images, labels = written["test_batch.bin"]
    assert test.x.shape == (7, 3, 32, 32) and test.y.tolist() == labels.tolist()
    # the first 1,024 pixel bytes are the red channel, row-major
    raw = (tmp_path / "cifar-10-batches-bin" / "test_batch.bin").read_bytes()
    assert test.x[0, 0, 0, 1].item() == pytest.approx(raw[1 + 1] / 255.0)
    assert test.x[0, 2, 31, 31].item() == pytest.approx(raw[RECORD - 1] / 255.0)
    assert torch.equal((test.x * 255).round().to(torch.uint8), torch.from_numpy(images))
    train = ds.read(tmp_path, "train")
    assert len(train) == 35 and train.y[7:14].tolist() == written["data_batch_2.bin"][1].tolist()


def test_cifar10_wrong_size_and_bad_label_are_refused(tmp_path: Path) -> None:
    _cifar_files(tmp_path, per_file=7)
    ds = CIFAR10()
    with pytest.raises(BenchError, match="expected 30730000"):  # 7 records, not the 10,000 of the real files
        ds.read(tmp_path, "test")
    ds.records_per_file = 7
    path = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    raw = bytearray(path.read_bytes())
    raw[RECORD] = 12
    path.write_bytes(bytes(raw))
    with pytest.raises(BenchError, match="label 12"):
        ds.read(tmp_path, "test")


def test_ls_datasets_says_where_each_is_or_why_not(tmp_path: Path, mnist_dir: Path, fashion_dir: Path) -> None:
    env = {"BENCH_DATA_DIR": str(mnist_dir), "BENCH_FASHION_MNIST_DIR": str(fashion_dir),
           "XDG_CACHE_HOME": str(tmp_path), "BENCH_CIFAR10_DIR": str(tmp_path / "nowhere")}
    res = _bench("ls", "datasets", env=env)
    assert res.returncode == 0, res.stderr
    lines = {line.split()[0]: line for line in res.stdout.splitlines() if line and line.split()[0] in DATASETS}
    assert f"found: {mnist_dir}" in lines["mnist"] and f"found: {fashion_dir}" in lines["fashion_mnist"]
    assert "not found" in lines["cifar10"] and "cifar-10-binary" in res.stdout.replace("\n", " ")


def test_a_suite_refuses_a_model_of_another_dataset(tmp_path: Path) -> None:
    suite = tmp_path / "fashion.yaml"
    suite.write_text(yaml.safe_dump({"name": "f", "version": 1, "dataset": "fashion_mnist", "models": ["Softmax"],
                                     "attacks": [{"id": "benign", "kind": "benign"}]}))
    for cmd in (["validate", str(suite)], ["run", str(suite), "--out", str(tmp_path / "out")]):
        res = _bench(*cmd)
        assert res.returncode != 0 and "Traceback" not in res.stderr
        line = res.stderr.strip().splitlines()[-1]
        assert "fashion_mnist" in line and "'Softmax' on mnist" in line, line
    assert not (tmp_path / "out").exists()


def test_an_unknown_dataset_in_a_suite_is_one_line(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "s", "version": 1, "dataset": "svhn", "attacks": [{"id": "b", "kind": "benign"}]}))
    res = _bench("validate", str(suite))
    assert res.returncode != 0 and "dataset" in res.stderr and "cifar10, fashion_mnist, mnist" in res.stderr
