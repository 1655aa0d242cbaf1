"""Adaptive attacks and gradient-masking checks on a model with a deliberately masked gradient."""

from __future__ import annotations

from pathlib import Path

import torch

import pytest
from torch import nn

from bench import zoo
from bench.attacks import Context, get_kind
from bench.data import load_mnist
from bench.masking import checks
from bench.masking.binarization import binarization_test
from bench.models import ecoc, szegedy
from bench.models.base import Classifier
from test_attacks import run_suite
from tiny_models import LinearClassifier

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
    # the binarization test reads the penultimate features (here the 784 pixels the logits layer reads)
    for cells in (linear, masked):
        for attack in ("pgd", "adaptive"):
            r = cells["masking"]["extra"]["binarization"][attack]
            assert (r["features"], r["dim"], r["valid"], r["found"]) == ("penultimate", 784, 4, 4), r
    assert "on penultimate features (784 dims)" in lin_checks["binarization"]["evidence"]


def test_autoattack_is_repeatable_with_its_seed(tiny_zoo: Path) -> None:
    model = zoo.load("tiny-linear")
    split = load_mnist("test")
    x, y = split.x[:8], split.y[:8]
    kind = get_kind("autoattack")
    params = kind.resolve({"eps": 0.06, "steps": 10, "queries": 50})
    outs = [kind.generate(model, x, y, params, "art", Context(device=torch.device("cpu"), seed=7, batch_size=8)) for _ in range(2)]
    assert torch.equal(outs[0], outs[1])


# --- binarization test on penultimate features --------------------------------------------------


class QuantizedLinear(LinearClassifier):
    """Masking *before* the last linear layer: the logits layer reads the pixels rounded to 1/255,
    whose gradient is zero. The planted adversarial exists (the readout is linear in the rounded
    pixels), but no gradient attack can find it."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc((torch.round(x * 255) / 255).flatten(1))


def _frozen(model: Classifier) -> Classifier:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _binarization(model: Classifier, attack_params: dict, features: str = "penultimate") -> checks.Check:
    kind = get_kind("pgd_linf")
    params = kind.resolve(attack_params)

    def attack(m: Classifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return kind.generate(m, x, y, params, "native", Context(device=torch.device("cpu"), seed=0, batch_size=1))

    x = load_mnist("test").x[:4]
    r = binarization_test(model, x, attack_params["eps"], attack, torch.device("cpu"), n_inner=49, seed=0, features=features)
    return checks.binarization({"pgd": {"attempted": r.attempted, "valid": r.valid, "found": r.found, "score": r.score,
                                        "features": r.features, "dim": r.dim}}, 0.9)


@pytest.mark.parametrize("features", ["penultimate", "activation"])
def test_binarization_flags_masking_before_the_readout(tiny_zoo: Path, features: str) -> None:
    linear = _frozen(zoo.load("tiny-linear"))
    quantized = QuantizedLinear()
    quantized.load_state_dict(linear.state_dict())
    _frozen(quantized)
    params = {"eps": EPS, **PGD}
    ok = _binarization(linear, params, features)
    assert ok.status == "pass" and "found 4/4" in ok.evidence, ok
    flagged = _binarization(quantized, params, features)
    assert flagged.status == "warn" and "found 0/4" in flagged.evidence, flagged


def test_binarization_without_a_linear_readout_falls_back_to_activation(tiny_zoo: Path) -> None:
    constant = _frozen(zoo.load("tiny-constant"))
    assert constant.readout_layers() == []
    check = _binarization(constant, {"eps": EPS, **PGD})
    assert check.status == "skip" and "activation (no linear readout layer)" in check.evidence, check


@pytest.mark.parametrize(("build", "dim", "layers"), [
    (lambda: ecoc.build(), 64, 1),  # Softmax: the 64 features before the code layer
    (lambda: ecoc.build(code="hadamard", code_length=16, activation="tanh", loss="hinge"), 64, 1),
    (lambda: ecoc.build(trunk="ensemble", code="hadamard", code_length=16, members=2, activation="tanh", loss="hinge"), 32, 16),
    (lambda: ecoc.build(code="learnable", code_length=16, activation="tanh", loss="eq5"), 64, 1),
    (lambda: szegedy.build(hidden=[100, 100], lambdas=[0, 0, 0]), 100, 1),
    (lambda: szegedy.build(), 784, 1),  # a linear softmax reads the pixels
    (lambda: szegedy.build(kind="conv"), 128, 1),
])
def test_penultimate_found_from_the_graph(build, dim: int, layers: int) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    model = _frozen(build())
    readouts = model.readout_layers()
    assert len(readouts) == layers and all(isinstance(m, nn.Linear) for m in readouts)
    x = torch.rand(3, 1, 28, 28, requires_grad=True)
    f = model.penultimate(x)
    assert f.shape == (3, dim)
    # the readout layers map the penultimate features to the code scores exactly
    per = f.split([m.in_features for m in readouts], dim=1)
    z = torch.cat([m(p) for m, p in zip(readouts, per)], dim=1)
    assert torch.allclose(z, model.code_scores(x), atol=1e-5)
    (g,) = torch.autograd.grad(f.sum(), x)  # differentiable
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_security_curve_check_names_a_rise_it_tolerates() -> None:
    """A rise above the tolerance warns; one within it passes but says so, never 'non-increasing'
    bare (a reader would take the curve for monotone)."""
    assert checks.monotone_in_eps([(0.1, 0.5), (0.2, 0.1)], 0.02).evidence.startswith("non-increasing:")
    within = checks.monotone_in_eps([(0.3, 0.0), (0.4, 0.01)], 0.02)
    assert (within.status, within.evidence.split(":")[0]) == ("pass", "non-increasing (within 0.02)")
    assert checks.monotone_in_eps([(0.3, 0.0), (0.4, 0.05)], 0.02).status == "warn"
