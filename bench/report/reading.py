"""Reading a results folder into the report model: cells -> typed per-cell records.

The resolved suite in the folder (``suite.yaml``, written by the runner after bench.suite
validated it) is trusted as it is: its columns, worst cases and extra columns are not checked
again here. What a cell file does not say is left missing, never guessed."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.attacks import KINDS, get_kind
from bench.attacks.kinds.transfer import source_distortions
from bench.audit import describe, read_audits
from bench.errors import BenchError
from bench.report.flags import current_audits, model_flags
from bench.report.model import WORST, Column, Figure, Headline, Report, Row, Threat, Transfer, number
from bench.results import ResultsStore
from bench.stats import proportion_interval, statistic_interval
from bench.worst_case import worst_case_for_model
from bench.yaml_file import YamlFileError, read_yaml
from bench.zoo import all_cards

CELL_META = ("kind", "label", "metric", "adversarial", "per_example", "threat")
DISTORTION_FIELD = "av_distortion"  # per-source distortion of a matrix cell, and its card key suffix

Cells = dict[str, dict[str, dict[str, Any]]]  # model -> attack -> cell JSON
Attacks = dict[str, dict[str, Any]]  # attack id -> suite entry overlaid by its cells' metadata


def build(results_dir: Path) -> Report:
    """Read a results folder into a Report; a folder without any cell is a user error."""
    store = ResultsStore(Path(results_dir))
    cells = _read_cells(store)
    run = _read_json(store.run_json) if store.run_json.is_file() else {}
    suite = _read_yaml(store.suite_yaml)
    listed = [str(m) for m in (run.get("models") or [])]
    models = [m for m in listed if m in cells] + sorted(m for m in cells if m not in listed)
    attacks = _attacks(suite, cells, models)
    board = suite.get("leaderboard") or {}
    columns = (_attack_columns(board.get("columns"), attacks) + _extra_columns(board.get("extra_columns"), attacks)
               + _worst_columns(board.get("worst_case"), attacks))
    cards = _zoo_cards()
    reported = {m: dict(c.get("reported") or {}) for m, c in cards.items()}
    audits = {m: read_audits(store.root, m) for m in models}  # read once: flags and the audit list
    rows = rank([_row(store, m, cells[m], columns, reported.get(m, {}), _sha(cards.get(m)), audits[m]) for m in models],
                columns)
    name = str(suite.get("name") or store.root.name)
    return Report(
        results_dir=store.root, name=name, run=run, suite=suite, columns=tuple(columns), rows=tuple(rows),
        transfers=tuple(_transfers(store, cells, models, attacks, reported)),
        headlines=tuple(_headlines(store, name, [r.model for r in rows])),
        origins=tuple(dict(cells[m][a].get("provenance") or {}) for m in models for a in cells[m]),
        cards={m: cards[m] for m in models if m in cards}, security_curves=_security_curves(store, models),
        galleries=_galleries(store, models), audits=tuple(_audits(cells, audits)),
    )


def _audits(cells: Cells, audits: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(model, cell label, finding) of each audit of a cell as it is now (bench.report.flags.current_audits)."""
    return [(m, str(cells[m][a].get("label") or a), describe(audit))
            for m, of_model in audits.items() for a, audit in current_audits(cells[m], of_model).items()]


def rank(rows: list[Row], columns: list[Column]) -> list[Row]:
    """The headline order: by the worst case at the largest eps (then the smaller eps, then clean
    accuracy), highest first; a missing figure ranks last; ties keep the run's model order."""
    worst = sorted((c for c in columns if c.role == "worst"), key=lambda c: -float(c.eps) if c.eps else 0.0)
    clean = [c for c in columns if c.role == "attack" and c.threat is not None and c.threat.clean][:1]
    keys = [c.key for c in worst + clean]

    def key(row: Row) -> tuple[float, ...]:
        return tuple(-v if (v := row.figure(k).value) is not None else math.inf for k in keys)

    return sorted(rows, key=key)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: expected a JSON object")
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = read_yaml(path)
    return data if isinstance(data, dict) else {}


