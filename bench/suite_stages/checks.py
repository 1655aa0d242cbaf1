"""What every stage of building a suite shares: where a key was set, and the common checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.suite_stages.merge import State
from bench.suite_stages.model import ExampleSelection
from bench.suite_stages.schema import EXAMPLE_KEYS, MAX_SEED, SPLITS, Key


class Checker:
    """Collects problems, each naming the file that set the key (``at``)."""

    def __init__(self, state: State, path: Path, known_models: set[str] | None):
        self.state, self.path, self.known_models = state, path, known_models
        self.problems: list[str] = list(state.problems)

    def at(self, *path: Any, via: Key = ()) -> str:
        """'file: key' for ``path``; the file (and attack index) is whoever set ``path + via``."""
        full = (*path, *via)
        file, index = self.state.main, None
        for n in range(len(full), 0, -1):
            if full[:n] in self.state.origins:
                file, index = self.state.origins[full[:n]]
                break
        if not path:
            return file
        if path[0] == "attacks" and len(path) > 1:
            return f"{file}: attacks[{index}]" + "".join(f".{p}" for p in path[2:])
        return f"{file}: " + ".".join(map(str, path))


    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")


    def integer(self, value: Any, path: Key, minimum: int, maximum: int | None = None) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(self.at(*path), f"must be an integer, got {value!r}")
        elif value < minimum:
            self.problem(self.at(*path), f"must be {'> 0' if minimum == 1 else f'>= {minimum}'}, got {value}")
        elif maximum is not None and value > maximum:
            self.problem(self.at(*path), f"must be <= {maximum}, got {value}")


    def choice(self, value: Any, path: Key, choices: tuple[str, ...]) -> None:
        if not isinstance(value, str) or value not in choices:
            self.problem(self.at(*path), f"must be one of {', '.join(choices)}, got {value!r}")


    def unknown_keys(self, mapping: dict[Any, Any], path: Key, allowed: tuple[str, ...]) -> None:
        for key in mapping:
            if key not in allowed:
                self.problem(self.at(*path, via=(key,)), f"unknown key {key!r} (allowed: {', '.join(allowed)})")


    def section(self, value: Any, key: str, allowed: tuple[str, ...], shown: tuple[str, ...] | None = None) -> dict[str, Any]:
        """An optional mapping section (``{}`` if absent or malformed, with a problem for the latter);
        ``shown``: the keys the problem names (default: all allowed)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(self.at(key), f"must be a mapping with {' and '.join(shown or allowed)}, got {value!r}")
            return {}
        self.unknown_keys(value, (key,), allowed)
        return value


    def check_examples(self, examples: Any, path: Key) -> None:
        """A full or partial (per-attack override) selection."""
        if not isinstance(examples, dict):
            self.problem(self.at(*path), f"must be a mapping with split, count and offset or seed, got {examples!r}")
            return
        self.unknown_keys(examples, path, EXAMPLE_KEYS)
        if "split" in examples:
            self.choice(examples["split"], (*path, "split"), SPLITS)
        if "count" in examples:
            self.integer(examples["count"], (*path, "count"), 1)
        if "offset" in examples:
            self.integer(examples["offset"], (*path, "offset"), 0)
        if "seed" in examples:
            self.integer(examples["seed"], (*path, "seed"), 0, MAX_SEED)
        if "offset" in examples and "seed" in examples:
            self.problem(self.at(*path, via=("seed",)), "give offset or seed, not both")

    def fits_split(self, chosen: ExampleSelection, dataset: str, path: Key) -> None:
        """The selection lies inside its split (checked here, not when a run reaches the attack)."""
        from bench.data import get

        total = get(dataset).split_sizes.get(chosen.split)
        problem = chosen.out_of_range(total, f"{dataset} {chosen.split}") if total is not None else None
        if problem:
            self.problem(self.at(*path), problem)
