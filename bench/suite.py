"""Suites: the YAML file that says which models meet which attacks, on which examples.

Everything a run depends on is resolved here (includes merged, defaults filled in), so the sha256
of ``Suite.resolved`` identifies a run's configuration, and every problem is found before any model
is loaded: one line each, naming the file that set the bad key and the key itself. The format is
specified in docs/formats.md.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
import yaml

import bench.attacks  # noqa: F401  (importing the package registers the built-in kinds)
from bench.attacks.base import BACKENDS, KINDS, AttackKind, get_kind
from bench.attacks.backends import problems as backend_problems
from bench import data
from bench.errors import BenchError, ValidationError
from bench.worst_case import eps_key
from bench.zoo.registry import all_cards

if TYPE_CHECKING:
    from bench.zoo.card import Card

TOP_KEYS = (
    "name", "version", "description", "include", "dataset", "seed", "device", "batch_size",
    "examples", "models", "attacks", "leaderboard", "outputs",
)
REQUIRED_KEYS = ("name", "version", "dataset", "attacks")
ATTACK_KEYS = ("id", "kind", "backend", "params", "examples", "label", "drop")
EXAMPLE_KEYS = ("split", "count", "offset", "seed")
MODEL_KEYS = ("ids", "tags")
LEADERBOARD_KEYS = ("columns", "worst_case", "extra_columns", "headline_for")
EXTRA_COLUMN_KEYS = ("label", "attack", "field")
OUTPUT_KEYS = ("dir", "formats")
DATASETS = tuple(data.DATASETS)  # the registry (bench/data/sets/) is the one list
SPLITS = ("test", "train")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_EXAMPLES: dict[str, Any] = {"split": "test", "count": 100}
DEFAULT_SEED = 0
DEFAULT_BATCH_SIZE = 250
MAX_SEED = 2**32 - 1  # numpy.random.RandomState's limit
NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")

_Key = tuple[Any, ...]  # a path into the merged suite, e.g. ("attacks", "pgd", "params", "eps")
_Origin = tuple[str, int | None]  # (file as shown, attack index in that file)
_TOKEN = "\x00"  # placeholder prefix for kind-reported problems, re-anchored per key


@dataclass
class ExampleSelection:
    """Which examples of a split an attack runs on; deterministic, so cells can be cached."""

    split: str
    count: int
    offset: int | None = None
    seed: int | None = None

    def indices(self, total: int) -> torch.Tensor:
        """The sorted example indices (int64) into a split of ``total`` examples."""
        if self.seed is not None:
            if self.count > total:
                raise BenchError(f"examples: count {self.count} exceeds the {total} examples of the {self.split} split")
            picked = np.random.RandomState(self.seed).choice(total, self.count, replace=False)
            return torch.from_numpy(np.sort(picked).astype(np.int64))
        offset = self.offset or 0
        if offset + self.count > total:
            raise BenchError(
                f"examples: offset {offset} + count {self.count} exceeds the {total} examples of the {self.split} split"
            )
        return torch.arange(offset, offset + self.count, dtype=torch.long)

    def as_dict(self) -> dict[str, Any]:
        """The canonical form recorded in ``Suite.resolved`` (only the selection rule in use)."""
        rule = {"seed": self.seed} if self.seed is not None else {"offset": self.offset or 0}
        return {"split": self.split, "count": self.count, **rule}


@dataclass
class AttackConfig:
    """One attack of a suite, with the kind's defaults filled into ``params``."""

    id: str
    kind: str
    backend: str | None
    params: dict[str, Any]
    examples: ExampleSelection
    label: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "backend": self.backend, "params": self.params,
            "examples": self.examples.as_dict(), "label": self.label,
        }