def _read_cells(store: ResultsStore) -> Cells:
    """model -> attack -> cell JSON; a cell is complete when its JSON exists."""
    cells: Cells = {}
    for model, attack in store.cells():
        cells.setdefault(model, {})[attack] = _read_json(store.cell_json(model, attack))
    if not cells:
        raise BenchError(f"{store.root}: no results (run `bench run SUITE` first)")
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


def matrix_layout(kind: Any) -> bool:
    """Kinds that read other cells (``after_others``, e.g. transfer) are not leaderboard columns:
    their cells render as matrices (when they carry per-source entries) or not at all."""
    return isinstance(kind, str) and kind in KINDS and bool(KINDS.get(kind).after_others)


def _threat(info: dict[str, Any]) -> Threat | None:
    threat = info.get("threat")
    if not isinstance(threat, dict):
        return None
    eps = threat.get("eps")
    return Threat(str(threat.get("norm") or ""), number(eps) if eps is not None else None, bool(info.get("adversarial")))


def _attack_columns(ids: Any, attacks: Attacks) -> list[Column]:
    if ids is None:
        ids = [a for a, info in attacks.items() if not matrix_layout(info.get("kind"))]
    ids = [str(a) for a in ids]
    labels = [str(attacks.get(a, {}).get("label") or a) for a in ids]
    columns = []
    for attack, label in zip(ids, labels):
        clash = labels.count(label) > 1 or label == WORST or label.startswith(f"{WORST} @")
        info = attacks.get(attack, {})
        columns.append(Column(attack, f"{label} [{attack}]" if clash else label, attack, str(info.get("metric", "")), _threat(info)))
    return columns


def _extra_columns(spec: Any, attacks: Attacks) -> list[Column]:
    out = []
    for entry in spec or []:
        attack, fld = str(entry["attack"]), str(entry["field"])
        info = attacks.get(attack, {})
        out.append(Column(f"{attack}.{fld}", str(entry.get("label") or fld), attack, "", _threat(info), "extra", fld,
                          kind=str(info.get("kind") or "")))
    return out


def _is_proportion(kind: Any, field: str) -> bool:
    """``error`` (1 - a proportion) and the fields the kind declares proportions of its n
    (``AttackKind.proportion_fields``); means and medians are not."""
    if field == "error":
        return True
    if kind not in KINDS:  # a kind this version of bench does not know: no interval claimed
        return False
    prefixes = get_kind(str(kind)).proportion_fields
    return any(field.startswith(p) for p in prefixes)


def _worst_columns(spec: Any, attacks: Attacks) -> list[Column]:
    """``leaderboard.worst_case``: absent (every adversarial per-example attack, one column), a
    list (one column) or a mapping eps -> list (one column per eps, in the suite's order)."""
    if spec is None:
        spec = [a for a, info in attacks.items() if info.get("adversarial") and info.get("per_example")]
    if isinstance(spec, list):
        ids = tuple(str(a) for a in spec)
        return [Column("worst_case", WORST, ids[0], "robust_accuracy", None, "worst", attacks=ids)] if ids else []
    return [Column(f"worst_case@{eps}", f"{WORST} @{eps}", str(ids[0]), "robust_accuracy", None, "worst", eps=str(eps),
                   attacks=tuple(str(a) for a in ids)) for eps, ids in spec.items()]


def _zoo_cards() -> dict[str, dict[str, Any]]:
    """The zoo's cards, read once per report: paper values, current checkpoints, model pages. An
    unreadable zoo only costs those (no paper values, no stale-checkpoint flags)."""
    try:
        return {m: dict(card.data) for m, card in all_cards().items()}
    except (BenchError, OSError):
        return {}


def _sha(card: dict[str, Any] | None) -> str | None:
    checkpoint = (card or {}).get("checkpoint") or {}
    return checkpoint.get("sha256") if isinstance(checkpoint, dict) else None


def _proportion(value: Any, n: Any, count: Any) -> dict[str, Any]:
    """value, n, count and the 95% Clopper-Pearson interval (None when not a proportion)."""
    value, n, count = number(value), n if isinstance(n, int) else None, count if isinstance(count, int) else None
    ci = proportion_interval(value, n, count)
    return {"value": value, "n": n, "count": count, "lo": ci[0] if ci else None, "hi": ci[1] if ci else None}


