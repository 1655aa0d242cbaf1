"""`bench check`: a run against its baseline -- identical passes, moved fails, added/removed reported,
and a perturbed checkpoint is caught end to end."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from bench.check import tolerance
from bench.cli import main
from bench.zoo.registry import sha256_file

SUITE = {
    "name": "tiny_check", "version": 1, "dataset": "mnist", "seed": 1, "batch_size": 50,
    "examples": {"split": "test", "count": 20, "offset": 100},
    "models": {"tags": ["tiny"]},
    "attacks": [
        {"id": "benign", "kind": "benign", "label": "Benign", "examples": {"count": 200, "offset": 0}},
        {"id": "pgd", "kind": "pgd_linf", "backend": "native", "label": "PGD", "params": {"eps": 0.3, "steps": 5, "step_size": 0.1}},
        {"id": "transfer", "kind": "transfer", "params": {"source_attack": "pgd"}},
    ],
}


def run_suite(tmp_path: Path, out: str, **changes: object) -> Path:
    data = dict(SUITE, **changes)
    data["outputs"] = {"dir": str(tmp_path / out)}
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["run", str(path), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 0
    return tmp_path / out


@pytest.fixture(scope="module")
def run_dir(tiny_zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_suite(tmp_path_factory.mktemp("check"), "run")


def baseline_of(run: Path, tmp_path: Path) -> Path:
    base = tmp_path / "baselines" / "tiny.json"
    assert main(["check", str(run), "--baseline", str(base), "--update"]) == 0
    return base


def test_identical_results_pass(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = baseline_of(run_dir, tmp_path)
    data = json.loads(base.read_text())
    assert data["tolerances"] == {"default": "binomial3"} and data["models"]["tiny-linear"]
    metrics = {(f["model"], f["attack"], f["metric"]) for f in data["figures"]}
    assert ("tiny-linear", "benign", "accuracy") in metrics and ("tiny-linear", "pgd", "robust_accuracy") in metrics
    assert ("tiny-constant", "transfer", "transfer_error_rate<-tiny-linear") in metrics
    capsys.readouterr()
    assert main(["check", str(run_dir), "--baseline", str(base)]) == 0
    out = capsys.readouterr().out
    assert "check passed" in out and "0 beyond tolerance" in out


def _edit(base: Path, model: str, attack: str, **changes: object) -> None:
    data = json.loads(base.read_text())
    for fig in data["figures"]:
        if fig["model"] == model and fig["attack"] == attack and not fig["metric"].startswith("transfer"):
            fig.update(changes)
    base.write_text(json.dumps(data))


def test_moved_figure_fails_in_either_direction(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = baseline_of(run_dir, tmp_path)
    now = json.loads((run_dir / "cells" / "tiny-linear" / "benign.json").read_text())["value"]
    _edit(base, "tiny-linear", "benign", value=now - 0.2)  # the model now looks *better*: drift too
    capsys.readouterr()
    assert main(["check", str(run_dir), "--baseline", str(base)]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "tiny-linear" in line and "benign" in line)
    assert "FAIL up" in row and "+0.2000" in row and "check FAILED" in out
    _edit(base, "tiny-linear", "benign", value=min(now + 0.2, 1.0))
    assert main(["check", str(run_dir), "--baseline", str(base)]) == 1
    assert "FAIL down" in capsys.readouterr().out


def test_small_move_within_tolerance_and_override(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = baseline_of(run_dir, tmp_path)
    now = json.loads((run_dir / "cells" / "tiny-linear" / "benign.json").read_text())["value"]
    _edit(base, "tiny-linear", "benign", value=now - 1 / 200)  # one example out of 200
    capsys.readouterr()
    assert main(["check", str(run_dir), "--baseline", str(base)]) == 0
    assert "within tolerance" in capsys.readouterr().out
    data = json.loads(base.read_text())
    data["tolerances"] = {"default": "binomial3", "benign": "exact"}
    base.write_text(json.dumps(data))
    assert main(["check", str(run_dir), "--baseline", str(base)]) == 1
    # --update rewrites the figures deliberately and keeps the tolerances
    assert main(["check", str(run_dir), "--baseline", str(base), "--update"]) == 0
    assert json.loads(base.read_text())["tolerances"]["benign"] == "exact"
    assert main(["check", str(run_dir), "--baseline", str(base)]) == 0


def test_added_and_removed_rows_are_reported(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = baseline_of(run_dir, tmp_path)
    data = json.loads(base.read_text())
    data["figures"] = [f for f in data["figures"] if f["attack"] != "pgd"]  # pgd appeared since
    data["figures"].append({"model": "gone-model", "attack": "benign", "metric": "clean_accuracy", "value": 0.5, "n": 200})
    base.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["check", str(run_dir), "--baseline", str(base)]) == 1
    out = capsys.readouterr().out
    assert any("gone-model" in line and "REMOVED" in line for line in out.splitlines())
    assert any("tiny-linear" in line and "pgd" in line and "ADDED" in line for line in out.splitlines())
    assert "2 added, 1 removed" in out


def test_binomial_tolerance_formula() -> None:
    tol = {"default": "binomial3", "cw": 0.02}
    assert tolerance(tol, "pgd", "robust_accuracy", 0.5, 100) == pytest.approx(3 * math.sqrt(0.25 / 100))
    assert tolerance(tol, "pgd", "robust_accuracy", 1.0, 50) == pytest.approx(1 / 50)  # floored at one example
    assert tolerance(tol, "cw", "robust_accuracy", 0.5, 100) == 0.02
    assert tolerance({"robust_accuracy": "exact"}, "pgd", "robust_accuracy", 0.5, 100) == 0.0


def test_bad_baseline_is_one_line(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = baseline_of(run_dir, tmp_path)
    data = json.loads(base.read_text())
    data["tolerances"] = {"default": "lots"}
    base.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["check", str(run_dir), "--baseline", str(base)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tolerances.default" in err[0] and str(base) in err[0]
    assert main(["check", str(run_dir), "--baseline", str(tmp_path / "none.json")]) == 1
    assert "baseline not found" in capsys.readouterr().err


def test_perturbed_checkpoint_fails_the_check(tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    extra = tmp_path / "zoo"
    folder = extra / "tiny-pert"
    shutil.copytree(tiny_zoo / "tiny-linear", folder)
    card = yaml.safe_load((folder / "card.yaml").read_text())
    card.update(id="tiny-pert", tags=["pert"])
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    monkeypatch.setenv("BENCH_ZOO_PATH", f"{tiny_zoo}:{extra}")
    suite = {"models": {"ids": ["tiny-pert"]}, "attacks": SUITE["attacks"][:2]}
    run = run_suite(tmp_path, "pert", **suite)
    base = baseline_of(run, tmp_path)

    weights = load_file(str(folder / "weights.safetensors"))
    weights["fc.bias"] = weights["fc.bias"].clone()
    weights["fc.bias"][1] += 50.0  # one weight: now (almost) everything is a 1
    save_file(weights, str(folder / "weights.safetensors"))
    card["checkpoint"]["sha256"] = sha256_file(folder / "weights.safetensors")
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    run_suite(tmp_path, "pert", **suite)  # the new sha changes every cell's config hash: recomputed
    capsys.readouterr()
    assert main(["check", str(run), "--baseline", str(base)]) == 1
    out = capsys.readouterr().out
    assert any("tiny-pert" in line and "benign" in line and "FAIL down" in line for line in out.splitlines())
    assert "checkpoint changed since the baseline" in out
    assert torch.isfinite(torch.tensor(json.loads((run / "cells" / "tiny-pert" / "benign.json").read_text())["value"]))


def test_a_data_dependent_n_is_compared_as_a_rate(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A transfer cell's n counts its sources' verified adversarials, which another machine's float
    order can move by an example or two: compared as a rate on the smaller n, it passes; a suite
    figure whose n moved still fails, and so does a transfer n that moved with the suite."""
    base = baseline_of(run_dir, tmp_path)
    data = json.loads(base.read_text())
    for fig in data["figures"]:
        if fig["attack"] == "transfer":
            fig["n"] = fig["n"] + 2
    base.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["check", str(run_dir), "--baseline", str(base)]) == 0
    assert "n changed" not in capsys.readouterr().out
    data["suite"]["sha256"] = "0" * 64  # the same n change, but the suite changed too
    base.write_text(json.dumps(data))
    assert main(["check", str(run_dir), "--baseline", str(base)]) == 1
    assert "FAIL (n changed)" in capsys.readouterr().out
    data = json.loads(baseline_of(run_dir, tmp_path).read_text())
    for fig in data["figures"]:
        if fig["attack"] == "pgd":
            fig["n"] = fig["n"] + 1
    base.write_text(json.dumps(data))
    assert main(["check", str(run_dir), "--baseline", str(base)]) == 1
    assert "FAIL (n changed)" in capsys.readouterr().out
