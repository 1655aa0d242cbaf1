"""Leaderboard rendering from a hand-made results folder, and the worst-case aggregation."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from bench.errors import BenchError
from bench.stats import clopper_pearson
from bench.report import build, markdown_text, render, terminal_text
from bench.worst_case import worst_case, worst_case_for_model

MODELS = ["ModelB", "ModelA", "ModelC"]  # run.json order, deliberately not sorted
# model -> attack -> (indices, robust indices)
PER_EXAMPLE = {
    "ModelA": {"benign": ([0, 1, 2, 3], {0, 1, 2, 3}), "pgd": ([0, 1, 2, 3], {0, 1, 2}), "cw": ([1, 2, 3, 4], {1, 2, 3})},
    "ModelB": {"benign": ([0, 1, 2, 3], {0, 1, 2}), "pgd": ([3, 2, 1, 0], {3}), "cw": ([1, 2, 3, 4], {3, 4})},
    "ModelC": {"benign": ([0, 1, 2, 3], {0, 1, 2, 3}), "pgd": ([0, 1, 2, 3], set()), "cw": ([1, 2, 3, 4], {1})},
}
LABELS = {"benign": "Benign", "pgd": "PGD", "cw": "CW", "xfer": "Transfer"}
THREATS = {"benign": {"norm": "linf", "eps": 0.0}, "pgd": {"norm": "linf", "eps": 0.3}, "cw": {"norm": "l2", "eps": 1.5}}
RANKED = ["ModelA", "ModelB", "ModelC"]  # by the worst case: 2/3, 1/3, 0
SOURCES = {
    "ModelA": {"ModelA": {"error_rate": 0.9, "n": 4}, "ModelB": {"error_rate": 0.25, "n": 4}, "ModelC": {"error_rate": 0.5, "n": 4}},
    "ModelB": {"ModelA": {"error_rate": 0.75, "n": 4}, "ModelB": {"error_rate": 1.0, "n": 4}, "ModelC": {"error_rate": 0.0, "n": 4}},
}
FLAG = "eps<0.3 & gradient masking"


def _cell(model: str, attack: str, value: float, n: int, **fields: object) -> dict:
    adversarial = attack != "benign"
    return {
        "model": model, "attack": attack, "kind": {"benign": "clean", "pgd": "pgd_linf", "cw": "cw_l2"}.get(attack, "transfer"),
        "label": LABELS[attack], "metric": "robust_accuracy" if adversarial else "clean_accuracy",
        "value": value, "n": n, "count": round(value * n), "adversarial": adversarial, "per_example": True,
        "params": {}, "seed": 0, "device": "cpu", "wall_time_s": 2.5, "examples_per_s": n / 2.5, "extra": {},
        **({"threat": THREATS[attack]} if attack in THREATS else {}), **fields,
    }


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    zoo = tmp_path / "zoo"
    card = {
        "id": "ModelA", "family": "test", "description": "d", "source": {"paper": "p"}, "architecture": "a",
        "factory": "m:f", "checkpoint": {"file": "w.safetensors"}, "reported": {"benign": 0.9905, "pgd": 0.09},
    }
    (zoo / "model_a").mkdir(parents=True)
    (zoo / "model_a" / "card.yaml").write_text(yaml.safe_dump(card))
    monkeypatch.setattr("bench.zoo.registry.REPO_ZOO", tmp_path / "no_repo_zoo")
    monkeypatch.setenv("BENCH_ZOO_PATH", str(zoo))

    out = tmp_path / "results"
    _write(out / "run.json", {"suite": {"name": "fake", "version": 1, "sha256": "ab" * 32}, "git_commit": "deadbeef",
                              "packages": {"torch": torch.__version__}, "device": "cpu", "seed": 0,
                              "models": {m: "cd" * 32 for m in MODELS}})
    suite = {"name": "fake", "version": 1, "dataset": "mnist",
             "attacks": [{"id": a, "kind": "x", "label": LABELS[a]} for a in ("benign", "pgd", "cw", "xfer")]}
    (out / "suite.yaml").write_text(yaml.safe_dump(suite))
    for model, attacks in PER_EXAMPLE.items():
        for attack, (index, robust) in attacks.items():
            flags = {"extra": {"flags": [FLAG]}} if (model, attack) == ("ModelB", "cw") else {}
            _write(out / "cells" / model / f"{attack}.json", _cell(model, attack, len(robust) / len(index), len(index), **flags))
            save_file({"index": torch.tensor(index), "robust": torch.tensor([i in robust for i in index])},
                      str(out / "cells" / model / f"{attack}.safetensors"))
    for model, sources in SOURCES.items():
        _write(out / "cells" / model / "xfer.json",
               _cell(model, "xfer", 0.5, 12, adversarial=True, per_example=False, extra={"sources": sources}))
    return out


# --- worst case -----------------------------------------------------------------------------

def _pe(index: list[int], robust: set[int]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(index), torch.tensor([i in robust for i in index])


def test_worst_case_intersection_exact() -> None:
    # shared indices {1,2,3}; robust under both only {1,2}
    assert worst_case({"a": _pe([0, 1, 2, 3], {0, 1, 2}), "b": _pe([1, 2, 3, 4], {1, 2, 3})}) == (2 / 3, 2, 3)


def test_worst_case_order_and_three_attacks() -> None:
    per = {"a": _pe([5, 3, 1, 0], {5, 3, 1, 0}), "b": _pe([1, 3, 5, 7], {1, 5, 7}), "c": _pe([9, 5, 1, 3], {5, 3, 9})}
    assert worst_case(per) == (1 / 3, 1, 3)  # shared {1,3,5}; 3 falls to b, 1 to c: only 5 survives
    assert worst_case({"a": _pe([0, 1], {0})}) == (0.5, 1, 2)


def test_worst_case_disjoint_and_bad_input() -> None:
    acc, count, n = worst_case({"a": _pe([0, 1], {0, 1}), "b": _pe([2, 3], {2, 3})})
    assert math.isnan(acc) and (count, n) == (0, 0)
    with pytest.raises(BenchError, match="duplicate"):
        worst_case({"a": _pe([0, 0], {0})})
    with pytest.raises(BenchError, match="entries"):
        worst_case({"a": (torch.tensor([0, 1]), torch.tensor([True]))})
    with pytest.raises(ValueError):
        worst_case({})


def test_worst_case_for_model_reads_safetensors(results: Path) -> None:
    out = worst_case_for_model(results, "ModelA", ["pgd", "cw"])
    assert (out["value"], out["count"], out["n"]) == (2 / 3, 2, 3)
    with pytest.raises(BenchError, match="missing per-example"):
        worst_case_for_model(results, "ModelA", ["nope"])


# --- the report model ----------------------------------------------------------------------

def _fig(results: Path, model: str, key: str):
    return build(results).row(model).figure(key)


def test_report_model(results: Path) -> None:
    report = build(results)
    assert [r.model for r in report.rows] == RANKED  # ranked by the worst case, not run.json's order
    assert report.labels == ["Benign", "PGD", "CW", "Worst case"]  # transfer (after_others) is not a column
    assert [c.key for c in report.columns] == ["benign", "pgd", "cw", "worst_case"]
    (worst,) = report.worst_columns
    assert worst.attacks == ("pgd", "cw")  # default: the adversarial per-example attacks
    pgd = report.row("ModelA").figure("pgd")
    assert (pgd.value, pgd.n, pgd.count, pgd.reported, pgd.wall_time_s) == (0.75, 4, 3, 0.09, 2.5)
    assert (pgd.lo, pgd.hi) == clopper_pearson(3, 4)
    assert report.row("ModelB").figure("pgd").reported is None
    # worst case over shared indices {1,2,3}: A robust {1,2}; B pgd {3} & cw {3,4} -> {3}; C none
    assert [(r.figure("worst_case").value, r.figure("worst_case").n) for r in report.rows] == [(2 / 3, 3), (1 / 3, 3), (0.0, 3)]
    assert report.row("ModelB").name == "ModelB ⚠" and report.row("ModelA").name == "ModelA"
    assert report.row("ModelB").flags == (f"CW: {FLAG}",)
    assert report.clean_column is not None and report.clean_column.key == "benign"


def test_transfer_matrix(results: Path) -> None:
    (transfer,) = build(results).transfers
    assert transfer.label == "Transfer"
    assert transfer.sources == tuple(MODELS) and transfer.targets == ("ModelB", "ModelA")
    assert transfer.cell("ModelC", "ModelA").value == 0.5  # row = source, column = target
    assert transfer.cell("ModelA", "ModelB").value == 0.75 and transfer.common_n == 4
    cell = transfer.cell("ModelC", "ModelA")  # every error rate is a proportion of its n: it has its interval
    assert (cell.n, (cell.lo, cell.hi)) == (4, clopper_pearson(2, 4))


def test_a_transfer_table_says_each_sources_n_once_and_every_interval() -> None:
    from bench.report.model import Figure, Transfer
    from bench.report.text import transfer_grid

    def fig(k: int, n: int) -> Figure:
        lo, hi = clopper_pearson(k, n)
        return Figure(value=k / n, n=n, count=k, lo=lo, hi=hi)

    cells = {("A", "A"): fig(800, 800), ("A", "B"): fig(40, 800), ("B", "A"): fig(3, 30), ("B", "B"): fig(30, 30)}
    header, rows = transfer_grid(Transfer("t", "Transfer", ("A", "B"), ("A", "B"), cells))
    assert header == ["source \\ target", "A", "B"]
    assert rows[0] == ["A (n=800)", "1.000 [0.995, 1.000]", "0.050 [0.036, 0.067]"]  # three decimals from n = 736
    assert rows[1] == ["B (n=30)", "0.100 [0.02, 0.27]", "1.000 [0.88, 1.00]"]
    cells[("A", "B")] = fig(4, 80)  # n differs inside a row: said in each cell
    _, rows = transfer_grid(Transfer("t", "Transfer", ("A", "B"), ("A", "B"), cells))
    assert rows[0] == ["A", "1.000 [0.995, 1.000] (n=800)", "0.050 [0.01, 0.12] (n=80)"]


def test_the_resolved_suite_decides_columns_and_worst_case(results: Path) -> None:
    suite = yaml.safe_load((results / "suite.yaml").read_text())
    suite["leaderboard"] = {"columns": ["pgd", "benign"], "worst_case": ["benign", "pgd"]}
    (results / "suite.yaml").write_text(yaml.safe_dump(suite))
    report = build(results)
    assert report.labels == ["PGD", "Benign", "Worst case"]
    worst = {r.model: r.figure("worst_case").value for r in report.rows}
    assert worst == {"ModelA": 0.75, "ModelB": 0.0, "ModelC": 0.0}  # A: {0,1,2,3} & {0,1,2}
    assert [r.model for r in report.rows] == ["ModelA", "ModelC", "ModelB"]  # ties broken by clean accuracy


def _by_eps(results: Path) -> None:
    suite = yaml.safe_load((results / "suite.yaml").read_text())
    suite["leaderboard"] = {"worst_case": {"0.1": ["benign", "pgd"], "0.3": ["pgd", "cw"]}}
    (results / "suite.yaml").write_text(yaml.safe_dump(suite))


def test_worst_case_for_each_eps(results: Path) -> None:
    _by_eps(results)
    report = build(results)
    # each attack's own column stays; one worst-case column per eps after them, in the suite's order
    assert report.labels == ["Benign", "PGD", "CW", "Worst case @0.1", "Worst case @0.3"]
    assert [c.key for c in report.worst_columns] == ["worst_case@0.1", "worst_case@0.3"]
    low = {r.model: (r.figure("worst_case@0.1").value, r.figure("worst_case@0.1").n) for r in report.rows}
    assert low == {"ModelA": (0.75, 4), "ModelB": (0.0, 4), "ModelC": (0.0, 4)}
    high = {r.model: (r.figure("worst_case@0.3").value, r.figure("worst_case@0.3").n) for r in report.rows}
    assert high == {"ModelA": (2 / 3, 3), "ModelB": (1 / 3, 3), "ModelC": (0.0, 3)}
    # a missing cell leaves that eps's column empty, not the others
    (results / "cells" / "ModelC" / "benign.json").unlink()
    row = build(results).row("ModelC")
    assert row.figure("worst_case@0.1").missing and row.figure("worst_case@0.3").value == 0.0


def test_worst_case_for_each_eps_in_every_format(results: Path) -> None:
    import csv

    _by_eps(results)
    render(results)
    table = {r["model"]: r for r in csv.DictReader((results / "leaderboard.csv").open())}
    assert {"Worst case @0.1", "Worst case @0.1_n", "Worst case @0.3", "Worst case @0.3_n", "PGD"} <= set(table["ModelA"])
    assert float(table["ModelA"]["Worst case @0.1"]) == 0.75 and table["ModelA"]["Worst case @0.3_n"] == "3"
    doc = json.loads((results / "leaderboard.json").read_text())
    assert doc["worst_case"] == {"by_eps": {"0.1": {"label": "Worst case @0.1", "attacks": ["benign", "pgd"]},
                                            "0.3": {"label": "Worst case @0.3", "attacks": ["pgd", "cw"]}}}
    a = next(m for m in doc["models"] if m["model"] == "ModelA")
    ci = {k: dict(zip(("ci95_low", "ci95_high"), clopper_pearson(*k))) for k in ((3, 4), (2, 3))}
    assert a["worst_case"] == {"0.1": {"label": "Worst case @0.1", "value": 0.75, "n": 4, "reported": None, "verified_at_most": None, **ci[(3, 4)]},
                               "0.3": {"label": "Worst case @0.3", "value": 2 / 3, "n": 3, "reported": None, "verified_at_most": None, **ci[(2, 3)]}}
    text = (results / "leaderboard.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| Model"))
    assert "Worst @0.1 (n=4)" in header and "Worst @0.3 (n=3)" in header and "Benign (n=4)" in header
    assert "Ranked by Worst case @0.3, then Worst case @0.1, then Benign (highest first)." in text
    assert "Worst case @0.1 = right under every one of Benign, PGD" in " ".join(text.split())
    # the eps-0.3 table of the per-attack section carries that eps's worst case
    section = text.split("## L∞, ε = 0.3")[1].split("##")[0]
    assert "PGD" in section and "Worst case @0.3" in section and "Worst case @0.1" not in section
    page = (results / "leaderboard.html").read_text()
    _parse(page)
    assert "<th>Worst @0.1 (n=4)</th>" in page and "<th>Worst @0.3 (n=3)</th>" in page


def test_missing_results(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match=r"no results \(run `bench run SUITE` first\)"):
        render(tmp_path / "absent")
    (tmp_path / "empty" / "cells").mkdir(parents=True)
    with pytest.raises(BenchError, match="no results"):
        markdown_text(tmp_path / "empty")


# --- writers --------------------------------------------------------------------------------

class _Checker(HTMLParser):
    """Fails on mismatched tags and on anything fetched from elsewhere; collects text, links, images."""

    VOID = {"meta", "br", "hr", "img", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tables = 0
        self.text: list[str] = []
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tables += tag == "table"
        values = dict(attrs)
        assert tag != "link" and not (tag == "script" and "src" in values), (tag, values)
        if tag == "img":
            self.images.append(values["src"])
        if tag == "a":
            self.links.append(values["href"])
        assert not any(str(v).startswith(("http:", "https:", "//")) for v in values.values()), values
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    return checker


def test_render_all_formats(results: Path) -> None:
    import csv

    paths = render(results)
    names = [p.relative_to(results).as_posix() for p in paths]
    assert names[:4] == ["leaderboard.md", "leaderboard.csv", "leaderboard.json", "leaderboard.html"]
    assert {f"models/{m}.html" for m in MODELS} | {"plots/robust_accuracy_vs_eps.png", "plots/transfer_xfer.png"} == set(names[4:])
    assert not list(results.rglob(".*tmp"))

    table = list(csv.DictReader((results / "leaderboard.csv").open()))
    assert [r["model"] for r in table] == RANKED
    a = table[0]
    assert {"PGD", "PGD_n", "PGD_reported", "PGD_lo", "PGD_hi", "Worst case", "Worst case_n", "Worst case_lo"} <= set(a)
    assert (a["PGD"], a["PGD_n"], a["PGD_reported"]) == ("0.75", "4", "0.09")

    doc = json.loads((results / "leaderboard.json").read_text())
    assert doc["run"]["git_commit"] == "deadbeef"
    a = next(m for m in doc["models"] if m["model"] == "ModelA")
    lo, hi = clopper_pearson(3, 4)
    assert a["cells"]["pgd"] == {"label": "PGD", "value": 0.75, "n": 4, "reported": 0.09, "wall_time_s": 2.5,
                                 "examples_per_s": 1.6, "ci95_low": lo, "ci95_high": hi, "verified_at_most": None}
    lo, hi = clopper_pearson(2, 3)
    assert a["worst_case"] == {"value": 2 / 3, "n": 3, "reported": None, "verified_at_most": None, "ci95_low": lo, "ci95_high": hi}
    assert next(m for m in doc["models"] if m["model"] == "ModelB")["flags"] == [f"CW: {FLAG}"]
    (t,) = doc["transfer"]
    assert t["sources"] == MODELS and t["targets"] == ["ModelB", "ModelA"] and t["error_rate"][2] == [0.0, 0.5]

    page = (results / "leaderboard.html").read_text()
    checker = _parse(page)
    assert checker.tables >= 5
    assert "eps&lt;0.3 &amp; gradient masking" in page and FLAG not in page
    assert "ModelB ⚠" in "".join(checker.text)
    assert "0.750 [0.19, 0.99] (paper 0.09)" in page
    for target in checker.links + checker.images:  # every link and image resolves
        assert (results / target.split("#")[0]).exists() or target.startswith("../"), target
    model_page = _parse((results / "models" / "ModelA.html").read_text())
    assert "../leaderboard.html" in model_page.links


def test_markdown(results: Path) -> None:
    (path,) = render(results, ["md"])
    text = markdown_text(results)
    assert text == path.read_text(encoding="utf-8")
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| Model"))
    assert header.split("|")[1:-1] == [" Model    ", " Benign (n=4)       ", " Worst case (n=3)   ", " Flags   "]
    row_a = next(line for line in lines if line.startswith("| ModelA "))  # the headline row: no paper values
    assert "1.000 [0.40, 1.00] | 0.667 [0.09, 0.99]" in row_a and "paper" not in row_a
    assert any(line.startswith("| ModelB ⚠") and line.rstrip().endswith("| 1 [1]   |") for line in lines)
    assert "## L∞, ε = 0.3 (n=4)" in text and "## L2, ε = 1.5 (n=4)" in text and "## Clean inputs (n=4)" in text
    pgd = text.split("## L∞, ε = 0.3")[1]
    assert "| ModelA   | 0.750 [0.19, 0.99] (paper 0.09) |" in pgd
    assert "Worst case = right under every one of PGD, CW" in " ".join(text.split())  # the legend, wrapped
    assert "## Transfer: Transfer (n=4)" in text


def _widen(results: Path, count: int = 12) -> list[str]:
    """Add ``count`` PGD-like attacks with long labels to every model: a table of them all is far
    wider than a terminal."""
    labels = []
    for i in range(count):
        attack, label = f"pgd_{i}", f"PGD-variant-{i}@0.3"
        labels.append(label)
        for model, per in PER_EXAMPLE.items():
            index, robust = per["pgd"]
            _write(results / "cells" / model / f"{attack}.json",
                   {**_cell(model, "pgd", len(robust) / len(index), len(index)), "attack": attack, "label": label})
            save_file({"index": torch.tensor(index), "robust": torch.tensor([i in robust for i in index])},
                      str(results / "cells" / model / f"{attack}.safetensors"))
    return labels


def test_no_line_is_wider_than_120_and_wide_puts_every_column_in_one_table(results: Path) -> None:
    labels = _widen(results)
    text = markdown_text(results)
    assert max(len(line) for line in text.splitlines()) <= 120
    headers = [line for line in text.splitlines() if line.startswith("| Model")]
    assert all(any(label in h for h in headers) for label in labels) and len(headers) > 4
    wide = terminal_text(results, wide=True)
    one = next(line for line in wide.splitlines() if line.startswith("| Model"))  # the leaderboard, then timing
    assert all(label in one for label in labels) and len(one) > 120


def test_notes_are_wrapped_at_the_given_width(results: Path) -> None:
    path = results / "cells" / "ModelB" / "cw.json"
    evidence = "masking (gradients): " + " ".join(["21 zero input gradients of 100"] * 12)
    _write(path, {**json.loads(path.read_text()), "extra": {"flags": [evidence]}})
    assert max(len(line) for line in markdown_text(results).splitlines()) <= 120
    narrow = terminal_text(results, width=60)
    notes = narrow.split("Flags:")[1].split("##")[0].splitlines()
    assert len(notes) > 5 and max(len(line) for line in notes) <= 60
    assert notes[2].startswith("1. ModelB: CW: masking") and notes[3].startswith("   ")  # a list item, indented


def test_n_in_cell_when_it_varies(results: Path) -> None:
    path = results / "cells" / "ModelC" / "pgd.json"
    cell = json.loads(path.read_text())
    _write(path, {**cell, "n": 3})
    text = markdown_text(results)
    assert "## L∞, ε = 0.3\n" in text  # no shared n in the title
    pgd = text.split("## L∞, ε = 0.3")[1]
    header = next(line for line in pgd.splitlines() if line.startswith("| Model"))
    assert "| PGD " in header and "PGD (n=" not in header
    assert "0.750 [0.19, 0.99] (paper 0.09, n=4)" in pgd and "(n=3)" in pgd


def test_flag_evidence_goes_to_numbered_notes(results: Path) -> None:
    """A flagged row shows how many flags and their note numbers; the evidence is under the table."""
    path = results / "cells" / "ModelB" / "cw.json"
    cell = json.loads(path.read_text())
    evidence = "masking (gradients): 21 zero input gradients of 100; median norm 1.26e-06"
    _write(path, {**cell, "extra": {"flags": [FLAG, evidence]}})
    text = markdown_text(results)
    row_b = next(line for line in text.splitlines() if line.startswith("| ModelB"))
    assert row_b.rstrip().endswith("| 2 [1, 2] |") and "median" not in row_b
    assert f"1. ModelB: CW: {FLAG}" in text and f"2. ModelB: CW: {evidence}" in text
    wide = terminal_text(results, wide=True)
    assert f"CW: {FLAG} [1]; CW: masking (gradients) [2] |" in wide  # the wide table names the flags
    (page,) = [p for p in render(results, ["html"]) if p.name == "leaderboard.html"]
    assert "ModelB</a>: CW: masking (gradients): 21 zero input gradients of 100; median norm" in page.read_text(encoding="utf-8")
    assert f"<li>CW: {evidence}</li>" in (results / "models" / "ModelB.html").read_text(encoding="utf-8")
    (doc,) = render(results, ["json"])
    model_b = next(m for m in json.loads(doc.read_text())["models"] if m["model"] == "ModelB")
    assert model_b["flags"] == [f"CW: {FLAG}", f"CW: {evidence}"]


def test_cells_of_an_older_checkpoint_are_flagged_stale(results: Path, tmp_path: Path) -> None:
    """After a model is retrained, its old cells must not pass for the shipped weights."""
    card_path = tmp_path / "zoo" / "model_a" / "card.yaml"
    card = yaml.safe_load(card_path.read_text())
    card["checkpoint"]["sha256"] = "12345678" + "0" * 56
    card_path.write_text(yaml.safe_dump(card))
    assert build(results).row("ModelA").flags == ()  # cells that record no checkpoint: nothing to say
    for attack in ("benign", "pgd"):
        path = results / "cells" / "ModelA" / f"{attack}.json"
        _write(path, {**json.loads(path.read_text()), "checkpoint_sha256": "abcdef01" + "0" * 56})
    path = results / "cells" / "ModelA" / "cw.json"
    _write(path, {**json.loads(path.read_text()), "checkpoint_sha256": card["checkpoint"]["sha256"]})
    assert build(results).row("ModelA").flags == (
        "Zoo: stale checkpoint: 2 of 4 cells computed on checkpoint abcdef01, the zoo's is now 12345678; bench run recomputes them",)
    row_a = next(line for line in markdown_text(results).splitlines() if line.startswith("| ModelA"))
    assert row_a.rstrip().endswith("| 1 [1]   |")  # ModelA ranks first: it holds note 1


def test_an_unbounded_attack_that_leaves_examples_unbroken_is_flagged(results: Path) -> None:
    """CW with no budget must break every example: what it leaves is an attack failure, said beside
    the number; a budgeted attack (PGD at eps 0.3) that leaves examples is not flagged."""
    def set_cell(attack: str, count: int, threat: dict) -> None:
        path = results / "cells" / "ModelA" / f"{attack}.json"
        _write(path, {**json.loads(path.read_text()), "count": count, "value": count / 4, "n": 4, "threat": threat})

    set_cell("pgd", 3, {"norm": "linf", "eps": 0.3})
    set_cell("cw", 0, {"norm": "l2", "eps": None})
    assert build(results).row("ModelA").flags == ()
    set_cell("cw", 1, {"norm": "l2", "eps": None})
    (flag,) = build(results).row("ModelA").flags
    assert flag.startswith("CW: unbounded attack failed: 1 of 4 examples not broken with no distortion limit")
    wide = terminal_text(results, wide=True)
    row_a = next(line for line in wide.splitlines() if line.startswith("| ModelA"))
    assert "CW: unbounded attack failed [" in row_a and "gradient masking" not in row_a


def test_clean_accuracy_on_the_whole_test_set_keeps_four_decimals(results: Path) -> None:
    """0.9898 on 10,000 images must not read as 0.990 beside a 0.990 target; n=4 keeps three."""
    path = results / "cells" / "ModelA" / "benign.json"
    _write(path, {**json.loads(path.read_text()), "value": 0.9898, "n": 10000, "count": 9898})
    text = markdown_text(results)
    clean = text.split("## Clean inputs")[1].split("##")[0]
    row_a = next(line for line in clean.splitlines() if line.startswith("| ModelA"))
    assert "| 0.9898 [0.9876, 0.9917] (paper 0.9905, n=10000) |" in row_a and "0.990 " not in row_a
    pgd = text.split("## L∞, ε = 0.3")[1]
    assert "| 0.750 [0.19, 0.99] (paper 0.09" in pgd


def test_paper_values_are_keyed_by_attack_id_so_a_relabelled_column_keeps_them(results: Path) -> None:
    suite = yaml.safe_load((results / "suite.yaml").read_text())
    suite["attacks"][1]["label"] = "PGD (renamed)"
    (results / "suite.yaml").write_text(yaml.safe_dump(suite))
    for model in MODELS:
        path = results / "cells" / model / "pgd.json"
        _write(path, {**json.loads(path.read_text()), "label": "PGD (renamed)"})
    report = build(results)
    assert "PGD (renamed)" in report.labels and report.row("ModelA").figure("pgd").reported == 0.09


def test_unknown_format(results: Path) -> None:
    with pytest.raises(BenchError, match="unknown report format 'pdf' \\(known: md, csv, json, html"):
        render(results, ["pdf"])
    assert render(results, ["csv"]) == [results / "leaderboard.csv"]


def test_html_draws_each_interval_as_an_error_bar_and_sorts_inline(results: Path) -> None:
    """Each proportion's 95% interval is an inline SVG bar on [0, 1] with the value as a dot; the
    headline table sorts by any column with a script in the page itself."""
    import re

    render(results, ["html"])
    page = (results / "leaderboard.html").read_text()
    lo, hi = clopper_pearson(3, 4)
    bars = re.findall(r'<svg class="ci"[^>]*aria-label="95% interval ([0-9.]+) to ([0-9.]+)">(.*?)</svg>', page)
    assert (f"{lo:.3f}", f"{hi:.3f}") in [(a, b) for a, b, _ in bars]  # ModelA's PGD, 3 of 4
    width = 80 - 4
    x1, x2 = (float(v) for v in re.search(rf'aria-label="95% interval {lo:.3f} to {hi:.3f}">.*?class="bar" x1="([0-9.]+)" y1="[0-9.]+" x2="([0-9.]+)"', page).groups())
    assert x1 == pytest.approx(2 + lo * width, abs=0.06) and x2 == pytest.approx(2 + hi * width, abs=0.06)
    assert '<table class="headline sortable">' in page and "<script>" in page.split("<body>")[0]
    assert "http" not in page.split("<body>")[1]  # self-contained
    sort_keys = re.findall(r'<td data-sort="([^"]*)">', page.split('class="headline sortable"')[1].split("</table>")[0])
    assert sort_keys[:4] == ["ModelA", "1.0", repr(2 / 3), "0"]


def test_a_suite_that_is_another_suites_headline_shows_beside_it(results: Path) -> None:
    """mnist_robust declares `leaderboard.headline_for: [mnist_full]`; mnist_full's leaderboard then
    shows mnist_robust's worst case per model, with its interval and a link, so its own protocol
    columns are not read as the models' robustness."""
    import shutil

    robust = results.parent / "robust"
    shutil.copytree(results, robust)
    suite = yaml.safe_load((robust / "suite.yaml").read_text())
    suite["name"] = "robust_suite"
    suite.setdefault("leaderboard", {})["headline_for"] = ["fake"]
    (robust / "suite.yaml").write_text(yaml.safe_dump(suite))
    text = markdown_text(results)
    assert "## Robustness at reference strength: [robust_suite](../robust/leaderboard.md)" in text
    section = text.split("## Robustness at reference strength")[1]
    header = next(line for line in section.splitlines() if line.startswith("| Model "))
    row = next(line for line in section.splitlines() if line.startswith("| ModelA"))
    lo, hi = clopper_pearson(2, 3)
    assert f"0.667 [{lo:.2f}, {hi:.2f}]" in row and "(n=3)" in header  # every row's n is 3: said once, in the header
    render(results, ["html"])
    assert 'href="../robust/leaderboard.html"' in (results / "leaderboard.html").read_text()
    assert "Robustness at reference strength" not in markdown_text(robust)  # not its own headline


