"""The registry of report writers: the only list of output formats. A writer is found by
scanning bench/report/formats/ (one file per format), so adding a format touches one file.

>>> @writer("txt", "plain text")
... def render(report: Report) -> str: ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.errors import BenchError
from bench.registry import Registry
from bench.report.model import Report

Files = dict[str, "str | bytes"]  # path relative to the results folder -> content


@dataclass(frozen=True)
class Writer:
    """``render`` gives ``leaderboard.<name>``; ``pages`` any further files (model pages, plots);
    ``order`` places the format in the default list (a suite's default ``outputs.formats`` enters
    its digest, so the built-in formats keep their historical order md, csv, json, html)."""

    name: str
    description: str
    render: Callable[[Report], str]
    pages: Callable[[Report], Files] | None = None
    order: int = 100

    def files(self, report: Report) -> Files:
        return {f"leaderboard.{self.name}": self.render(report), **(self.pages(report) if self.pages else {})}


WRITERS: Registry[Writer] = Registry("report format")


def writer(name: str, description: str, pages: Callable[[Report], Files] | None = None,
           order: int = 100) -> Callable[[Callable[[Report], str]], Callable[[Report], str]]:
    """Register ``render`` as the writer of format ``name`` (a duplicate name is refused)."""
    def register(render: Callable[[Report], str]) -> Callable[[Report], str]:
        WRITERS.register(name, Writer(name, description, render, pages, order))
        return render

    return register


def _scan() -> None:
    from bench.report import formats  # noqa: F401  (importing the package registers every format)


def names() -> list[str]:
    """Every registered format in default order: the default of ``--format`` and of a suite's outputs."""
    _scan()
    return [name for name, w in sorted(WRITERS.items(), key=lambda item: (item[1].order, item[0]))]


def get(name: str) -> Writer:
    _scan()
    if name not in WRITERS:
        raise BenchError(f"unknown report format '{name}' (known: {', '.join(names())})")
    return WRITERS.get(name)
