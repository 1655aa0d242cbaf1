"""`bench leaderboard`: render a results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError


def _check(results: Path) -> int:
    """``--check``: exit 1 when a rendered output no longer matches the cells (nothing is written)."""
    from bench.report.freshness import stale_outputs

    if not results.is_dir():
        raise BenchError(f"{results}: no such results folder")
    stale, checked = stale_outputs(results)
    if not checked:
        raise BenchError(f"{results}: no leaderboard.<format> to check (render one with `bench leaderboard {results}`)")
    for s in stale:
        print(s.describe())
    if stale:
        print(f"{len(stale)} of {checked} outputs of {results} are stale: re-render with `bench leaderboard {results}`")
        return 1
    print(f"{results}: all {checked} rendered outputs match its cells")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.report import render, terminal_text

    if args.check:
        return _check(Path(args.results))
    from bench.report.writers import names

    formats = names() if args.format is None else [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in names()]
    if bad or not formats:
        raise BenchError(f"--format: unknown format(s) {', '.join(bad) or '(none)'} (known: {', '.join(names())})")
    paths = render(Path(args.results), formats)
    print(terminal_text(Path(args.results), wide=args.wide))
    for p in paths:
        print(f"wrote {p}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    lb = sub.add_parser("leaderboard", help="render a results folder in every report format (bench.report.writers)")
    lb.add_argument("results", help="results folder (e.g. results/mnist_smoke)")
    lb.add_argument("--format", default=None, help="comma-separated formats (default: every registered one)")
    lb.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if a rendered output differs from what the cells render now")
    lb.add_argument("--wide", action="store_true", help="print every column in one table (wider than 120 characters)")
    lb.set_defaults(func=cmd_leaderboard)