@pytest.mark.parametrize("count, n, text", [
    (0, 100, "0.000 [0.00, 0.04]"),
    (0, 1000, "0.000 [0.000, 0.004]"),
    (491, 1000, "0.491 [0.460, 0.522]"),
    (9898, 10000, "0.9898 [0.9876, 0.9917]"),
])
def test_interval_bounds_never_round_onto_the_value(count: int, n: int, text: str) -> None:
    from bench.report.model import Figure
    from bench.report.text import value_text

    lo, hi = clopper_pearson(count, n)
    fig = Figure(value=count / n, n=n, count=count, lo=lo, hi=hi)
    assert value_text(fig, paper=False) == text
    shown = [float(b) for b in text.split("[")[1].rstrip("]").split(", ")]
    assert shown[0] <= fig.value <= shown[1] and (count == 0 or shown[0] < fig.value) and (count == n or shown[1] > fig.value)


def test_interval_bounds_never_round_onto_their_value() -> None:
    """0 of n and n of n are where a bound lies closest to its value: printed with
    ``interval_digits(n)`` decimals it must still differ from it, for every n."""
    from bench.report.model import Figure
    from bench.report.text import interval_digits, interval_text
    from bench.stats import clopper_pearson

    for n in [*range(1, 2000), 7375, 7376, 9999, 10000, 60000]:
        d = interval_digits(n)
        _, hi = clopper_pearson(0, n)
        lo, _ = clopper_pearson(n, n)
        assert f"{hi:.{d}f}" != f"{0:.{d}f}" and f"{lo:.{d}f}" != f"{1:.{d}f}", n
        assert d == 2 or f"{clopper_pearson(0, n)[1]:.{d - 1}f}" == f"{0:.{d - 1}f}", n  # the fewest that do
    assert interval_text(Figure(value=1.0, n=817, count=817, lo=clopper_pearson(817, 817)[0], hi=1.0)) == " [0.995, 1.000]"


