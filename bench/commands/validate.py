"""`bench validate`: check suite files."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import ValidationError


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


def register(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("validate", help="check suite files; one line per problem, exit 2 on any")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=cmd_validate)
