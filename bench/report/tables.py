"""The report as data: leaderboard and transfer matrices (pandas) built from a results folder
(docs/formats.md), plus the text grids the markdown and HTML writers share so they agree."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bench.errors import BenchError
from bench.stats import proportion_interval
from bench.worst_case import eps_key, worst_case_for_model
from bench.zoo import all_cards

WORST = "Worst case"
FLAG = "⚠"
FLAG_LIST = "flag_list"  # leaderboard column: the flags of a row as a list (not written to CSV)
MISSING = "—"
DISTORTION = "Av. distortion"
DISTORTION_KEY = "Av. min. distortion"  # card ``reported`` key shown beside a source row's distortion
TIMING = ("wall_time_s", "examples_per_s")
CELL_META = ("kind", "label", "metric", "adversarial", "per_example")

Cells = dict[str, dict[str, dict[str, Any]]]  # model -> attack -> cell JSON
Attacks = dict[str, dict[str, Any]]  # attack id -> what is known of it


@dataclass(frozen=True)
class Column:
    """A leaderboard column: ``label`` is unique in the table, ``key`` matches card ``reported``."""

    attack: str
    label: str
    key: str
    metric: str


@dataclass(frozen=True)
class ExtraColumn:
    """Optional (``leaderboard.extra_columns``): a number from one attack's cells, beside the
    attack columns. ``field`` is a key of the cell's ``extra``, or ``error`` for 1 - value;
    ``label`` is unique in the table and matches card ``reported``."""

    label: str
    attack: str
    field: str


@dataclass(frozen=True)
class WorstColumn:
    """A worst-case column: right under every one of ``attacks`` (shared examples only).
    ``eps`` is the group key of the mapping form of ``leaderboard.worst_case`` (e.g. "0.1"), ``""``
    for the single column of the list form; ``label`` is "Worst case" or "Worst case @<eps>" and
    matches card ``reported``."""

    label: str
    eps: str
    attacks: tuple[str, ...]


@dataclass(frozen=True)
class Headline:
    """A sibling results folder whose suite declares ``leaderboard.headline_for: [<this suite>]``
    (mnist_robust for mnist_full): its worst-case columns per model, shown beside this leaderboard
    so that nobody reads this suite's columns as the models' robustness."""

    folder: str  # the folder's name, beside this one
    suite: str
    columns: tuple[str, ...]  # worst-case labels
    values: dict[str, dict[str, tuple[float, int, float, float]]]  # model -> label -> (value, n, lo, hi)


@dataclass
class Transfer:
    """One transfer attack: rows = source models (plus any noise/amplified rows), columns =
    target models; ``distortion`` = per-row average distortion and ``paper`` = the target card's
    ``reported["<label>: <source>"]`` (``paper_distortion``: the source card's
    ``reported["Av. min. distortion"]``), when the cells and cards have them."""

    attack: str
    label: str
    error_rate: pd.DataFrame
    n: pd.DataFrame
    distortion: pd.Series | None = None
    paper: pd.DataFrame | None = None
    paper_distortion: pd.Series | None = None


@dataclass
class Report:
    """Everything the writers need; ``leaderboard`` is indexed by model id."""

    results_dir: Path
    run: dict[str, Any]
    suite: dict[str, Any]
    columns: list[Column]
    worst_columns: list[WorstColumn]
    leaderboard: pd.DataFrame
    transfers: list[Transfer]
    extra_columns: list[ExtraColumn] = field(default_factory=list)
    origins: list[dict[str, Any]] = field(default_factory=list)  # each cell's provenance ({} if unrecorded)
    headlines: list[Headline] = field(default_factory=list)  # sibling results that are this suite's headline

    @property
    def worst_case(self) -> list[str] | dict[str, list[str]]:
        """The worst-case attacks as the suite gave them: a list (one column), or eps -> list."""
        if len(self.worst_columns) == 1 and self.worst_columns[0].eps == "":
            return list(self.worst_columns[0].attacks)
        return {w.eps: list(w.attacks) for w in self.worst_columns}

    @property
    def labels(self) -> list[str]:
        """Value columns in display order (attack columns, extra columns, then the worst-case
        column(s) if any)."""
        return [c.label for c in self.columns] + [e.label for e in self.extra_columns] + [w.label for w in self.worst_columns]

    def label_of(self, attack: str) -> str:
        return next((c.label for c in self.columns if c.attack == attack), attack)


def build(results_dir: Path) -> Report:
    """Read a results folder into a Report; no results at all is a user error."""
    results_dir = Path(results_dir)
    cells = _read_cells(results_dir)
    run = _read_json(results_dir / "run.json") if (results_dir / "run.json").is_file() else {}
    suite = _read_suite(results_dir / "suite.yaml")
    listed = [str(m) for m in (run.get("models") or [])]
    models = [m for m in listed if m in cells] + sorted(m for m in cells if m not in listed)
    attacks = _attacks(suite, cells, models)
    board = suite.get("leaderboard") or {}
    columns = _columns(board.get("columns"), attacks, results_dir)
    worst = _worst_columns(board.get("worst_case"), attacks, results_dir)
    extra = _extra_columns(board.get("extra_columns"), attacks, columns, results_dir, worst)
    cards = _zoo_cards()
    reported = {model: card.reported for model, card in cards.items()}
    checkpoints = {model: card.sha256 for model, card in cards.items() if card.sha256}
    frame = _leaderboard(results_dir, cells, models, columns, worst, reported, extra, checkpoints)
    origins = [dict(cells[m][a].get("provenance") or {}) for m in models for a in cells[m]]
    return Report(results_dir, run, suite, columns, worst, frame, _transfers(cells, models, attacks, reported), extra, origins,
                  _headlines(results_dir, str(suite.get("name", "")), models))


def _headlines(results_dir: Path, name: str, models: list[str]) -> list[Headline]:
    """Sibling results folders that declare themselves this suite's headline, read as reports."""
    out = []
    for other in sorted(p.parent for p in results_dir.parent.glob("*/suite.yaml")):
        if other == results_dir or not (other / "cells").is_dir():
            continue
        try:
            theirs = yaml.safe_load((other / "suite.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if name not in ((theirs.get("leaderboard") or {}).get("headline_for") or []):
            continue
        report = build(other)
        labels = tuple(w.label for w in report.worst_columns)
        values = {}
        for model, row in report.leaderboard.iterrows():
            if model in models:
                values[str(model)] = {label: (row[label], row[f"{label}_n"], row[f"{label}_lo"], row[f"{label}_hi"]) for label in labels}
        out.append(Headline(other.name, str(theirs.get("name", other.name)), labels, values))
    return out


def headline_grid(headline: Headline) -> Grid:
    """Model, then each worst-case column of the headline suite with its interval and n."""
    header = ["Model"] + list(headline.columns)
    rows = []
    for model, cols in headline.values.items():
        texts = [model]
        for label in headline.columns:
            value, n, lo, hi = cols[label]
            texts.append(MISSING if pd.isna(value) else f"{fmt(value)}{interval_text(lo, hi)} (n={n})")
        rows.append(texts)
    return header, rows


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: expected a JSON object")
    return data


def _read_suite(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BenchError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    return data if isinstance(data, dict) else {}


def _read_cells(results_dir: Path) -> Cells:
    """model -> attack -> cell JSON; a cell is complete when its JSON exists."""
    cells: Cells = {}
    for path in sorted((results_dir / "cells").glob("*/*.json")):
        cells.setdefault(path.parent.name, {})[path.stem] = _read_json(path)
    if not cells:
        raise BenchError(f"{results_dir}: no results (run `bench run SUITE` first)")
    return cells


def _attacks(suite: dict[str, Any], cells: Cells, models: list[str]) -> Attacks:
    """Attack id -> what is known of it (suite entry, overlaid by its cells), first-seen order."""
    attacks: Attacks = {}
    for entry in suite.get("attacks") or []:
        if isinstance(entry, dict) and "id" in entry:
            attacks[str(entry["id"])] = dict(entry)
    for model in models:
        for attack, cell in cells[model].items():
            info = attacks.setdefault(attack, {})
            info.update({k: cell[k] for k in CELL_META if k in cell})
    return attacks


def _unknown(ids: list[str], attacks: Attacks, key: str, results_dir: Path) -> None:
    unknown = [a for a in ids if a not in attacks]
    if unknown:
        where = results_dir / "suite.yaml"
        raise BenchError(f"{where}: leaderboard.{key}: unknown attack(s) {', '.join(unknown)}")


def _columns(ids: Any, attacks: Attacks, results_dir: Path) -> list[Column]:
    if ids is None:
        ids = [a for a, info in attacks.items() if info.get("kind") != "transfer"]
    ids = [str(a) for a in ids]
    _unknown(ids, attacks, "columns", results_dir)
    keys = [str(attacks[a].get("label") or a) for a in ids]
    columns = []
    for attack, key in zip(ids, keys):
        clash = keys.count(key) > 1 or key == WORST or key.startswith(f"{WORST} @")
        label = f"{key} [{attack}]" if clash else key
        columns.append(Column(attack, label, key, str(attacks[attack].get("metric", ""))))
    return columns


def _extra_columns(spec: Any, attacks: Attacks, columns: list[Column], results_dir: Path,
                   worst: list[WorstColumn] | None = None) -> list[ExtraColumn]:
    if not spec:
        return []
    where = f"{results_dir / 'suite.yaml'}: leaderboard.extra_columns"
    if not isinstance(spec, list) or not all(isinstance(e, dict) for e in spec):
        raise BenchError(f"{where}: must be a list of {{label, attack, field}} mappings")
    out = [ExtraColumn(str(e.get("label") or e.get("field")), str(e.get("attack")), str(e.get("field"))) for e in spec]
    _unknown([e.attack for e in out], attacks, "extra_columns", results_dir)
    labels = [c.label for c in columns] + [e.label for e in out] + [WORST] + [w.label for w in worst or [] if w.eps]
    clash = sorted({label for label in labels if labels.count(label) > 1})
    if clash:
        raise BenchError(f"{where}: label(s) {', '.join(clash)} already used")
    return out


def _extra_value(cell: dict[str, Any], column: ExtraColumn) -> float:
    if not cell:
        return math.nan
    if column.field == "error":
        return 1.0 - _number(cell.get("value"))
    return _number((cell.get("extra") or {}).get(column.field))


def _worst_columns(spec: Any, attacks: Attacks, results_dir: Path) -> list[WorstColumn]:
    """``leaderboard.worst_case`` of the resolved suite: absent (default: every adversarial
    per-example attack, one column), a list (one column) or a mapping eps -> list (one column per
    eps, in the suite's order)."""
    if spec is None:
        ids = [a for a, info in attacks.items() if info.get("adversarial") and info.get("per_example")]
        return [WorstColumn(WORST, "", tuple(ids))] if ids else []
    where = f"{results_dir / 'suite.yaml'}: leaderboard.worst_case"
    if isinstance(spec, list):
        return [WorstColumn(WORST, "", tuple(_worst_ids(spec, attacks, results_dir, "worst_case")))] if spec else []
    if not isinstance(spec, dict):
        raise BenchError(f"{where}: must be a list of attack ids or a mapping from eps to lists of attack ids")
    out = []
    for key, ids in spec.items():
        eps = eps_key(key)
        if eps is None or not isinstance(ids, list) or not ids:
            raise BenchError(f"{where}: {key!r}: must map an eps (a number > 0) to a non-empty list of attack ids")
        out.append(WorstColumn(f"{WORST} @{eps}", eps, tuple(_worst_ids(ids, attacks, results_dir, f"worst_case.{eps}"))))
    return out


def _worst_ids(ids: list[Any], attacks: Attacks, results_dir: Path, key: str) -> list[str]:
    ids = [str(a) for a in ids]
    _unknown(ids, attacks, key, results_dir)
    aggregate_only = [a for a in ids if attacks[a].get("per_example") is False]
    if aggregate_only:
        raise BenchError(
            f"{results_dir / 'suite.yaml'}: leaderboard.{key}: {', '.join(aggregate_only)} "
            "have no per-example results"
        )
    return ids


def _zoo_cards() -> dict[str, Any]:
    """The zoo's cards, read once per report: paper values and current checkpoints. An unreadable
    zoo only costs those (no "paper" values, no stale-checkpoint flags)."""
    try:
        return dict(all_cards())
    except (BenchError, OSError):
        return {}


def _stale(cells: dict[str, dict[str, Any]], sha: str | None) -> list[str]:
    """A flag when cells were computed on another checkpoint than the zoo's card names now
    (the model was retrained after the run): their numbers describe weights no longer shipped."""
    old = [c for c in cells.values() if sha and c.get("checkpoint_sha256") not in (None, sha)]
    if not old:
        return []
    was = sorted({str(c["checkpoint_sha256"])[:8] for c in old})
    return [f"Zoo: stale checkpoint: {len(old)} of {len(cells)} cells computed on checkpoint {', '.join(was)}, "
            f"the zoo's is now {sha[:8]}; bench run recomputes them"]


def _unbounded_failures(cells: dict[str, dict[str, Any]]) -> list[str]:
    """A flag per attack with no distortion budget (CW, BSA) that left examples unbroken.

    Why: with no budget an attack can always move an image to one the model assigns another class
    (unless the model never predicts one), so every example it could not break is a failure of the
    attack, typically gradient masking, not robustness (Carlini et al. 2019, "On Evaluating
    Adversarial Robustness": unbounded attacks must reach 100% success). The column stays as
    measured, since it is the protocol's number; the flag says how to read it."""
    flags = []
    for attack, cell in cells.items():
        threat = cell.get("threat") or {}
        count, n = cell.get("count"), cell.get("n")
        if not cell.get("adversarial") or cell.get("metric") != "robust_accuracy" or "eps" not in threat:
            continue
        if threat["eps"] is None and isinstance(count, int) and count > 0:
            flags.append(f"{cell.get('label') or attack}: unbounded attack failed: {count} of {n} examples not broken with "
                         f"no distortion limit, an attack failure (e.g. gradient masking), not robustness (see the "
                         f"adaptive attacks of suites/mnist_adaptive.yaml)")
    return flags


def _number(value: Any) -> float:
    """A float, or NaN for anything that is not a real number (missing, null, text, bool)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _flags(cells: dict[str, dict[str, Any]]) -> list[str]:
    """Hook for masking checks: ``extra.flags`` / ``extra.masking`` (text or list of text) per cell."""
    flags = []
    for attack, cell in cells.items():
        extra = cell.get("extra") or {}
        for key in ("flags", "masking"):
            value = extra.get(key)
            items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            flags += [f"{cell.get('label') or attack}: {item}" for item in items if isinstance(item, str)]
    return list(dict.fromkeys(flags))


def _leaderboard(
    results_dir: Path,
    cells: Cells,
    models: list[str],
    columns: list[Column],
    worst: list[WorstColumn],
    reported: dict[str, dict[str, Any]],
    extra: list[ExtraColumn] | None = None,
    checkpoints: dict[str, str] | None = None,
) -> pd.DataFrame:
    extra = extra or []
    rows = []
    for model in models:
        flags = _stale(cells[model], (checkpoints or {}).get(model)) + _flags(cells[model]) + _unbounded_failures(cells[model])
        row: dict[str, Any] = {"model": model, "name": f"{model} {FLAG}" if flags else model}
        paper = reported.get(model, {})
        for col in columns:
            cell = cells[model].get(col.attack, {})
            row[col.label] = _number(cell.get("value"))
            row[f"{col.label}_n"] = cell.get("n")
            _interval(row, col.label, cell.get("value"), cell.get("n"), cell.get("count"))
            row[f"{col.label}_reported"] = _number(paper.get(col.key))
            for key in TIMING:
                row[f"{col.label}_{key}"] = _number(cell.get(key))
        for ext in extra:
            cell = cells[model].get(ext.attack, {})
            row[ext.label] = _extra_value(cell, ext)
            row[f"{ext.label}_n"] = cell.get("n")
            row[f"{ext.label}_reported"] = _number(paper.get(ext.label))
        for group in worst:
            done = all(a in cells[model] for a in group.attacks)
            result = worst_case_for_model(results_dir, model, list(group.attacks)) if done else {}
            row[group.label] = _number(result.get("value"))
            row[f"{group.label}_n"] = result.get("n")
            _interval(row, group.label, result.get("value"), result.get("n"), result.get("count"))
            row[f"{group.label}_reported"] = _number(paper.get(group.label))
        row["flags"] = "; ".join(flags)
        row[FLAG_LIST] = flags  # the items themselves: evidence text may contain "; "
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("model")
    n_columns = [f"{label}_n" for label in [c.label for c in columns] + [e.label for e in extra] + [w.label for w in worst]]
    frame[n_columns] = frame[n_columns].astype("Int64")
    return frame


def _interval(row: dict[str, Any], label: str, value: Any, n: Any, count: Any) -> None:
    """``<label>_lo`` / ``<label>_hi``: the 95% Clopper-Pearson interval of a proportion (NaN for
    a figure that is not one, or missing)."""
    ci = proportion_interval(value if isinstance(value, (int, float)) else None, n if isinstance(n, int) else None,
                             count if isinstance(count, int) else None)
    row[f"{label}_lo"], row[f"{label}_hi"] = ci if ci else (math.nan, math.nan)


def _transfers(cells: Cells, models: list[str], attacks: Attacks, reported: dict[str, dict[str, Any]] | None = None) -> list[Transfer]:
    reported = reported or {}
    out = []
    for attack, info in attacks.items():
        by_target = {
            m: (cells[m][attack].get("extra") or {}).get("sources") or {}
            for m in models
            if attack in cells[m] and cells[m][attack].get("kind") == "transfer"
            and cells[m][attack].get("per_example") is False
        }
        if not by_target:
            continue
        named = list(dict.fromkeys(str(s) for sources in by_target.values() for s in sources))  # first seen
        sources = [m for m in models if m in named] + [s for s in named if s not in models]
        rate = pd.DataFrame(
            math.nan, index=pd.Index(sources, name="source"), columns=pd.Index(list(by_target), name="target")
        )
        n = pd.DataFrame(pd.NA, index=rate.index, columns=rate.columns, dtype="Int64")
        dist = pd.Series(math.nan, index=rate.index, dtype=float)
        label = str(info.get("label") or attack)
        paper = rate.copy() * math.nan
        for target, entries in by_target.items():
            for source, entry in entries.items():
                entry = entry if isinstance(entry, dict) else {}
                rate.loc[str(source), target] = _number(entry.get("error_rate"))
                n.loc[str(source), target] = entry.get("n")
                if math.isnan(dist[str(source)]):
                    dist[str(source)] = _number(entry.get("av_distortion"))
            for source in sources:
                paper.loc[source, target] = _number(reported.get(target, {}).get(f"{label}: {source}"))
        paper_dist = pd.Series([_number(reported.get(s, {}).get(DISTORTION_KEY)) for s in sources], index=rate.index, dtype=float)
        out.append(Transfer(attack, label, rate, n, dist if dist.notna().any() else None,
                            paper if paper.notna().any().any() else None, paper_dist if paper_dist.notna().any() else None))
    return out


# --- text grids shared by the markdown and HTML writers -------------------------------------

Grid = tuple[list[str], list[list[str]]]


def fmt(value: Any, digits: int = 3) -> str:
    return MISSING if pd.isna(value) else f"{value:.{digits}f}"


def _common_n(series: pd.Series) -> int | None:
    """The single n shared by every row that has one, so it can go in the header instead."""
    values = series.dropna().unique()
    return int(values[0]) if len(values) == 1 else None


def _digits(n: Any) -> int:
    """Four decimals where n >= 10,000 resolves them (clean accuracy on the whole test set), so a
    0.9898 is not shown as the 0.990 a target asks for; three elsewhere."""
    return 4 if not pd.isna(n) and int(n) >= 10_000 else 3


def interval_text(lo: Any, hi: Any, digits: int = 2) -> str:
    """' [0.05, 0.16]', or '' without an interval: two decimals below n = 10,000 (an interval
    there is wider than 0.01), four on the whole test set (``_digits``)."""
    return "" if pd.isna(lo) or pd.isna(hi) else f" [{lo:.{digits}f}, {hi:.{digits}f}]"


def _value_text(value: Any, paper: Any, n: Any, digits: int = 3, lo: Any = math.nan, hi: Any = math.nan) -> str:
    notes = ([] if pd.isna(paper) else [f"paper {paper:g}"]) + ([] if pd.isna(n) else [f"n={n}"])
    return fmt(value, digits) + interval_text(lo, hi, 4 if digits >= 4 else 2) + (f" ({', '.join(notes)})" if notes else "")


def has_flags(report: Report) -> bool:
    return bool((report.leaderboard["flags"] != "").any())


def short_flag(flag: str) -> str:
    """A flag's name without its evidence, so a flagged row stays one line tall.

    Flags read "<attack>: <check>: <evidence>"; the evidence goes to the numbered notes under the
    table (``flag_notes``). A flag without evidence ("<attack>: <text>") is kept whole.
    """
    head, sep, _ = flag.rpartition(": ")
    return head if sep and ": " in head else flag


def flag_notes(report: Report) -> list[tuple[int, str, str]]:
    """(number, model, full flag text), numbered in leaderboard row order."""
    notes: list[tuple[int, str, str]] = []
    for model, row in report.leaderboard.iterrows():
        for flag in row[FLAG_LIST]:
            notes.append((len(notes) + 1, str(model), flag))
    return notes


def _flag_cells(report: Report) -> dict[str, str]:
    cells: dict[str, list[str]] = {}
    for number, model, flag in flag_notes(report):
        cells.setdefault(model, []).append(f"{short_flag(flag)} [{number}]")
    return {model: "; ".join(items) for model, items in cells.items()}


def leaderboard_grid(report: Report) -> Grid:
    """Measured value with the card's reported one beside it; n in the header when shared."""
    frame = report.leaderboard
    common = {label: _common_n(frame[f"{label}_n"]) for label in report.labels}
    header = ["Model"] + [label if n is None else f"{label} (n={n})" for label, n in common.items()]
    flags = _flag_cells(report)
    rows = []
    for model, row in frame.iterrows():
        texts = [str(row["name"])]
        for label in report.labels:
            n = row[f"{label}_n"] if common[label] is None else pd.NA
            texts.append(_value_text(row[label], row[f"{label}_reported"], n, _digits(row[f"{label}_n"]),
                                     row.get(f"{label}_lo", math.nan), row.get(f"{label}_hi", math.nan)))
        rows.append(texts + ([flags.get(str(model), "")] if has_flags(report) else []))
    return header + (["Flags"] if has_flags(report) else []), rows


def timing_grid(report: Report) -> Grid:
    frame = report.leaderboard
    header = ["Model"] + [c.label for c in report.columns]
    rows = []
    for _, row in frame.iterrows():
        texts = [str(row["name"])]
        for col in report.columns:
            wall, rate = row[f"{col.label}_wall_time_s"], row[f"{col.label}_examples_per_s"]
            texts.append(MISSING if pd.isna(wall) else f"{wall:.1f} s ({fmt(rate, 1)}/s)")
        rows.append(texts)
    return header, rows


def transfer_grid(transfer: Transfer) -> Grid:
    """Error rates, rows = sources; n in the cell only when it varies."""
    common = _common_n(transfer.n.stack())
    header = ["source \\ target"] + [str(t) for t in transfer.error_rate.columns]
    header += [] if transfer.distortion is None else [DISTORTION]
    rows = []
    for source in transfer.error_rate.index:
        texts = [str(source)]
        for target in transfer.error_rate.columns:
            n = transfer.n.loc[source, target]
            paper = math.nan if transfer.paper is None else transfer.paper.loc[source, target]
            notes = ([] if pd.isna(paper) else [f"paper {paper:g}"]) + ([] if common is not None or pd.isna(n) else [f"n={n}"])
            rate = fmt(transfer.error_rate.loc[source, target])
            texts.append(rate + (f" ({', '.join(notes)})" if notes else ""))
        if transfer.distortion is not None:
            paper = math.nan if transfer.paper_distortion is None else transfer.paper_distortion.loc[source]
            texts.append(fmt(transfer.distortion.loc[source]) + ("" if pd.isna(paper) else f" (paper {paper:g})"))
        rows.append(texts)
    return header, rows


def transfer_title(transfer: Transfer) -> str:
    common = _common_n(transfer.n.stack())
    return f"Transfer: {transfer.label}" + ("" if common is None else f" (n={common})")


def legend(report: Report) -> str:
    parts = [
        "Accuracy on the n evaluated examples (clean accuracy for benign inputs, robust accuracy under "
        "attack); [lo, hi] = its exact (Clopper-Pearson) 95% interval; (paper x) = the value the model's source "
        "reports (model card)"
    ]
    usual = ("", "robust_accuracy", "clean_accuracy")
    odd = [f"{c.label} = {c.metric}" for c in report.columns if c.metric not in usual]
    if odd:
        parts.append("metrics: " + ", ".join(odd))
    for group in report.worst_columns:
        attacks = ", ".join(map(report.label_of, group.attacks))
        parts.append(f"{group.label} = right under every one of {attacks} (shared examples only)")
    if has_flags(report):
        parts.append(f"{FLAG} = flagged, see Flags and the numbered notes below the table")
    for ext in report.extra_columns:
        what = "1 - value" if ext.field == "error" else f"extra.{ext.field}"
        parts.append(f"{ext.label} = {what} of {report.label_of(ext.attack)}")
    if report.transfers:
        parts.append("Transfer = error rate of the target on adversarial examples crafted on the source")
    if any(t.distortion is not None for t in report.transfers):
        parts.append(f"{DISTORTION} = mean sqrt(sum((x'-x)^2)/pixels) of the row's inputs")
    parts.append(f"{MISSING} = not run")
    return "; ".join(parts) + "."


def _invocations(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The computing runs recorded in run.json (a single-run file counts as one)."""
    if isinstance(run.get("invocations"), list):
        return [i for i in run["invocations"] if isinstance(i, dict)]
    return [run] if run.get("started") else []


def _span(values: list[str], what: str) -> str:
    """'a' or 'a .. b (k <what>)' for values in the order first seen."""
    distinct = list(dict.fromkeys(v for v in values if v))
    if len(distinct) <= 1:
        return distinct[0] if distinct else ""
    return f"{distinct[0]} .. {distinct[-1]} ({len(distinct)} {what})"


def provenance(report: Report) -> list[tuple[str, str]]:
    """(field, text) pairs for humans: the suite, then who computed the cells (per-cell records;
    for cells older than those, the runs recorded in run.json), in a fixed order."""
    run = report.run
    suite = run.get("suite") if isinstance(run.get("suite"), dict) else {}
    name = suite.get("name", report.suite.get("name", "?"))
    version = suite.get("version", report.suite.get("version", "?"))
    runs = _invocations(run)
    recorded = sorted((o for o in report.origins if o), key=lambda o: str(o.get("computed_at", "")))
    unrecorded = len(report.origins) - len(recorded)
    commits = [str(o.get("git_commit", ""))[:12] for o in recorded] + [str(r.get("git_commit", ""))[:12] for r in runs if unrecorded]
    machines = [str(o.get("machine", "")) for o in recorded]
    times = [str(o.get("computed_at", "")) for o in recorded] + [str(r.get(k, "")) for r in runs for k in ("started", "finished") if unrecorded]
    times = sorted(t for t in times if t)
    latest = recorded[-1] if recorded else (runs[-1] if runs else {})
    packages = latest.get("packages") if isinstance(latest.get("packages"), dict) else {}
    pairs = [
        ("suite", f"{name} v{version}"),
        ("suite sha256", str(suite.get("sha256", ""))),
        ("cells", f"{len(report.origins)}" + (f" ({unrecorded} computed before per-cell provenance)" if unrecorded and recorded else "")),
        ("git commits", _span(commits, "commits")),
        ("machines", _span(machines, "machines")),
        ("devices", ", ".join(dict.fromkeys(str(o.get("device", "")) for o in [*recorded, *runs] if o.get("device")))),
        ("computed", f"{times[0]} .. {times[-1]}" if len(times) > 1 else (times[0] if times else "")),
        ("packages (latest cell)", ", ".join(f"{k} {v}" for k, v in packages.items())),
        ("seed", str(run.get("seed", ""))),
    ]
    return [(k, v) for k, v in pairs if v]
