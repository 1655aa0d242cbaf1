"""`bench run --plan`: what a run would compute and why, computing and writing nothing; and the
reason a run gives when it recomputes a stored cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from bench.attacks import get_kind
from bench.cli import main

SUITE = {
    "name": "tiny_plan", "version": 1, "dataset": "mnist", "seed": 3, "batch_size": 50,
    "examples": {"split": "test", "count": 60, "offset": 200},
    "models": {"ids": ["tiny-linear"]},
    "attacks": [
        {"id": "pgd", "kind": "pgd_linf", "backend": "native", "params": {"eps": 0.1, "steps": 10, "step_size": 0.02}},
        {"id": "uniform", "kind": "uniform_noise", "params": {"gamma": 0.5}},
    ],
}


def write_suite(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({**SUITE, "outputs": {"dir": str(tmp_path / "out")}, **changes}))
    return path


def plan_of(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, str]:
    """attack id -> the plan's line for it (state and detail)."""
    capsys.readouterr()
    assert main(["run", str(path), "--plan", *extra]) == 0
    out = capsys.readouterr().out
    lines = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "tiny-linear":
            lines[words[1]] = " ".join(words[2:])
    lines["summary"] = out.strip().splitlines()[-1]
    return lines


def run(path: Path) -> int:
    return main(["run", str(path), "--device", "cpu", "--no-progress", "--no-leaderboard"])


def test_plan_lists_missing_then_done_and_writes_nothing(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path)
    before = plan_of(suite, capsys)
    assert before["pgd"] == "missing" and before["uniform"] == "missing"
    assert before["summary"].endswith("0 done, 0 partial, 0 stale, 2 missing; `bench run` would compute 2")
    assert not (tmp_path / "out").exists()  # a plan computes and writes nothing
    assert run(suite) == 0
    after = plan_of(suite, capsys)
    assert "pgd" not in after and after["summary"].endswith("2 done, 0 partial, 0 stale, 0 missing; nothing to compute")
    assert plan_of(suite, capsys, "--all")["pgd"] == "done"
    assert plan_of(suite, capsys, "--force")["summary"].endswith("would compute 2 (--force)")


def test_plan_gives_the_reason_a_stored_cell_is_stale(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(write_suite(tmp_path)) == 0
    attacks = [dict(SUITE["attacks"][0], params={"eps": 0.1, "steps": 11, "step_size": 0.02}), SUITE["attacks"][1]]
    assert plan_of(write_suite(tmp_path, attacks=attacks), capsys)["pgd"] == "stale parameters changed: steps 10 -> 11"
    assert plan_of(write_suite(tmp_path, seed=4), capsys)["pgd"].startswith("stale the seed changed")
    more = write_suite(tmp_path, examples={"split": "test", "count": 61, "offset": 200})
    assert plan_of(more, capsys)["pgd"] == "stale the examples, the dataset or a cell it reads changed"
    suite = write_suite(tmp_path)
    kind = get_kind("uniform_noise")
    monkeypatch.setattr(type(kind), "rng_version", kind.rng_version + 1)
    assert plan_of(suite, capsys)["uniform"] == (f"stale computed with the kind's earlier random draws (version {kind.rng_version - 1}; "
                                                 f"the code's are version {kind.rng_version})")
    monkeypatch.undo()
    cell = tmp_path / "out" / "cells" / "tiny-linear" / "pgd.json"
    meta = json.loads(cell.read_text())
    cell.write_text(json.dumps({**meta, "checkpoint_sha256": "0" * 64, "config_hash": "x"}))
    assert plan_of(suite, capsys)["pgd"].startswith("stale the checkpoint changed")
    capsys.readouterr()
    assert run(suite) == 0  # the run names the reason before it recomputes
    assert "recompute tiny-linear / pgd: the checkpoint changed" in capsys.readouterr().err


def test_plan_counts_the_finished_shards_of_a_half_done_cell(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    kind = get_kind("pgd_linf")
    monkeypatch.setattr(type(kind), "shard_examples", 20)
    original, calls = kind.generate, []

    def interrupted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a user's Ctrl-C after the first of three shards
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(kind, "generate", interrupted)
    suite = write_suite(tmp_path)
    assert main(["run", str(suite), "--device", "cpu", "--no-progress", "--no-leaderboard", "--attack", "pgd"]) == 130
    line = plan_of(suite, capsys)["pgd"]
    assert line.startswith("partial 1 of 3 shards done (") and line.endswith("min left at that rate)"), line


def test_plan_names_the_stages_a_killed_run_kept_inside_a_shard(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.runner import Runner
    from bench.suite import load_suite

    suite = write_suite(tmp_path)
    runner = Runner(load_suite(suite), device="cpu", progress=False, log=lambda s: None)
    job = runner.identify("tiny-linear", runner.attacks[0])
    stages = runner.store.shard_stages("tiny-linear", "pgd", 0, 60, job.config_hash)
    stages.save("member-00", {"out": torch.zeros(1)})
    assert plan_of(suite, capsys)["pgd"] == "partial shard 0-60: 1 stage kept"
    runner.store.shard_stages("tiny-linear", "pgd", 0, 60, "another config").save("member-01", {"out": torch.zeros(1)})
    assert stages.names() == ["member-00"]  # another configuration's stage is not this cell's
