"""`bench validate`: check suite files."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import ValidationError


def cmd_validate(args: argparse.Namespace) -> int:
    from bench.blindspots.suite import is_blindspot_study
    from bench.suite import validate_suite_file

    problems: list[str] = []
    for f in args.files:
        if is_blindspot_study(Path(f)):
            problems += _blindspot_problems(Path(f))
            continue
        found = validate_suite_file(Path(f))
        problems += found or _model_problems(Path(f))
    if problems:
        raise ValidationError(problems)
    for f in args.files:
        print(f"{f}: ok")
    return 0


def _blindspot_problems(path: Path) -> list[str]:
    from bench.blindspots.suite import load_suite

    try:
        load_suite(path)
    except ValidationError as exc:
        return list(exc.problems)
    return []


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
