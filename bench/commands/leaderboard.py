"""`bench leaderboard`: render a results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.report import render, terminal_text
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
    lb.add_argument("--wide", action="store_true", help="print every column in one table (wider than 120 characters)")
    lb.set_defaults(func=cmd_leaderboard)
