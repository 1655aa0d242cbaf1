"""`bench check`: compare a run's figures with a committed baseline (CI regression gate)."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_check(args: argparse.Namespace) -> int:
    from bench.check import check, format_rows, summary

    result = check(Path(args.results), Path(args.baseline), update=args.update)
    if any(r.moved for r in result.rows):
        print(format_rows(result.rows))
    for note in result.notes:
        print(note)
    print(summary(result))
    return 1 if result.failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("check", help="compare a results folder with a baseline; exit 1 on any figure moved beyond tolerance")
    c.add_argument("results", help="results folder (e.g. results/mnist_smoke)")
    c.add_argument("--baseline", required=True, help="baseline JSON (e.g. results/baselines/mnist_smoke.json)")
    c.add_argument("--update", action="store_true", help="rewrite the baseline from these results (deliberately), keeping its tolerances")
    c.set_defaults(func=cmd_check)
