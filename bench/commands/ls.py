"""`bench ls`: what is registered."""

from __future__ import annotations

import argparse
from pathlib import Path



REPO_ROOT = Path(__file__).resolve().parents[2]


def _suite_dirs() -> list[Path]:
    dirs = [Path.cwd() / "suites", REPO_ROOT / "suites"]
    return list(dict.fromkeys(d.resolve() for d in dirs if d.is_dir()))


def cmd_ls(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    if args.what == "models":
        from bench import zoo

        from bench.train.progress import progress

        rows = []
        for mid, card in zoo.all_cards().items():
            acc = card.measured.get("clean_accuracy")
            status = zoo.registry.checkpoint_status(card)
            prog = progress(card)
            rows.append([mid, card.data["family"], ",".join(card.tags), f"{acc:.4f}" if acc is not None else "-",
                         prog.text() if prog else "-", status, str(card.data["description"]).split(". ")[0][:60]])
        print(tabulate(rows, headers=["id", "family", "tags", "clean acc", "epochs", "checkpoint", "description"]))
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


def register(sub: argparse._SubParsersAction) -> None:
    ls = sub.add_parser("ls", help="list registered models, attack kinds or suites")
    ls.add_argument("what", choices=["models", "attacks", "suites"])
    ls.set_defaults(func=cmd_ls)
