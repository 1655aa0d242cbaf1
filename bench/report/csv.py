"""Tidy CSV of the leaderboard, one row per model: `<label>`, `<label>_n`, `<label>_reported`, ..."""

from __future__ import annotations

from bench.report.tables import FLAG_LIST, Report


def render(report: Report) -> str:
    return report.leaderboard.drop(columns=[FLAG_LIST]).reset_index().to_csv(index=False, lineterminator="\n")
