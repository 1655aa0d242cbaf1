"""`bench validate`: check suite files."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import ValidationError


def cmd_validate(args: argparse.Namespace) -> int:
    from bench.suite import validate_suite_file

    problems: list[str] = []
    for f in args.files:
        found = validate_suite_file(Path(f))
        problems += found or _model_problems(Path(f))
    if problems:
        raise ValidationError(problems)
    for f in args.files:
        print(f"{f}: ok")
    return 0


def _model_problems(path: Path) -> list[str]:
    """The suite's explicitly named models must be of its dataset (one line naming both)."""
    from bench.errors import BenchError
    from bench.suite import load_suite
    from bench.zoo.registry import all_cards

    try:
        load_suite(path).select_models(all_cards())
    except BenchError as exc:
        return [str(exc)]
    return []


def register(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("validate", help="check suite files; one line per problem, exit 2 on any")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=cmd_validate)
