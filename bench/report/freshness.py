"""Whether a results folder's rendered leaderboards still say what its cells say.

Why: a leaderboard is a file rendered from cells, and a cell can change (a retrained checkpoint's
cells recomputed, a reference cell finished in another suite) without anyone re-rendering the
tables beside it. A reader then trusts numbers no cell holds. This re-renders in memory and names
every text output that differs from its file, so a test or CI job can refuse the drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Stale:
    """One output that is not what its cells render: ``line`` is the first differing line (1-based),
    0 when the file is missing."""

    path: Path
    line: int

    def describe(self) -> str:
        return f"{self.path}: missing" if self.line == 0 else f"{self.path}: differs from its cells from line {self.line}"


def _first_difference(old: str, new: str) -> int:
    a, b = old.splitlines(), new.splitlines()
    for i, (x, y) in enumerate(zip(a, b), start=1):
        if x != y:
            return i
    return min(len(a), len(b)) + 1


def stale_outputs(results_dir: Path) -> tuple[list[Stale], int]:
    """(stale outputs, outputs checked) of every format whose ``leaderboard.<format>`` the folder holds.

    Text outputs (tables, pages) are compared exactly; binary ones (plots) only for presence, since
    their bytes depend on the plotting library's version, not on the numbers."""
    from bench.report import build
    from bench.report.writers import get, names

    root = Path(results_dir)
    present = [name for name in names() if (root / f"leaderboard.{name}").is_file()]
    if not present:
        return [], 0
    report = build(root)
    stale: list[Stale] = []
    checked = 0
    for name in present:
        for rel, content in get(name).files(report).items():
            path = root / rel
            checked += 1
            if not path.is_file():
                stale.append(Stale(path, 0))
            elif isinstance(content, str):
                old = path.read_bytes()
                if old != content.encode("utf-8"):
                    stale.append(Stale(path, _first_difference(old.decode("utf-8", "replace"), content)))
    return stale, checked
