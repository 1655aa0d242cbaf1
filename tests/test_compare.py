"""`bench compare`: a model beside the cards whose ``variant_of`` names it, across results folders,
with the figures the leaderboards show (read from the committed MNIST and Fashion-MNIST results)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.report import build
from bench.report.compare import collect, grid
from bench.zoo import all_cards

RESULTS = Path(__file__).resolve().parents[1] / "results"
ZOO = Path(__file__).resolve().parents[1] / "zoo"
MNIST, FASHION = RESULTS / "mnist_adaptive", RESULTS / "fashion_full"


def test_variants_sit_under_their_original_with_the_leaderboards_figures() -> None:
    header, rows = grid(collect([MNIST, FASHION]))
    assert header[:4] == ["Architecture", "Results", "Model", "Clean"] and "Worst @0.3" in header
    models = [r[2] for r in rows]
    fashion = build(FASHION)
    worst = fashion.worst_columns[0]
    for row in fashion.rows:
        original = all_cards()[row.model].variant_of
        assert original is not None, row.model  # every Fashion card names its MNIST model
        at = models.index(row.model)
        assert rows[at][0] == original and original in models[:at]  # below its original
        fig = row.figure(worst.key)
        shown = rows[at][header.index("Worst @0.3")]
        assert shown == "—" if fig.missing else (shown.startswith(f"{fig.value:.3f} [") and f"(n={fig.n})" in shown)
    mnist_only = [r for r in rows if r[2] == "TanhEns32"]  # no Fashion variant: one row, MNIST's
    assert len(mnist_only) == 1 and mnist_only[0][1] == "mnist_adaptive (mnist)"
    assert rows[models.index("Fashion-Tanh16")][header.index("Worst @0.1")] == "—"  # fashion_full has only eps 0.3


def test_cli_writes_the_table_and_refuses_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp.md"
    assert main(["compare", str(MNIST), str(FASHION), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.read_text().strip() == printed.strip() and "| Fashion-Softmax " in printed
    assert max(map(len, printed.splitlines())) <= 120 and printed.count("| Architecture ") > 1  # split, keys repeated
    assert main(["compare", str(MNIST), str(FASHION), "--wide"]) == 0
    assert capsys.readouterr().out.count("| Architecture ") == 1
    assert main(["compare", str(MNIST), str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"error: no results folder: {tmp_path / 'nowhere'}"


def test_a_variant_of_an_unknown_model_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    extra = tmp_path / "zoo"
    shutil.copytree(ZOO / "fashion_softmax", extra / "copy", ignore=shutil.ignore_patterns("*.safetensors", "training"))
    card = (extra / "copy" / "card.yaml").read_text()
    (extra / "copy" / "card.yaml").write_text(card.replace("id: Fashion-Softmax", "id: Copy").replace("variant_of: Softmax", "variant_of: Nobody"))
    monkeypatch.setenv("BENCH_ZOO_PATH", str(extra))
    assert main(["ls", "models"]) == 1
    assert capsys.readouterr().err.strip() == f"error: {extra / 'copy' / 'card.yaml'}: key 'variant_of': unknown model 'Nobody'"


def test_a_figure_an_audit_proves_lower_carries_its_bound_and_the_table_says_what_it_means(
        capsys: pytest.CaptureFixture[str]) -> None:
    robust = RESULTS / "mnist_robust"
    report = build(robust)
    bounded = [(row.model, c) for row in report.rows for c in report.worst_columns
               if row.figure(c.key).verified_at_most is not None]
    assert bounded  # committed whole-cell audits broke examples (docs/audits.md)
    assert main(["compare", str(robust), "--wide"]) == 0
    printed = capsys.readouterr().out
    for model, col in bounded:
        fig = next(r for r in report.rows if r.model == model).figure(col.key)
        line = next(ln for ln in printed.splitlines() if ln.startswith(f"| {model} "))
        assert f"{fig.value:.3f} [" in line and f"≤{fig.verified_at_most:.3f}" in line
    assert "≤x = at most x" in printed
    assert main(["compare", str(MNIST), "--wide"]) == 0  # no audit there: no bound, no note
    assert "≤" not in capsys.readouterr().out
