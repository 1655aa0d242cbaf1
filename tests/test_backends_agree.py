"""ART, foolbox and the native backend agree on the same model, examples and budget."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench import zoo
from bench.attacks import Context, get_kind
from bench.data import load_mnist
from bench.verify import verify

N = 100


def robust_accuracy(model_id: str, kind: str, backend: str, params: dict, n: int = N) -> float:
    model = zoo.load(model_id)
    split = load_mnist("test")
    x, y = split.x[:n], split.y[:n]
    k = get_kind(kind)
    p = k.resolve(params)
    ctx = Context(device=torch.device("cpu"), seed=0, batch_size=50)
    x_adv = k.generate(model, x, y, p, backend, ctx)
    return float(verify(model, x, x_adv, y, k.threat(p), torch.device("cpu")).robust.float().mean())


def test_pgd_backends_agree_within_a_few_points(tiny_zoo: Path) -> None:
    params = {"eps": 0.08, "steps": 30, "step_size": 0.01}
    accs = {b: robust_accuracy("tiny-linear", "pgd_linf", b, params) for b in ("art", "foolbox", "native")}
    assert 0.1 < accs["art"] < 0.9, accs  # a budget where the answer is not trivial
    assert abs(accs["art"] - accs["foolbox"]) <= 0.05, accs
    assert abs(accs["native"] - accs["art"]) <= 0.02 + 0.03, accs
    assert abs(accs["native"] - accs["foolbox"]) <= 0.02 + 0.03, accs


@pytest.mark.parametrize(("backend", "n"), [("foolbox", 100), ("art", 12)])  # ART's CW is ~15x slower
def test_native_cw_at_least_as_strong(tiny_zoo: Path, backend: str, n: int) -> None:
    params = {"steps": 50, "binary_search_steps": 3, "initial_const": 0.1, "lr": 0.05}
    native = robust_accuracy("tiny-linear", "cw_l2", "native", params, n)
    other = robust_accuracy("tiny-linear", "cw_l2", backend, params, n)
    assert native <= other + 0.02, (native, other)
