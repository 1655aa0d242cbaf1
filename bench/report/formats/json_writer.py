"""Machine-readable leaderboard: numbers stay numbers (missing = null), with run provenance."""

from __future__ import annotations

import json
from typing import Any

from bench.report.model import Column, Figure, Report, Row, Transfer
from bench.report.writers import writer


def _figure(fig: Figure, timing: bool) -> dict[str, Any]:
    out = {"value": fig.value, "n": fig.n, "ci95_low": fig.lo, "ci95_high": fig.hi, "verified_at_most": fig.verified_at_most,
           "reported": fig.reported}
    return {**out, "wall_time_s": fig.wall_time_s, "examples_per_s": fig.examples_per_s} if timing else out


def _single(report: Report) -> bool:
    """The list form of ``leaderboard.worst_case``: one column, keyed as before."""
    return len(report.worst_columns) == 1 and report.worst_columns[0].eps == ""


def _model(report: Report, row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": row.model,
        "name": row.name,
        "flags": list(row.flags),
        "cells": {c.attack: {"label": c.label, **_figure(row.figure(c.key), True)} for c in report.of_role("attack")},
    }
    extra = report.of_role("extra")
    if extra:  # derived columns (test error, mean distortions), keyed <attack>.<field> as on the cards
        out["extra"] = {c.key: {"label": c.label, **_figure(row.figure(c.key), False)} for c in extra}
    worst: list[Column] = report.worst_columns
    if worst:
        out["worst_case"] = _figure(row.figure(worst[0].key), False) if _single(report) else \
            {c.eps: {"label": c.label, **_figure(row.figure(c.key), False)} for c in worst}
    return out


def _worst_case_doc(report: Report) -> dict[str, Any] | None:
    if not report.worst_columns:
        return None
    if _single(report):
        return {"attacks": list(report.worst_columns[0].attacks)}
    return {"by_eps": {c.eps: {"label": c.label, "attacks": list(c.attacks)} for c in report.worst_columns}}


def _transfer(t: Transfer) -> dict[str, Any]:
    return {
        "attack": t.attack,
        "label": t.label,
        "sources": list(t.sources),
        "targets": list(t.targets),
        "error_rate": [[t.cell(s, g).value for g in t.targets] for s in t.sources],
        "n": [[t.cell(s, g).n for g in t.targets] for s in t.sources],
        "lo": [[t.cell(s, g).lo for g in t.targets] for s in t.sources],
        "hi": [[t.cell(s, g).hi for g in t.targets] for s in t.sources],
    }


@writer("json", "JSON: every figure with n, 95% interval and paper value, transfer matrices, the run record", order=2)
def render(report: Report) -> str:
    doc = {
        "run": report.run,
        "columns": [{"attack": c.attack, "label": c.label, "metric": c.metric} for c in report.of_role("attack")],
        "worst_case": _worst_case_doc(report),
        "models": [_model(report, row) for row in report.rows],
        "transfer": [_transfer(t) for t in report.transfers],
        "audits": [{"model": m, "cell": label, "finding": found} for m, label, found in report.audits],  # audits/ has the numbers
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
