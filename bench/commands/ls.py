"""`bench ls`: what is registered."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterable
from bench.commands import DATA_DIR_HELP



REPO_ROOT = Path(__file__).resolve().parents[2]


def _suite_dirs() -> list[Path]:
    dirs = [Path.cwd() / "suites", REPO_ROOT / "suites"]
    return list(dict.fromkeys(d.resolve() for d in dirs if d.is_dir()))


def _param_rows(kinds: Iterable[tuple[str, Any]]) -> list[list[str]]:
    """One row per parameter of each kind, from its Param spec (the one place defaults live)."""
    rows = []
    for name, kind in kinds:
        for key, p in kind.params.items():
            types = p.type if isinstance(p.type, tuple) else (p.type,)
            rows.append([name, key, "|".join(t.__name__ for t in types), repr(p.default), p.doc])
    return rows


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
    elif args.what == "datasets":
        from bench.data import DATASETS

        rows = []
        for name, ds in DATASETS.items():
            found = ds.find(args.data_dir, download=False)
            where = f"found: {found.folder} ({found.source})" if found.folder else f"not found: {found.error}"
            rows.append([name, "x".join(map(str, ds.input_shape)), ds.num_classes, where])
        print(tabulate(rows, headers=["dataset", "shape", "classes", "files"], maxcolwidths=[None, None, None, 80]))
    elif args.what == "attacks":
        from bench.attacks import KINDS

        if args.params:
            print(tabulate(_param_rows(KINDS.items()), headers=["kind", "parameter", "type", "default", "what it does"],
                           maxcolwidths=[None, None, None, 14, 48]))
        else:
            rows = [[name, ",".join(k.backends) or "-", k.metric, k.description] for name, k in KINDS.items()]
            print(tabulate(rows, headers=["kind", "backends", "metric", "description"]))
    else:
        from bench.yaml_file import YamlFileError, read_yaml

        rows = []
        for d in _suite_dirs():
            for f in sorted(d.glob("*.yaml")):
                try:
                    data = read_yaml(f) or {}
                except YamlFileError:
                    data = {}
                if not isinstance(data, dict):
                    data = {}
                desc = " ".join(str(data.get("description", "")).split()).split(": ")[0].split(". ")[0]
                shown = f.relative_to(Path.cwd()) if f.is_relative_to(Path.cwd()) else f
                rows.append([str(shown), data.get("version", "?"), desc[:90]])
        print(tabulate(rows, headers=["suite", "version", "description"]))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    ls = sub.add_parser("ls", help="list registered models, attack kinds or suites")
    ls.add_argument("what", choices=["models", "attacks", "suites", "datasets"])
    ls.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    ls.add_argument("--params", action="store_true", help="with attacks: every kind's parameters, defaults and what they do")
    ls.set_defaults(func=cmd_ls)
