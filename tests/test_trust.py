"""What makes a run trustworthy on any machine: resume inside a cell (kill -9 loses at most one
shard, the resumed cell is identical), numbers that do not depend on how a cell is cut, a reuse-only
run that touches nothing, checkpoints verified where they are listed, quiet pipes, and validation
that refuses what a backend cannot run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from bench import zoo
from bench.attacks import KINDS, Context, get_kind
from bench.attacks.backends import native
from bench.attacks.spec import Param
from bench.cli import main
from conftest import run_killed_after_first_shard
from bench.data import load_mnist
from bench.runner import shard_bounds

HERE = Path(__file__).resolve().parent

SUITE = {
    "name": "tiny_trust", "version": 1, "dataset": "mnist", "seed": 3, "batch_size": 50,
    "examples": {"split": "test", "count": 60, "offset": 200},
    "models": {"ids": ["tiny-linear"]},
    "attacks": [
        {"id": "pgd", "kind": "pgd_linf", "backend": "native", "params": {"eps": 0.1, "steps": 10, "step_size": 0.02}},
        {"id": "cw", "kind": "cw_l2", "backend": "native", "params": {"steps": 40, "binary_search_steps": 3, "lr": 0.05}},
        {"id": "uniform", "kind": "uniform_noise", "params": {"gamma": 0.5}},
    ],
}


def write_suite(tmp_path: Path, out: str, attacks: list[dict] | None = None) -> Path:
    data = dict(SUITE, outputs={"dir": str(tmp_path / out)})
    if attacks is not None:
        data["attacks"] = attacks
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(path: Path, *extra: str) -> int:
    return main(["run", str(path), "--device", "cpu", "--no-progress", "--no-leaderboard", *extra])


def cell_tensors(folder: Path, attack: str) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "cells" / "tiny-linear" / f"{attack}.safetensors"))


def cell_value(folder: Path, attack: str) -> tuple[float, int]:
    cell = json.loads((folder / "cells" / "tiny-linear" / f"{attack}.json").read_text())
    return cell["value"], cell["n"]


def test_shard_bounds_cover_every_example_once() -> None:
    for n, per in [(1, 25), (10, 25), (60, 25), (100, 25), (1000, 100), (7, 0), (250, 100)]:
        bounds = shard_bounds(n, per)
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a < b for a, b in bounds) and all(b == c for (_, b), (c, _) in zip(bounds, bounds[1:]))
        assert len(bounds) == (1 if per == 0 else -(-n // per))
    assert shard_bounds(100, 25) == [(0, 25), (25, 50), (50, 75), (75, 100)]
    assert shard_bounds(0, 25) == []


def test_kill_9_inside_a_cell_loses_at_most_one_shard_and_resumes_identically(tiny_zoo: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cw_only = [SUITE["attacks"][1]]
    straight = write_suite(tmp_path, "straight", cw_only)
    assert run(straight) == 0
    killed = write_suite(tmp_path, "killed", cw_only)
    # A process that dies by SIGKILL right after it wrote its first finished shard of the CW cell.
    proc = run_killed_after_first_shard(tmp_path, "run", str(killed), "--device", "cpu", "--no-progress", "--no-leaderboard")
    assert proc.returncode == -9, proc.stderr[-2000:]
    partial = tmp_path / "killed" / "cells" / "tiny-linear" / "cw.partial"
    assert len(list(partial.glob("*.safetensors"))) == 1  # one of three shards of 20 survived the kill
    assert not (tmp_path / "killed" / "cells" / "tiny-linear" / "cw.json").exists()

    kind = get_kind("cw_l2")
    original, calls = kind.generate, []

    def counted(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(kind, "generate", counted)
    assert run(killed) == 0
    assert len(calls) == 2  # only the two shards the kill lost were computed again
    assert not partial.exists()  # a complete cell keeps no partial results
    a, b = cell_tensors(tmp_path / "straight", "cw"), cell_tensors(tmp_path / "killed", "cw")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    cell = json.loads((tmp_path / "killed" / "cells" / "tiny-linear" / "cw.json").read_text())
    assert cell["provenance"]["shards"] == 3 and cell["provenance"]["shards_resumed"] == 1


@pytest.mark.parametrize("attack", [0, 1, 2], ids=["pgd", "cw", "uniform"])
def test_a_cell_does_not_depend_on_how_it_is_cut(tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attack: int) -> None:
    """Random starts and noise are drawn per example from (seed, dataset index): one shard or
    several, batches of 50 or 7, the verified cell is the same."""
    cfg = [SUITE["attacks"][attack]]
    kind = get_kind(cfg[0]["kind"])
    monkeypatch.setattr(type(kind), "shard_examples", 0)
    assert run(write_suite(tmp_path, "whole", cfg)) == 0
    monkeypatch.setattr(type(kind), "shard_examples", 13)
    data = dict(SUITE, attacks=cfg, batch_size=7, outputs={"dir": str(tmp_path / "cut")})
    (tmp_path / "cut.yaml").write_text(yaml.safe_dump(data))
    assert run(tmp_path / "cut.yaml") == 0
    aid = cfg[0]["id"]
    assert cell_value(tmp_path / "whole", aid) == cell_value(tmp_path / "cut", aid)
    a, b = cell_tensors(tmp_path / "whole", aid), cell_tensors(tmp_path / "cut", aid)
    assert torch.equal(a["robust"], b["robust"]) and torch.equal(a["pred"], b["pred"])
    if "x_adv" in a:
        assert torch.allclose(a["x_adv"], b["x_adv"], atol=1e-5)


def test_a_run_that_computes_nothing_changes_nothing_on_disk(tiny_zoo: Path, tmp_path: Path) -> None:
    suite = write_suite(tmp_path, "quiet")
    assert main(["run", str(suite), "--device", "cpu", "--no-progress"]) == 0
    folder = tmp_path / "quiet"

    def state() -> dict[str, tuple[bytes, int]]:
        return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}

    before = state()
    assert main(["run", str(suite), "--device", "cpu", "--no-progress"]) == 0
    assert state() == before  # same bytes, same mtimes: run.json, suite.yaml, leaderboards untouched
    run_json = json.loads((folder / "run.json").read_text())
    assert len(run_json["invocations"]) == 1
    assert run(suite, "--force", "--attack", "uniform") == 0  # a computing run is appended, not replacing
    runs = json.loads((folder / "run.json").read_text())["invocations"]
    assert len(runs) == 2 and runs[0] == run_json["invocations"][0] and runs[1]["computed"] == ["tiny-linear/uniform"]


def test_progress_counts_examples_as_they_settle_inside_a_batch(tiny_zoo: Path) -> None:
    model = zoo.load("tiny-linear")
    split = load_mnist("test")
    x, y = split.x[:40], split.y[:40]
    for fn, params in [(native.pgd, {"norm": "linf", **get_kind("pgd_linf").resolve({"eps": 0.3, "steps": 20, "step_size": 0.02})}),
                       (native.cw_l2, {**get_kind("cw_l2").resolve({"steps": 40, "binary_search_steps": 3, "lr": 0.05}), "minimize": False})]:
        ticks: list[int] = []
        ctx = Context(device=torch.device("cpu"), seed=0, batch_size=40, progress=ticks.append)
        fn(model, x, y, ctx=ctx, **params)
        assert sum(ticks) == 40 and len(ticks) > 2, ticks  # one batch, yet the bar moved several times


def test_ls_models_verifies_each_checkpoint(tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "zoo"
    for src, dst in (("tiny-linear", "tiny-tampered"), ("tiny-linear", "tiny-gone")):
        shutil.copytree(tiny_zoo / src, extra / dst)
        card = yaml.safe_load((extra / dst / "card.yaml").read_text())
        card["id"] = dst
        (extra / dst / "card.yaml").write_text(yaml.safe_dump(card))
    weights = extra / "tiny-tampered" / "weights.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF  # one byte flipped in the tensor data
    weights.write_bytes(bytes(blob))
    (extra / "tiny-gone" / "weights.safetensors").unlink()
    env = dict(os.environ, BENCH_ZOO_PATH=os.pathsep.join([str(tiny_zoo), str(extra)]))
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "ls", "models"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert " tampered " in rows["tiny-tampered"] and " missing " in rows["tiny-gone"] and " ok " in rows["tiny-linear"]


@pytest.mark.parametrize("what", [["ls", "models"], ["ls", "attacks"], ["ls", "suites"]])
def test_a_closed_pipe_is_quiet(what: list[str]) -> None:
    """`bench ls models | head -1`: the reader is gone before we write; no traceback, SIGPIPE's status."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", *what], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and "Traceback" not in err and err.strip() == "", err


