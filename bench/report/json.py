"""Machine-readable leaderboard: numbers stay numbers (missing = null), with run provenance."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from bench.report.tables import TIMING, WORST, Report, Transfer


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
        keys = {"value": label, "n": f"{label}_n", "reported": f"{label}_reported"}
        keys.update({key: f"{label}_{key}" for key in extra})
        return {name: _plain(row[column]) for name, column in keys.items()}

    out: dict[str, Any] = {
        "model": model,
        "name": row["name"],
        "flags": row["flags"].split("; ") if row["flags"] else [],
        "cells": {c.attack: {"label": c.label, **cell(c.label, TIMING)} for c in report.columns},
    }
    if report.worst_case:
        out["worst_case"] = cell(WORST, ())
    return out


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
        "worst_case": {"attacks": report.worst_case} if report.worst_case else None,
        "models": [_model(report, str(model), row) for model, row in report.leaderboard.iterrows()],
        "transfer": [_transfer(t) for t in report.transfers],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
