"""`bench compare`: one architecture across results folders (e.g. MNIST and Fashion-MNIST)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import BenchError


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.report.compare import KEYS, collect, grid, notes
    from bench.report.formats.md_writer import table
    from bench.report.layout import WIDTH, fit, wrap
    from bench.results import atomic_write_text

    folders = [Path(f) for f in args.results]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise BenchError(f"no results folder: {', '.join(missing)}")
    rows = collect(folders)
    whole = grid(rows)
    out = table(whole) if args.wide else "\n\n".join(table(part) for part in fit(whole, WIDTH, keys=KEYS))
    out = "\n\n".join([out] + [wrap(line + ".", WIDTH) for line in notes(rows)])
    print(out)
    if args.out:
        atomic_write_text(Path(args.out), out + "\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="clean accuracy and worst case per eps of each architecture across results folders "
                                       "(a model beside the cards whose variant_of names it)")
    p.add_argument("results", nargs="+", help="results folders (e.g. results/mnist_adaptive results/fashion_robust)")
    p.add_argument("--out", default=None, help="also write the Markdown table to this file")
    p.add_argument("--wide", action="store_true", help="one table, however wide (default: tables of at most 120 "
                                                       "characters, each repeating Architecture, Results and Model)")
    p.set_defaults(func=cmd_compare)
