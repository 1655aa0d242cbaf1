"""Suites: the YAML file that says which models meet which attacks, on which examples.

Everything a run depends on is resolved here (includes merged, defaults filled in), so the sha256
of ``Suite.resolved`` identifies a run's configuration, and every problem is found before any model
is loaded: one line each, naming the file that set the bad key and the key itself. The format is
specified in docs/formats.md.

The stages live in bench/suite_stages/ (schema: keys and defaults; merge: files and includes;
top, attacks, leaderboard: the checks of each part; builder: the resolved suite); this module is
the entry point and keeps the names callers import.
"""

from __future__ import annotations

from pathlib import Path


import bench.attacks  # noqa: F401  (importing the package registers the built-in kinds)
from bench.errors import BenchError, ValidationError
from bench.suite_stages.builder import Builder
from bench.suite_stages.merge import State, apply_file
from bench.suite_stages.model import AttackConfig, ExampleSelection, Suite, suite_digest
from bench.zoo.registry import all_cards

__all__ = ["AttackConfig", "ExampleSelection", "Suite", "load_suite", "suite_digest", "validate_suite_file"]


def load_suite(path: str | Path, known_models: set[str] | None = None) -> Suite:
    """The suite at ``path``; raises ValidationError listing every problem."""
    suite, problems = _load(Path(path), known_models)
    if problems or suite is None:
        raise ValidationError(problems)
    return suite


def validate_suite_file(path: str | Path, known_models: set[str] | None = None) -> list[str]:
    """Every problem with the suite at ``path``, one line each (empty: valid).

    ``known_models`` defaults to the zoo's ids; model ids go unchecked if the zoo can't be read.
    """
    return _load(Path(path), known_models)[1]


def _load(path: Path, known_models: set[str] | None) -> tuple[Suite | None, list[str]]:
    state = State(main=str(path))
    apply_file(path, str(path), state, (), None)
    if state.fatal:  # a file could not be read or merged: checking the rest would mislead
        return None, state.problems
    return Builder(state, path, _known_models(known_models)).build()


def _known_models(given: set[str] | None) -> set[str] | None:
    if given is not None:
        return given
    try:
        return set(all_cards())
    except (BenchError, OSError):
        return None
