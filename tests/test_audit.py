"""Audits (bench.audit): attacks beyond a cell's battery on a sample of its robust examples, the
estimate of how far the cell overstates robustness, the leaderboard flag, resume, and errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from bench.attacks import get_kind
from bench.audit import audit_path, carry_over, describe, estimate, kept_prefix, run_audit, sample_robust
from bench.cli import main
from bench.errors import BenchError
from bench.results import ResultsStore
from bench.stats import clopper_pearson, sampled_count_interval

ARGS = ["--device", "cpu", "--no-progress"]


def weak_suite(tmp_path: Path, name: str = "weak") -> Path:
    """tiny-linear and tiny-constant under a PGD too weak to break much (one tiny step, no random
    start): the cell counts robust many examples a real attack breaks."""
    suite = {
        "name": name, "version": 1, "dataset": "mnist", "seed": 0, "batch_size": 50,
        "examples": {"split": "test", "count": 60, "offset": 0}, "models": {"ids": ["tiny-linear", "tiny-constant"]},
        "attacks": [{"id": "clean", "kind": "benign"},
                    {"id": "weak", "kind": "pgd_linf", "backend": "native",
                     "params": {"eps": 0.1, "steps": 1, "step_size": 0.001, "random_start": False}}],
        "outputs": {"dir": str(tmp_path / name), "formats": ["md", "json"]},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def test_the_sample_is_drawn_from_the_robust_examples_by_seed_alone() -> None:
    robust = torch.zeros(100, dtype=torch.bool)
    robust[::3] = True
    a, b = sample_robust(robust, 10, 7), sample_robust(robust, 10, 7)
    assert torch.equal(a, b) and len(a) == 10 and bool(robust[a].all()) and torch.equal(a, a.sort().values)
    assert not torch.equal(a, sample_robust(robust, 10, 8))
    assert torch.equal(sample_robust(robust, 1000, 0), robust.nonzero().squeeze(1))  # fewer robust than asked: all


def test_the_estimate_scales_the_broken_share_by_the_figure() -> None:
    e = estimate(robust=500, n=1000, sampled=40, broke=2)
    lo, hi = sampled_count_interval(2, 40, 500)
    assert e["overstated_by"] == pytest.approx(0.5 * 2 / 40) and e["lo"] == pytest.approx(lo / 1000)
    assert e["hi"] == pytest.approx(hi / 1000) and e["verified_at_most"] == pytest.approx(0.498)
    cp_lo, cp_hi = clopper_pearson(2, 40)  # drawn without replacement: no wider than the binomial interval
    assert 0.5 * cp_lo - 1e-3 <= e["lo"] <= e["overstated_by"] <= e["hi"] <= 0.5 * cp_hi + 1e-3
    none = estimate(robust=500, n=1000, sampled=40, broke=0)
    assert none["overstated_by"] == 0 and none["lo"] == 0 and 0 < none["hi"] < 0.5
    assert estimate(robust=0, n=1000, sampled=0, broke=0)["overstated_by"] is None
    whole = estimate(robust=65, n=1000, sampled=65, broke=3)  # every robust example audited: no sampling error
    assert whole["lo"] == whole["hi"] == whole["overstated_by"] == pytest.approx(0.003)


def test_a_whole_cell_audit_is_described_without_a_sampling_interval() -> None:
    audit = {"n": 1000, "robust": 65, "sample": 65, "broke": 0, "seed": 0, "broke_by_member": {"A": 0}}
    line = describe(audit)
    assert "0 of all 65 robust examples" in line and "overstated by 0.000 (every robust example audited)" in line
    assert "[" not in line and "seed" not in line
    sampled = describe({**audit, "robust": 340, "sample": 40})
    assert "0 of 40 sampled robust examples (of 340, seed 0)" in sampled and "[0.000, 0.028]" in sampled


def test_an_audit_is_carried_over_only_onto_the_cell_that_extends_its_own() -> None:
    """Examples 0-9 are 10 test images; the audited cell counted 0-7 robust, the audit sampled
    1, 3, 5, 7 and broke 3 and 5. The extended cell breaks 5 and 7 itself: the sample left is 1, 3
    (a uniform sample of the new robust set, drawn before it existed), one break of two."""
    audit = {"cell_config_hash": "old", "n": 10, "robust": 8, "sample": 4, "seed": 0, "sampled_index": [1, 3, 5, 7],
             "broken_index": [3, 5], "broken_by": ["A", "B"], "broke": 2, "broke_by_member": {"A": 1, "B": 1},
             "estimate": estimate(8, 10, 4, 2)}
    index = torch.arange(10)
    robust = torch.tensor([1, 1, 1, 1, 1, 0, 1, 0, 0, 0], dtype=torch.bool)
    meta = {"config_hash": "new", "provenance": {"extends": "old"}}
    out = carry_over(audit, meta, index, robust)
    assert out is not None and out["cell_config_hash"] == "new" and out["robust"] == 6 and out["n"] == 10
    assert out["sampled_index"] == [1, 3] and out["broken_index"] == [3] and out["broken_by"] == ["A"]
    assert out["sample"] == 2 and out["broke"] == 1 and out["broke_by_member"] == {"A": 1, "B": 0}
    assert out["estimate"] == estimate(6, 10, 2, 1)
    assert out["carried_from"] == [{"cell_config_hash": "old", "robust": 8, "sample": 4, "broke": 2}]
    assert "carried over from the audit of the cell it extends: 2 of 4 there" in describe(out)
    again = carry_over(out, {"config_hash": "newer", "provenance": {"extends": "new"}}, index, robust)
    assert again is not None and len(again["carried_from"]) == 2  # a chain of extensions keeps every step
    assert carry_over(audit, {"config_hash": "new", "provenance": {"extends": "other"}}, index, robust) is None
    assert carry_over(audit, {"config_hash": "new", "provenance": {}}, index, robust) is None  # recomputed: says nothing


def test_an_audit_breaks_what_a_weak_battery_counted_robust_and_the_leaderboard_flags_it(
        tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(weak_suite(tmp_path)), *ARGS]) == 0
    results = tmp_path / "weak"
    weak = json.loads((results / "cells" / "tiny-linear" / "weak.json").read_text())
    capsys.readouterr()
    assert main(["audit", str(results), "--model", "tiny-linear", "--attack", "weak", "--sample", "10", *ARGS]) == 0
    out = capsys.readouterr().out
    audit = json.loads(audit_path(results, "tiny-linear", "weak").read_text())
    assert audit["robust"] == weak["count"] and audit["sample"] == 10 and "tiny-linear" in out
    assert 0 < audit["broke"] <= 10 and set(audit["broken_index"]) <= set(audit["sampled_index"])
    assert audit["broke_by_member"]["PGD-margin-R5"] == audit["broke"]  # tiny-linear has no code: one member runs
    assert audit["estimate"]["verified_at_most"] == pytest.approx((weak["count"] - audit["broke"]) / weak["n"])
    board = (results / "leaderboard.md").read_text()
    assert "audit:" in board and f"{audit['broke']} of 10 sampled robust examples" in board
    assert main(["leaderboard", str(results), "--check"]) == 0  # the flag is part of what the folder renders

    # the unfoolable model: nothing to break, no flag
    capsys.readouterr()
    assert main(["audit", str(results), "--model", "tiny-constant", "--attack", "weak", "--sample", "all", "--device", "cpu"]) == 0
    whole = json.loads(audit_path(results, "tiny-constant", "weak").read_text())
    kept = [line for line in capsys.readouterr().err.splitlines() if line.startswith("audit tiny-constant weak: batch ")]
    assert len(kept) == -(-whole["robust"] // 20) and kept[-1].endswith(" s")  # without --no-progress: a line per batch
    assert f"kept: {whole['robust']} of {whole['robust']} examples audited, 0 broken" in kept[-1]
    assert whole["broke"] == 0 and whole["sample"] == whole["robust"] > 0  # every robust example
    assert whole["estimate"]["lo"] == whole["estimate"]["hi"] == 0
    board = (results / "leaderboard.md").read_text()
    flagged = [line for line in board.splitlines() if "audit:" in line]
    assert flagged and not any("tiny-constant" in line for line in flagged)
    # every current audit is listed, the one that found nothing too, in every text format
    listed = board[board.index("Audits (`bench audit`"):]
    assert "- tiny-constant " in listed and f"0 of all {whole['robust']} robust examples" in listed and "- tiny-linear " in listed
    assert "(every robust example audited)" in listed
    doc = json.loads((results / "leaderboard.json").read_text())
    assert sorted(a["model"] for a in doc["audits"]) == ["tiny-constant", "tiny-linear"]


def test_an_audit_of_a_recomputed_cell_raises_no_flag(tiny_zoo: Path, tmp_path: Path) -> None:
    assert main(["run", str(weak_suite(tmp_path)), *ARGS, "--no-leaderboard"]) == 0
    results = tmp_path / "weak"
    assert main(["audit", str(results), "--attack", "weak", "--sample", "5", *ARGS]) == 0
    path = audit_path(results, "tiny-linear", "weak")
    audit = json.loads(path.read_text())
    path.write_text(json.dumps({**audit, "cell_config_hash": "another"}))
    assert main(["leaderboard", str(results)]) == 0
    assert "audit:" not in (results / "leaderboard.md").read_text()


def stop_at_second_batch(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The cascade's generate, counted, interrupted (Ctrl-C) on its second call: an audit stopped
    after its first batch. Set the count to 10 to let every later call through."""
    kind = get_kind("cascade")
    original, calls = kind.generate, {"n": 0}

    def flaky(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*a, **k)

    monkeypatch.setattr(kind, "generate", flaky)
    return calls


