"""Performance machinery, tested for correctness only (no timing assertions): the batch-size
cache, the channels-last layout, host reads in the native loops, `bench perf` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from bench import batch_size as bsz
from bench.attacks import Context, get_kind
from bench.attacks.backends import common, native
from bench.models.base import Classifier

pytestmark = pytest.mark.usefixtures("harness_threads")


class TinyConv(Classifier):
    """Untrained two-conv classifier: enough to exercise the NHWC path."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ELU(), nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ELU(),
                                 nn.Flatten(), nn.Linear(8 * 14 * 14, 10))
        self.requires_grad_(False)

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.net(x), dim=1)


# --- batch-size cache ---------------------------------------------------------------------------


def test_choose_takes_smallest_batch_near_the_best() -> None:
    assert bsz.choose({32: 100.0, 64: 198.0, 128: 200.0, 256: 150.0}) == 64
    assert bsz.choose({32: 300.0, 64: 200.0}) == 32


def test_cache_round_trip_and_key_invalidation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []

    def fake_measure(model: nn.Module, device: torch.device, candidates: tuple[int, ...], **kw: object) -> dict[int, float]:
        calls.append(candidates)
        return {32: 10.0, 64: 40.0, 128: 41.0}

    monkeypatch.setattr(bsz, "measure", fake_measure)
    path = tmp_path / "bs.json"
    model, cpu = TinyConv(), torch.device("cpu")
    assert bsz.autotune(model, "sha-a", cpu, path=path) == 64
    assert len(calls) == 1
    assert bsz.autotune(model, "sha-a", cpu, path=path) == 64  # cached: not measured again
    assert len(calls) == 1
    entry = bsz.read_cache(path)[bsz.cache_key("sha-a", cpu)]
    assert entry["batch_size"] == 64 and entry["examples_per_s"]["128"] == 41.0
    bsz.autotune(model, "sha-b", cpu, path=path)  # another checkpoint: measured
    assert len(calls) == 2
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(old + 1)  # another thread count: measured
        bsz.autotune(model, "sha-a", cpu, path=path)
    finally:
        torch.set_num_threads(old)
    assert len(calls) == 3
    assert bsz.cache_key("sha-a", cpu, 1, "2.0.0") != bsz.cache_key("sha-a", cpu, 1, "2.1.0")  # torch version
    assert len(bsz.read_cache(path)) == 3
    path.write_text("not json")  # a damaged cache is re-measured, never an error
    assert bsz.autotune(model, "sha-a", cpu, path=path) == 64
    assert len(calls) == 4


def test_measure_real_model_returns_positive_throughput() -> None:
    tp = bsz.measure(TinyConv(), torch.device("cpu"), (4, 8), min_seconds=0.0)
    assert set(tp) == {4, 8} and all(v > 0 for v in tp.values())


