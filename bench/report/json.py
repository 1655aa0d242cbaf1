"""Machine-readable leaderboard: numbers stay numbers (missing = null), with run provenance."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from bench.report.tables import FLAG_LIST, TIMING, WORST, Report, Transfer


def _plain(value: Any) -> Any:
    """numpy/pandas scalars -> int/float/None, so json never sees NaN or a stringified number."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _model(report: Report, model: str, row: pd.Series) -> dict[str, Any]:
    def cell(label: str, extra: tuple[str, ...]) -> dict[str, Any]:
        keys = {"value": label, "n": f"{label}_n", "ci95_low": f"{label}_lo", "ci95_high": f"{label}_hi", "reported": f"{label}_reported"}
        keys.update({key: f"{label}_{key}" for key in extra})
        return {name: _plain(row[column]) for name, column in keys.items()}

    out: dict[str, Any] = {
        "model": model,
        "name": row["name"],
        "flags": list(row[FLAG_LIST]),
        "cells": {c.attack: {"label": c.label, **cell(c.label, TIMING)} for c in report.columns},
    }
    if report.worst_columns:
        if _single(report):
            out["worst_case"] = cell(WORST, ())
        else:  # one entry per eps, keyed like the suite's mapping
            out["worst_case"] = {w.eps: {"label": w.label, **cell(w.label, ())} for w in report.worst_columns}
    return out


def _single(report: Report) -> bool:
    """The list form of ``leaderboard.worst_case``: one column, rendered as before."""
    return len(report.worst_columns) == 1 and report.worst_columns[0].eps == ""


def _worst_case_doc(report: Report) -> dict[str, Any] | None:
    if not report.worst_columns:
        return None
    if _single(report):
        return {"attacks": list(report.worst_columns[0].attacks)}
    return {"by_eps": {w.eps: {"label": w.label, "attacks": list(w.attacks)} for w in report.worst_columns}}


def _transfer(t: Transfer) -> dict[str, Any]:
    return {
        "attack": t.attack,
        "label": t.label,
        "sources": [str(s) for s in t.error_rate.index],
        "targets": [str(c) for c in t.error_rate.columns],
        "error_rate": [[_plain(v) for v in row] for row in t.error_rate.itertuples(index=False)],
        "n": [[_plain(v) for v in row] for row in t.n.itertuples(index=False)],
    }


def render(report: Report) -> str:
    doc = {
        "run": report.run,
        "columns": [{"attack": c.attack, "label": c.label, "metric": c.metric} for c in report.columns],
        "worst_case": _worst_case_doc(report),
        "models": [_model(report, str(model), row) for model, row in report.leaderboard.iterrows()],
        "transfer": [_transfer(t) for t in report.transfers],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