def test_an_interrupted_audit_resumes_to_the_same_result(tiny_zoo: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["run", str(weak_suite(tmp_path)), *ARGS, "--no-leaderboard"]) == 0
    results = tmp_path / "weak"
    straight = run_audit(results, "tiny-linear", "weak", sample=30)
    audit_path(results, "tiny-linear", "weak").unlink()
    calls = stop_at_second_batch(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run_audit(results, "tiny-linear", "weak", sample=30)
    assert not audit_path(results, "tiny-linear", "weak").exists()
    calls["n"] = 10  # from here on every call goes through
    lines: list[str] = []
    resumed = run_audit(results, "tiny-linear", "weak", sample=30, kept=lines.append)
    assert calls["n"] == 11  # the first batch of 20 was kept; only the second ran again
    assert len(lines) == 1 and lines[0].startswith("batch 2 of 2 kept: 30 of 30 examples audited, ")  # a log line per batch
    assert f"{resumed['broke']} broken" in lines[0]
    assert [p.name for p in (results / "audits" / "tiny-linear").iterdir()] == ["weak.json"]  # no state left behind
    drop = ("seconds", "time_s_by_member")
    assert {k: v for k, v in resumed.items() if k not in drop} == {k: v for k, v in straight.items() if k not in drop}
    assert run_audit(results, "tiny-linear", "weak", sample=30) == resumed and calls["n"] == 11  # done: not recomputed
    assert run_audit(results, "tiny-linear", "weak", sample=30, force=True)["broke"] == resumed["broke"] and calls["n"] == 13
    assert run_audit(results, "tiny-linear", "weak", sample=25)["sample"] == 25  # another sample is another audit


def test_a_stopped_whole_cell_audit_is_a_sample_audit_of_what_it_kept(tiny_zoo: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A whole-cell audit runs its examples in the order the seed draws them, so its kept batches are
    a uniform sample: `--sample 20` after its first batch finishes from it with no attack run (the
    same result as a fresh 20-example audit), and the whole audit then goes on where it stopped."""
    assert main(["run", str(weak_suite(tmp_path)), *ARGS, "--no-leaderboard"]) == 0
    results = tmp_path / "weak"
    fresh = run_audit(results, "tiny-linear", "weak", sample=20)
    assert fresh["sample"] == 20 and fresh["robust"] > 40  # the whole cell is three batches or more
    audit_path(results, "tiny-linear", "weak").unlink()
    calls = stop_at_second_batch(monkeypatch)
    capsys.readouterr()
    assert main(["audit", str(results), "--model", "tiny-linear", "--attack", "weak", "--sample", "all", *ARGS]) == 130
    assert kept_prefix(results, "tiny-linear", "weak") == 20
    assert "or with --sample 20 to finish now as a sample of the 20 examples kept" in capsys.readouterr().err
    with pytest.raises(BenchError, match=r"holds 20 examples kept by another audit of this cell \(seed 0, presets beyond\)"):
        run_audit(results, "tiny-linear", "weak", sample=20, seed=1)  # another seed would drop them: refused
    statuses: list[str] = []
    calls["n"] = 10  # from here on every call goes through
    sampled = run_audit(results, "tiny-linear", "weak", sample=20, status=statuses.append)
    assert calls["n"] == 10  # finished from the whole audit's kept batch: no attack ran
    drop = ("seconds", "time_s_by_member")
    assert {k: v for k, v in sampled.items() if k not in drop} == {k: v for k, v in fresh.items() if k not in drop}
    assert any("stay for it to go on" in line for line in statuses)
    assert ResultsStore(results).audit_partial("tiny-linear", "weak").is_file()  # kept for the longer audit
    whole = run_audit(results, "tiny-linear", "weak", sample=None)
    assert calls["n"] == 10 + -(-whole["robust"] // 20) - 1  # every batch but the kept one
    assert set(sampled["broken_index"]) <= set(whole["broken_index"]) and whole["sample"] == whole["robust"]
    assert whole["broken_index"] == sorted(whole["broken_index"])
    assert [p.name for p in (results / "audits" / "tiny-linear").iterdir()] == ["weak.json"]  # no state left behind


def test_bad_audits_are_one_line_errors(tiny_zoo: Path, tmp_path: Path) -> None:
    assert main(["run", str(weak_suite(tmp_path)), *ARGS, "--no-leaderboard"]) == 0
    results = tmp_path / "weak"
    with pytest.raises(BenchError, match="clean.json: threat"):
        run_audit(results, "tiny-linear", "clean", sample=10)
    with pytest.raises(BenchError, match="unknown preset"):
        run_audit(results, "tiny-linear", "weak", presets=["nope"], sample=10)
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "audit", str(results), "--attack", "missing"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "no model has a cell missing" in proc.stderr
    assert main(["audit", str(results), "--model", "tiny-nope", "--attack", "weak"]) != 0
    for flag, value in (("--sample", "0"), ("--sample", "every"), ("--seed", "-1")):
        with pytest.raises(SystemExit) as info:  # argparse: usage and one error line, exit 2
            main(["audit", str(results), "--attack", "weak", flag, value])
        assert info.value.code == 2
    with pytest.raises(BenchError, match="missing.json: no such complete cell"):
        run_audit(results, "tiny-linear", "missing", sample=10)


def test_an_audits_verified_breaks_bound_the_figure_and_the_worst_case_beside_it(
        tiny_zoo: Path, tmp_path: Path) -> None:
    """Each figure an audit's breaks touch reads '<value> [lo, hi] ≤<bound>': the cell's own count
    less the breaks, and a worst case's count less only the breaks it still counts robust (an
    example another attack of the worst case already broke is not taken off twice)."""
    path = weak_suite(tmp_path)
    suite = yaml.safe_load(path.read_text())
    suite["attacks"].append({"id": "other", "kind": "pgd_linf", "backend": "native",
                             "params": {"eps": 0.04, "steps": 5, "step_size": 0.01, "random_start": False}})
    suite["leaderboard"] = {"worst_case": ["weak", "other"]}
    suite["outputs"]["formats"] = ["md", "json", "csv"]
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), *ARGS]) == 0
    results = tmp_path / "weak"
    assert main(["audit", str(results), "--model", "tiny-linear", "--attack", "weak", "--sample", "all", *ARGS]) == 0
    audit = json.loads(audit_path(results, "tiny-linear", "weak").read_text())
    store = ResultsStore(results)
    weak, other = (store.read_tensors("tiny-linear", a) for a in ("weak", "other"))
    assert weak is not None and other is not None and torch.equal(weak["index"], other["index"])
    robust_both = set(weak["index"][weak["robust"] & other["robust"]].tolist())
    broken = set(audit["broken_index"])
    # the case under test: some breaks the worst case still counts robust, some it does not
    assert broken & robust_both and broken - robust_both, (broken, robust_both)
    n = int(weak["index"].numel())
    doc = json.loads((results / "leaderboard.json").read_text())
    row = next(m for m in doc["models"] if m["model"] == "tiny-linear")
    assert row["cells"]["weak"]["verified_at_most"] == pytest.approx((int(weak["robust"].sum()) - len(broken)) / n)
    assert row["worst_case"]["verified_at_most"] == pytest.approx((len(robust_both) - len(broken & robust_both)) / n)
    assert row["cells"]["other"]["verified_at_most"] is None  # no audit of that cell
    constant = next(m for m in doc["models"] if m["model"] == "tiny-constant")
    assert constant["worst_case"]["verified_at_most"] is None  # nothing audited there
    board = (results / "leaderboard.md").read_text()
    bound = f"≤{row['worst_case']['verified_at_most']:.3f}"
    assert any(line.startswith("| tiny-linear") and bound in line for line in board.splitlines())
    assert "≤x = at most x" in board
    table = {r["model"]: r for r in csv.DictReader(io.StringIO((results / "leaderboard.csv").read_text()))}
    label = row["cells"]["weak"]["label"]
    assert float(table["tiny-linear"][f"{label}_verified_at_most"]) == pytest.approx(row["cells"]["weak"]["verified_at_most"])
    assert table["tiny-constant"][f"{label}_verified_at_most"] == ""