@dataclass
class Suite:
    """A loaded, validated suite; ``resolved`` is what ``sha256`` identifies."""

    name: str
    version: int | str
    description: str
    dataset: str
    seed: int
    device: str | None
    batch_size: int
    examples: ExampleSelection
    models: Any  # "all" | [id, ...] | {ids: [...], tags: [...]}
    attacks: list[AttackConfig]
    columns: list[str]
    # None: the default (adversarial per-example attacks); a list: one worst-case column; a mapping
    # eps -> list (keys canonical, e.g. "0.1"): one worst-case column per eps
    worst_case: list[str] | dict[str, list[str]] | None
    out_dir: Path
    formats: list[str]
    path: Path
    resolved: dict[str, Any] = field(repr=False)
    sha256: str
    batch_size_explicit: bool = True  # False: the default was taken, and the runner measures one per model

    def select_models(self, cards: Mapping[str, Card]) -> list[str]:
        """The suite's model ids, in the order of ``cards``."""
        if self.models == "all":
            return [cid for cid, card in cards.items() if card.dataset == self.dataset]
        if isinstance(self.models, list):
            ids, tags = list(self.models), set()
        else:
            ids, tags = list(self.models.get("ids") or []), set(self.models.get("tags") or [])
        missing = [i for i in ids if i not in cards]
        if missing:
            known = ", ".join(cards) or "none"
            raise BenchError(f"suite '{self.name}': unknown model(s) {', '.join(missing)} (registered: {known})")
        for i in ids:
            self.check_dataset(cards[i])
        return [cid for cid, card in cards.items() if (cid in ids or tags & set(card.tags)) and card.dataset == self.dataset]

    def check_dataset(self, card: Card) -> None:
        """A model is only ever evaluated on the dataset it was trained for."""
        if card.dataset != self.dataset:
            raise BenchError(f"suite '{self.name}' ({self.path}) is on dataset {self.dataset}, "
                             f"model '{card.id}' on {card.dataset} ({card.path}): pick a model of {self.dataset}")

    @property
    def worst_case_groups(self) -> dict[str, list[str]] | None:
        """The worst-case columns as eps -> attack ids; the list form is one group keyed ``""``."""
        if self.worst_case is None:
            return None
        return dict(self.worst_case) if isinstance(self.worst_case, dict) else {"": list(self.worst_case)}

    def attack(self, attack_id: str) -> AttackConfig:
        for config in self.attacks:
            if config.id == attack_id:
                return config
        known = ", ".join(a.id for a in self.attacks)
        raise BenchError(f"suite '{self.name}': no attack '{attack_id}' (attacks: {known})")


def suite_digest(resolved: dict[str, Any]) -> str:
    """The resolved suite's sha256, with each attack's parameters as its cells' config hashes see
    them (``late`` parameters at their default left out): adding a parameter to a kind does not
    make every suite that uses the kind a different suite (bench check is strict on n when the
    suite changed)."""
    from bench.attacks.spec import hashed_params

    attacks = []
    for entry in resolved.get("attacks") or []:
        kind = entry.get("kind")
        params = hashed_params(get_kind(kind).params, entry.get("params") or {}) if kind in KINDS else entry.get("params")
        attacks.append({**entry, "params": params})
    return hashlib.sha256(json.dumps({**resolved, "attacks": attacks}, sort_keys=True).encode()).hexdigest()


def _matrix_kind(kind: str) -> bool:
    """Kinds that read other cells (transfer) render as matrices, not leaderboard columns."""
    return kind in KINDS and KINDS.get(kind).after_others


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
    state = _State(main=str(path))
    _apply_file(path, str(path), state, (), None)
    if state.fatal:  # a file could not be read or merged: checking the rest would mislead
        return None, state.problems
    return _Builder(state, path, _known_models(known_models)).build()


def _known_models(given: set[str] | None) -> set[str] | None:
    if given is not None:
        return given
    try:
        return set(all_cards())
    except (BenchError, OSError, yaml.YAMLError):
        return None


# --- reading and merging ------------------------------------------------------------------------


@dataclass
class _State:
    """The merge of a file and everything it includes, and which file set each key."""

    main: str
    top: dict[str, Any] = field(default_factory=dict)
    attacks: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id, in suite order
    origins: dict[_Key, _Origin] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    fatal: bool = False  # the merge is incomplete (unreadable file, bad include, ...)

    def fail(self, problem: str) -> None:
        self.problems.append(problem)
        self.fatal = True


