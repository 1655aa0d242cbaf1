"""Leaderboards from a results folder: ``reading`` turns cells into the report model (``model``),
each registered writer (``writers``, one file per format under ``formats/``) renders it.

>>> from bench.report import render
>>> render(Path("results/mnist_smoke"))          # writes leaderboard.<format> for every format

Imports stay lazy so that ``bench.suite`` can ask ``writers.names()`` without loading the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.report.model import Report


def build(results_dir: Path) -> Report:
    """The report model of a results folder (``bench.report.reading.build``)."""
    from bench.report.reading import build as read

    return read(Path(results_dir))


def render(results_dir: Path, formats: Sequence[str] | None = None) -> list[Path]:
    """Write each format's files (``leaderboard.<format>``, and e.g. HTML's model pages and
    plots) into ``results_dir``; return the paths. Default: every registered format."""
    from bench.report.writers import get, names
    from bench.results import ResultsStore, atomic_write_bytes, atomic_write_text

    chosen = [get(name) for name in dict.fromkeys(names() if formats is None else formats)]
    store = ResultsStore(Path(results_dir))
    report = build(store.root)
    paths = []
    for w in chosen:
        for name, content in w.files(report).items():
            path = store.output(name)
            if isinstance(content, bytes):
                atomic_write_bytes(path, content)
            else:
                atomic_write_text(path, content)
            paths.append(path)
    return paths


def terminal_text(results_dir: Path, wide: bool = False, width: int | None = None) -> str:
    """The Markdown leaderboard as `bench leaderboard` and `bench run` print it: prose wrapped at
    the terminal's width, tables no wider than 120 (``wide``: every column in one table)."""
    from bench.report.formats.md_writer import render_text
    from bench.report.layout import terminal_width

    return render_text(build(Path(results_dir)), width or terminal_width(), wide)


def markdown_text(results_dir: Path) -> str:
    """The Markdown leaderboard exactly as ``leaderboard.md`` holds it."""
    from bench.report.formats.md_writer import render_text

    return render_text(build(Path(results_dir)))


__all__ = ["build", "render", "terminal_text", "markdown_text"]
