"""The report model: typed per-cell records (value, n, interval, paper value) per model, the
columns they belong to, transfer matrices and flags. Built by ``bench.report.reading``; every
writer renders from these records alone, so no writer re-reads a cell or re-derives a number."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORST = "Worst case"


@dataclass(frozen=True)
class Figure:
    """One number of the report: ``value`` of ``n`` examples (``count`` of them when it is a
    proportion), its 95% interval ``lo``..``hi`` (Clopper-Pearson for a proportion; for a mean or
    median of per-example values, ``statistic``, the t or order-statistic one; None when there is
    none), and the card's ``reported`` value. Missing numbers are None, never NaN."""

    value: float | None = None
    n: int | None = None
    count: int | None = None
    lo: float | None = None
    hi: float | None = None
    reported: float | None = None
    wall_time_s: float | None = None
    examples_per_s: float | None = None
    statistic: str = ""  # "mean" or "median" of per-example values; "" for a proportion
    # the robust accuracy a current audit's verified breaks (``bench audit``) prove, where it broke an
    # example this figure counts robust; None otherwise
    verified_at_most: float | None = None

    @property
    def missing(self) -> bool:
        return self.value is None

    @property
    def has_interval(self) -> bool:
        return self.lo is not None and self.hi is not None


MISSING_FIGURE = Figure()


@dataclass(frozen=True)
class Threat:
    """The perturbation budget of a column, as its cells record it (``norm`` linf|l2, ``eps``
    None for an unbounded attack); ``adversarial`` False for random perturbations."""

    norm: str | None
    eps: float | None
    adversarial: bool

    @property
    def clean(self) -> bool:
        return self.eps == 0.0


@dataclass(frozen=True)
class Column:
    """A value column. ``key`` is the card ``reported`` key (the attack id, ``<id>.<field>`` for
    an extra column, ``worst_case[@eps]`` for a worst case); ``label`` is unique in the table."""

    key: str
    label: str
    attack: str  # the attack whose cells give the number (the first one for a worst case)
    metric: str = ""
    threat: Threat | None = None
    role: str = "attack"  # attack | extra | worst
    field: str = ""  # extra columns: a key of the cell's ``extra``, or ``error`` (1 - value)
    kind: str = ""  # extra columns: the attack's kind (which says how its fields summarise the examples)
    eps: str = ""  # worst-case columns: the eps group ("" for the list form)
    attacks: tuple[str, ...] = ()  # worst-case columns: every attack the example must survive


@dataclass(frozen=True)
class Row:
    """One model: a Figure per column key, and its flags (each "<attack>: <check>: <evidence>")."""

    model: str
    figures: dict[str, Figure]
    flags: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.model} ⚠" if self.flags else self.model

    def figure(self, key: str) -> Figure:
        return self.figures.get(key, MISSING_FIGURE)


@dataclass(frozen=True)
class Transfer:
    """A matrix-layout attack (its kind reads other cells): rows = sources (plus noise or
    amplified rows), columns = targets; ``distortion`` per row with the source card's paper value."""

    attack: str
    label: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    cells: dict[tuple[str, str], Figure]  # (source, target): the error rate, its n and interval
    distortion: dict[str, Figure] | None = None

    def cell(self, source: str, target: str) -> Figure:
        return self.cells.get((source, target), MISSING_FIGURE)

    @property
    def common_n(self) -> int | None:
        ns = {c.n for c in self.cells.values() if c.n is not None}
        return ns.pop() if len(ns) == 1 else None

    def row_n(self, source: str) -> int | None:
        """The n every figure of a source's row shares (its adversarial examples), else None."""
        ns = {self.cell(source, t).n for t in self.targets} - {None}
        return ns.pop() if len(ns) == 1 else None


@dataclass(frozen=True)
class Headline:
    """A sibling results folder whose suite declares ``leaderboard.headline_for: [<this suite>]``
    (mnist_robust for mnist_full): its worst-case figures per model, shown beside this leaderboard
    so that nobody reads this suite's protocol columns as the models' robustness."""

    folder: str
    suite: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Report:
    """Everything the writers need. ``rows`` are in ranking order (see ``reading.rank``)."""

    results_dir: Path
    name: str
    run: dict[str, Any]
    suite: dict[str, Any]
    columns: tuple[Column, ...]  # attack columns, extra columns, worst-case columns
    rows: tuple[Row, ...]
    transfers: tuple[Transfer, ...] = ()
    headlines: tuple[Headline, ...] = ()
    origins: tuple[dict[str, Any], ...] = ()  # each cell's provenance ({} if unrecorded)
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> card data
    # existing images per model, as paths relative to ``results_dir`` (the masking check's
    # security curve under plots/, the analysis galleries of ``bench analyze --results``)
    security_curves: dict[str, str] = field(default_factory=dict)
    galleries: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # (model, cell label, what its audit found) of every current audit (``bench audit``), flagged or not
    audits: tuple[tuple[str, str, str], ...] = ()

    def of_role(self, role: str) -> list[Column]:
        return [c for c in self.columns if c.role == role]

    @property
    def worst_columns(self) -> list[Column]:
        return self.of_role("worst")

    @property
    def clean_column(self) -> Column | None:
        """The first attack column on unperturbed inputs (eps 0): the headline's Clean."""
        return next((c for c in self.of_role("attack") if c.threat is not None and c.threat.clean), None)

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.columns]

    def label_of(self, attack: str) -> str:
        return next((c.label for c in self.of_role("attack") if c.attack == attack), attack)

    def row(self, model: str) -> Row:
        return next(r for r in self.rows if r.model == model)

    @property
    def has_flags(self) -> bool:
        return any(r.flags for r in self.rows)


def number(value: Any) -> float | None:
    """A float, or None for anything that is not a finite real number (missing, null, text, bool)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
        return float(value)
    return None
