"""`bench run`: evaluate a suite."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError, interrupt_status
from bench.commands import DATA_DIR_HELP, positive_int



def cmd_run(args: argparse.Namespace) -> int:
    from bench.report import render, terminal_text
    from bench.runner import Runner
    from bench.suite import load_suite

    from bench.blindspots.suite import is_blindspot_study

    if is_blindspot_study(args.suite):
        raise BenchError(f"{args.suite}: a blind-spot study, not an attack suite: run it with `bench blindspots {args.suite}`")
    suite = load_suite(Path(args.suite))
    if args.out:
        suite.out_dir = Path(args.out)
    if suite.out_dir.exists() and not suite.out_dir.is_dir():
        raise BenchError(f"{suite.out_dir}: not a folder ({'--out' if args.out else 'the suite key outputs.dir'} names a results folder)")
    if args.plan:
        from bench.plan import plan, plan_text

        runner = Runner(suite, device="cpu", data_dir=args.data_dir, force=args.force, only_models=args.model,
                        only_attacks=args.attack, progress=False, log=lambda s: None)
        print(f"suite {suite.name} v{suite.version}: {len(runner.model_ids)} models x {len(runner.attacks)} attacks "
              f"-> {suite.out_dir}")
        print(plan_text(plan(runner), show_done=args.all, force=args.force))
        return 0
    if args.all:
        raise BenchError("--all goes with --plan")
    executor = None
    if args.executor == "ray":
        from bench.ray_executor import RayExecutor

        executor = RayExecutor(workers=args.workers, address=args.address, worker_status=args.worker_status)
    elif args.workers or args.address or args.worker_status:
        raise BenchError("--workers, --address and --worker-status need --executor ray")
    runner = Runner(suite, device=args.device, data_dir=args.data_dir, force=args.force, only_models=args.model,
                    only_attacks=args.attack, progress=not args.no_progress, log=lambda s: print(s, file=sys.stderr),
                    executor=executor)
    print(f"suite {suite.name} v{suite.version}: {len(runner.model_ids)} models x {len(runner.attacks)} attacks "
          f"on {runner.device} ({runner.threads} threads) -> {suite.out_dir}", file=sys.stderr)
    try:
        run = runner.run()
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (bench.errors.Terminated)
        print(f"interrupted: finished cells are saved in {suite.out_dir}; run the same command again to resume", file=sys.stderr)
        return interrupt_status(exc)
    print(f"done in {run['wall_time_s']:.1f}s ({len(run['computed'])} cells computed, {run['reused']} reused)", file=sys.stderr)
    if runner.failed:
        print(f"error: {len(runner.failed)} cell(s) failed: {', '.join(runner.failed)} (see above; the same command retries them)",
              file=sys.stderr)
    if not args.no_leaderboard:
        render(suite.out_dir, suite.formats)
        print(terminal_text(suite.out_dir, wide=args.wide))
    return 1 if runner.failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="evaluate the suite's models against its attacks and render the leaderboard")
    r.add_argument("suite", help="suite YAML file")
    r.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None, help="default: the suite's, else auto")
    r.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    r.add_argument("--force", action="store_true", help="recompute cells that are already complete")
    r.add_argument("--model", action="append", help="only this model (repeatable)")
    r.add_argument("--attack", action="append", help="only this attack id of the suite (repeatable)")
    r.add_argument("--out", default=None, help="results folder (default: the suite's outputs.dir)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--plan", action="store_true",
                   help="compute nothing: list the cells the run would compute (missing, partial with its finished "
                        "shards, stale with the reason) and count the done ones")
    r.add_argument("--all", action="store_true", help="--plan: list the done cells too")
    r.add_argument("--no-leaderboard", action="store_true", help="do not render the leaderboard at the end")
    r.add_argument("--wide", action="store_true", help="print the leaderboard with every column in one table")
    r.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: every cell in this process (default); ray: shards as Ray tasks (pip install -e '.[ray]')")
    r.add_argument("--workers", type=positive_int, default=None, help="--executor ray: local workers (default: the cores)")
    r.add_argument("--address", default=None, help="--executor ray: join this Ray cluster (ray start --head) instead")
    r.add_argument("--worker-status", action="store_true", help="--executor ray: a line per finished shard (worker, node, time)")
    r.set_defaults(func=cmd_run)
