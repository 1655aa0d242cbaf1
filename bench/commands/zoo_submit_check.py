"""`bench zoo submit-check ID`: what a reviewer wants to see before merging a new zoo model.

Runs the smoke suite on that model alone, a quick gradient-masking sanity check, and shows where
the model would stand on the committed smoke leaderboard (ranked by the PGD column)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any
from bench.commands import DATA_DIR_HELP

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SUITE = REPO_ROOT / "suites" / "mnist_smoke.yaml"
DEFAULT_COMMITTED = REPO_ROOT / "results" / "mnist_smoke"


def _run_suite(args: argparse.Namespace, out: Path) -> Any:
    from bench.runner import Runner
    from bench.suite import load_suite

    suite = load_suite(Path(args.suite))
    suite.models = {"ids": [args.model]}  # the submission alone, whatever the suite selects
    suite.out_dir = out
    runner = Runner(suite, device=args.device, data_dir=args.data_dir, only_models=[args.model],
                    progress=not args.no_progress, log=lambda s: print(s, file=sys.stderr))
    print(f"suite {suite.name} v{suite.version} on {args.model} ({runner.device}) -> {out}", file=sys.stderr)
    runner.run()
    return suite, runner


def _masking(args: argparse.Namespace, suite: Any, runner: Any) -> list[tuple[str, str, str]]:
    from bench.data import load
    from bench.zoo.submit import masking_sanity

    cfg = next((a for a in suite.attacks if a.id == args.rank_by), None)
    selection = cfg.examples if cfg is not None else suite.examples
    split = load(suite.dataset, selection.split, args.data_dir)
    idx = selection.indices(len(split))
    res = masking_sanity(runner.model(args.model), split.x[idx], split.y[idx], seed=suite.seed)
    accs = ", ".join(f"eps {e:g}: {a:.3f}" for e, a in res["accuracy"].items())
    print(f"\ngradient-masking sanity (native PGD from the clean image, 40 steps of 2.5*eps/40, n={res['n']}): {accs}")
    for name, status, detail in res["checks"]:
        print(f"  {status.upper():4}  {name}: {detail}")
    return res["checks"]


def _standing(args: argparse.Namespace, out: Path, suite: Any) -> None:
    from tabulate import tabulate

    from bench.results import ResultsStore
    from bench.yaml_file import YamlFileError, read_yaml
    from bench.zoo.submit import standing

    committed = Path(args.committed)
    if not ResultsStore(committed).cells():
        print(f"\nno committed results in {committed}: no leaderboard to compare with")
        return
    rows = standing(args.model, out, committed, rank_by=args.rank_by)
    print(f"\nwhere {args.model} would stand on {committed} (ranked by {args.rank_by}):")
    print(tabulate(rows, headers=["rank", "model", "clean", args.rank_by], floatfmt=".3f", missingval="-"))
    try:
        resolved = read_yaml(ResultsStore(committed).suite_yaml)
    except YamlFileError:
        resolved = None
    theirs = resolved.get("attacks") if isinstance(resolved, dict) else None
    if theirs is not None and theirs != suite.resolved.get("attacks"):
        print(f"note: {committed} was produced with different attack settings; the ranking is indicative only")


def cmd_zoo_submit_check(args: argparse.Namespace) -> int:
    from bench.report import markdown_text

    with tempfile.TemporaryDirectory(prefix="bench-submit-check-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        suite, runner = _run_suite(args, out)
        print(markdown_text(out))
        checks = _masking(args, suite, runner)
        _standing(args, out, suite)
    warned = [c for c in checks if c[1] != "pass"]
    print(f"\nsubmit-check {args.model}: " + (f"{len(warned)} warning(s)" if warned else "all sanity checks passed"))
    return 1 if warned and args.strict else 0


def register_zoo(zsub: argparse._SubParsersAction) -> None:
    s = zsub.add_parser("submit-check", help="smoke suite + gradient-masking sanity check + leaderboard standing for one zoo model")
    s.add_argument("model", help="zoo model id")
    s.add_argument("--suite", default=str(DEFAULT_SUITE), help="suite to run (default: suites/mnist_smoke.yaml)")
    s.add_argument("--out", default=None, help="results folder to keep (default: a temporary folder, removed at the end)")
    s.add_argument("--committed", default=str(DEFAULT_COMMITTED), help="committed results to rank against (default: results/mnist_smoke)")
    s.add_argument("--rank-by", default="pgd", help="attack id whose column ranks the leaderboard (default: pgd)")
    s.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    s.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--strict", action="store_true", help="exit 1 when a sanity check warns")
    s.set_defaults(func=cmd_zoo_submit_check)