def _apply_file(path: Path, shown: str, state: _State, stack: tuple[tuple[Path, str], ...], includer: str | None) -> None:
    """Merge the file (after its own includes, in order) onto ``state``."""
    real = path.resolve()
    seen = [p for p, _ in stack]
    if real in seen:
        chain = " -> ".join([s for _, s in stack[seen.index(real):]] + [shown])
        state.fail(f"{includer}: include: cycle {chain}")
        return
    if not path.is_file():
        state.fail(f"{includer}: include: file not found: {shown}" if includer else f"{shown}: file not found")
        return
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        state.fail(f"{shown}: cannot read ({exc.strerror or exc})")
        return
    except yaml.YAMLError as exc:
        state.fail(f"{shown}: invalid YAML: {_yaml_error(exc)}")
        return
    if data is None:
        data = {}
    if not isinstance(data, dict):
        state.fail(f"{shown}: must be a mapping of suite keys, got {type(data).__name__}")
        return
    state.problems.extend(f"{shown}: unknown key {k!r}" for k in data if k not in TOP_KEYS)
    for target in _include_list(data.get("include"), shown, state):
        _apply_file(path.parent / target, str(Path(shown).parent / target), state, (*stack, (real, shown)), shown)
    own = {k: v for k, v in data.items() if k in TOP_KEYS and k not in ("include", "attacks")}
    _merge_into(state.top, own, (), (shown, None), state.origins)
    if "attacks" in data:
        _apply_attacks(data["attacks"], shown, state)


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is not None and problem:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def _include_list(value: Any, shown: str, state: _State) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        state.fail(f"{shown}: include: must be a path or a list of paths, got {value!r}")
        return []
    return items


def _apply_attacks(entries: Any, shown: str, state: _State) -> None:
    """Attacks merge by id: same id overrides the given keys, ``drop: true`` removes, new ids append."""
    if not isinstance(entries, list):
        state.fail(f"{shown}: attacks: must be a list of attacks, got {entries!r}")
        return
    state.origins[("attacks",)] = (shown, None)
    first: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"{shown}: attacks[{i}]"
        if not isinstance(entry, dict):
            state.problems.append(f"{where}: must be a mapping with id and kind, got {entry!r}")
            continue
        state.problems.extend(f"{where}: unknown key {k!r} (allowed: {', '.join(ATTACK_KEYS)})" for k in entry if k not in ATTACK_KEYS)
        aid, drop = entry.get("id"), entry.get("drop", False)
        if aid is None:
            state.problems.append(f"{where}: missing required key 'id'")
            continue
        if not isinstance(aid, str) or not NAME_RE.fullmatch(aid):
            state.problems.append(f"{where}.id: must match [A-Za-z0-9_.-]+, got {aid!r}")
            continue
        if aid in first:
            state.problems.append(f"{where}.id: duplicate attack id '{aid}' (also attacks[{first[aid]}])")
            continue
        first[aid] = i
        if not isinstance(drop, bool):
            state.problems.append(f"{where}.drop: must be true or false, got {drop!r}")
        elif drop:
            if state.attacks.pop(aid, None) is None:
                state.problems.append(f"{where}.drop: no attack '{aid}' to drop")
        else:
            if aid not in state.attacks:
                state.attacks[aid] = {}
                _set_origin(state.origins, ("attacks", aid), (shown, i))
            body = {k: v for k, v in entry.items() if k in ATTACK_KEYS and k != "drop"}
            _merge_into(state.attacks[aid], body, ("attacks", aid), (shown, i), state.origins)


