"""The command line end to end on the tiny zoo: run, resume, leaderboard, validate, errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from bench.attacks import get_kind
from bench.cli import main

SUITE = {
    "name": "tiny_smoke", "version": 1, "dataset": "mnist", "seed": 1, "batch_size": 50,
    "examples": {"split": "test", "count": 30, "offset": 100},
    "models": {"tags": ["tiny"]},
    "attacks": [
        {"id": "benign", "kind": "benign", "label": "Benign", "examples": {"count": 200, "offset": 0}},
        {"id": "pgd", "kind": "pgd_linf", "backend": "native", "label": "PGD", "params": {"eps": 0.3, "steps": 10, "step_size": 0.05}},
        {"id": "cw", "kind": "cw_l2", "backend": "native", "label": "CW", "params": {"steps": 30, "binary_search_steps": 2}, "examples": {"count": 10, "offset": 100}},
        {"id": "uniform", "kind": "uniform_noise", "label": "Uniform"},
        {"id": "rand", "kind": "random_inputs", "label": "Rand", "params": {"count": 50}},
        {"id": "transfer", "kind": "transfer", "params": {"source_attack": "pgd"}},
    ],
    "leaderboard": {"worst_case": ["benign", "pgd"]},
}


def write_suite(tmp_path: Path, out: str, **changes: object) -> Path:
    data = dict(SUITE, **changes)
    data["outputs"] = {"dir": str(tmp_path / out)}
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def snapshot(folder: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in sorted((folder / "cells").glob("*/*.json")):
        cell = json.loads(f.read_text())
        out[f"{f.parent.name}/{f.stem}"] = (cell["value"], cell["n"], cell["count"], cell["config_hash"])
    for f in sorted((folder / "cells").glob("*/*.safetensors")):
        out[f"{f.parent.name}/{f.stem}.t"] = {k: v.tolist() for k, v in load_file(str(f)).items() if k != "x_adv"}
    return out


def test_run_prints_leaderboard_and_writes_every_format(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, "a")
    assert main(["run", str(suite), "--device", "cpu", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "tiny-linear" in out and "Worst case" in out and "PGD" in out
    for ext in ("md", "csv", "json", "html"):
        assert (tmp_path / "a" / f"leaderboard.{ext}").is_file()
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["suite"]["name"] == "tiny_smoke" and run["models"]["tiny-linear"]
    (last,) = run["invocations"]
    assert last["device"] == "cpu" and "torch" in last["packages"] and last["git_commit"] and last["computed"]
    cell = json.loads((tmp_path / "a" / "cells" / "tiny-linear" / "pgd.json").read_text())
    assert {"git_commit", "machine", "threads", "packages", "computed_at", "device"} <= set(cell["provenance"])
    # the writing process's peak resident memory (a torch process holds well over 50 MB) in the cell
    # and, as the largest over the cells, in the leaderboard's provenance footer
    import resource

    peak = cell["provenance"]["peak_rss_mb"]
    assert 50 < peak <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + 1
    assert "peak memory" in (tmp_path / "a" / "leaderboard.md").read_text()


def stop_at_second_cw(monkeypatch: pytest.MonkeyPatch, stop: Callable[[], None]) -> Callable[[], None]:
    """Make the second CW cell call ``stop`` (raise, or signal this process) as it starts; returns
    what puts the real attack back."""
    kind = get_kind("cw_l2")
    original = kind.generate
    calls = {"n": 0}

    def stopping(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            stop()
        return original(*args, **kwargs)

    monkeypatch.setattr(kind, "generate", stopping)
    return lambda: monkeypatch.setattr(kind, "generate", original)

def test_a_run_stopped_by_sigterm_records_what_it_finished(tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``kill`` (a scheduler's stop) ends a run as Ctrl-C does: exit 143, the cells finished before it
    kept and its invocation in run.json, marked interrupted; the same command then resumes."""
    suite = write_suite(tmp_path, "killed")
    # delivered to this process and handled before the call returns
    restore = stop_at_second_cw(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    assert main(["run", str(suite), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 143
    assert signal.getsignal(signal.SIGTERM) is before  # main puts the previous handler back
    run = json.loads((tmp_path / "killed" / "run.json").read_text())
    (only,) = run["invocations"]
    assert only["interrupted"] and only["computed"]
    restore()
    assert main(["run", str(suite), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 0
    first, second = json.loads((tmp_path / "killed" / "run.json").read_text())["invocations"]
    assert second["reused"] >= len(first["computed"]) and not set(first["computed"]) & set(second["computed"])


def test_interrupted_run_resumes_to_identical_results(tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    straight = write_suite(tmp_path, "straight")
    assert main(["run", str(straight), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 0

    resumed = write_suite(tmp_path, "resumed")

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    restore = stop_at_second_cw(monkeypatch, ctrl_c)
    assert main(["run", str(resumed), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 130
    partial = snapshot(tmp_path / "resumed")
    assert 0 < len(partial) < len(snapshot(tmp_path / "straight"))
    restore()
    assert main(["run", str(resumed), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 0
    assert snapshot(tmp_path / "resumed") == snapshot(tmp_path / "straight")
    run = json.loads((tmp_path / "resumed" / "run.json").read_text())
    first, second = run["invocations"]  # the interrupted run records the cells it finished
    assert first["interrupted"] and "interrupted" not in second and second["reused"] > 0 and first["computed"] and not set(first["computed"]) & set(second["computed"])


def test_changed_attack_params_recompute_only_that_attack(tiny_zoo: Path, tmp_path: Path) -> None:
    first = write_suite(tmp_path, "c")
    assert main(["run", str(first), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 0
    attacks = [dict(a) for a in SUITE["attacks"]]  # type: ignore[index]
    attacks[1] = dict(attacks[1], params={"eps": 0.1, "steps": 10, "step_size": 0.05})
    second = write_suite(tmp_path, "c", attacks=attacks)
    assert main(["run", str(second), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 0
    run = json.loads((tmp_path / "c" / "run.json").read_text())
    assert sorted(run["invocations"][-1]["computed"]) == sorted(f"{m}/{a}" for m in ("tiny-linear", "tiny-constant")
                                                              for a in ("pgd", "transfer"))  # transfer reads pgd


def test_validate_rejects_broken_suite_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    bad = dict(SUITE, attacks=[{"id": "pgd", "kind": "pgd_linf", "backend": "art", "params": {"eps": -0.1, "steps": 0}},
                               {"id": "x", "kind": "nope"}])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "validate", str(path)], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any("attacks[0].params.eps" in line and str(path) in line for line in lines)
    assert any("attacks[0].params.steps" in line for line in lines)
    assert any("unknown attack kind 'nope'" in line for line in lines)


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "run", str(tmp_path / "missing.yaml")], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "missing.yaml" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "leaderboard", str(tmp_path / "nothing")], capture_output=True, text=True)
    assert proc.returncode == 1 and "no results" in proc.stderr and "Traceback" not in proc.stderr
    suite, a_file = write_suite(tmp_path, "out"), tmp_path / "a_file"
    a_file.write_text("not a folder")
    for extra in ([], ["--plan"]):  # was a FileExistsError traceback from mkdir
        proc = subprocess.run([sys.executable, "-m", "bench.cli", "run", str(suite), "--out", str(a_file), *extra],
                              capture_output=True, text=True)
        assert proc.returncode == 1 and proc.stderr.strip() == f"error: {a_file}: not a folder (--out names a results folder)"


def test_a_damaged_tensor_file_is_one_line_naming_it(tmp_path: Path) -> None:
    """A cell whose .safetensors is damaged (a disk error, a bad merge) was a SafetensorError
    traceback from the leaderboard's worst case and from bench audit."""
    results = tmp_path / "smoke"
    shutil.copytree(Path(__file__).resolve().parent.parent / "results" / "mnist_smoke", results)
    damaged = results / "cells" / "Softmax" / "pgd.safetensors"
    damaged.write_bytes(b"garbage")
    for args in (["leaderboard", str(results)], ["audit", str(results), "--model", "Softmax", "--attack", "pgd"]):
        proc = subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and f"{damaged}: damaged" in proc.stderr


@pytest.mark.parametrize("content", [b"\xff\xfe\x00binary", b"name: x\nattacks: [\n"], ids=["not-utf8", "not-yaml"])
def test_a_yaml_file_that_cannot_be_parsed_is_one_line_wherever_it_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    """Suites, includes, blind-spot studies, model cards and a results folder's suite.yaml all go
    through bench.yaml_file: a binary or broken file names itself in one line, never a traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    including = tmp_path / "including.yaml"
    including.write_text(yaml.safe_dump(dict(SUITE, include=["bad.yaml"])))
    card_folder = tmp_path / "submission"
    card_folder.mkdir()
    (card_folder / "card.yaml").write_bytes(content)
    results = tmp_path / "results"
    shutil.copytree(Path(__file__).resolve().parents[1] / "results" / "mnist_smoke", results)
    (results / "suite.yaml").write_bytes(content)
    for argv, named in [(["run", str(bad)], bad), (["validate", str(bad)], bad), (["validate", str(including)], bad),
                        (["blindspots", str(bad)], bad), (["zoo", "add", str(card_folder)], card_folder / "card.yaml"),
                        (["run", str(tmp_path)], tmp_path), (["leaderboard", str(results)], results / "suite.yaml")]:
        code = main(argv)
        err = capsys.readouterr().err.strip()
        assert code in (1, 2), argv
        assert len(err.splitlines()) == 1 and str(named) in err and "Traceback" not in err, (argv, err)
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "run", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_cuda_asked_for_where_there_is_none_names_who_asked(tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    suite = write_suite(tmp_path, "gpu", device="cuda")
    assert main(["run", str(suite), "--no-progress"]) == 1
    assert capsys.readouterr().err.strip().endswith(
        f"error: {suite}: device: cuda requested but no CUDA device is available (use --device cpu, or device: auto in the suite)")
    assert main(["run", str(suite), "--no-progress", "--device", "cuda"]) == 1
    assert capsys.readouterr().err.strip().endswith("error: --device cuda requested but no CUDA device is available (use --device auto or cpu)")


def test_a_model_subset_run_keeps_the_other_models_of_the_folder(tiny_zoo: Path, tmp_path: Path) -> None:
    """`bench run --model X` adds X's rows; run.json still names every model with cells there."""
    suite = write_suite(tmp_path, "subset", attacks=SUITE["attacks"][:2], leaderboard={})
    assert main(["run", str(suite), "--device", "cpu", "--no-progress", "--model", "tiny-linear"]) == 0
    assert main(["run", str(suite), "--device", "cpu", "--no-progress", "--model", "tiny-constant"]) == 0
    run = json.loads((tmp_path / "subset" / "run.json").read_text())
    assert list(run["models"]) == ["tiny-linear", "tiny-constant"]
    board = (tmp_path / "subset" / "leaderboard.md").read_text()
    assert "| tiny-linear" in board and "| tiny-constant" in board


def test_an_attack_subset_run_computes_only_those_cells(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`bench run --attack ID` computes only that attack's cells; a later full run reuses them."""
    suite = write_suite(tmp_path, "attacks", attacks=SUITE["attacks"][:2], leaderboard={})
    assert main(["run", str(suite), "--device", "cpu", "--no-progress", "--no-leaderboard", "--attack", "pgd"]) == 0
    cells = sorted(p.stem for p in (tmp_path / "attacks" / "cells" / "tiny-linear").glob("*.json"))
    assert cells == ["pgd"]
    capsys.readouterr()
    assert main(["run", str(suite), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 0
    err = capsys.readouterr().err
    assert "skip tiny-linear / pgd (done)" in err and "tiny-linear / benign: accuracy" in err


def test_an_unknown_attack_id_is_a_one_line_error(tiny_zoo: Path, tmp_path: Path) -> None:
    suite = write_suite(tmp_path, "bad_attack", attacks=SUITE["attacks"][:2], leaderboard={})
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "run", str(suite), "--device", "cpu", "--attack", "pgdd"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: --attack pgdd: not an attack of suite tiny_smoke (benign, pgd)"]


def test_ls_attacks_params_shows_each_parameter_with_its_default_and_doc(capsys: pytest.CaptureFixture[str]) -> None:
    """The Param spec is the one place a parameter's default and meaning live; `ls --params` shows it."""
    assert main(["ls", "attacks", "--params"]) == 0
    out = capsys.readouterr().out
    pgd = get_kind("pgd_linf").params
    rows = [line.split(None, 4) for line in out.splitlines()[2:] if line.startswith("pgd_linf ")]
    by_name = {r[1]: r for r in rows}
    assert set(by_name) == set(pgd)
    assert by_name["eps"][3] == repr(pgd["eps"].default) and by_name["eps"][4].strip() == pgd["eps"].doc
    assert max(len(line) for line in out.splitlines()) <= 120
