"""`bench audit`: attacks beyond a cell's battery on a sample of its robust examples (bench.audit)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.commands import DATA_DIR_HELP, non_negative_int, positive_int
from bench.errors import BenchError, interrupt_status

DEFAULT_SAMPLE = 40  # robust examples per audited cell: ~8 minutes on a one-core Tanh16 cell (docs/audits.md)


def sample_size(text: str) -> int | None:
    """An argparse type: a positive count of robust examples, or ``all`` (None: every one)."""
    return None if text.strip().lower() == "all" else positive_int(text)


def _targets(results: Path, models: list[str] | None, attacks: list[str]) -> list[tuple[str, str]]:
    """(model, attack) of each cell to audit: every model of the folder with that cell, or the
    ones named (a named model without the cell is an error)."""
    from bench.results import ResultsStore

    store = ResultsStore(results)
    have = set(store.cells())
    if models:
        missing = [f"{m}/{a}" for m in models for a in attacks if (m, a) not in have]
        if missing:
            raise BenchError(f"{results}: no cell {', '.join(missing)} (its cells: {results}/cells/<model>/<attack>.json)")
        return [(m, a) for m in models for a in attacks]
    chosen = [(m, a) for m, a in sorted(have) if a in attacks]
    if not chosen:
        raise BenchError(f"{results}: no model has a cell {', '.join(attacks)}")
    return chosen


def cmd_audit(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bench.audit import audit_path, describe, kept_prefix, run_audit
    from bench.device import configure_threads, resolve_device
    from bench.report import render
    from bench.report.writers import names

    results = Path(args.results)
    if not results.is_dir():
        raise BenchError(f"{results}: no such results folder")
    targets = _targets(results, args.model, args.attack)
    device = resolve_device(args.device)
    configure_threads()
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    for model, attack in targets:
        bar = tqdm(total=None, desc=f"audit {model} {attack}", unit="ex", disable=args.no_progress or not sys.stderr.isatty())
        try:
            out = run_audit(results, model, attack, sample=args.sample, seed=args.seed, presets=presets, device=device,
                            data_dir=args.data_dir, force=args.force, progress=bar.update,
                            status=lambda s: bar.set_postfix_str(s, refresh=True),
                            kept=None if args.no_progress else
                            lambda line, m=model, a=attack: tqdm.write(f"audit {m} {a}: {line}", file=sys.stderr))
        except KeyboardInterrupt as exc:
            kept = kept_prefix(results, model, attack)
            sampled = f", or with --sample {kept} to finish now as a sample of the {kept} examples kept" if kept else ""
            print(f"interrupted: finished batches are kept; run the same command again to resume{sampled}", file=sys.stderr)
            return interrupt_status(exc)
        finally:
            bar.close()
        print(f"{model} {out['cell_label']} ({attack}): {describe(out)}; {out['seconds']:.0f} s "
              f"-> {audit_path(results, model, attack)}", flush=True)
    present = [name for name in names() if (results / f"leaderboard.{name}").is_file()]
    if not args.no_leaderboard and present:
        render(results, present)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="attack a random sample of the examples a cell counts robust with attacks beyond its "
                                     "battery; estimate how far its robust accuracy is overstated (docs/audits.md)")
    p.add_argument("results", help="results folder (e.g. results/mnist_robust)")
    p.add_argument("--attack", action="append", required=True,
                   help="an L-inf cell's attack id, e.g. cascade_e02 (repeatable)")
    p.add_argument("--model", action="append", help="only this model (repeatable; default: every model with the cell)")
    p.add_argument("--sample", type=sample_size, default=DEFAULT_SAMPLE,
                   help=f"robust examples to attack per cell, or 'all' (default {DEFAULT_SAMPLE}; all when fewer); "
                        "auditing all makes the estimate exact")
    p.add_argument("--seed", type=non_negative_int, default=0, help="draws the sample and the attacks' random starts (default 0)")
    p.add_argument("--presets", default="beyond", help="cascade member lists to run, comma-separated (default: beyond)")
    p.add_argument("--force", action="store_true", help="recompute an audit that is already done; discard the kept batches of another audit of the cell")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-leaderboard", action="store_true", help="do not re-render the folder's leaderboard (its audits, flags)")
    p.set_defaults(func=cmd_audit)
