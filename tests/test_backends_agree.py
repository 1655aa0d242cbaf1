"""ART, foolbox and the native backend agree on the same model, examples and budget."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench import zoo
from bench.attacks import Context, get_kind
from bench.data import load_mnist
from bench.verify import verify

pytestmark = pytest.mark.usefixtures("harness_threads")

N = 100


def robust_accuracy(model_id: str, kind: str, backend: str, params: dict, n: int = N) -> float:
    model = zoo.load(model_id)
    split = load_mnist("test")
    x, y = split.x[:n], split.y[:n]
    k = get_kind(kind)
    p = k.resolve(params)
    ctx = Context(device=torch.device("cpu"), seed=0, batch_size=50)
    return float(k.attack(model, x, y, p, backend, ctx).verdict.robust.float().mean())


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


def _cw_native(model_id: str, n: int, params: dict, **extra: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, object]:
    from bench.attacks.backends import native

    model = zoo.load(model_id)
    split = load_mnist("test")
    x, y = split.x[:n], split.y[:n]
    k = get_kind("cw_l2")
    p = k.resolve(params)
    ctx = Context(device=torch.device("cpu"), seed=0, batch_size=50)
    x_adv = native.cw_l2(model, x, y, ctx=ctx, **{**p, **extra})
    return x, y, x_adv, verify(model, x, x_adv, y, k.threat(p), torch.device("cpu"))


CW_EXIT = {"steps": 40, "binary_search_steps": 4, "initial_const": 0.01, "lr": 0.05}


def test_cw_stop_at_first_has_the_default_robust_set(tiny_zoo: Path) -> None:
    """minimize=False stops each example at its first adversarial: same robust set as the
    distortion-minimising default, every output verified, distortions no smaller."""
    _, y, _, full = _cw_native("tiny-linear", 60, CW_EXIT)
    _, _, _, first = _cw_native("tiny-linear", 60, CW_EXIT, minimize=False)
    fooled = full.ref_correct & ~full.robust
    assert 0 < int(fooled.sum()) < int(full.ref_correct.sum()), "budget must leave some examples robust"
    assert torch.equal(full.robust, first.robust)
    assert first.stats.get("rejected_budget", 0) == 0 and first.stats.get("rejected_range", 0) == 0
    assert bool((first.l2[fooled] >= full.l2[fooled] - 1e-4).all())  # the default minimises; this mode does not


def test_cw_host_reads_every_k_steps(tiny_zoo: Path) -> None:
    from bench.attacks.backends import common

    reads, robust = {}, {}
    for k in (1, 8):
        common.HOST_READS["count"] = 0
        _, _, _, v = _cw_native("tiny-linear", 50, CW_EXIT, minimize=False, sync_every=k)
        reads[k], robust[k] = common.HOST_READS["count"], v.robust
    steps, bs = CW_EXIT["steps"], CW_EXIT["binary_search_steps"]
    # per search step: one read to select rows, the abort checks (every steps // 10), one every k steps
    assert reads[8] <= bs * (1 + 10 + steps // 8), reads
    assert reads[1] > reads[8], reads
    assert torch.equal(robust[1], robust[8])


def test_cw_reports_where_a_long_batch_is(tiny_zoo: Path) -> None:
    """A CW batch can run for half an hour: the runner's bar hears the search step and how many
    examples it still works on: within a search step the count never rises (rows only leave),
    and with minimize=False each search step starts with no more rows than the last (found
    examples retire; stalled ones come back for the next constant)."""
    import re

    from bench.attacks.backends import native

    model = zoo.load("tiny-linear")
    split = load_mnist("test")
    x, y = split.x[:40], split.y[:40]
    msgs: list[str] = []
    ctx = Context(device=torch.device("cpu"), seed=0, batch_size=40, status=msgs.append)
    native.cw_l2(model, x, y, ctx=ctx, **{**get_kind("cw_l2").resolve(CW_EXIT), "minimize": False})
    parsed = [re.fullmatch(r"search (\d+)/4, step (\d+): (\d+) broken, (\d+) unbroken, (\d+) searching", m) for m in msgs]
    assert msgs and all(parsed), msgs[:3]
    searches = [int(p.group(1)) for p in parsed]
    broken = [int(p.group(3)) for p in parsed]
    left = [int(p.group(5)) for p in parsed]
    assert all(int(p.group(3)) + int(p.group(4)) == 40 for p in parsed)
    assert broken == sorted(broken) and broken[-1] > broken[0], broken  # broken examples stay broken
    assert searches[0] == 1 and searches == sorted(searches) and len(set(searches)) > 1
    per_search: dict[int, list[int]] = {}
    for s, n_left in zip(searches, left):
        per_search.setdefault(s, []).append(n_left)
    for counts in per_search.values():
        assert counts == sorted(counts, reverse=True), per_search
    starts = [counts[0] for counts in per_search.values()]
    assert starts == sorted(starts, reverse=True) and starts[-1] < starts[0], per_search
