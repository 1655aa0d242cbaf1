"""Reference-strength robust accuracy: targeted attacks, the code-word attack, the cascade, the
torchattacks backend, and the cross-check against torchattacks' AutoAttack, on tiny models where
the answer is known."""

from __future__ import annotations

import json
from typing import Any
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch import nn

from bench import zoo
from bench.attacks import Context, get_kind
from bench.attacks.backends import native
from bench.attacks.kinds import cascade
from bench.cli import main
from bench.data import load_mnist
from bench.models.base import Classifier
from bench.verify import verify

CPU = torch.device("cpu")


class TargetOnly(Classifier):
    """Three classes on 2 pixels, true class 0 at the centre image. Class 1 is the most likely other
    class but unreachable (its score can gain 0.1 within eps 0.3); class 2 starts far lower but
    reaches the top with one pixel. A margin attack's gradient flows only through the most likely
    other class, so untargeted it pushes toward class 1 for ever; toward target 2 it wins."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.flatten(1)[:, 0], x.flatten(1)[:, 1]
        z = torch.stack([torch.zeros_like(a), -0.5 + (a - 0.5) / 3, -3 + 20 * (b - 0.5)], dim=1) + self.anchor
        return torch.log_softmax(z, dim=1)


class MaskedCode(Classifier):
    """A code model whose decoder hides its gradients: raw code scores z = fc(x) (10 bits, +-1
    code words = one-hot in +-1), decoded at temperature 1e-4, so the log-probabilities are flat
    almost everywhere; the code scores themselves still carry the gradient."""

    def __init__(self, fc: nn.Linear) -> None:
        super().__init__()
        self.fc = fc
        self.register_buffer("words", 2 * torch.eye(10) - 1)

    def code_scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))

    def linear_scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.code_scores(x) @ self.words.T

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(1e4 * self.linear_scores(x), dim=1)

    def code_words(self) -> torch.Tensor | None:
        return self.words


def pgd(given: dict) -> dict:
    """L-inf PGD parameters as the kind resolves them (the backends take no defaults of their own)."""
    return {"norm": "linf", **get_kind("pgd_linf").resolve(given)}


def robust(model: Classifier, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor, eps: float) -> torch.Tensor:
    return verify(model, x, adv, y, {"norm": "linf", "eps": eps}, CPU, 100).robust


def test_a_targeted_attack_finds_the_boundary_an_untargeted_one_misses() -> None:
    model = TargetOnly().eval()
    x, y = torch.full((4, 1, 1, 2), 0.5), torch.zeros(4, dtype=torch.long)
    params = pgd({"eps": 0.3, "steps": 50, "step_size": 0.03, "random_start": False, "loss": "margin"})
    untargeted = native.pgd_batch(model, x, y, **params)
    assert robust(model, x, y, untargeted, 0.3).all()  # stuck on the unreachable class 1
    top1 = native.pgd_batch(model, x, y, **{**params, "targets": 1})
    assert robust(model, x, y, top1, 0.3).all()  # the most likely other class only: still stuck
    top2 = native.pgd_batch(model, x, y, **{**params, "targets": 2})
    assert not robust(model, x, y, top2, 0.3).any()  # the second target breaks every example
    assert (model.log_probs(top2).argmax(1) == 2).all()


def test_the_codeword_attack_breaks_a_code_model_whose_decoder_masks_gradients(tiny_zoo: Path) -> None:
    lin = zoo.load("tiny-linear")
    model = MaskedCode(lin.fc).eval()
    split = load_mnist("test")
    x, y = split.x[:40], split.y[:40]
    base = pgd({"eps": 0.3, "steps": 40, "step_size": 0.03})
    plain = native.pgd_batch(model, x, y, **base)  # CE on the masked log-probabilities
    word = native.pgd_batch(model, x, y, **{**base, "loss": "codeword", "targets": 3})
    r_plain, r_word = robust(model, x, y, plain, 0.3).float().mean(), robust(model, x, y, word, 0.3).float().mean()
    assert r_word <= 0.1 and r_plain >= r_word + 0.5, (float(r_plain), float(r_word))
    with pytest.raises(ValueError):
        native.pgd_batch(lin, x, y, **{**base, "loss": "codeword", "targets": 3})  # no code: refused


def test_validate_refuses_codeword_without_targets_and_targets_off_native() -> None:
    kind = get_kind("pgd_linf")
    assert any("codeword" in p for p in kind.validate({"loss": "codeword"}, "x"))
    assert not kind.validate({"loss": "codeword", "targets": 3}, "x")
    from bench.attacks.backends import problems

    assert problems("art", "pgd", kind.resolve({"targets": 2}))
    assert problems("torchattacks", "apgd", get_kind("apgd").resolve({"targets": 9})) == []
    assert problems("art", "apgd", get_kind("apgd").resolve({"targets": 9}))


DETERMINISTIC = (  # members with no random draw, so each one alone gives the same verdicts
    cascade.Member("M1", "pgd_linf", "native", {"steps": 5, "step_size_eps": 0.3, "random_start": False}),
    cascade.Member("M2", "pgd_linf", "native", {"steps": 20, "step_size_eps": 0.1, "random_start": False, "loss": "margin"}),
    cascade.Member("M3", "pgd_linf", "native", {"steps": 20, "step_size_eps": 0.1, "random_start": False, "loss": "margin", "targets": 3}),
)


def deterministic_case(monkeypatch: pytest.MonkeyPatch) -> tuple[Classifier, torch.Tensor, torch.Tensor, torch.Tensor, Any, dict[str, Any]]:
    """tiny-linear on test images 300-359 at eps 0.08, the DETERMINISTIC members as preset 'test'."""
    monkeypatch.setitem(cascade.PRESETS, "test", DETERMINISTIC)
    split = load_mnist("test")
    kind = get_kind("cascade")
    return (zoo.load("tiny-linear"), split.x[300:360], split.y[300:360], torch.arange(300, 360), kind,
            kind.resolve({"eps": 0.08, "presets": ["test"]}))


def test_cascade_flags_are_the_intersection_of_its_members_run_alone(tiny_zoo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, x, y, index, kind, params = deterministic_case(monkeypatch)
    ticks: list[int] = []
    out = kind.generate(model, x, y, params, None, Context(device=CPU, seed=5, batch_size=25, index=index, progress=ticks.append))
    assert sum(ticks) == len(y)
    cascade_robust = robust(model, x, y, out.x, 0.08)
    alone = torch.ones(len(y), dtype=torch.bool)
    for m in DETERMINISTIC:
        adv = get_kind(m.kind).generate(model, x, y, m.resolved(0.08), m.backend, Context(device=CPU, seed=5, batch_size=25, index=index))
        alone &= robust(model, x, y, adv, 0.08)
    assert torch.equal(cascade_robust, alone)
    assert 0 < int(alone.sum()) < len(y)  # the case is not trivial
    broken_by = out.tensors["broken_by"]
    assert torch.equal(broken_by == cascade.UNBROKEN, cascade_robust)
    details = kind.details(out.tensors, out.stats, None, params)
    assert [m["attempted"] for m in details["members"].values()][0] == int((broken_by != cascade.CLEAN_WRONG).sum())
    assert details["robust_after M3"] == pytest.approx(int(cascade_robust.sum()) / len(y))
    assert sum(m["broke"] for m in details["members"].values()) + details["clean_wrong"] + int(cascade_robust.sum()) == len(y)


def straight_and_resumed(tmp_path: Path, suite: dict[str, Any]) -> dict[str, Path]:
    """The suite twice, writing to tmp_path/straight and tmp_path/resumed."""
    paths = {}
    for name in ("straight", "resumed"):
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump({**suite, "outputs": {"dir": str(tmp_path / name)}}))
    return paths


def test_a_cascade_cell_resumes_inside_to_the_identical_cell(tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cascade.PRESETS, "test", DETERMINISTIC)
    suite = {
        "name": "tiny_cascade", "version": 1, "dataset": "mnist", "seed": 2, "batch_size": 50,
        "examples": {"split": "test", "count": 250, "offset": 0}, "models": {"ids": ["tiny-linear"]},
        "attacks": [{"id": "aa", "kind": "cascade", "params": {"eps": 0.08, "presets": ["test"]}}],
    }
    paths = straight_and_resumed(tmp_path, suite)
    args = ["--device", "cpu", "--no-progress", "--no-leaderboard"]
    assert main(["run", str(paths["straight"]), *args]) == 0
    kind = get_kind("cascade")
    original, calls = kind.generate, {"n": 0}

    def flaky(*a: object, **k: object):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*a, **k)

    monkeypatch.setattr(kind, "generate", flaky)
    assert main(["run", str(paths["resumed"]), *args]) == 130
    assert len(list((tmp_path / "resumed" / "cells" / "tiny-linear" / "aa.partial").glob("*.safetensors"))) == 2
    monkeypatch.setattr(kind, "generate", original)
    assert main(["run", str(paths["resumed"]), *args]) == 0
    a = load_file(str(tmp_path / "straight" / "cells" / "tiny-linear" / "aa.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "cells" / "tiny-linear" / "aa.safetensors"))
    assert a.keys() == b.keys() and "broken_by" in a and all(torch.equal(a[k], b[k]) for k in a)
    ja, jb = (json.loads((tmp_path / n / "cells" / "tiny-linear" / "aa.json").read_text()) for n in ("straight", "resumed"))
    assert ja["value"] == jb["value"] and ja["ci95"] == jb["ci95"]
    assert {k: v["broke"] for k, v in ja["extra"]["members"].items()} == {k: v["broke"] for k, v in jb["extra"]["members"].items()}
    # the cost of a cell finished over two runs is every shard's, not the last run's
    pb = jb["provenance"]
    assert pb["shards"] == pb["shards_timed"] == 3 and pb["shards_resumed"] == 2
    assert pb["compute_s"] >= sum(m["time_s"] for m in jb["extra"]["members"].values()) - 0.01 > 0


RANDOM = (  # random starts drawn per example, a library member seeded per shard, a targeted one
    cascade.Member("R1", "pgd_linf", "native", {"steps": 5, "step_size_eps": 0.25}),
    cascade.Member("R2", "apgd", "torchattacks", {"steps": 10, "restarts": 1}),
    cascade.Member("R3", "pgd_linf", "native", {"steps": 20, "step_size_eps": 0.1, "loss": "margin", "targets": 3}),
)


def test_a_shard_killed_inside_resumes_at_the_next_member_to_the_identical_cell(tiny_zoo: Path, tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """One shard of 100 examples; the run dies in its third member. The next run reads the state
    after the second member back (neither earlier member runs again) and ends with the cell an
    uninterrupted run writes, its cost the two runs' together."""
    monkeypatch.setitem(cascade.PRESETS, "random", RANDOM)
    suite = {
        "name": "tiny_stages", "version": 1, "dataset": "mnist", "seed": 5, "batch_size": 40,
        "examples": {"split": "test", "count": 100, "offset": 400}, "models": {"ids": ["tiny-linear"]},
        "attacks": [{"id": "aa", "kind": "cascade", "params": {"eps": 0.06, "presets": ["random"]}}],
    }
    paths = straight_and_resumed(tmp_path, suite)
    args = ["--device", "cpu", "--no-progress", "--no-leaderboard"]
    assert main(["run", str(paths["straight"]), *args]) == 0
    pgd, apgd = get_kind("pgd_linf"), get_kind("apgd")
    originals = {k.name: k.generate for k in (pgd, apgd)}
    calls: list[str] = []

    def counting(kind: Any, die_on_targets: bool):  # type: ignore[no-untyped-def]
        original = originals[kind.name]

        def generate(model: Any, x: Any, y: Any, params: dict[str, Any], *a: object, **k: object):  # type: ignore[no-untyped-def]
            calls.append(f"{kind.name}{params.get('targets', 0)}")
            if die_on_targets and params.get("targets"):
                raise KeyboardInterrupt  # as a session that ends in the third member
            return original(model, x, y, params, *a, **k)
        return generate

    monkeypatch.setattr(pgd, "generate", counting(pgd, True))
    monkeypatch.setattr(apgd, "generate", counting(apgd, False))
    assert main(["run", str(paths["resumed"]), *args]) == 130
    stages = tmp_path / "resumed" / "cells" / "tiny-linear" / "aa.partial" / "stages" / "000000-000100"
    assert sorted(p.name for p in stages.glob("*.safetensors")) == ["member-00.safetensors", "member-01.safetensors"]
    assert calls == ["pgd_linf0", "apgd0", "pgd_linf3"]
    calls.clear()
    monkeypatch.setattr(pgd, "generate", counting(pgd, False))
    assert main(["run", str(paths["resumed"]), *args]) == 0
    assert calls == ["pgd_linf3"]  # R1 and R2 were read back, not run again
    assert not (tmp_path / "resumed" / "cells" / "tiny-linear" / "aa.partial").exists()
    a = load_file(str(tmp_path / "straight" / "cells" / "tiny-linear" / "aa.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "cells" / "tiny-linear" / "aa.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ja, jb = (json.loads((tmp_path / n / "cells" / "tiny-linear" / "aa.json").read_text()) for n in ("straight", "resumed"))
    assert ja["value"] == jb["value"]
    assert {k: v["broke"] for k, v in ja["extra"]["members"].items()} == {k: v["broke"] for k, v in jb["extra"]["members"].items()}
    m = ja["extra"]["members"]  # the case is not trivial: both read-back members broke some, the third had work
    assert m["R1"]["broke"] > 0 and m["R2"]["broke"] > 0 and m["R3"]["attempted"] > 0, m
    times = {k: v["time_s"] for k, v in jb["extra"]["members"].items()}
    assert times["R1"] > 0 and times["R2"] > 0  # the first run's member times were kept
    assert jb["provenance"]["compute_s"] >= sum(times.values()) - 0.01


def test_torchattacks_backend_agrees_with_native_on_a_tiny_model(tiny_zoo: Path) -> None:
    model = zoo.load("tiny-linear")
    split = load_mnist("test")
    x, y = split.x[:100], split.y[:100]
    kind = get_kind("pgd_linf")
    params = kind.resolve({"eps": 0.05, "steps": 20, "step_size": 0.01})
    rates = {}
    for backend in ("native", "torchattacks"):
        adv = kind.generate(model, x, y, params, backend, Context(device=CPU, seed=0, batch_size=50))
        rates[backend] = float(robust(model, x, y, adv, 0.05).float().mean())
    assert abs(rates["native"] - rates["torchattacks"]) <= 0.05, rates
    assert 0.05 < rates["native"] < 0.95, rates  # the attack has work to do at this eps


def test_autoattack_preset_is_never_weaker_than_torchattacks_autoattack(tiny_zoo: Path) -> None:
    """The cross-check, test-sized: the cascade's robust set is inside the reference's (AutoAttack
    as torchattacks ships it), up to 1 example in 100."""
    model = zoo.load("tiny-linear")
    split = load_mnist("test")
    x, y = split.x[500:530], split.y[500:530]
    eps = 0.06
    kind = get_kind("cascade")
    ours = kind.generate(model, x, y, kind.resolve({"eps": eps, "presets": ["autoattack_standard"]}), None,
                         Context(device=CPU, seed=0, batch_size=30, index=torch.arange(500, 530)))
    from bench.attacks.backends import torchattacks_backend

    theirs = torchattacks_backend.autoattack(model, x, y, ctx=Context(device=CPU, seed=0, batch_size=30), norm="linf", eps=eps,
                                             version="standard", surface="logprob")
    r_ours, r_theirs = robust(model, x, y, ours.x, eps), robust(model, x, y, theirs, eps)
    assert int((r_ours & ~r_theirs).sum()) <= len(y) // 100
    assert 0 < int(r_theirs.sum()) < len(y), int(r_theirs.sum())  # the attack has work to do


def _budgets(attack: Any) -> tuple[str, dict[str, Any]]:
    """One torchattacks AutoAttack component as (cascade kind, the budgets a preset member sets)."""
    name = type(attack).__name__
    if name == "Square":
        return "square", {"queries": attack.n_queries, "restarts": attack.n_restarts, "p_init": attack.p_init}
    targets = attack.n_target_classes if name == "APGDT" or getattr(attack, "multi_targeted", False) else 0
    out = {"steps": attack.steps, "restarts": attack.n_restarts, **({"targets": targets} if targets else {})}
    return ("fab" if name == "FAB" else "apgd"), ({**out, "loss": attack.loss} if name == "APGD" else out)


def test_autoattack_presets_are_torchattacks_standard_at_shipped_and_at_reference_steps() -> None:
    """``autoattack_shipped`` is torchattacks' ``AutoAttack('standard')`` as it ships, member for
    member; ``autoattack_standard`` is the same list at the reference's 100 steps (fra31/auto-attack)."""
    import torchattacks

    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    shipped = [_budgets(a) for a in torchattacks.AutoAttack(net, eps=0.1, version="standard", n_classes=10)._autoattack.attacks]
    assert [k for k, _ in shipped] == ["apgd", "apgd", "fab", "square"]
    assert [(m.kind, m.backend, m.params) for m in cascade.PRESETS["autoattack_shipped"]] == [(k, "torchattacks", p) for k, p in shipped]
    reference = [(k, {**p, "steps": 100} if "steps" in p else p) for k, p in shipped]
    assert [(m.kind, m.params) for m in cascade.PRESETS["autoattack_standard"]] == reference


def test_native_square_matches_the_torchattacks_port_and_ignores_how_a_cell_is_cut(tiny_zoo: Path) -> None:
    """The native Square draws each example's squares from its own seed: the same result in one
    batch or in several; and it is as strong as torchattacks' port of the reference."""
    model = zoo.load("tiny-linear")
    split = load_mnist("test")
    x, y, index = split.x[:80], split.y[:80], torch.arange(80)
    kind = get_kind("square")
    params = kind.resolve({"eps": 0.05, "queries": 300})
    whole = kind.generate(model, x, y, params, "native", Context(device=CPU, seed=1, batch_size=80, index=index))
    cut = kind.generate(model, x, y, params, "native", Context(device=CPU, seed=1, batch_size=7, index=index))
    assert torch.allclose(whole, cut, atol=1e-6)
    ref = kind.generate(model, x, y, params, "torchattacks", Context(device=CPU, seed=1, batch_size=80, index=index))
    r_native, r_ref = robust(model, x, y, whole, 0.05).float().mean(), robust(model, x, y, ref, 0.05).float().mean()
    assert abs(float(r_native - r_ref)) <= 0.1 and 0.05 < float(r_ref) < 0.95, (float(r_native), float(r_ref))


class TinyConv(Classifier):
    """A small convolutional classifier: the kind of model the search copy re-lays out."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(1, 8, 5, stride=2), nn.ELU(), nn.Conv2d(8, 8, 3, stride=2), nn.ELU(),
                                 nn.Flatten(), nn.Linear(8 * 5 * 5, 10))

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.net(x - 0.5), dim=1)


def test_the_search_copy_is_channels_last_on_cpu_and_scores_as_the_model() -> None:
    from bench.models.search_copy import search_copy

    model = TinyConv().eval()
    fast = search_copy(model, CPU)
    assert fast is not model and fast.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert model.net[0].weight.is_contiguous()  # the model itself is untouched
    x = torch.rand(16, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(fast.log_probs(x), model.log_probs(x), atol=1e-5)
    mlp = TargetOnly()  # no convolution, or not on CPU: nothing to gain, the model itself
    assert search_copy(mlp, CPU) is mlp and search_copy(model, torch.device("meta")) is model


class SaturatedTanh(Classifier):
    """A code-style model whose output tanh saturates: bits tanh(40 (x_i - 0.5)), read by a linear
    decoder. At x_i = 0.6 the bit is tanh(4) = 0.9993: bfloat16 rounds it to exactly 1 (gradient 0),
    float32 keeps 1 - tanh(4)^2 = 1.3e-3, the gradient a sign-gradient attack follows."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(40 * torch.eye(4))
        self.register_buffer("words", 2 * torch.eye(4)[:3] - 1)
        self.num_classes = 3

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.tanh(self.fc(x.flatten(1) - 0.5))
        return torch.log_softmax(a @ self.words.T, dim=1)


def test_the_bfloat16_search_copy_keeps_float32_activations_and_their_gradient() -> None:
    """Convolutions and linear layers in bfloat16, everything between them float32: scores close to
    the model's, the same predictions, and a saturated tanh still passes its float32 gradient (plain
    bfloat16 autocast rounds it to 0 -- the reason the copy is built this way)."""
    from bench.models.search_copy import LowPrecision, search_copy

    model = TinyConv().eval()
    low = search_copy(model, CPU, "bfloat16")
    assert isinstance(low.net[0], LowPrecision) and low.net[0].layer.weight.dtype == torch.bfloat16
    assert isinstance(model.net[0], nn.Conv2d) and model.net[0].weight.dtype == torch.float32  # untouched
    x = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        ref, got = model.log_probs(x), low.log_probs(x)
    assert got.dtype == torch.float32 and torch.allclose(got, ref, atol=0.05) and not torch.equal(got, ref)
    assert torch.equal(got.argmax(1), ref.argmax(1))

    sat = SaturatedTanh().eval()
    xs = torch.full((1, 4), 0.6, requires_grad=True)
    low_sat = search_copy(sat, CPU, "bfloat16")
    g_low, = torch.autograd.grad(low_sat.log_probs(xs)[0, 0], xs)
    g_ref, = torch.autograd.grad(sat.log_probs(xs)[0, 0], xs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g_auto, = torch.autograd.grad(sat.log_probs(xs)[0, 0].float(), xs)
    assert (g_ref != 0).all() and (g_low != 0).all() and torch.equal(g_low.sign(), g_ref.sign())
    assert (g_auto == 0).all()  # what plain autocast would have given the attack
    with pytest.raises(ValueError, match="precision"):
        search_copy(model, CPU, "float16")


class PoolNet(Classifier):
    """conv - ReLU - max-pool - conv - ReLU - flatten - linear: runs of exact modules to group."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.net = nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, stride=2), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(8 * 5 * 5, 10))

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.net(x), dim=1)


def test_grouping_exact_modules_into_the_bfloat16_layer_changes_no_value() -> None:
    """ReLU, max-pool and flatten after a lowered layer run in bfloat16 with it (one cast, on the
    pooled tensor): scores and input gradients bit-identical to casting back after every layer."""
    import copy

    from bench.models.search_copy import LowPrecision, _lower, search_copy

    model = PoolNet().eval()
    grouped = search_copy(model, CPU, "bfloat16")
    assert isinstance(grouped.net[0], LowPrecision) and len(grouped.net[0].layer) == 3  # conv, ReLU, pool
    per_layer = copy.deepcopy(model).to(memory_format=torch.channels_last)
    _lower(per_layer, torch.bfloat16, group=False)
    x = torch.rand(32, 1, 28, 28).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    a, b = grouped.log_probs(x), per_layer.log_probs(x)
    assert torch.equal(a, b)
    ga, = torch.autograd.grad(a[:, 3].sum(), x)
    gb, = torch.autograd.grad(b[:, 3].sum(), x)
    assert torch.equal(ga, gb) and ga.abs().sum() > 0


def test_the_search_precision_is_a_late_cascade_parameter(tiny_zoo: Path) -> None:
    """At its default (float32) it stays out of a cell's config hash, so every float32 cell computed
    before it existed stays valid; bfloat16 is another configuration; a bad value is a one-line
    problem naming the key."""
    from bench.attacks.spec import hashed_params

    kind = get_kind("cascade")
    default = kind.resolve({"eps": 0.1})
    assert "precision" not in hashed_params(kind.params, default)
    assert hashed_params(kind.params, kind.resolve({"eps": 0.1, "precision": "bfloat16"}))["precision"] == "bfloat16"
    problems = kind.validate({"eps": 0.1, "precision": "half"}, "s.attacks[1].params")
    assert problems == ["s.attacks[1].params.precision: must be one of float32, bfloat16, got 'half'"]


@pytest.mark.parametrize("native", [False, True])
def test_a_bfloat16_search_on_a_cpu_that_emulates_it_is_named_before_the_run(
        tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], native: bool) -> None:
    """Without AVX-512 BF16 or AMX a bfloat16 search is many times slower than float32: `bench run`
    says so in one line naming the attack, once, before computing; where it is native, nothing."""
    from bench.models import search_copy as sc

    monkeypatch.setattr(sc, "native_bfloat16", lambda device: native)
    monkeypatch.setitem(cascade.PRESETS, "test", DETERMINISTIC)
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "tiny_bf16", "version": 1, "dataset": "mnist", "seed": 2, "batch_size": 20,
        "examples": {"split": "test", "count": 20, "offset": 0}, "models": {"ids": ["tiny-linear"]},
        "attacks": [{"id": "aa16", "kind": "cascade", "params": {"eps": 0.08, "presets": ["test"], "precision": "bfloat16"}},
                    {"id": "aa32", "kind": "cascade", "params": {"eps": 0.08, "presets": ["test"]}}],
        "outputs": {"dir": str(tmp_path / "out")}}))
    assert main(["run", str(suite), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    if native:
        assert notes == []
    else:
        assert len(notes) == 1 and notes[0].startswith("note: aa16: precision bfloat16: this CPU (")
        assert "no native bfloat16" in notes[0] and "use float32" in notes[0]
    assert sc.precision_note("float32", CPU) is None


def test_a_bfloat16_cascade_is_verified_in_float32_and_as_strong_on_a_tiny_model(tiny_zoo: Path) -> None:
    """The same cascade searched on the bfloat16 copy: every counted example re-verified on the
    float32 model, and the robust accuracy within a few examples of the float32 search."""
    model = zoo.load("tiny-linear")
    split = load_mnist("test")
    x, y, index = split.x[:60], split.y[:60], torch.arange(60)
    kind = get_kind("cascade")
    flags = {}
    for precision in ("float32", "bfloat16"):
        params = kind.resolve({"eps": 0.08, "presets": ["autoattack_standard"], "precision": precision})
        params = {**params}
        attempt = kind.attack(model, x, y, params, None, Context(device=CPU, seed=5, batch_size=30, index=index), verify_batch=30)
        flags[precision] = attempt.verdict.robust
        assert torch.equal(attempt.verdict.robust, robust(model, x, y, attempt.candidates.x, 0.08))
    r32, r16 = (int(flags[p].sum()) for p in ("float32", "bfloat16"))
    assert 0 < r32 < len(y) and abs(r16 - r32) <= 3, (r32, r16)


def test_the_cascade_counts_only_what_fools_the_model_itself(tiny_zoo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search copy that lies (it always predicts a wrong class) makes every member 'succeed' on
    it; the harness verifies on the model, so the cell equals the one searched on the model."""
    model, x, y, index, kind, params = deterministic_case(monkeypatch)

    def run() -> torch.Tensor:
        attempt = kind.attack(model, x, y, params, None, Context(device=CPU, seed=5, batch_size=25, index=index), verify_batch=25)
        return attempt.verdict.robust

    monkeypatch.setattr(cascade, "search_copy", lambda m, d, p="float32": m)
    honest = run()
    liar = zoo.load("tiny-constant")
    monkeypatch.setattr(cascade, "search_copy", lambda m, d, p="float32": liar)
    lied_to = run()
    with torch.no_grad():
        clean = model.predict(x) == y
    assert 0 < int(honest.sum()) < int(clean.sum())
    # every member 'broke' every example on the liar at once; none of it fools the model
    assert torch.equal(lied_to, clean)
