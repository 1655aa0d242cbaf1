"""Tidy CSV, one row per model: `<label>`, `<label>_n`, `<label>_lo`, `<label>_hi` (empty for a
figure without an interval), `<label>_verified_at_most` (what an audit's verified breaks prove; empty
where no audit broke an example), `<label>_reported` (and each attack's `_wall_time_s`,
`_examples_per_s`), then the flags."""

from __future__ import annotations

import csv
import io
from typing import Any

from bench.report.model import Column, Figure, Report
from bench.report.writers import writer


def _fields(col: Column, fig: Figure) -> dict[str, Any]:
    label = col.label
    out: dict[str, Any] = {label: fig.value, f"{label}_n": fig.n, f"{label}_lo": fig.lo, f"{label}_hi": fig.hi,
                           f"{label}_verified_at_most": fig.verified_at_most, f"{label}_reported": fig.reported}
    if col.role == "attack":
        out.update({f"{label}_wall_time_s": fig.wall_time_s, f"{label}_examples_per_s": fig.examples_per_s})
    return out


@writer("csv", "CSV, one row per model with every figure's n, interval and paper value", order=1)
def render(report: Report) -> str:
    records = []
    for row in report.rows:
        record: dict[str, Any] = {"model": row.model, "name": row.name}
        for col in report.columns:
            record.update(_fields(col, row.figure(col.key)))
        record["flags"] = "; ".join(row.flags)
        records.append(record)
    out = io.StringIO()
    table = csv.DictWriter(out, fieldnames=list(records[0]) if records else ["model"], lineterminator="\n")
    table.writeheader()
    table.writerows([{k: "" if v is None else v for k, v in r.items()} for r in records])
    return out.getvalue()