def _merge_into(base: dict[str, Any], over: dict[str, Any], path: _Key, src: _Origin, origins: dict[_Key, _Origin]) -> None:
    """Deep-merge ``over`` into ``base`` in place (mappings key by key, anything else replaced)."""
    if path == ("examples",) or (len(path) == 3 and path[0] == "attacks" and path[2] == "examples"):
        _drop_rule(base, over)
    for key, value in over.items():
        sub = (*path, key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_into(base[key], value, sub, src, origins)
        else:
            base[key] = copy.deepcopy(value)
            _set_origin(origins, sub, src)


def _drop_rule(base: dict[str, Any], over: Any) -> None:
    """``offset`` and ``seed`` are one choice: an override giving either replaces both."""
    if isinstance(over, dict) and ("offset" in over or "seed" in over):
        base.pop("offset", None)
        base.pop("seed", None)


def _set_origin(origins: dict[_Key, _Origin], path: _Key, src: _Origin) -> None:
    for key in [k for k in origins if k[: len(path)] == path]:
        del origins[key]
    origins[path] = src


# --- validating and building --------------------------------------------------------------------


class _Builder:
    """Checks the merged suite and builds it; each problem names the file that set the key."""

    def __init__(self, state: _State, path: Path, known_models: set[str] | None):
        self.state, self.path, self.known_models = state, path, known_models
        self.problems: list[str] = list(state.problems)

    def at(self, *path: Any, via: _Key = ()) -> str:
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

    def build(self) -> tuple[Suite | None, list[str]]:
        top, attacks = self.state.top, self.state.attacks
        for key in REQUIRED_KEYS:
            present = ("attacks",) in self.state.origins if key == "attacks" else key in top
            if not present:
                self.problem(self.state.main, f"missing required key '{key}'")
        if ("attacks",) in self.state.origins and not attacks:
            self.problem(self.at("attacks"), "must list at least one attack")

        name = top.get("name")
        if "name" in top and not (isinstance(name, str) and NAME_RE.fullmatch(name)):
            self.problem(self.at("name"), f"must match [A-Za-z0-9_.-]+, got {name!r}")
        version = top.get("version")
        if "version" in top and (isinstance(version, bool) or not isinstance(version, (int, str))):
            self.problem(self.at("version"), f"must be an integer or a string, got {version!r}")
        description = top.get("description") or ""
        if not isinstance(description, str):
            self.problem(self.at("description"), f"must be a string, got {description!r}")
        if "dataset" in top:
            self.choice(top["dataset"], ("dataset",), DATASETS)
        seed = top.get("seed", DEFAULT_SEED)
        self.integer(seed, ("seed",), 0, MAX_SEED)
        device = top.get("device")
        if device is not None:
            self.choice(device, ("device",), DEVICES)
        batch_size = top.get("batch_size", DEFAULT_BATCH_SIZE)
        self.integer(batch_size, ("batch_size",), 1)
        top_examples = top.get("examples", {})
        self.check_examples(top_examples, ("examples",))
        models = top.get("models", "all")
        self.check_models(models)

        configs = [self.attack_config(aid, body) for aid, body in attacks.items()]
        leaderboard = self.section(top.get("leaderboard"), "leaderboard", LEADERBOARD_KEYS, LEADERBOARD_KEYS[:2])
        columns = self.attack_ids(leaderboard.get("columns"), "columns")
        worst_case = self.worst_case(leaderboard.get("worst_case"), {c.id: c for c in configs if c is not None})
        extra_columns = self.extra_columns(leaderboard.get("extra_columns"))
        headline_for = leaderboard.get("headline_for")
        if headline_for is not None and (not isinstance(headline_for, list) or not headline_for
                                         or not all(isinstance(n, str) and n for n in headline_for)):
            self.problem(self.at("leaderboard", "headline_for"), f"must be a non-empty list of suite names, got {headline_for!r}")
        out_dir, formats = self.outputs(self.section(top.get("outputs"), "outputs", OUTPUT_KEYS), name)

        if self.problems:
            return None, self.problems
        selection = _selection(top_examples, {})
        built = [c for c in configs if c is not None]
        resolved = copy.deepcopy({
            "name": name, "version": version, "description": description, "dataset": top["dataset"],
            "seed": seed, "device": device, "batch_size": batch_size, "examples": selection.as_dict(),
            "models": models, "attacks": [c.as_dict() for c in built],
            "leaderboard": {"columns": columns or [c.id for c in built if not _matrix_kind(c.kind)], "worst_case": worst_case,
                            **({"extra_columns": extra_columns} if extra_columns else {}),
                            **({"headline_for": list(headline_for)} if headline_for else {})},
            "outputs": {"dir": out_dir, "formats": formats},
        })
        digest = suite_digest(resolved)
        return Suite(
            name=name, version=version, description=description, dataset=top["dataset"], seed=seed,
            device=device, batch_size=batch_size, examples=selection, models=copy.deepcopy(models),
            attacks=built, columns=list(resolved["leaderboard"]["columns"]), worst_case=worst_case,
            out_dir=Path.cwd() / out_dir, formats=formats, path=self.path, resolved=resolved, sha256=digest,
            batch_size_explicit="batch_size" in top,
        ), []

    def integer(self, value: Any, path: _Key, minimum: int, maximum: int | None = None) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(self.at(*path), f"must be an integer, got {value!r}")
        elif value < minimum:
            self.problem(self.at(*path), f"must be {'> 0' if minimum == 1 else f'>= {minimum}'}, got {value}")
        elif maximum is not None and value > maximum:
            self.problem(self.at(*path), f"must be <= {maximum}, got {value}")

    def choice(self, value: Any, path: _Key, choices: tuple[str, ...]) -> None:
        if not isinstance(value, str) or value not in choices:
            self.problem(self.at(*path), f"must be one of {', '.join(choices)}, got {value!r}")

    def unknown_keys(self, mapping: dict[Any, Any], path: _Key, allowed: tuple[str, ...]) -> None:
        for key in mapping:
            if key not in allowed:
                self.problem(self.at(*path, via=(key,)), f"unknown key {key!r} (allowed: {', '.join(allowed)})")

    def check_examples(self, examples: Any, path: _Key) -> None:
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

    def check_models(self, models: Any) -> None:
        if models == "all":
            return
        lists: dict[_Key, Any]
        if isinstance(models, list):
            lists = {("models",): models}
        elif isinstance(models, dict):
            self.unknown_keys(models, ("models",), MODEL_KEYS)
            lists = {("models", k): models[k] for k in MODEL_KEYS if k in models}
            if not lists:
                self.problem(self.at("models"), "must give ids or tags")
        else:
            self.problem(self.at("models"), f"must be 'all', a list of model ids or a mapping with ids and tags, got {models!r}")
            return
        for path, items in lists.items():
            if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
                self.problem(self.at(*path), f"must be a non-empty list of strings, got {items!r}")
            elif path[-1] != "tags" and self.known_models is not None:
                known = ", ".join(sorted(self.known_models)) or "none"
                for model_id in items:
                    if model_id not in self.known_models:
                        self.problem(self.at(*path), f"unknown model '{model_id}' (registered: {known})")

    def attack_config(self, aid: str, body: dict[str, Any]) -> AttackConfig | None:
        """The attack resolved against its kind, or None (with problems recorded)."""
        here = ("attacks", aid)
        kind_name, backend = body.get("kind"), body.get("backend")
        kind: AttackKind | None = None
        if "kind" not in body:
            self.problem(self.at(*here), "missing required key 'kind'")
        elif isinstance(kind_name, str) and kind_name in KINDS:
            kind = get_kind(kind_name)
        else:
            self.problem(self.at(*here, via=("kind",)), f"unknown attack kind {kind_name!r} (known: {', '.join(KINDS) or 'none'})")
        if backend is not None and backend not in BACKENDS:
            self.problem(self.at(*here, "backend"), f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
        elif kind is not None:
            if kind.backends and backend is None:
                self.problem(self.at(*here), f"missing required key 'backend' (kind '{kind_name}' runs on: {', '.join(kind.backends)})")
            elif not kind.backends and backend is not None:
                self.problem(self.at(*here, "backend"), f"kind '{kind_name}' takes no backend, got {backend!r}")
            elif backend is not None and backend not in kind.backends:
                self.problem(self.at(*here, "backend"), f"kind '{kind_name}' does not run on '{backend}' (supported: {', '.join(kind.backends)})")
        params: dict[str, Any] = {}
        if kind is not None:
            params = self.kind_params(kind, body.get("params"), aid)
            if params and kind.backend_op and backend in kind.backends:  # what the chosen backend can run
                for key, message in backend_problems(backend, kind.backend_op, params):
                    where = self.at(*here, "params", key) if key else self.at(*here, "backend")
                    self.problem(where, f"attack '{aid}': {message}")
        label = body.get("label", aid)
        if not isinstance(label, str) or not label:
            self.problem(self.at(*here, "label"), f"must be a non-empty string, got {label!r}")
        examples = body.get("examples", {})
        self.check_examples(examples, (*here, "examples"))
        if self.problems or kind is None:  # only a valid suite is built
            return None
        return AttackConfig(
            id=aid, kind=kind.name, backend=backend, params=params,
            examples=_selection(self.state.top.get("examples", {}), examples), label=label,
        )

    def kind_params(self, kind: AttackKind, params: Any, aid: str) -> dict[str, Any]:
        """Resolved params; the kind's problems are re-anchored to the file that set each key."""
        lines = kind.validate(params, _TOKEN)
        for line in lines:
            rest = line[len(_TOKEN):] if line.startswith(_TOKEN) else f": {line}"
            key = rest[1:].split(":", 1)[0].split(".", 1)[0] if rest.startswith(".") else None
            self.problems.append(self.at("attacks", aid, "params", via=(key,) if key else ()) + rest)
        if lines:
            return {}
        resolved = kind.resolve(params)
        others = ", ".join(a for a in self.state.attacks if a != aid) or "none"
        for key, param in kind.params.items():  # parameters that name other attacks of the suite
            if not param.ref:
                continue
            value = resolved.get(key)
            names = value if isinstance(value, list) else [value]
            for name in names:
                if not isinstance(name, str) or (param.type is str and name == "" and key != "source_attack"):
                    continue
                if name == aid or name not in self.state.attacks:
                    self.problem(self.at("attacks", aid, "params", key), f"must name another attack of this suite, got {name!r} (attacks: {others})")
        return resolved

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

    def attack_ids(self, ids: Any, key: str, path: _Key | None = None) -> list[str] | None:
        """``leaderboard.<key>`` (or the list at ``path``): attack ids of this suite, or None if not given."""
        if ids is None:
            return None
        path = path or ("leaderboard", key)
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            self.problem(self.at(*path), f"must be a non-empty list of attack ids, got {ids!r}")
            return None
        known = ", ".join(self.state.attacks) or "none"
        for i, attack_id in enumerate(ids):
            if attack_id in ids[:i]:
                self.problem(self.at(*path), f"attack '{attack_id}' listed twice")
            elif attack_id not in self.state.attacks:
                self.problem(self.at(*path), f"unknown attack id '{attack_id}' (attacks: {known})")
            elif key == "worst_case":
                kind_name = self.state.attacks[attack_id].get("kind")
                if kind_name in KINDS and not get_kind(kind_name).per_example:
                    self.problem(self.at(*path), f"attack '{attack_id}' ({kind_name}) has no per-example verdicts")
        return list(ids)

    def worst_case(self, spec: Any, configs: dict[str, AttackConfig]) -> list[str] | dict[str, list[str]] | None:
        """``leaderboard.worst_case``: a list of attack ids (one worst-case column), or a mapping
        eps -> list of attack ids (one column per eps; keys canonicalised to e.g. "0.1"). In the
        mapping form an attack with an ``eps`` parameter must have that group's eps."""
        path = ("leaderboard", "worst_case")
        if spec is None or isinstance(spec, list):
            return self.attack_ids(spec, "worst_case")
        if not isinstance(spec, dict) or not spec:
            self.problem(self.at(*path), "must be a non-empty list of attack ids, or a mapping from eps to "
                                         f"non-empty lists of attack ids, got {spec!r}")
            return None
        out: dict[str, list[str]] = {}
        for key, ids in spec.items():
            where = self.at(*path, key)
            eps = eps_key(key)
            if eps is None:
                self.problem(where, f"key must be an eps (a number > 0), got {key!r}")
                continue
            if eps in out:
                self.problem(where, f"eps {eps} listed twice")
                continue
            group = self.attack_ids(ids, "worst_case", (*path, key))
            if group is None:
                continue
            for attack_id in group:
                given = configs[attack_id].params.get("eps") if attack_id in configs else None
                if isinstance(given, (int, float)) and not isinstance(given, bool) and not math.isclose(given, float(eps)):
                    self.problem(where, f"attack '{attack_id}' has eps {given:g}, not {eps}")
            out[eps] = group
        return out

    def extra_columns(self, spec: Any) -> list[dict[str, str]] | None:
        """``leaderboard.extra_columns``: [{label, attack, field}]: a number from one attack's cells
        (``field``: a key of the cell's ``extra``, or ``error`` = 1 - value) as a column."""
        if spec is None:
            return None
        path = ("leaderboard", "extra_columns")
        if not isinstance(spec, list) or not spec:
            self.problem(self.at(*path), f"must be a non-empty list of {{label, attack, field}} mappings, got {spec!r}")
            return None
        known = ", ".join(self.state.attacks) or "none"
        labels: list[str] = []
        for i, entry in enumerate(spec):
            where = self.at(*path) + f"[{i}]"
            if not isinstance(entry, dict):
                self.problem(where, f"must be a mapping with label, attack and field, got {entry!r}")
                continue
            for key in entry:
                if key not in EXTRA_COLUMN_KEYS:
                    self.problem(where, f"unknown key {key!r} (allowed: {', '.join(EXTRA_COLUMN_KEYS)})")
            for key in EXTRA_COLUMN_KEYS:
                if not isinstance(entry.get(key), str) or not entry.get(key):
                    self.problem(where, f"{key}: must be a non-empty string, got {entry.get(key)!r}")
            if isinstance(entry.get("attack"), str) and entry["attack"] and entry["attack"] not in self.state.attacks:
                self.problem(where, f"attack: unknown attack id {entry['attack']!r} (attacks: {known})")
            if entry.get("label") in labels:
                self.problem(where, f"label: {entry['label']!r} listed twice")
            labels.append(entry.get("label"))
        return [dict(e) for e in spec if isinstance(e, dict)]

    def outputs(self, outputs: dict[str, Any], name: Any) -> tuple[str, list[str]]:
        """(results dir as given, formats), defaults filled in."""
        out_dir = outputs.get("dir", f"results/{name}")
        if not isinstance(out_dir, str) or not out_dir:
            self.problem(self.at("outputs", "dir"), f"must be a non-empty path, got {out_dir!r}")
        from bench.report.writers import names  # the registry of report writers: the only list of formats

        known = names()
        formats = outputs.get("formats", list(known))
        if not isinstance(formats, list) or not formats:
            self.problem(self.at("outputs", "formats"), f"must be a non-empty list of {', '.join(known)}, got {formats!r}")
            return out_dir, list(known)
        for fmt in formats:
            if fmt not in known:
                self.problem(self.at("outputs", "formats"), f"unknown format {fmt!r} (known: {', '.join(known)})")
        return out_dir, formats


def _selection(top: dict[str, Any], override: dict[str, Any]) -> ExampleSelection:
    """Defaults, then the suite's selection, then the attack's override (all already checked)."""
    merged = {**DEFAULT_EXAMPLES, **top}
    _drop_rule(merged, override)
    merged.update(override)
    return ExampleSelection(
        split=merged["split"], count=merged["count"],
        offset=None if "seed" in merged else merged.get("offset", 0), seed=merged.get("seed"),
    )
