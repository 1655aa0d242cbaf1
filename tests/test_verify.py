"""The harness's verdict: recomputed predictions, budget and range checks, nothing clipped."""

from __future__ import annotations

import torch

from bench.verify import verify
from tiny_models import build_linear


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    m = build_linear()
    return m.eval()


def test_out_of_budget_example_is_rejected_not_counted() -> None:
    model = _model()
    x = torch.rand(8, 1, 28, 28) * 0.5 + 0.25
    y = model.predict(x)  # every reference input "correct"
    far = (x + 0.25 * torch.randn_like(x).sign()).clamp(0, 1)  # outside eps=0.1
    v = verify(model, x, far, y, {"norm": "linf", "eps": 0.1}, torch.device("cpu"))
    fooled_claims = int((v.pred != y).sum())
    assert fooled_claims > 0
    assert v.stats["rejected_budget"] == fooled_claims
    assert v.stats["verified"] == 0
    assert bool(v.robust.all())


def test_out_of_range_example_is_rejected() -> None:
    model = _model()
    x = torch.rand(4, 1, 28, 28)
    y = model.predict(x)
    bad = x.clone()
    bad[:, :, 0, 0] = 1.5
    bad = bad + 50 * model.fc.weight[(y + 1) % 10].view(4, 1, 28, 28)  # surely changes the label
    v = verify(model, x, bad, y, None, torch.device("cpu"))
    assert v.stats["rejected_range"] == int((v.pred != y).sum()) > 0
    assert bool(v.robust.all())


def test_valid_adversarial_is_counted_and_norms_recorded() -> None:
    model = _model()
    x = torch.full((1, 1, 28, 28), 0.5)
    y = model.predict(x)
    w = model.fc.weight
    direction = (w[(int(y) + 1) % 10] - w[int(y)]).sign().view(1, 1, 28, 28)
    x_adv = (x + 0.5 * direction).clamp(0, 1)
    v = verify(model, x, x_adv, y, {"norm": "linf", "eps": 0.5}, torch.device("cpu"))
    assert v.stats["verified"] == int(v.pred != y)
    assert abs(float(v.linf[0]) - 0.5) < 1e-6
    assert abs(float(v.l2[0]) - float((x_adv - x).norm())) < 1e-4
