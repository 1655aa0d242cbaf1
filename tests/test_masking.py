"""Adaptive attacks and gradient-masking checks on a model with a deliberately masked gradient."""

from __future__ import annotations

from pathlib import Path

import torch

from bench import zoo
from bench.attacks import Context, get_kind
from bench.data import load_mnist
from test_attacks import run_suite

EPS = 0.1
PGD = {"steps": 20, "step_size": 0.02}
ATTACKS = [
    {"id": "benign", "kind": "benign"},
    {"id": "pgd", "kind": "pgd_linf", "backend": "native", "params": {"eps": EPS, **PGD}},
    {"id": "pgd_05", "kind": "pgd_linf", "backend": "native", "params": {"eps": 0.05, **PGD}},
    {"id": "pgd_20", "kind": "pgd_linf", "backend": "native", "params": {"eps": 0.2, **PGD}},
    {"id": "pgd_eps1", "kind": "pgd_linf", "backend": "native", "params": {"eps": 1.0, "steps": 20, "step_size": 0.1}},
    {"id": "adaptive", "kind": "pgd_linf", "backend": "native",
     "params": {"eps": EPS, "surface": "linear", "loss": "margin", "restarts": 2, **PGD}},
    {"id": "square", "kind": "square", "backend": "art", "params": {"eps": EPS, "queries": 300}},
    {"id": "masking", "kind": "masking_checks", "params": {
        "unbounded": "pgd_eps1", "sweep": ["pgd_05", "pgd", "pgd_20"], "gradient_attacks": ["pgd", "adaptive"],
        "gradient_free": "square", "gradient_check": 30, "binarization": ["pgd", "adaptive"],
        "binarization_count": 4, "binarization_inner": 49}},
]


def test_masked_model_is_flagged_and_broken_by_the_adaptive_attack(tiny_zoo: Path, tmp_path: Path) -> None:
    store = run_suite(tmp_path, ATTACKS, ["tiny-linear", "tiny-masked"], count=30, name="masking")
    masked = {a["id"]: store.read_cell("tiny-masked", a["id"]) for a in ATTACKS}
    linear = {a["id"]: store.read_cell("tiny-linear", a["id"]) for a in ATTACKS}
    # standard PGD looks robust on the masked model; the adaptive attack breaks it
    assert masked["pgd"]["value"] - masked["adaptive"]["value"] >= 0.3, (masked["pgd"]["value"], masked["adaptive"]["value"])
    assert masked["adaptive"]["value"] <= linear["pgd"]["value"] + 0.05
    checks = masked["masking"]["extra"]["checks"]
    assert checks["gradients"]["status"] == "warn"
    assert checks["unbounded"]["status"] == "warn"
    assert masked["masking"]["extra"]["flags"]
    # on the ordinary model no check fires
    lin_checks = linear["masking"]["extra"]["checks"]
    assert {k: v["status"] for k, v in lin_checks.items()} == {k: "pass" for k in lin_checks}, lin_checks
    assert linear["masking"]["extra"]["flags"] == []
    assert (store.root / "plots" / "tiny-linear_security_curve.png").is_file()


def test_autoattack_is_repeatable_with_its_seed(tiny_zoo: Path) -> None:
    model = zoo.load("tiny-linear")
    split = load_mnist("test")
    x, y = split.x[:8], split.y[:8]
    kind = get_kind("autoattack")
    params = kind.resolve({"eps": 0.06, "steps": 10, "queries": 50})
    outs = [kind.generate(model, x, y, params, "art", Context(device=torch.device("cpu"), seed=7, batch_size=8)) for _ in range(2)]
    assert torch.equal(outs[0], outs[1])
