"""One architecture across results folders, side by side: a model and the cards that name it in
``variant_of`` (the same architecture, loss and recipe on another dataset), with the clean
accuracy and the per-example worst case at each L-inf eps each folder measured. What
docs/fashion-mnist.md quotes; the figures are the report model's, nothing is recomputed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.report import text
from bench.report.model import Column, Figure, Report
from bench.report.reading import build
from bench.zoo import all_cards


KEYS = 3  # Architecture, Results, Model: the columns that name a row, repeated when the table is split


@dataclass(frozen=True)
class Entry:
    """One model of one results folder: clean accuracy and worst case per eps."""

    folder: str
    dataset: str
    model: str
    clean: Figure
    worst: dict[float, Figure]


def _eps(report: Report, col: Column) -> float | None:
    """A worst-case column's eps: its group's, or (the list form) the one eps of its perturbed attacks."""
    if col.eps:
        return float(col.eps)
    found = {a.threat.eps for a in report.of_role("attack")
             if a.attack in col.attacks and a.threat is not None and a.threat.norm == "linf" and a.threat.eps}
    return found.pop() if len(found) == 1 else None


def entries(folder: Path) -> list[Entry]:
    report = build(folder)
    clean = report.clean_column
    worst = [(e, c) for c in report.worst_columns if (e := _eps(report, c)) is not None]
    dataset = str(report.suite.get("dataset") or "mnist")
    return [Entry(str(folder), dataset, row.model, row.figure(clean.key) if clean else Figure(),
                  {e: row.figure(c.key) for e, c in worst if not row.figure(c.key).missing}) for row in report.rows]


def collect(folders: list[Path]) -> list[Entry]:
    """Every model of every folder, in the folders' order."""
    return [e for f in folders for e in entries(f)]


def notes(rows: list[Entry]) -> list[str]:
    """The legend lines the table needs (an audit's bound, where a figure carries one)."""
    figures = [f for e in rows for f in (e.clean, *e.worst.values())]
    return [text.AUDITED_NOTE] if any(f.verified_at_most is not None for f in figures) else []


def grid(rows: list[Entry]) -> text.Grid:
    """Rows grouped by architecture (the original's id), in the order the originals first appear."""
    cards = all_cards()
    family = {e.model: (cards[e.model].variant_of or e.model) if e.model in cards else e.model for e in rows}
    order = list(dict.fromkeys(family[e.model] for e in rows))
    eps = sorted({x for e in rows for x in e.worst})
    header = ["Architecture", "Results", "Model", "Clean"] + [f"Worst @{x:g}" for x in eps]
    body = []
    for arch in order:
        for e in (e for e in rows if family[e.model] == arch):
            body.append([arch, f"{Path(e.folder).name} ({e.dataset})", e.model, text.value_text(e.clean, show_n=True, paper=False)]
                        + [text.value_text(e.worst[x], show_n=True, paper=False) if x in e.worst else text.MISSING for x in eps])
    return header, body