def _suite(tmp_path: Path, name: str, **top: object) -> Path:
    body = {"name": name, "version": 1, "dataset": "mnist", "examples": {"split": "test", "count": 4, "offset": 0},
            "models": ["tiny-linear"], "attacks": [{"id": "clean", "kind": "benign"}],
            "outputs": {"dir": str(tmp_path / "results" / name)}, **top}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_runner_autotunes_only_when_the_suite_sets_no_batch_size(tiny_zoo: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.runner import Runner
    from bench.suite import load_suite

    seen: list[int] = []
    monkeypatch.setattr(bsz, "autotune", lambda model, sha, device, **kw: seen.append(1) or 17)
    unset = load_suite(_suite(tmp_path, "unset"))
    assert not bsz.suite_sets_batch_size(unset)
    assert bsz.batch_size_for(unset, TinyConv(), "sha", torch.device("cpu")) == 17
    Runner(unset, device="cpu", progress=False, log=lambda s: None).run()
    assert seen, "the runner did not ask for a measured batch size"
    explicit = load_suite(_suite(tmp_path, "explicit", batch_size=250))  # the default value, but set
    assert bsz.suite_sets_batch_size(explicit)
    child = tmp_path / "child.yaml"
    child.write_text(yaml.safe_dump({"include": "explicit.yaml", "name": "child"}))
    assert bsz.suite_sets_batch_size(load_suite(child))  # set by an included file
    seen.clear()
    assert bsz.batch_size_for(explicit, TinyConv(), "sha", torch.device("cpu")) == 250
    assert not seen


# --- layout and host reads in the native loops --------------------------------------------------


def test_channels_last_is_restored_and_changes_no_verdict() -> None:
    model = TinyConv()
    w = model.net[0].weight
    assert w.is_contiguous()
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    ctx = Context(device=torch.device("cpu"), seed=0, batch_size=8)
    params = {"norm": "linf", **get_kind("pgd_linf").resolve({"eps": 0.05, "steps": 5, "step_size": 0.01})}
    with common.channels_last(model) as on:
        assert on and model.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert model.net[0].weight.is_contiguous()
    adv = native.pgd(model, x, y, ctx=ctx, **params)
    assert model.net[0].weight.is_contiguous()
    torch.manual_seed(0)
    ref = native.run_batched(lambda xb, yb, ib: native.pgd_batch(model, xb, yb, index=ib, **params), x, y, ctx)  # NCHW
    assert torch.allclose(adv, ref, atol=1e-5)


@pytest.mark.parametrize("every", [4, 7])
def test_pgd_reads_host_every_k_steps_with_the_same_result(tiny_zoo: Path, every: int) -> None:
    from bench import zoo
    from bench.data import load_mnist

    model = zoo.load("tiny-linear")
    split = load_mnist("test")
    x, y = split.x[:60], split.y[:60]
    params = {"norm": "linf", **get_kind("pgd_linf").resolve({"eps": 0.08, "steps": 28, "step_size": 0.01})}
    reads = {}
    outs = {}
    for k in (1, every):
        common.HOST_READS["count"] = 0
        torch.manual_seed(0)
        outs[k] = native.pgd_batch(model, x, y, **params, sync_every=k)
        reads[k] = common.HOST_READS["count"]
    assert reads[every] <= 1 + params["steps"] // every + 1, reads
    assert reads[1] > reads[every], reads
    fooled = {k: model.predict(o) != y for k, o in outs.items()}
    assert 0 < int(fooled[1].sum()) < len(y)  # a budget where the answer is not trivial
    assert torch.equal(fooled[1], fooled[every])
    assert torch.allclose(outs[1], outs[every], atol=1e-6)  # the first misclassified iterate, either way


def test_bench_perf_end_to_end(tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main

    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(bsz, "CPU_CANDIDATES", (4, 8))
    args = ["perf", "--model", "tiny-linear", "--attack", "pgd", "--n", "8", "--offset", "0", "--param", "steps=3",
            "--backends", "native,foolbox", "--batch-size", "auto", "--profile", "--device", "cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "native" in out and "foolbox" in out and "x vs foolbox" in out
    assert "robust acc" in out and " [0." in out  # each robust accuracy with its interval
    assert "Self CPU" in out  # the profile table
    assert len(bsz.read_cache(tmp_path / "cache" / "batch_size.json")) == 1
    assert main([*args[:-5], "--batch-size", "0"]) == 1  # a bad batch size is a one-line error


@pytest.mark.parametrize("extra, code, message", [
    (["--offset", "9998", "--n", "5"], 1, "the mnist test split has images 0-9999"),  # a short slice timed the wrong work
    (["--offset", "-1"], 2, "--offset: must be an integer >= 0"),  # a negative one divided by zero
    (["--n", "0"], 2, "--n: must be a positive integer"),
    (["--attack", "autoattack", "--eps", "-0.3"], 1, "--eps -0.3: an L-inf budget"),  # it ran, attacking nothing
    (["--attack", "autoattack", "--batch-size", "0"], 1, "--batch-size '0'"),
])
def test_bad_perf_arguments_are_one_line_errors(tiny_zoo: Path, capsys: pytest.CaptureFixture[str],
                                                 extra: list[str], code: int, message: str) -> None:
    from bench.cli import main

    argv = ["perf", "--model", "tiny-linear", "--device", "cpu", *extra]
    if code == 2:  # argparse's usage error
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    else:
        assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and not any("Traceback" in line for line in err)


def test_perf_params_are_typed_by_the_attack_spec() -> None:
    from bench.commands.perf import parse_params
    from bench.errors import BenchError

    assert parse_params("cw_l2", ["minimize=false", "steps=1000", "lr=0.02"]) == {"minimize": False, "steps": 1000, "lr": 0.02}
    for bad, message in ((["minimize=0"], "true or false"), (["steps=0"], "must be > 0"), (["nope=1"], "KEY one of"),
                         (["steps=1.5"], "must be int")):
        with pytest.raises(BenchError, match=message):
            parse_params("cw_l2", bad)


def test_bench_perf_autoattack_times_the_cascade_against_both_references(tiny_zoo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`bench perf --attack autoattack`: torchattacks' AutoAttack as shipped and at the reference's
    100 steps, then the cascade's presets; the cascade keeps robust nothing either reference breaks
    (at most 1 example in 100: none of 20)."""
    import re

    from bench import perf
    from bench.cli import main

    assert main(["perf", "--model", "tiny-linear", "--attack", "autoattack", "--eps", "0.06", "--n", "20", "--offset", "500",
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    rows = {cols[0]: cols for cols in (re.split(r"\s{2,}", line.strip()) for line in out.split("\n\n")[0].splitlines())
            if cols[0].startswith(("torchattacks", "cascade"))}  # the table, not the per-member lines below it
    assert "(n=20)" in out and list(rows) == [name for name, _ in perf.REFERENCES] + [
        "cascade autoattack_standard", "cascade autoattack_standard+adaptive"]
    (shipped, hundred), cascades = [rows[name] for name, _ in perf.REFERENCES], [rows[k] for k in list(rows)[2:]]
    assert shipped[-2] == "-" and hundred[-1] == "-"  # a reference is not compared with itself
    for row in cascades:
        assert row[-2:] == ["0", "0"], row
        assert 0 < float(row[2].split()[0]) < 1  # the attack has work to do at this eps
        assert re.fullmatch(r"\d\.\d{3} \[\d\.\d\d, \d\.\d\d\]", row[2]), row[2]  # with its interval (n = 20)


def test_bench_perf_autoattack_times_the_cascades_named_by_presets(tiny_zoo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--presets` picks the cascades timed (autoattack_shipped: the shipped budgets, equal to the
    first reference's); a bad list is one line naming it, before any model loads."""
    from bench.cli import main

    assert main(["perf", "--model", "tiny-linear", "--attack", "autoattack", "--eps", "0.06", "--n", "10", "--offset", "500",
                 "--device", "cpu", "--presets", "autoattack_shipped"]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[0]
    assert "cascade autoattack_shipped " in table and "cascade autoattack_standard" not in table
    assert "APGD-CE-10 (torchattacks)" in out and "FAB-T-10" in out
    assert main(["perf", "--model", "no-such-model", "--attack", "autoattack", "--presets", "autoattack_standard+bogus"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --presets 'autoattack_standard+bogus': unknown preset(s) bogus") and err.count("\n") == 1


def test_cascade_floor_counts_each_members_budget_and_prints_a_floor(tiny_zoo: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """scripts/cascade_floor.py (item 7's lower bound, docs/perf.md): the passes of each member of
    ``autoattack_standard`` on an example it never breaks, as the reference's budgets make them."""
    import importlib.util
    import sys

    scripts = Path(__file__).resolve().parents[1] / "scripts"
    monkeypatch.syspath_prepend(str(scripts))
    spec = importlib.util.spec_from_file_location("cascade_floor", scripts / "cascade_floor.py")
    floor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(floor)  # type: ignore[union-attr]
    from bench.attacks.kinds.cascade import PRESETS

    assert [floor.passes(m) for m in PRESETS["autoattack_standard"]] == [("bwd", 100), ("bwd", 900), ("bwd", 900), ("fwd", 5000)]
    monkeypatch.setattr(sys, "argv", ["cascade_floor.py", "tiny-linear", "4", "--shipped", "10"])
    assert floor.main() == 0
    out = capsys.readouterr().out
    assert "floor of autoattack_standard:" in out and "x a 10.0 s run" in out and "Square" in out
