"""Every attack kind against tiny models whose answer is known, through the real runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from bench.data import load_mnist
from bench.results import ResultsStore
from bench.runner import Runner
from bench.suite import load_suite

N = 40


def run_suite(tmp_path: Path, attacks: list[dict], models: list[str], count: int = N, name: str = "t") -> ResultsStore:
    suite = {
        "name": name, "version": 1, "dataset": "mnist", "seed": 0, "batch_size": 50,
        "examples": {"split": "test", "count": count, "offset": 0}, "models": models, "attacks": attacks,
        "outputs": {"dir": str(tmp_path / "results" / name)},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(suite))
    Runner(load_suite(path), device="cpu", progress=False, log=lambda s: None).run()
    return ResultsStore(tmp_path / "results" / name)


def clean_acc(model_id: str, n: int = N) -> float:
    from bench import zoo

    model = zoo.load(model_id)
    split = load_mnist("test")
    return float((model.predict(split.x[:n]) == split.y[:n]).float().mean())


PGD = {"eps": 0.3, "steps": 20, "step_size": 0.03}
CW = {"steps": 60, "binary_search_steps": 3, "initial_const": 1.0, "lr": 0.05}


@pytest.mark.parametrize("backend", ["native", "art", "foolbox"])
def test_pgd_fools_linear_model_and_not_constant_one(tiny_zoo: Path, tmp_path: Path, backend: str) -> None:
    store = run_suite(tmp_path, [{"id": "pgd", "kind": "pgd_linf", "backend": backend, "params": PGD}],
                      ["tiny-linear", "tiny-constant"], name=f"pgd_{backend}")
    lin = store.read_cell("tiny-linear", "pgd")
    const = store.read_cell("tiny-constant", "pgd")
    assert lin["value"] <= 0.05, lin
    assert const["value"] == pytest.approx(clean_acc("tiny-constant"))
    assert lin["verification"]["rejected_budget"] == 0 and lin["verification"]["rejected_range"] == 0
    t = store.read_tensors("tiny-linear", "pgd")
    assert float(t["linf"].max()) <= 0.3 + 1e-5


@pytest.mark.parametrize("backend", ["native", "foolbox", "art"])
def test_cw_finds_adversarials_on_linear_model(tiny_zoo: Path, tmp_path: Path, backend: str) -> None:
    n, params = (6, CW) if backend == "art" else (20, CW)  # ART's CW is slow: fewer examples
    store = run_suite(tmp_path, [{"id": "cw", "kind": "cw_l2", "backend": backend, "params": params, "examples": {"count": n, "offset": 0}}],
                      ["tiny-linear", "tiny-constant"], name=f"cw_{backend}")
    assert store.read_cell("tiny-linear", "cw")["value"] <= 0.2
    assert store.read_cell("tiny-constant", "cw")["value"] == pytest.approx(clean_acc("tiny-constant", n))


def test_blind_spot_scales_around_center_before_cw(tiny_zoo: Path, tmp_path: Path) -> None:
    params = {"alpha": 0.8, "center": 0.5, **CW}
    store = run_suite(tmp_path, [{"id": "bsa", "kind": "blind_spot", "backend": "native", "params": params, "examples": {"count": 10, "offset": 0}}],
                      ["tiny-linear"], name="bsa")
    t = store.read_tensors("tiny-linear", "bsa")
    x = load_mnist("test").x[:10]
    ref = 0.8 * x + 0.1
    delta_l2 = (t["x_adv"] - ref).flatten(1).norm(dim=1)
    assert torch.allclose(delta_l2, t["l2"], atol=1e-4)  # norms are measured from the scaled image
    assert store.read_cell("tiny-linear", "bsa")["value"] <= 0.2


def test_noise_random_inputs_benign_and_transfer(tiny_zoo: Path, tmp_path: Path) -> None:
    attacks = [
        {"id": "benign", "kind": "benign"},
        {"id": "u0", "kind": "uniform_noise", "params": {"gamma": 0.0}},
        {"id": "u1", "kind": "uniform_noise", "params": {"gamma": 1.0}},
        {"id": "rand", "kind": "random_inputs", "params": {"count": 100, "threshold": 0.9}},
        {"id": "pgd", "kind": "pgd_linf", "backend": "native", "params": PGD},
        {"id": "transfer", "kind": "transfer", "params": {"source_attack": "pgd"}},
    ]
    store = run_suite(tmp_path, attacks, ["tiny-linear", "tiny-constant"], name="misc")
    for m in ("tiny-linear", "tiny-constant"):
        assert store.read_cell(m, "benign")["value"] == pytest.approx(clean_acc(m))
        assert "x_adv" not in store.read_tensors(m, "benign")  # its inputs, unchanged: not stored again
        assert store.read_cell(m, "u0")["value"] == store.read_cell(m, "benign")["value"]
    assert store.read_cell("tiny-constant", "u1")["value"] == store.read_cell("tiny-constant", "benign")["value"]
    assert store.read_cell("tiny-linear", "u1")["value"] < store.read_cell("tiny-linear", "benign")["value"]
    assert store.read_cell("tiny-constant", "rand")["value"] == 0.0  # always confident
    tr = store.read_cell("tiny-constant", "transfer")["extra"]["sources"]
    assert tr["tiny-linear"]["n"] > 0
    assert store.read_cell("tiny-linear", "transfer")["extra"]["sources"]["tiny-linear"]["error_rate"] == 1.0
