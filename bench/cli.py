"""The ``bench`` command line. Every user error is one line on stderr and a non-zero exit;
tracebacks are for bugs only (set BENCH_DEBUG=1 to see them for user errors too)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from bench.errors import BenchError, ValidationError

REPO_ROOT = Path(__file__).resolve().parents[1]
Handler = Callable[[argparse.Namespace], int]


def _suite_dirs() -> list[Path]:
    dirs = [Path.cwd() / "suites", REPO_ROOT / "suites"]
    return list(dict.fromkeys(d.resolve() for d in dirs if d.is_dir()))


def cmd_run(args: argparse.Namespace) -> int:
    from bench.report import markdown_text, render
    from bench.runner import Runner
    from bench.suite import load_suite

    suite = load_suite(Path(args.suite))
    if args.out:
        suite.out_dir = Path(args.out)
    runner = Runner(suite, device=args.device, data_dir=args.data_dir, force=args.force, only_models=args.model,
                    progress=not args.no_progress, log=lambda s: print(s, file=sys.stderr))
    print(f"suite {suite.name} v{suite.version}: {len(runner.model_ids)} models x {len(suite.attacks)} attacks "
          f"on {runner.device} ({runner.threads} threads) -> {suite.out_dir}", file=sys.stderr)
    try:
        run = runner.run()
    except KeyboardInterrupt:
        print(f"interrupted: finished cells are saved in {suite.out_dir}; run the same command again to resume", file=sys.stderr)
        return 130
    print(f"done in {run['wall_time_s']:.1f}s ({run['cells_computed']} cells computed, {run['cells_skipped']} reused)", file=sys.stderr)
    if not args.no_leaderboard:
        render(suite.out_dir, suite.formats)
        print(markdown_text(suite.out_dir))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from bench.suite import validate_suite_file

    problems: list[str] = []
    for f in args.files:
        problems += validate_suite_file(Path(f))
    if problems:
        raise ValidationError(problems)
    for f in args.files:
        print(f"{f}: ok")
    return 0


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


def cmd_ls(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    if args.what == "models":
        from bench import zoo

        rows = []
        for mid, card in zoo.all_cards().items():
            acc = card.measured.get("clean_accuracy")
            status = "ok" if card.checkpoint_path.is_file() and card.sha256 else "not trained"
            rows.append([mid, card.data["family"], ",".join(card.tags), f"{acc:.4f}" if acc is not None else "-", status,
                         str(card.data["description"]).split(". ")[0][:70]])
        print(tabulate(rows, headers=["id", "family", "tags", "clean acc", "checkpoint", "description"]))
    elif args.what == "attacks":
        from bench.attacks import KINDS

        rows = [[name, ",".join(k.backends) or "-", k.metric, k.description] for name, k in KINDS.items()]
        print(tabulate(rows, headers=["kind", "backends", "metric", "description"]))
    else:
        import yaml

        rows = []
        for d in _suite_dirs():
            for f in sorted(d.glob("*.yaml")):
                try:
                    data = yaml.safe_load(f.read_text()) or {}
                except yaml.YAMLError:
                    data = {}
                desc = " ".join(str(data.get("description", "")).split()).split(": ")[0].split(". ")[0]
                shown = f.relative_to(Path.cwd()) if f.is_relative_to(Path.cwd()) else f
                rows.append([str(shown), data.get("version", "?"), desc[:90]])
        print(tabulate(rows, headers=["suite", "version", "description"]))
    return 0


def cmd_zoo_train(args: argparse.Namespace) -> int:
    from bench import zoo
    from bench.device import configure_threads, resolve_device
    from bench.train import train_model

    configure_threads()
    device = resolve_device(args.device)
    card = zoo.get_card(args.model)
    result = train_model(card, device=str(device), data_dir=args.data_dir, max_epochs=args.epochs_now)
    if result.get("finished"):
        print(f"{card.id}: trained, clean accuracy {result.get('clean_accuracy', float('nan')):.4f}, "
              f"{result['wall_time_s'] / 60:.1f} min; checkpoint {card.checkpoint_path}")
    else:
        print(f"{card.id}: paused after {result['epochs_done']} epochs; run again to resume")

    return 0


def cmd_zoo_codes(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench import zoo
    from bench.models.codes import min_hamming_distance, plotkin_bound
    from bench.zoo.registry import build

    rows = []
    for mid, card in zoo.all_cards().items():
        model = build(card)
        if not hasattr(model, "code"):
            continue
        if card.checkpoint_path.is_file() and card.sha256:
            model = zoo.registry.load_from_card(card)
        code = model.code().detach().numpy()
        m = model.num_classes
        rows.append([mid, f"{code.shape[0]}x{code.shape[1]}", m, min_hamming_distance(code, m), plotkin_bound(m, code.shape[1])])
    print(tabulate(rows, headers=["model", "code (rows x bits)", "classes", "min Hamming d (class rows)", "Plotkin bound"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Adversarial-robustness benchmark harness.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="evaluate the suite's models against its attacks and render the leaderboard")
    r.add_argument("suite", help="suite YAML file")
    r.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None, help="default: the suite's, else auto")
    r.add_argument("--data-dir", default=None, help="folder with the MNIST files (default: $BENCH_DATA_DIR, else a cache dir)")
    r.add_argument("--force", action="store_true", help="recompute cells that are already complete")
    r.add_argument("--model", action="append", help="only this model (repeatable)")
    r.add_argument("--out", default=None, help="results folder (default: the suite's outputs.dir)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--no-leaderboard", action="store_true", help="do not render the leaderboard at the end")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check suite files; one line per problem, exit 2 on any")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=cmd_validate)

    lb = sub.add_parser("leaderboard", help="render a results folder as Markdown, CSV, JSON and HTML")
    lb.add_argument("results", help="results folder (e.g. results/mnist_smoke)")
    lb.add_argument("--format", default="md,csv,json,html", help="comma-separated: md,csv,json,html")
    lb.set_defaults(func=cmd_leaderboard)

    ls = sub.add_parser("ls", help="list registered models, attack kinds or suites")
    ls.add_argument("what", choices=["models", "attacks", "suites"])
    ls.set_defaults(func=cmd_ls)

    z = sub.add_parser("zoo", help="model zoo: train, codes")
    zsub = z.add_subparsers(dest="zoo_command", required=True)
    zt = zsub.add_parser("train", help="train a zoo model from its card's recipe (resumable)")
    zt.add_argument("model")
    zt.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    zt.add_argument("--data-dir", default=None)
    zt.add_argument("--epochs-now", type=int, default=None, help="stop after this many epochs (resume later)")
    zt.set_defaults(func=cmd_zoo_train)
    zc = zsub.add_parser("codes", help="code matrices: size, minimum Hamming distance, Plotkin bound")
    zc.set_defaults(func=cmd_zoo_codes)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValidationError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return exc.exit_code
    except BenchError as exc:
        if os.environ.get("BENCH_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
