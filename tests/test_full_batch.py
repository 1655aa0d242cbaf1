"""Full-batch L-BFGS training (Szegedy et al.'s recipe): runs to convergence of the training
objective, records its curve in the card, and resumes bit for bit after an interruption."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

import bench.train.full_batch as full_batch
from bench.errors import BenchError
from bench.train import train_model
from bench.train.progress import progress
from bench.zoo.card import load_card

RECIPE = {"epochs": 1, "optimizer": "lbfgs", "noise_std": 0.0, "max_shift_px": 0.0, "max_rot_deg": 0.0, "seed": 0,
          "train_subset": {"split_seed": 1, "part": 0, "parts": 60}, "lbfgs": {"chunk": 5, "max_iters": 400, "rel_tol": 1e-5}}


def _card(root: Path, name: str, **training: object) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    card = {"id": name, "family": "szegedy", "description": "softmax1-like", "source": {"paper": "tests"},
            "architecture": "linear softmax", "factory": "bench.models.szegedy:build",
            "config": {"kind": "mlp", "hidden": [], "lambdas": [1e-2]}, "training": {**RECIPE, **training},
            "checkpoint": {"file": "weights.safetensors"}}
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    return folder


def test_lbfgs_converges_and_records_the_curve(tmp_path: Path, mnist_dir: Path) -> None:
    folder = _card(tmp_path, "lb")
    assert train_model(load_card(folder))["finished"]
    card = yaml.safe_load((folder / "card.yaml").read_text())
    rec = card["training"]["lbfgs_result"]
    assert rec["converged"] and rec["iters"] < 400, rec["stopped_by"]
    objectives = [p["objective"] for p in rec["curve"]]
    assert objectives == sorted(objectives, reverse=True)  # L-BFGS with a line search never goes up
    assert all(0.0 <= p["test_error"] <= 1.0 for p in rec["curve"])
    assert card["measured"]["clean_accuracy"] > 0.7
    assert not (folder / "training" / "lb.safetensors").exists()  # resume state removed once finished


def test_lbfgs_resumes_bit_for_bit(tmp_path: Path, mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    straight = _card(tmp_path, "straight")
    train_model(load_card(straight))
    resumed = _card(tmp_path, "resumed")
    saves = {"n": 0}
    original = full_batch.save_tensors

    def save_then_stop(path: Path, tensors: dict, metadata: dict | None = None) -> None:
        original(path, tensors, metadata)
        saves["n"] += 1
        if saves["n"] == 3:
            raise KeyboardInterrupt  # as Ctrl-C right after the third chunk was saved

    monkeypatch.setattr(full_batch, "save_tensors", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_model(load_card(resumed))
    monkeypatch.setattr(full_batch, "save_tensors", original)
    assert (resumed / "training" / "resumed.safetensors").is_file()
    # `bench ls models` says where the unfinished run stands: 3 chunks of 5 iterations
    assert progress(load_card(resumed)).text() == "0 (training: full-batch L-BFGS iteration 15)"
    train_model(load_card(resumed))
    assert progress(load_card(resumed)).text() == "1"
    a, b = load_file(str(straight / "weights.safetensors")), load_file(str(resumed / "weights.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    ra = yaml.safe_load((straight / "card.yaml").read_text())["training"]["lbfgs_result"]
    rb = yaml.safe_load((resumed / "card.yaml").read_text())["training"]["lbfgs_result"]
    assert ra["iters"] == rb["iters"] and ra["final_objective"] == rb["final_objective"]


def test_lbfgs_refuses_augmentation_and_unknown_keys(tmp_path: Path, mnist_dir: Path) -> None:
    with pytest.raises(BenchError, match="noise_std"):
        train_model(load_card(_card(tmp_path, "noisy", noise_std=0.3)))
    with pytest.raises(BenchError, match="unknown key.*chnuk"):
        train_model(load_card(_card(tmp_path, "typo", lbfgs={"chnuk": 5})))