def _statistic(store: ResultsStore, model: str, col: Column, value: float | None, reported: float | None) -> Figure | None:
    """A mean or median extra field with its n (the examples it summarises) and 95% interval, from
    the cell's stored per-example values (``AttackKind.statistic_sample``); None when the kind
    does not say, the tensors are gone, or they do not give the stored value back (then no
    interval is claimed)."""
    if value is None or col.kind not in KINDS:
        return None
    tensors = _tensors(store, model, col.attack)
    sample = get_kind(col.kind).statistic_sample(col.field, tensors) if tensors else None
    return None if sample is None else _summary_figure(*sample, value, reported)


def _tensors(store: ResultsStore, model: str, attack: str) -> dict[str, torch.Tensor] | None:
    """A cell's stored per-example tensors, or None when absent or unreadable (an interval is
    then not shown; the figure itself comes from the JSON)."""
    try:
        return store.read_tensors(model, attack)
    except BenchError:
        return None


def _summary_figure(statistic: str, values: torch.Tensor, value: float, reported: float | None) -> Figure | None:
    """The stored mean or median ``value`` of ``values`` with their n and 95% interval; None when
    they do not give the stored value back (another computation: no interval is claimed)."""
    x = values.double().numpy()
    again = float(np.mean(x)) if statistic == "mean" else float(torch.median(values).item()) if len(x) else math.nan
    if len(x) == 0 or not math.isclose(again, value, rel_tol=1e-4, abs_tol=1e-7):
        return None
    ci = statistic_interval(statistic, x)
    return Figure(value=value, n=len(x), lo=ci[0] if ci else None, hi=ci[1] if ci else None, reported=reported,
                  statistic=statistic)


def _row(store: ResultsStore, model: str, cells: dict[str, dict[str, Any]], columns: list[Column],
         paper: dict[str, Any], sha: str | None, audits: dict[str, dict[str, Any]]) -> Row:
    figures = {}
    broken = _audit_breaks(cells, audits)
    for col in columns:
        reported = number(paper.get(col.key))
        if col.role == "attack":
            cell = cells.get(col.attack, {})
            figures[col.key] = Figure(**_proportion(cell.get("value"), cell.get("n"), cell.get("count")), reported=reported,
                                      wall_time_s=number(cell.get("wall_time_s")), examples_per_s=number(cell.get("examples_per_s")),
                                      verified_at_most=_verified(cell.get("count"), cell.get("n"),
                                                                 len(broken.get(col.attack, ()))))
        elif col.role == "extra":
            cell = cells.get(col.attack, {})
            if col.field == "error":  # 1 - a proportion: a proportion of the same n, with its interval
                value, count = number(cell.get("value")), cell.get("count")
                figures[col.key] = Figure(**_proportion(None if value is None else 1.0 - value, cell.get("n"),
                                                        cell["n"] - count if isinstance(count, int) and isinstance(cell.get("n"), int) else None),
                                          reported=reported)
            elif _is_proportion(col.kind, col.field):
                figures[col.key] = Figure(**_proportion((cell.get("extra") or {}).get(col.field), cell.get("n"), None),
                                          reported=reported)
            else:  # a mean or median of the cell's examples: its interval where the kind says from what
                value = number((cell.get("extra") or {}).get(col.field))
                figures[col.key] = _statistic(store, model, col, value, reported) or \
                    Figure(value=value, n=cell.get("n") if cell else None, reported=reported)
        else:
            done = all(a in cells for a in col.attacks)
            result = worst_case_for_model(store.root, model, list(col.attacks)) if done else {}
            lost = set(result.get("robust_index", ())) & set().union(*(broken.get(a, set()) for a in col.attacks))
            figures[col.key] = Figure(**_proportion(result.get("value"), result.get("n"), result.get("count")), reported=reported,
                                      verified_at_most=_verified(result.get("count"), result.get("n"), len(lost)))
    return Row(model, figures, model_flags(cells, sha, audits))


def _audit_breaks(cells: dict[str, dict[str, Any]], audits: dict[str, dict[str, Any]]) -> dict[str, set[int]]:
    """attack id -> the examples a current audit of its cell broke (each one the cell counts robust)."""
    return {a: {int(i) for i in audit.get("broken_index") or []} for a, audit in current_audits(cells, audits).items()}


