"""Szegedy et al. 2013 reproduction: the L-BFGS minimum-distortion attack against a model whose
answer is known in closed form, transfer rows (noise, amplified), the P1/P2 split, the paper's
weight decay and the trainer's pre-training hook."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from bench.attacks.kinds.lbfgs import lbfgs_attack, target_labels
from bench.attacks.kinds.transfer import amplify, rms
from bench.models.base import Classifier
from bench.models.szegedy import build
from bench.stats import clopper_pearson
from bench.train.trainer import _subset_indices

REPO = Path(__file__).resolve().parents[1]
SHAPE = (1, 4, 4)


class Binary(Classifier):
    """Two classes: class 1 iff w.x + b > 0 (the logit of class 0 is 0)."""

    num_classes = 2

    def __init__(self, w: torch.Tensor, b: float):
        super().__init__()
        self.w = torch.nn.Parameter(w.clone())
        self.b = torch.nn.Parameter(torch.tensor(float(b)))

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1) @ self.w + self.b
        logits = torch.stack([torch.zeros_like(s), s], dim=1)
        return torch.log_softmax(logits, dim=1)


def _binary(seed: int = 0) -> tuple[Binary, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(16, generator=g)
    x = 0.35 + 0.3 * torch.rand(6, *SHAPE, generator=g)  # interior: the box does not bind
    model = Binary(w, 0.0).eval().requires_grad_(False)
    s = x.flatten(1) @ w
    b = -float(s.mean())  # put the boundary among the examples: some class 0, some class 1
    model.b.fill_(b)
    y = ((s + b) > 0).long()
    margin = ((s + b).abs() / w.norm())
    keep = margin < 0.3  # small enough to stay inside [0,1] along w
    return model, x[keep], y[keep]


@pytest.mark.parametrize("mode", ["untargeted", "targeted"])
def test_lbfgs_finds_the_analytic_minimum_on_a_linear_boundary(mode: str) -> None:
    model, x, y = _binary()
    assert len(y) >= 3
    w, b = model.w.detach(), float(model.b)
    adv = lbfgs_attack(model, x, y, mode=mode, c_init=0.1, c_search_steps=25, max_iter=200, seed=0)
    assert torch.equal(target_labels(y, 0, 2), 1 - y)  # two classes: the target is the other one
    pred = model.log_probs(adv).argmax(1)
    assert torch.equal(pred, 1 - y)
    d_min = (x.flatten(1) @ w + b).abs() / w.norm()
    r = (adv - x).flatten(1)
    d = r.norm(dim=1)
    for i in range(len(y)):
        assert d[i] >= d_min[i] - 1e-5  # nothing closer exists
        assert d[i] <= d_min[i] * 1.05 + 2e-3, (float(d[i]), float(d_min[i]))
        cos = float(r[i] @ w) / (float(d[i]) * float(w.norm()))
        assert abs(cos) > 0.99  # along w


def test_lbfgs_respects_the_box_and_skips_misclassified() -> None:
    g = torch.Generator().manual_seed(1)
    w = torch.randn(16, generator=g) * 5
    x = torch.rand(8, *SHAPE, generator=g).round()  # pixels at 0 or 1: the box binds
    model = Binary(w, 0.0).eval().requires_grad_(False)
    y = model.log_probs(x).argmax(1)
    y[0] = 1 - y[0]  # misclassified from the start: returned unchanged
    adv = lbfgs_attack(model, x, y, mode="untargeted", c_init=0.1, c_search_steps=8, max_iter=100, seed=0)
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    assert torch.equal(adv[0], x[0])
    changed = model.log_probs(adv).argmax(1) != y
    assert changed[1:].float().mean() >= 0.5


def test_target_labels_are_seeded_and_wrong() -> None:
    y = torch.arange(10).repeat(5)
    t = target_labels(y, 7)
    assert torch.equal(t, target_labels(y, 7)) and not torch.equal(t, target_labels(y, 8))
    assert bool((t != y).all()) and int(t.min()) >= 0 and int(t.max()) <= 9


def test_amplify_sets_the_per_pixel_stddev() -> None:
    g = torch.Generator().manual_seed(0)
    x = 0.4 + 0.2 * torch.rand(5, 1, 28, 28, generator=g)
    adv = x + 0.01 * torch.randn(x.shape, generator=g)
    out = amplify(x, adv, 0.1)
    assert torch.allclose(rms(out - x), torch.full((5,), 0.1, dtype=torch.float64), atol=2e-3)  # little clipping here
    d0, d1 = (adv - x).flatten(1), (out - x).flatten(1)
    assert bool((torch.nn.functional.cosine_similarity(d0, d1) > 0.99).all())
    assert float(rms(torch.full((1, 784), 0.5))[0]) == pytest.approx(0.5)


def test_p1_p2_split_disjoint_and_deterministic() -> None:
    spec = {"split_seed": 2013, "parts": 2}
    p1, p2 = _subset_indices({**spec, "part": 0}, 60000), _subset_indices({**spec, "part": 1}, 60000)
    assert len(p1) == len(p2) == 30000
    assert not set(p1.tolist()) & set(p2.tolist())
    assert torch.equal(torch.sort(torch.cat([p1, p2])).values, torch.arange(60000))
    assert torch.equal(p1, _subset_indices({**spec, "part": 0}, 60000))
    cards = {c: yaml.safe_load((REPO / "zoo" / c / "card.yaml").read_text()) for c in ("szegedy_m1", "szegedy_m1prime", "szegedy_m2")}
    subsets = {c: d["training"]["train_subset"] for c, d in cards.items()}
    assert subsets["szegedy_m1"] == subsets["szegedy_m1prime"] == {**spec, "part": 0}
    assert subsets["szegedy_m2"] == {**spec, "part": 1}


def test_weight_decay_is_lambda_sum_w2_over_k() -> None:
    torch.manual_seed(0)
    lambdas = [1e-1, 1e-2, 1.0]
    model = build(kind="mlp", hidden=[5, 4], lambdas=lambdas)
    expected = sum(lam * float(layer.weight.pow(2).sum()) / layer.weight.shape[0] for layer, lam in zip(model.layers, lambdas))
    assert [layer.weight.shape[0] for layer in model.layers] == [5, 4, 10]  # k = units of the layer
    assert float(model.weight_decay()) == pytest.approx(expected, rel=1e-6)
    x, y = torch.rand(7, 1, 28, 28), torch.randint(0, 10, (7,))
    ce = torch.nn.functional.nll_loss(model.log_probs(x), y)
    assert float(model.loss(x, y) - ce) == pytest.approx(expected, rel=1e-5)
    # biases are not decayed
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.fill_(3.0)
    assert float(model.weight_decay()) == pytest.approx(expected, rel=1e-6)
    soft = build(kind="mlp", hidden=[], lambdas=[1.0])
    assert float(soft.weight_decay()) == pytest.approx(float(soft.layers[0].weight.pow(2).sum()) / 10)
    ae = build(kind="ae", hidden=[400], lambdas=[1e-6])
    assert float(ae.weight_decay()) == pytest.approx(1e-6 * float(ae.head.weight.pow(2).sum()) / 10)
    assert not any(p.requires_grad for p in ae.encoder.parameters())  # frozen for supervised training
    conv = build(kind="conv", channels=8, fc=16, lambdas=[1e-2, 1e-3, 1e-4])
    exp = 1e-2 * float(conv.conv.weight.pow(2).sum()) / 8 + 1e-3 * float(conv.fc.weight.pow(2).sum()) / 16 \
        + 1e-4 * float(conv.out.weight.pow(2).sum()) / 10
    assert float(conv.weight_decay()) == pytest.approx(exp, rel=1e-6)


def test_transfer_rows_noise_and_amplified(tiny_zoo: Path, tmp_path: Path) -> None:
    from bench.report import build as build_report
    from bench.report.text import DISTORTION, transfer_grid
    from test_attacks import run_suite

    attacks = [
        {"id": "lbfgs", "kind": "lbfgs", "params": {"c_search_steps": 4, "max_iter": 30}, "examples": {"count": 8, "offset": 0}},
        {"id": "xfer", "kind": "transfer", "label": "L-BFGS transfer",
         "params": {"source_attack": "lbfgs", "noise_rows": [0.1, 0.3], "amplify_to_std": 0.1, "noise_unclipped": True}},
    ]
    store = run_suite(tmp_path, attacks, ["tiny-linear", "tiny-constant"], name="szegedy_xfer")
    cell = store.read_cell("tiny-linear", "lbfgs")
    assert cell["extra"]["success_rate"] > 0.5 and 0 < cell["extra"]["av_min_distortion"] < 0.2
    t = store.read_tensors("tiny-linear", "lbfgs")
    fooled = t["ref_correct"] & ~t["robust"]
    assert cell["extra"]["av_min_distortion"] == pytest.approx(float((t["l2"][fooled] / 28).mean()), rel=1e-5)
    rows = store.read_cell("tiny-constant", "xfer")["extra"]["sources"]
    models = list(rows)[:2]
    assert set(models) == {"tiny-linear", "tiny-constant"}
    assert list(rows)[2:] == [f"{m} amplified to std=0.1" for m in models] + [
        "Gaussian noise std=0.1", "Gaussian noise std=0.3", "Gaussian noise std=0.1 (unclipped)", "Gaussian noise std=0.3 (unclipped)"]
    assert rows["Gaussian noise std=0.3 (unclipped)"]["av_distortion"] == pytest.approx(0.3, abs=0.02)  # RMS = std
    assert rows["Gaussian noise std=0.1"]["n"] == 8 and rows["Gaussian noise std=0.1"]["error_rate"] == pytest.approx(1 - cell_acc(store))
    assert rows["tiny-linear amplified to std=0.1"]["av_distortion"] == pytest.approx(0.1, abs=0.02)
    assert 0.05 < rows["Gaussian noise std=0.1"]["av_distortion"] < 0.1  # clipped at 0 on the background
    diag = store.read_cell("tiny-linear", "xfer")["extra"]["sources"]["tiny-linear"]
    assert diag["error_rate"] == 1.0 and diag["av_distortion"] == pytest.approx(cell["extra"]["av_min_distortion"], rel=1e-5)
    report = build_report(store.root)
    header, grid = transfer_grid(report.transfers[0])
    assert header[0] == "source \\ target" and set(header[1:3]) == set(models) and header[3:] == [DISTORTION]
    assert [r[0].split(" (n=")[0] for r in grid] == list(rows)  # each source with its n when they differ


def cell_acc(store) -> float:  # type: ignore[no-untyped-def]
    """tiny-constant ignores its input: its error on any input is its clean error on those examples."""
    return float(store.read_cell("tiny-constant", "lbfgs")["value"])


def test_trainer_pretrain_hook_runs_once_and_resumes(tmp_path: Path, mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.train import train_model
    from bench.zoo.card import load_card

    folder = tmp_path / "zoo" / "pre"
    folder.mkdir(parents=True)
    (folder / "pre_model.py").write_text(
        "from bench.models.szegedy import SparseAEClassifier\n"
        "def build(**kw):\n    return SparseAEClassifier(hidden=8, lambdas=[1e-6])\n"
    )
    card = {
        "id": "pre-ae", "family": "test", "description": "d", "source": {"paper": "tests"}, "architecture": "ae",
        "factory": "pre_model:build", "checkpoint": {"file": "weights.safetensors"},
        "training": {"epochs": 1, "batch_size": 200, "noise_std": 0.0, "max_shift_px": 0.0, "max_rot_deg": 0.0,
                     "train_subset": {"split_seed": 0, "part": 0, "parts": 60}, "pretrain": {"epochs": 1, "batch_size": 200}},
    }
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    out = train_model(load_card(folder), max_epochs=0)  # pre-train only, then pause
    assert out["finished"] is False
    log = [json.loads(line) for line in (folder / "training" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["pretrain"]["epochs"] == 1
    enc = load_card(folder)
    out = train_model(enc)  # resume: no second pre-training
    assert out["finished"] is True
    log = [json.loads(line) for line in (folder / "training" / "log.jsonl").read_text().splitlines()]
    assert sum("pretrain" in e for e in log) == 1 and sum("epoch" in e for e in log) == 1
    assert math.isfinite(out["clean_accuracy"])
    np.testing.assert_equal(yaml.safe_load((folder / "card.yaml").read_text())["training"]["pretrain"], {"epochs": 1, "batch_size": 200})


def test_p1_is_an_example_selection_too() -> None:
    """suites/szegedy_cross_training.yaml measures the error on P1 with {split: train, count: 30000,
    seed: 2013}: numpy's legacy choice without replacement is permutation()[:count]."""
    from bench.suite import ExampleSelection

    p1 = _subset_indices({"split_seed": 2013, "part": 0, "parts": 2}, 60000)
    assert torch.equal(ExampleSelection("train", 30000, seed=2013).indices(60000), p1)


