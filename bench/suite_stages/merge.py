"""Reading a suite file and everything it includes into one merged mapping, remembering which
file set each key (so a problem can name it)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.suite_stages.model import drop_rule
from bench.suite_stages.schema import ATTACK_KEYS, NAME_RE, TOP_KEYS, Key, Origin
from bench.yaml_file import YamlFileError, read_yaml


@dataclass
class State:
    """The merge of a file and everything it includes, and which file set each key."""

    main: str
    top: dict[str, Any] = field(default_factory=dict)
    attacks: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id, in suite order
    origins: dict[Key, Origin] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    fatal: bool = False  # the merge is incomplete (unreadable file, bad include, ...)

    def fail(self, problem: str) -> None:
        self.problems.append(problem)
        self.fatal = True


def apply_file(path: Path, shown: str, state: State, stack: tuple[tuple[Path, str], ...], includer: str | None) -> None:
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
        data = read_yaml(path, shown)
    except YamlFileError as exc:
        state.fail(str(exc))
        return
    if data is None:
        data = {}
    if not isinstance(data, dict):
        state.fail(f"{shown}: must be a mapping of suite keys, got {type(data).__name__}")
        return
    state.problems.extend(f"{shown}: unknown key {k!r}" for k in data if k not in TOP_KEYS)
    for target in include_list(data.get("include"), shown, state):
        apply_file(path.parent / target, str(Path(shown).parent / target), state, (*stack, (real, shown)), shown)
    own = {k: v for k, v in data.items() if k in TOP_KEYS and k not in ("include", "attacks")}
    merge_into(state.top, own, (), (shown, None), state.origins)
    if "attacks" in data:
        apply_attacks(data["attacks"], shown, state)


def include_list(value: Any, shown: str, state: State) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        state.fail(f"{shown}: include: must be a path or a list of paths, got {value!r}")
        return []
    return items


def apply_attacks(entries: Any, shown: str, state: State) -> None:
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
                set_origin(state.origins, ("attacks", aid), (shown, i))
            body = {k: v for k, v in entry.items() if k in ATTACK_KEYS and k != "drop"}
            merge_into(state.attacks[aid], body, ("attacks", aid), (shown, i), state.origins)


def merge_into(base: dict[str, Any], over: dict[str, Any], path: Key, src: Origin, origins: dict[Key, Origin]) -> None:
    """Deep-merge ``over`` into ``base`` in place (mappings key by key, anything else replaced)."""
    if path == ("examples",) or (len(path) == 3 and path[0] == "attacks" and path[2] == "examples"):
        drop_rule(base, over)
    for key, value in over.items():
        sub = (*path, key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_into(base[key], value, sub, src, origins)
        else:
            base[key] = copy.deepcopy(value)
            set_origin(origins, sub, src)


def set_origin(origins: dict[Key, Origin], path: Key, src: Origin) -> None:
    for key in [k for k in origins if k[: len(path)] == path]:
        del origins[key]
    origins[path] = src
