"""Leaderboards from a results folder, one writer per format (markdown, csv, json, html).

>>> from bench.report import render
>>> render(Path("results/mnist_smoke"))          # writes leaderboard.md|.csv|.json|.html
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from bench.errors import BenchError
from bench.results import atomic_write_text
from bench.report import csv, html, json, markdown
from bench.report.tables import Report, build

WRITERS: dict[str, Callable[[Report], str]] = {
    "md": markdown.render,
    "csv": csv.render,
    "json": json.render,
    "html": html.render,
}


def render(results_dir: Path, formats: Sequence[str] = ("md", "csv", "json", "html")) -> list[Path]:
    """Write ``leaderboard.<ext>`` for each format into ``results_dir``; return the paths."""
    unknown = [f for f in formats if f not in WRITERS]
    if unknown:
        raise BenchError(f"unknown report format(s) {', '.join(unknown)} (known: {', '.join(WRITERS)})")
    results_dir = Path(results_dir)
    report = build(results_dir)
    paths = []
    for fmt in dict.fromkeys(formats):
        path = results_dir / f"leaderboard.{fmt}"
        atomic_write_text(path, WRITERS[fmt](report))
        paths.append(path)
    return paths


def markdown_text(results_dir: Path) -> str:
    """The markdown leaderboard, as `bench leaderboard` prints it."""
    return markdown.render(build(Path(results_dir)))


__all__ = ["render", "markdown_text", "build", "Report", "WRITERS"]