def test_extra_columns_and_transfer_paper_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.report import build as build_report
    from bench.report import markdown_text
    from bench.suite import load_suite

    zoo = tmp_path / "zoo" / "a"
    zoo.mkdir(parents=True)
    (zoo / "card.yaml").write_text(yaml.safe_dump({
        "id": "A", "family": "t", "description": "d", "source": {"paper": "p"}, "architecture": "a", "factory": "m:f",
        "checkpoint": {"file": "w.safetensors"},
        "reported": {"benign.error": 0.074, "lb.av_min_distortion": 0.062, "x.av_distortion": 0.062, "x[A]": 1.0,
                     "x[Gaussian noise std=0.1]": 0.05},
    }))
    monkeypatch.setattr("bench.zoo.registry.REPO_ZOO", tmp_path / "none")
    monkeypatch.setenv("BENCH_ZOO_PATH", str(tmp_path / "zoo"))
    suite = {"name": "s", "version": 1, "dataset": "mnist", "attacks": [
        {"id": "benign", "kind": "benign"}, {"id": "lb", "kind": "lbfgs"},
        {"id": "x", "kind": "transfer", "label": "X", "params": {"source_attack": "lb"}}],
        "leaderboard": {"columns": ["lb"], "extra_columns": [
            {"label": "Test error", "attack": "benign", "field": "error"},
            {"label": "Av. min. distortion", "attack": "lb", "field": "av_min_distortion"}]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite))
    resolved = load_suite(tmp_path / "s.yaml", known_models={"A"}).resolved
    assert resolved["leaderboard"]["extra_columns"][0] == {"label": "Test error", "attack": "benign", "field": "error"}
    bad = dict(suite, leaderboard={"extra_columns": [{"label": "T", "attack": "nope", "field": "error"}]})
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    from bench.suite import validate_suite_file

    assert any("unknown attack id 'nope'" in p for p in validate_suite_file(tmp_path / "bad.yaml", known_models={"A"}))
    out = tmp_path / "results"
    (out / "cells" / "A").mkdir(parents=True)
    (out / "suite.yaml").write_text(yaml.safe_dump(resolved))

    def cell(attack: str, kind: str, value: float, n: int, extra: dict, per_example: bool = True) -> None:
        (out / "cells" / "A" / f"{attack}.json").write_text(json.dumps({
            "model": "A", "attack": attack, "kind": kind, "label": attack.upper() if kind == "transfer" else attack, "metric": "m", "value": value, "n": n,
            "adversarial": False, "per_example": per_example, "extra": extra}))  # no worst case here

    cell("benign", "benign", 0.9, 100, {})
    cell("lb", "lbfgs", 0.0, 10, {"av_min_distortion": 0.03})
    cell("x", "transfer", 1.0, 10, {"sources": {"A": {"error_rate": 1.0, "n": 10, "av_distortion": 0.03},
                                               "Gaussian noise std=0.1": {"error_rate": 0.02, "n": 10, "av_distortion": 0.07}}},
         per_example=False)
    report = build_report(out)
    assert report.labels == ["lb", "Test error", "Av. min. distortion"]
    row = report.row("A")
    assert row.figure("benign.error").value == pytest.approx(0.1) and row.figure("benign.error").reported == 0.074
    assert row.figure("lb.av_min_distortion").value == 0.03 and row.figure("lb.av_min_distortion").reported == 0.062
    text = markdown_text(out)
    assert "0.100 [0.05, 0.18] (paper 0.074)" in text  # 1 - a proportion of 100 is one: 10 errors, their interval
    assert (row.figure("benign.error").lo, row.figure("benign.error").hi) == pytest.approx(clopper_pearson(10, 100))
    assert row.figure("lb.av_min_distortion").lo is None  # a mean distortion: no proportion, no interval
    assert "| Gaussian noise std=0.1 | 0.020 (paper 0.05)           | 0.070 " in text  # 0.02 of 10: no proportion
    assert "| A                      | 1.000 [0.69, 1.00] (paper 1) | 0.030 (paper 0.062) |" in text


SZEGEDY_IDS = ["softmax1", "softmax2", "softmax3", "N100-100-10", "N200-200-10", "AE400-10", "Conv", "M1", "M1prime", "M2"]


@pytest.mark.parametrize("model_id", SZEGEDY_IDS)
def test_szegedy_cards_build_and_load(model_id: str) -> None:
    from bench import zoo

    card = zoo.get_card(model_id)
    assert "szegedy" in card.tags and card.data["factory"] == "bench.models.szegedy:build"
    recipe = card.data["training"]
    assert recipe["noise_std"] == recipe["max_shift_px"] == recipe["max_rot_deg"] == 0
    if not card.sha256:
        pytest.skip(f"{model_id} not trained yet")
    model = zoo.load(model_id)
    assert model.log_probs(torch.rand(2, 1, 28, 28)).shape == (2, 10)