def test_extra_columns_that_are_proportions_carry_intervals_and_means_do_not() -> None:
    """A cascade's "robust after <member>" and a test error are proportions of the cell's n (the kind
    declares which fields are, ``AttackKind.proportion_fields``); a mean distortion is not."""
    from bench.report.reading import _is_proportion

    assert _is_proportion("cascade", "robust_after APGD-CE") and _is_proportion("benign", "error")
    assert not _is_proportion("lbfgs", "av_min_distortion") and not _is_proportion("cascade", "median_l2_fooled")
    assert not _is_proportion("no-such-kind", "robust_after X")
    committed = Path(__file__).resolve().parent.parent / "results" / "mnist_robust"
    fig = build(committed).row("MadrySmall").figure("cascade_e03.robust_after APGD-CE")
    count = round(fig.value * fig.n)
    assert fig.n == 1000 and (fig.lo, fig.hi) == pytest.approx(clopper_pearson(count, 1000))


def test_a_mean_or_median_distortion_carries_its_n_and_interval_from_the_stored_norms() -> None:
    """szegedy_mnist's L-BFGS av_min_distortion is a mean over the verified breaks (198 of AE400-10's
    200 examples), its median L2 a median: each gets the n it summarises and a t or order-statistic
    interval computed from the cell's l2 tensor, and gives its stored value back."""
    import torch

    from bench.results import ResultsStore
    from bench.stats import statistic_interval

    committed = Path(__file__).resolve().parent.parent / "results" / "szegedy_mnist"
    row = build(committed).row("AE400-10")
    t = ResultsStore(committed).read_tensors("AE400-10", "lbfgs")
    fooled = (t["ref_correct"] & ~t["robust"]).numpy()
    dist = t["l2"].double().numpy()[fooled] / 28
    mean = row.figure("lbfgs.av_min_distortion")
    assert mean.n == int(fooled.sum()) == 198 and mean.statistic == "mean"
    assert mean.value == pytest.approx(dist.mean(), rel=1e-6)
    assert (mean.lo, mean.hi) == pytest.approx(statistic_interval("mean", dist)) and mean.lo < mean.value < mean.hi
    median = row.figure("lbfgs.median_l2_fooled")
    assert median.statistic == "median" and median.lo <= median.value <= median.hi
    assert median.value == pytest.approx(float(t["l2"][torch.from_numpy(fooled)].median()), rel=1e-6)  # torch's: the lower middle


def test_a_transfer_rows_distortion_has_its_interval_from_the_source_cell() -> None:
    committed = Path(__file__).resolve().parent.parent / "results" / "mnist_full"
    (transfer,) = build(committed).transfers
    fig = transfer.distortion["Tanh16"]
    assert fig.statistic == "mean" and fig.n == transfer.row_n("Tanh16") == 988
    assert fig.lo < fig.value < fig.hi and fig.hi - fig.lo < 0.01
