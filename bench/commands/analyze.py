"""`bench analyze`: figures, data and one HTML page that show what zoo models do."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.errors import BenchError
from bench.commands import DATA_DIR_HELP, positive_int

WHAT = ("landscape", "gallery", "units", "actmax", "lipschitz")
ACTMAX = ("steps", "lr", "decay", "blur_every", "blur_sigma", "clip_norm", "clip_contrib", "jitter", "surface")


def _models(args: argparse.Namespace) -> list[str]:
    """The ids given, else every model of the results folder (run.json order, then cells)."""
    if args.model:
        return list(dict.fromkeys(args.model))
    if args.results is None:
        raise BenchError("give a model id (see `bench ls models`) or --results RESULTS_DIR")
    from bench.results import ResultsStore

    results = Path(args.results)
    store = ResultsStore(results)
    run_json = store.run_json
    listed = list((json.loads(run_json.read_text()).get("models") or {}) if run_json.is_file() else [])
    cells = store.models()
    models = [m for m in listed if m in cells] + [m for m in cells if m not in listed]
    if not models:
        raise BenchError(f"{results}: no results (run `bench run SUITE` first)")
    return models


def _dims(text: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected two code-score indices like 8,9, got {text!r}")
    return int(parts[0]), int(parts[1])


def _what(text: str) -> list[str]:
    what = [w.strip() for w in text.split(",") if w.strip()]
    bad = [w for w in what if w not in WHAT]
    if bad or not what:
        raise BenchError(f"--what: unknown analysis {', '.join(bad) or '(none)'} (choose from {', '.join(WHAT)})")
    return what


def _log(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_analyze(args: argparse.Namespace) -> int:
    from bench import zoo
    from bench.analysis import ActMaxConfig, AnalysisContext, analyze
    from bench.analysis.report import render
    from bench.data import resolve_data_dir
    from bench.device import configure_threads, resolve_device
    from bench.results import ResultsStore

    what = _what(args.what)
    results = Path(args.results) if args.results else None
    if results is not None and not ResultsStore(results).exists():
        raise BenchError(f"--results {results}: not a results folder (no cells/)")
    models = _models(args)
    for model_id in models:  # every id and checkpoint checked before hours of work
        zoo.registry.verify_checkpoint(zoo.get_card(model_id))
    if args.magnify is not None and args.magnify <= 0:
        raise BenchError(f"--magnify must be positive, got {args.magnify}")
    resolve_data_dir(args.data_dir)
    configure_threads()
    device = resolve_device(args.device)
    name = results.name if results is not None else "_".join(models)
    root = Path(args.out) if args.out else Path("results") / "analysis" / name
    given = {k: getattr(args, k) for k in ACTMAX if getattr(args, k) is not None}
    cfg = ActMaxConfig(**given, seed=args.seed)
    sections = {}
    for model_id in models:
        ctx = AnalysisContext(model_id, zoo.load(model_id, device), root, cfg, data_dir=args.data_dir, results=results,
                      layer=args.layer, dims=args.dims, images=args.images, units=args.units, top=args.top,
                      examples=args.examples, magnify=args.magnify, seed=args.seed, progress=not args.no_progress,
                      checkpoint_sha256=zoo.get_card(model_id).sha256 or "", dataset=zoo.get_card(model_id).dataset)
        sections[model_id] = analyze(ctx, what, _log, force=args.force)
    page = render(root, sections, results)
    print(page)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("analyze", help="figures, data and an HTML page: decoder landscapes, adversarial galleries, "
                                       "unit analysis, activation maximisation, Lipschitz bounds")
    a.add_argument("model", nargs="*", help="zoo model ids (default: every model of --results)")
    a.add_argument("--results", default=None, help="results folder: adds its leaderboard and adversarial galleries")
    a.add_argument("--out", default=None, help="output folder (default results/analysis/<model or results name>)")
    a.add_argument("--what", default=",".join(WHAT), help=f"comma-separated, from: {','.join(WHAT)}")
    a.add_argument("--layer", default=None, help="module name for units/actmax (default: the penultimate dense layer)")
    a.add_argument("--dims", type=_dims, default=None, help="two code scores the landscape varies, e.g. 8,9 (default: the last two)")
    a.add_argument("--images", type=positive_int, default=10_000, help="test images searched by the unit analysis")
    a.add_argument("--units", type=positive_int, default=4, help="units (and random directions) shown")
    a.add_argument("--top", type=positive_int, default=8, help="top images per unit or direction")
    a.add_argument("--examples", type=positive_int, default=6, help="gallery rows per attack")
    a.add_argument("--magnify", type=float, default=None, help="perturbation magnification (default: fit the grey range)")
    a.add_argument("--seed", type=int, default=0, help="drives the units and random directions shown, the gallery's noise and "
                                                         "activation maximisation")
    a.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    a.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    a.add_argument("--no-progress", action="store_true", help="no progress bars")
    a.add_argument("--force", action="store_true", help="recompute analyses whose saved output is still valid (default: reuse)")
    g = a.add_argument_group("activation maximisation (seed 001 regularisers; defaults in bench.analysis.actmax.ActMaxConfig; 0 = off)")
    g.add_argument("--steps", type=positive_int, help="gradient ascent steps")
    g.add_argument("--lr", type=float, help="largest pixel change per step")
    g.add_argument("--decay", type=float, help="L2 decay: x <- (1 - decay) x per step")
    g.add_argument("--blur-every", type=int, help="Gaussian blur every k steps")
    g.add_argument("--blur-sigma", type=float, help="Gaussian blur width in pixels")
    g.add_argument("--clip-norm", type=float, help="zero pixels under this percentile (0-100) of |x|")
    g.add_argument("--clip-contrib", type=float, help="zero pixels under this percentile (0-100) of |x * grad|")
    g.add_argument("--jitter", type=int, help="random shift of up to this many pixels per step")
    g.add_argument("--actmax-surface", dest="surface", choices=["linear", "logprob"], help="class scores to maximise")
    a.set_defaults(func=cmd_analyze)
