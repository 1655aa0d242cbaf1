"""`bench zoo add FOLDER`: validate a submission and register it in the zoo (docs/submitting.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from bench.commands import DATA_DIR_HELP


def _check_reported(folder: Path) -> None:
    """Paper values keyed by attack id, before anything is registered (bench.zoo.reported)."""
    from bench.errors import ValidationError
    from bench.zoo.card import CARD_FILE
    from bench.yaml_file import YamlFileError, read_yaml
    from bench.zoo.reported import key_problems

    path = folder / CARD_FILE
    try:
        data = read_yaml(path)
    except YamlFileError:
        return  # the card's own validation says what is wrong with the file
    problems = key_problems(data.get("reported") if isinstance(data, dict) else None, str(path))
    if problems:
        raise ValidationError(problems)


def cmd_zoo_add(args: argparse.Namespace) -> int:
    from bench.zoo.registry import zoo_paths
    from bench.zoo.submit import add

    _check_reported(Path(args.folder))
    sub, where = add(Path(args.folder), zoo_dir=args.zoo_dir, data_dir=args.data_dir, id_only=args.id_check_only)
    for line in sub.checks:
        print(f"ok  {line}")
    if where is None:
        print(f"{sub.card.id}: id and card ok; would register as {args.zoo_dir or 'zoo'}/{sub.folder_name} (nothing written)")
        return 0
    print(f"registered {sub.card.id} -> {where}")
    if not any(where.parent.resolve() == p.resolve() for p in zoo_paths() if p.exists()):
        print(f"note: {where.parent} is not on the zoo path; add it to $BENCH_ZOO_PATH to use the model", file=sys.stderr)
    print(f"next: bench zoo submit-check {sub.card.id}")
    return 0


def register_zoo(zsub: argparse._SubParsersAction) -> None:
    a = zsub.add_parser("add", help="validate a submission folder (card, sha256, strict load, shape, determinism, gradients) and register it")
    a.add_argument("folder", help="folder with card.yaml, the model code and the safetensors checkpoint")
    a.add_argument("--id-check-only", action="store_true",
                   help="only check the card's schema and that its id is free (before training); write nothing")
    a.add_argument("--zoo-dir", default=None, help="register into this folder (default: $BENCH_ZOO_TARGET, else the repo's zoo/)")
    a.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    a.set_defaults(func=cmd_zoo_add)
