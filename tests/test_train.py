"""Training resumes exactly: an interrupted run ends where an uninterrupted one does."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file

from bench.zoo.card import load_card
from bench.train import train_model

RECIPE = {"epochs": 2, "batch_size": 100, "lr": 1e-2, "noise_std": 0.3, "max_shift_px": 1.0, "max_rot_deg": 5.0, "seed": 3,
          "train_subset": {"split_seed": 1, "part": 0, "parts": 60}}


def _fresh(tiny_zoo: Path, tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(tiny_zoo / "tiny-linear", folder)
    (folder / "weights.safetensors").unlink()
    card = yaml.safe_load((folder / "card.yaml").read_text())
    card["id"] = name
    card["training"] = dict(RECIPE)
    card["checkpoint"] = {"file": "weights.safetensors"}
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    return folder


def test_resumed_training_matches_uninterrupted(tiny_zoo: Path, tmp_path: Path) -> None:
    a = _fresh(tiny_zoo, tmp_path, "straight")
    b = _fresh(tiny_zoo, tmp_path, "resumed")
    res_a = train_model(load_card(a), save_every_s=1e9)
    part = train_model(load_card(b), max_epochs=1)
    assert part["finished"] is False and (b / "training" / "state.safetensors").is_file()
    res_b = train_model(load_card(b))
    assert res_a["finished"] and res_b["finished"]
    wa, wb = load_file(str(a / "weights.safetensors")), load_file(str(b / "weights.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    card = yaml.safe_load((b / "card.yaml").read_text())
    assert len(card["checkpoint"]["sha256"]) == 64
    assert 0.5 < card["measured"]["clean_accuracy"] <= 1.0
    assert card["training"]["wall_time_s"] > 0
