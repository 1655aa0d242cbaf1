"""The ECOC zoo: registry, cards, checkpoints, decoder, codes, one training step per model type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from bench import zoo
from bench.errors import BenchError
from bench.models.codes import hadamard_code, min_hamming_distance, plotkin_bound
from bench.zoo.card import validate_card_data
from bench.zoo.registry import REPO_ZOO, build

TABLE1 = ["Softmax", "Logistic", "Tanh16", "LogisticEns10", "TanhEns16", "TanhEns32", "Learnable16", "Learnable16-l0.3"]


def test_registry_lists_the_eight_table1_models() -> None:
    ids = [i for i, c in zoo.all_cards().items() if "table1" in c.tags]
    assert sorted(ids) == sorted(TABLE1)


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in REPO_ZOO.glob("*/card.yaml")))
def test_card_validates(folder: str) -> None:
    path = REPO_ZOO / folder / "card.yaml"
    assert validate_card_data(yaml.safe_load(path.read_text()), str(path)) == []


def test_card_schema_rejects_unknown_and_missing_keys() -> None:
    problems = validate_card_data({"id": "x", "bogus": 1}, "c.yaml")
    assert any("unknown key 'bogus'" in p for p in problems)
    assert any("missing required key 'factory'" in p for p in problems)


@pytest.mark.parametrize("model_id", TABLE1)
def test_trained_checkpoint_loads_with_verified_hash(model_id: str) -> None:
    card = zoo.get_card(model_id)
    if not card.sha256:
        pytest.skip(f"{model_id} not trained yet (no checkpoint.sha256 in its card)")
    model = zoo.load(model_id)
    assert not model.training
    out = model.log_probs(torch.rand(2, 1, 28, 28))
    assert out.shape == (2, 10)


def test_tampered_checkpoint_is_refused(tiny_zoo: Path) -> None:
    folder = tiny_zoo / "tiny-linear"
    data = bytearray((folder / "weights.safetensors").read_bytes())
    try:
        data[-1] ^= 1
        (folder / "weights.safetensors").write_bytes(bytes(data))
        with pytest.raises(BenchError, match="tiny-linear.*sha256"):
            zoo.load("tiny-linear")
    finally:
        data[-1] ^= 1
        (folder / "weights.safetensors").write_bytes(bytes(data))
    zoo.load("tiny-linear")


@pytest.mark.parametrize("model_id", TABLE1)
def test_decoder_probabilities_are_a_distribution(model_id: str) -> None:
    torch.manual_seed(0)
    model = build(zoo.get_card(model_id)).eval()
    with torch.no_grad():
        p = model.decoder_log_probs(torch.rand(3, 1, 28, 28)).exp()
        cls = model.log_probs(torch.rand(3, 1, 28, 28)).exp()
    assert bool((p >= 0).all())
    assert torch.allclose(p.sum(1), torch.ones(3), atol=1e-5)
    assert bool((cls.sum(1) <= 1 + 1e-5).all())


@pytest.mark.parametrize(("length", "rows", "dmin"), [(16, 10, 8), (16, 16, 8), (32, 10, 16), (32, 32, 16)])
def test_hadamard_class_rows_have_stated_distance(length: int, rows: int, dmin: int) -> None:
    code = hadamard_code(length, rows)
    assert code.shape == (rows, length)
    assert set(np.unique(code)) == {-1.0, 1.0}
    assert min_hamming_distance(code, min(rows, 10)) == dmin
    assert dmin <= plotkin_bound(min(rows, 10), length)


def test_plotkin_bound_formula() -> None:
    assert plotkin_bound(10, 16) == 8 and plotkin_bound(10, 32) == 17 and plotkin_bound(2, 10) == 10


@pytest.mark.parametrize("model_id", ["Softmax", "Logistic", "Tanh16", "Learnable16", "Learnable16-l0.3", "LogisticEns10"])
def test_one_training_step_per_model_type(model_id: str) -> None:
    torch.manual_seed(0)
    model = build(zoo.get_card(model_id))
    x, y = torch.rand(8, 1, 28, 28), torch.arange(8) % 10
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    loss = model.loss(x, y)
    assert torch.isfinite(loss)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_code_hinge_gives_gradient_where_eq5_has_none() -> None:
    """An example whose Eq. 4 class scores are all negative gets no Eq. 5 gradient (relu); the
    trainer's code_hinge term (Learnable16 recipe) still pulls its code scores toward L(y)."""
    torch.manual_seed(0)
    model = build(zoo.get_card("Learnable16"))
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    with torch.no_grad():  # make every class score negative: a(x) = tanh(z) opposite to all rows
        model.label_encoder.copy_(torch.ones_like(model.label_encoder))
        last = [m for m in model.trunk.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.zero_()
        last.bias.fill_(-3.0)
    (g_eq5,) = torch.autograd.grad(model.loss(x, y), [last.bias])
    assert torch.count_nonzero(g_eq5) == 0
    (g_hinge,) = torch.autograd.grad(model.code_hinge_loss(x, y), [last.bias])
    assert (g_hinge < 0).all()  # descent raises z toward the all-ones code row