def test_unknown_model_says_so(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(write_suite(tmp_path, "x"), "--model", "NoSuchModel") == 1
    err = capsys.readouterr().err
    assert "NoSuchModel: unknown model (registered:" in err and "tiny-linear" in err


# --- validation asks the backends ------------------------------------------------------------------

FAST = {"steps": 2, "binary_search_steps": 1, "queries": 3, "max_iter": 2, "c_search_steps": 1, "restarts": 1}


def _extremes(p: Param) -> list[object]:
    """The values a user might give at the edges of a parameter's type and check."""
    types = p.type if isinstance(p.type, tuple) else (p.type,)
    if bool in types:
        return [True, False]
    if int in types:
        return [0, 1]
    if float in types:
        return [0.0, 1e-9, 1.0, 100.0]
    if str in types:
        return ["ce", "margin", "dlr", "logprob", "linear", "targeted", "untargeted", "l2", "l2_squared", "linf", ""]
    return []


def test_every_accepted_parameter_value_runs_on_every_backend(tiny_zoo: Path) -> None:
    """For each per-example kind, backend and parameter at its extreme values: either validation
    refuses the value, or the attack runs and returns candidates of the input's shape. A value
    that validates but fails at run time would fail a suite hours into a run."""
    model = zoo.load("tiny-linear")
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([1, 2, 3])
    from bench.attacks.backends import problems

    ran = refused = 0
    for name, kind in KINDS.items():
        if not kind.per_example:
            continue
        for backend in kind.backends or (None,):
            for key, p in kind.params.items():
                for value in _extremes(p):
                    params = {k: v for k, v in FAST.items() if k in kind.params and k != key}
                    params[key] = value
                    if kind.validate(params, "x"):
                        refused += 1
                        continue
                    resolved = kind.resolve(params)
                    if backend is not None and kind.backend_op and problems(backend, kind.backend_op, resolved):
                        refused += 1
                        continue
                    ctx = Context(device=torch.device("cpu"), seed=0, batch_size=2)
                    out = kind.generate(model, kind.prepare(x, y, resolved, ctx, torch.arange(3)), y, resolved, backend, ctx)
                    out = getattr(out, "x", out)  # a Candidates or a tensor
                    assert out.shape == x.shape, (name, backend, key, value)
                    ran += 1
    assert ran > 100 and refused > 20


def test_validate_refuses_what_the_chosen_backend_cannot_run(tmp_path: Path) -> None:
    bad = dict(SUITE, attacks=[{"id": "pgd-art", "kind": "pgd_linf", "backend": "art", "params": {"loss": "margin"}},
                               {"id": "pgd-fb", "kind": "pgd_l2", "backend": "foolbox", "params": {"loss": "margin"}},
                               {"id": "sq", "kind": "square", "backend": "art", "params": {"eps": 0.0, "p_init": 1.0}}])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "validate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any(f"{path}: attacks[0].params.loss: attack 'pgd-art': backend 'art'" in line and "'native'" in line for line in lines)
    assert any("attacks[1].params.loss: attack 'pgd-fb': backend 'foolbox'" in line for line in lines)
    assert any("attacks[2].params.eps" in line for line in lines) and any("attacks[2].params.p_init" in line for line in lines)


# --- cross-machine meaning of a number --------------------------------------------------------------


@pytest.mark.slow
def test_smoke_suite_with_one_and_two_threads_passes_the_check(mnist_dir: Path, tmp_path: Path) -> None:
    """The real smoke suite (two zoo models, every attack kind of it, transfer between them) at 1 and
    at 2 threads: float order differs, the measurement does not, and `bench check` passes."""
    repo = HERE.parent
    env = {k: v for k, v in os.environ.items() if k != "BENCH_ZOO_PATH"}
    outs = []
    for threads in ("1", "2"):
        out = tmp_path / f"t{threads}"
        proc = subprocess.run([sys.executable, "-m", "bench.cli", "run", str(repo / "suites" / "mnist_smoke.yaml"), "--force",
                               "--no-progress", "--no-leaderboard", "--model", "Softmax", "--model", "TanhEns32", "--out", str(out)],
                              capture_output=True, text=True, env=dict(env, BENCH_THREADS=threads), cwd=repo)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert json.loads((out / "run.json").read_text())["invocations"][-1]["threads"] == int(threads)
        outs.append(out)
    base = tmp_path / "baseline.json"
    check = [sys.executable, "-m", "bench.cli", "check"]
    made = subprocess.run([*check, str(outs[0]), "--baseline", str(base), "--update"], capture_output=True, text=True, env=env, cwd=repo)
    assert made.returncode == 0, made.stderr[-2000:]
    proc = subprocess.run([*check, str(outs[1]), "--baseline", str(base)], capture_output=True, text=True, env=env, cwd=repo)
    assert proc.returncode == 0 and "check passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