def _verified(count: Any, n: Any, lost: int) -> float | None:
    """The robust accuracy left when ``lost`` of the ``count`` robust examples of ``n`` fall to an
    audit's verified attacks; None when none did (the figure itself is then what is known)."""
    return (count - lost) / n if lost and isinstance(count, int) and isinstance(n, int) and n else None


def _transfers(store: ResultsStore, cells: Cells, models: list[str], attacks: Attacks,
               reported: dict[str, dict[str, Any]]) -> list[Transfer]:
    """Matrix-layout attacks whose cells carry per-source entries (``extra.sources``); card keys:
    the target's ``<attack>[<source>]``, the source's ``<attack>.av_distortion``. A model row's
    distortion gets its interval from the source cell's stored norms (``source_distortions``)."""
    out = []
    for attack, info in attacks.items():
        if not matrix_layout(info.get("kind")):
            continue
        by_target = {m: cells[m][attack]["extra"]["sources"] for m in models
                     if isinstance(((cells[m].get(attack) or {}).get("extra") or {}).get("sources"), dict)}
        if not by_target:
            continue
        named = list(dict.fromkeys(str(s) for sources in by_target.values() for s in sources))  # first seen
        sources = [m for m in models if m in named] + [s for s in named if s not in models]
        grid: dict[tuple[str, str], Figure] = {}
        distortion: dict[str, Figure] = {}
        for target, entries in by_target.items():
            for source in sources:
                entry = entries.get(source)
                entry = entry if isinstance(entry, dict) else {}
                grid[(source, target)] = Figure(**_proportion(entry.get("error_rate"), entry.get("n"), None),
                                                reported=number(reported.get(target, {}).get(f"{attack}[{source}]")))
                if source not in distortion and number(entry.get(DISTORTION_FIELD)) is not None:
                    n = entry.get("n")  # a mean over the source's adversarial examples: no proportion, no interval
                    distortion[source] = Figure(value=number(entry.get(DISTORTION_FIELD)), n=n if isinstance(n, int) else None)
        source_attack = next((cells[m][attack].get("params") or {} for m in by_target), {}).get("source_attack")
        for source, fig in list(distortion.items()):
            paper = number(reported.get(source, {}).get(f"{attack}.{DISTORTION_FIELD}"))
            tensors = _tensors(store, source, str(source_attack)) if source in models and source_attack else None
            summary = (_summary_figure("mean", source_distortions(tensors), fig.value, paper)
                       if tensors and fig.value is not None and {"ref_correct", "robust", "l2", "x_adv"} <= set(tensors) else None)
            distortion[source] = summary or Figure(value=fig.value, n=fig.n, reported=paper)
        out.append(Transfer(attack, str(info.get("label") or attack), tuple(sources), tuple(by_target), grid,
                            distortion or None))
    return out


def _headlines(store: ResultsStore, name: str, models: list[str]) -> list[Headline]:
    """Sibling results folders that declare themselves this suite's headline, read as reports."""
    out = []
    for other in store.siblings():
        if not other.exists() or not other.suite_yaml.is_file():
            continue
        try:
            theirs = read_yaml(other.suite_yaml) or {}
        except YamlFileError:
            continue
        if name not in ((theirs.get("leaderboard") or {}).get("headline_for") or []):
            continue
        report = build(other.root)
        order = {m: i for i, m in enumerate(models)}
        rows = sorted((r for r in report.rows if r.model in order), key=lambda r: order[r.model])
        out.append(Headline(other.root.name, report.name, tuple(report.worst_columns), tuple(rows)))
    return out


def _security_curves(store: ResultsStore, models: list[str]) -> dict[str, str]:
    out = {}
    for model in models:
        path = store.security_curve_plot(model)
        if path.is_file():
            out[model] = path.relative_to(store.root).as_posix()
    return out


def _galleries(store: ResultsStore, models: list[str]) -> dict[str, tuple[str, ...]]:
    """The adversarial galleries ``bench analyze --results`` wrote for this folder, per model."""
    out = {}
    for model in models:
        found = sorted((store.analysis_dir() / model).glob("gallery_*.png"))
        if found:
            out[model] = tuple(_relative(p, store.root) for p in found)
    return out


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()
