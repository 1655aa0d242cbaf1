"""The committed leaderboards say what the committed cells say.

Why: results/ is what readers of this repository trust. A cell recomputed (a retrained model) or
finished in a reference suite that other leaderboards link to leaves every table rendered before it
stale, silently. These tests re-render each committed results folder in memory and fail, naming the
file and line, until `bench leaderboard results/<suite>` has been run and committed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report.freshness import stale_outputs

REPO = Path(__file__).resolve().parent.parent
COMMITTED = sorted(p.parent for p in (REPO / "results").glob("*/leaderboard.md"))


def test_there_are_committed_leaderboards() -> None:
    assert len(COMMITTED) >= 5, COMMITTED


@pytest.mark.parametrize("results", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_leaderboard_matches_its_cells(results: Path) -> None:
    stale, checked = stale_outputs(results)
    assert checked > 0
    assert not stale, (f"stale outputs (run `bench leaderboard results/{results.name}` and commit): "
                       + "; ".join(s.describe() for s in stale))


@pytest.fixture()
def smoke_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "mnist_smoke"
    shutil.copytree(REPO / "results" / "mnist_smoke", dst)
    return dst


def test_a_changed_cell_makes_the_tables_stale(smoke_copy: Path) -> None:
    assert stale_outputs(smoke_copy)[0] == []
    cell = smoke_copy / "cells" / "Learnable16" / "benign.json"
    data = json.loads(cell.read_text())
    data["count"] = data["count"] - 100
    data["value"] = data["count"] / data["n"]
    cell.write_text(json.dumps(data))
    stale = {s.path.name: s for s in stale_outputs(smoke_copy)[0]}
    assert {"leaderboard.md", "leaderboard.csv", "leaderboard.json", "leaderboard.html"} <= set(stale)
    assert all(s.line > 0 for s in stale.values())


def test_a_missing_page_and_an_edited_table_are_named(smoke_copy: Path) -> None:
    page = next((smoke_copy / "models").glob("*.html"))
    page.unlink()
    md = smoke_copy / "leaderboard.md"
    lines = md.read_text().splitlines(keepends=True)
    lines[2] = "edited by hand\n"
    md.write_text("".join(lines))
    stale = {s.path: s.line for s in stale_outputs(smoke_copy)[0]}
    assert stale == {page: 0, md: 3}


def test_cli_check_exit_codes(smoke_copy: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bench.cli", "leaderboard", *args, "--check"],
                              capture_output=True, text=True, cwd=REPO)

    ok = run(str(smoke_copy))
    assert ok.returncode == 0 and "match its cells" in ok.stdout
    before = (smoke_copy / "leaderboard.md").read_bytes()
    (smoke_copy / "leaderboard.csv").write_text("x\n")
    bad = run(str(smoke_copy))
    assert bad.returncode == 1 and "leaderboard.csv: differs from its cells from line 1" in bad.stdout
    assert (smoke_copy / "leaderboard.md").read_bytes() == before  # --check writes nothing
    missing = run(str(tmp_path / "nowhere"))
    assert missing.returncode != 0 and "nowhere: no such results folder" in missing.stderr
    assert "Traceback" not in missing.stderr


AUDITS = sorted((REPO / "results").glob("*/audits/*/*.json"))


def test_committed_audits_state_the_estimate_their_counts_give() -> None:
    """An audit file's ``estimate`` is what bench.audit.estimate makes of its own counts (one formula
    for every file, whichever version of bench wrote it)."""
    from bench.audit import estimate

    assert AUDITS
    for path in AUDITS:
        audit = json.loads(path.read_text())
        want = estimate(audit["robust"], audit["n"], audit["sample"], audit["broke"])
        assert audit["estimate"] == pytest.approx(want, abs=1e-12), f"{path.relative_to(REPO)}: estimate differs from its counts"
