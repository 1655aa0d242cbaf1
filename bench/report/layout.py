"""Where each column goes: the per-attack tables grouped by threat model, and the splitting of a
grid into tables no wider than a terminal (every table repeats the Model column)."""

from __future__ import annotations

import math
import os
import shutil
import textwrap

from bench.report.model import Column, Report, Threat
from bench.report.text import Grid

WIDTH = 120  # the widest a table may be, and the note width when not on a terminal


def terminal_width() -> int:
    """The terminal's columns; 120 when stdout is not a terminal."""
    return shutil.get_terminal_size((WIDTH, 24)).columns if os.isatty(1) else WIDTH


def _group(threat: Threat | None) -> tuple[tuple[int, str, float], str]:
    """(sort key, title) of a column's threat model."""
    if threat is None:
        return (4, "", 0.0), "Other measurements"
    norm = {"linf": "L∞", "l2": "L2"}.get(threat.norm or "", threat.norm or "?")
    if threat.clean:
        return (0, "", 0.0), "Clean inputs"
    if not threat.adversarial:
        return (3, threat.norm or "", threat.eps or 0.0), f"Random perturbations ({norm}, up to {threat.eps:g})" \
            if threat.eps is not None else "Random perturbations"
    if threat.eps is None:
        return (2, threat.norm or "", math.inf), f"{norm}, no distortion limit"
    return (1, threat.norm or "", threat.eps), f"{norm}, ε = {threat.eps:g}"


def threat_groups(report: Report) -> list[tuple[str, list[Column]]]:
    """(title, columns) per threat model: attack and extra columns by the threat of their attack,
    each worst-case column of an eps with the adversarial attacks of that eps; clean first."""
    groups: dict[tuple[int, str, float], tuple[str, list[Column]]] = {}
    for col in report.of_role("attack") + report.of_role("extra"):
        key, name = _group(col.threat)
        groups.setdefault(key, (name, []))[1].append(col)
    for col in report.worst_columns:
        match = next((k for k in groups if k[0] == 1 and col.eps and math.isclose(k[2], float(col.eps))), None)
        if match is not None:
            groups[match][1].append(col)
    return [groups[k] for k in sorted(groups)]


def table_width(grid: Grid) -> int:
    """Characters per line of the grid as tabulate's GitHub Markdown table: '| a | b |', each
    column as wide as its widest cell or its header plus tabulate's two characters of padding."""
    header, rows = grid
    widths = [max([len(header[i]) + 2] + [len(r[i]) for r in rows]) for i in range(len(header))]
    return sum(widths) + 3 * len(widths) + 1


def fit(grid: Grid, width: int = WIDTH, keys: int = 1) -> list[Grid]:
    """The grid split by columns into grids no wider than ``width`` where the columns allow it;
    each repeats the first ``keys`` columns (the Model column; `bench compare`'s three)."""
    header, rows = grid
    parts: list[list[int]] = []
    for i in range(keys, len(header)):
        candidate = (parts[-1] if parts else []) + [i]
        if parts and table_width(_take(grid, candidate, keys)) <= width:
            parts[-1] = candidate
        else:
            parts.append([i])
    return [_take(grid, part, keys) for part in parts] or [grid]


def _take(grid: Grid, columns: list[int], keys: int = 1) -> Grid:
    header, rows = grid
    keep = [*range(keys), *columns]
    return [header[i] for i in keep], [[row[i] for i in keep] for row in rows]


def wrap(text: str, width: int, indent: str = "") -> str:
    """A paragraph wrapped at ``width``, continuation lines indented (a Markdown list item)."""
    return textwrap.fill(text, width=width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
