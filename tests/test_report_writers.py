"""The registry of report writers is the only list of formats: a test-local writer, registered as
docs/extending.md says, is rendered end to end by `bench leaderboard` and accepted by a suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bench.cli import main
from bench.report import render
from bench.report.model import Report
from bench.report.writers import WRITERS, names, writer
from bench.suite import load_suite, validate_suite_file
from test_report import RANKED, results  # noqa: F401  (the hand-made results folder)


@pytest.fixture
def tsv() -> Iterator[str]:
    """The recipe of docs/extending.md, "Adding an output format", registered for one test."""
    @writer("tsv", "model and worst case, tab-separated")
    def render_tsv(report: Report) -> str:
        worst = report.worst_columns[0]
        lines = [f"{row.model}\t{row.figure(worst.key).value:.4f}\t{row.figure(worst.key).n}" for row in report.rows]
        return "\n".join(["model\tworst_case\tn", *lines]) + "\n"

    yield "tsv"
    WRITERS.remove("tsv")


def test_a_registered_writer_renders_end_to_end(tsv: str, results: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert names() == ["md", "csv", "json", "html", "tsv"]
    assert render(results, [tsv]) == [results / "leaderboard.tsv"]
    lines = (results / "leaderboard.tsv").read_text().splitlines()
    assert lines == ["model\tworst_case\tn", "ModelA\t0.6667\t3", "ModelB\t0.3333\t3", "ModelC\t0.0000\t3"]
    (results / "leaderboard.tsv").unlink()
    assert main(["leaderboard", str(results)]) == 0  # every registered format by default
    assert (results / "leaderboard.tsv").is_file() and (results / "leaderboard.html").is_file()
    assert main(["leaderboard", str(results), "--format", "tsv,pdf"]) == 1
    assert "--format: unknown format(s) pdf (known: md, csv, json, html, tsv)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="duplicate report format 'tsv'"):
        writer("tsv", "again")(lambda report: "")
    assert [r.split("\t")[0] for r in lines[1:]] == RANKED


def test_a_suite_accepts_exactly_the_registered_formats(tsv: str, tmp_path: Path) -> None:
    suite = {"name": "s", "version": 1, "dataset": "mnist", "models": ["A"], "attacks": [{"id": "benign", "kind": "benign"}],
             "outputs": {"formats": ["md", tsv]}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert load_suite(path, known_models={"A"}).formats == ["md", "tsv"]
    del suite["outputs"]
    path.write_text(yaml.safe_dump(suite))
    assert load_suite(path, known_models={"A"}).formats == names()
    WRITERS.remove(tsv)
    try:
        path.write_text(yaml.safe_dump({**suite, "outputs": {"formats": ["md", tsv]}}))
        assert any("outputs.formats: unknown format 'tsv' (known: md, csv, json, html)" in p
                   for p in validate_suite_file(path, known_models={"A"}))
    finally:
        writer(tsv, "re-registered for the fixture's teardown")(lambda report: "")
