"""`bench leaderboard`: render a results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.report import markdown_text, render

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("md", "csv", "json", "html")]
    if bad:
        raise BenchError(f"--format: unknown format(s) {', '.join(bad)} (md, csv, json, html)")
    paths = render(Path(args.results), formats)
    print(markdown_text(Path(args.results)))
    for p in paths:
        print(f"wrote {p}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    lb = sub.add_parser("leaderboard", help="render a results folder as Markdown, CSV, JSON and HTML")
    lb.add_argument("results", help="results folder (e.g. results/mnist_smoke)")
    lb.add_argument("--format", default="md,csv,json,html", help="comma-separated: md,csv,json,html")
    lb.set_defaults(func=cmd_leaderboard)
