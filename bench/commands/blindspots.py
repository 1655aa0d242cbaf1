"""`bench blindspots SUITE`: the blind-spot study of seed 002 (truth-revealing signals)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError, interrupt_status
from bench.commands import DATA_DIR_HELP


def cmd_blindspots(args: argparse.Namespace) -> int:
    from bench.blindspots.report import figure, render
    from bench.blindspots.runner import BlindSpotRunner, load_data
    from bench.blindspots.suite import load_suite
    from bench.device import configure_threads, resolve_device

    suite = load_suite(Path(args.suite))
    if args.out:
        suite.out_dir = Path(args.out).resolve()
    unknown = sorted(set(args.model or []) - set(suite.models))
    if unknown:
        raise BenchError(f"--model {', '.join(unknown)}: not in {args.suite} (models: {', '.join(suite.models)})")
    device = resolve_device(args.device)
    threads = configure_threads()
    runner = BlindSpotRunner(suite, data_dir=args.data_dir, device=device, force=args.force, only_models=args.model,
                             progress=not args.no_progress, log=lambda s: print(s, file=sys.stderr), threads=threads)
    try:
        run = runner.run()
    except KeyboardInterrupt as exc:
        print(f"interrupted: finished cells are kept in {suite.out_dir}; run the same command again to resume", file=sys.stderr)
        return interrupt_status(exc)
    if args.force or not (suite.out_dir / "examples.png").is_file():  # it depends on the data and encodings only
        try:
            figure(suite, load_data(suite, args.data_dir), force=args.force)
        except BenchError as exc:  # the tables need no data: render them anyway
            if run["computed"]:
                raise
            print(f"note: examples.png not drawn ({exc})", file=sys.stderr)
    print(f"{suite.name}: {len(run['computed'])} cells computed, {run['reused']} reused ({run['wall_time_s']:.1f} s) -> {suite.out_dir}",
          file=sys.stderr)
    print(render(suite))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("blindspots", help="truth-revealing signals: which models read them (seed 002, Table 1)")
    p.add_argument("suite", help="blind-spot suite YAML (e.g. suites/blindspots_mnist.yaml)")
    p.add_argument("--force", action="store_true", help="recompute every cell (default: only missing ones)")
    p.add_argument("--out", default=None, help="results folder (default: results/<suite name>)")
    p.add_argument("--model", action="append", help="only this model of the suite (repeatable)")
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_blindspots)
