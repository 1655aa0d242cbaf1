"""CIFAR-10 end to end on files written in the exact cifar-10-binary format: a tiny CIFAR-shaped
model of the zoo's Standard trunk trains with the thesis' CIFAR recipe (flips, noise 0.032) and
meets the Table-3 battery, every adversarial example re-checked at 3x32x32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.data import DATASETS
from bench.data.sets.cifar10 import SPLIT_FILES, write_records
from bench.results import ResultsStore
from bench.runner import Runner
from bench.suite import load_suite
from bench.train import train_model
from bench.zoo.card import load_card

PER_FILE = 40


def _write_cifar(folder: Path) -> None:
    """Class k is a colour: channel k % 3 brighter, plus noise (learnable in one epoch)."""
    rng = np.random.default_rng(0)
    sub = folder / "cifar-10-batches-bin"
    sub.mkdir(parents=True)
    for stems in SPLIT_FILES.values():
        for stem in stems:
            labels = rng.integers(0, 10, PER_FILE)
            images = rng.integers(0, 80, (PER_FILE, 3, 32, 32))
            for i, k in enumerate(labels):
                images[i, k % 3] += 60 + 15 * (k // 3)
            write_records(sub / stem, images.clip(0, 255).astype(np.uint8), labels.astype(np.uint8))


@pytest.fixture()
def cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    _write_cifar(data)
    monkeypatch.setattr(DATASETS.get("cifar10"), "records_per_file", PER_FILE)
    monkeypatch.setenv("BENCH_CIFAR10_DIR", str(data))
    zoo = tmp_path / "zoo" / "cifar_tiny"
    zoo.mkdir(parents=True)
    card = {
        "id": "cifar-tiny", "family": "ecoc", "description": "a tiny CIFAR-shaped Softmax model", "tags": ["table3"],
        "dataset": "cifar10", "source": {"paper": "tests"}, "architecture": "Standard trunk, width 64, 3 channels",
        "factory": "bench.models.ecoc:build", "config": {"trunk": "standard", "in_channels": 3},
        "training": {"epochs": 1, "batch_size": 50, "lr": 2e-3, "noise_std": 0.032, "max_shift_px": 2.0,
                     "max_rot_deg": 5.0, "hflip": True, "seed": 0},
        "checkpoint": {"file": "weights.safetensors"},
    }
    (zoo / "card.yaml").write_text(yaml.safe_dump(card))
    monkeypatch.setenv("BENCH_ZOO_PATH", str(tmp_path / "zoo"))
    return tmp_path


def test_a_tiny_cifar_model_trains_and_meets_the_battery(cifar: Path) -> None:
    folder = cifar / "zoo" / "cifar_tiny"
    result = train_model(load_card(folder), save_every_s=1e9)
    assert result["finished"]
    trained = yaml.safe_load((folder / "card.yaml").read_text())
    assert trained["measured"]["split"] == "cifar10 test" and trained["measured"]["n"] == PER_FILE
    suite_file = cifar / "cifar.yaml"
    battery = yaml.safe_load((Path(__file__).resolve().parents[1] / "suites" / "cifar10_full.yaml").read_text())
    small = {"pgd": {"steps": 5}, "cw": {"steps": 20, "binary_search_steps": 2}, "bsa": {"steps": 20, "binary_search_steps": 2},
             "rand": {"count": 20}}
    for attack in battery["attacks"]:
        attack.setdefault("params", {}).update(small.get(attack["id"], {}))
        attack["examples"] = {"count": 10, "offset": 0}
    battery.update({"examples": {"split": "test", "count": 10, "offset": 0}, "outputs": {"dir": str(cifar / "out"), "formats": ["md"]}})
    suite_file.write_text(yaml.safe_dump(battery))
    Runner(load_suite(suite_file), device="cpu", progress=False, log=lambda s: None).run()
    store = ResultsStore(cifar / "out")
    for attack in ("benign", "pgd", "cw", "bsa", "rand", "uniform"):
        cell = store.read_cell("cifar-tiny", attack)
        assert cell is not None and cell["n"] > 0, attack
    pgd = store.read_tensors("cifar-tiny", "pgd")
    assert pgd["x_adv"].shape[1:] == (3, 32, 32) and float(pgd["linf"].max()) <= 8 / 255 + 1e-6
    cell = store.read_cell("cifar-tiny", "pgd")
    v = cell["verification"]
    assert v["rejected_budget"] == v["rejected_range"] == 0 and v["verified"] == v["claimed"] and cell["params"]["eps"] == pytest.approx(8 / 255)
    assert store.read_tensors("cifar-tiny", "rand")["index"].numel() == 20
