"""The leaderboard stage: columns, worst-case groups, extra columns, headline_for (attack ids
checked against the suite's attacks)."""

from __future__ import annotations

import math
from typing import Any

from bench.attacks.base import KINDS, get_kind
from bench.suite_stages.checks import Checker
from bench.suite_stages.model import AttackConfig
from bench.suite_stages.schema import EXTRA_COLUMN_KEYS, LEADERBOARD_KEYS, Key
from bench.worst_case import eps_key


class LeaderboardChecks(Checker):
    """``leaderboard``: which attacks are columns and which make up each worst case."""

    def leaderboard(self, configs: dict[str, AttackConfig]) -> dict[str, Any]:
        """The checked section: columns (None: the default), worst_case, extra_columns, headline_for."""
        leaderboard = self.section(self.state.top.get("leaderboard"), "leaderboard", LEADERBOARD_KEYS, LEADERBOARD_KEYS[:2])
        columns = self.attack_ids(leaderboard.get("columns"), "columns")
        worst_case = self.worst_case(leaderboard.get("worst_case"), configs)
        extra_columns = self.extra_columns(leaderboard.get("extra_columns"))
        headline_for = leaderboard.get("headline_for")
        if headline_for is not None and (not isinstance(headline_for, list) or not headline_for
                                         or not all(isinstance(n, str) and n for n in headline_for)):
            self.problem(self.at("leaderboard", "headline_for"), f"must be a non-empty list of suite names, got {headline_for!r}")
        return {"columns": columns, "worst_case": worst_case, "extra_columns": extra_columns, "headline_for": headline_for}

    def attack_ids(self, ids: Any, key: str, path: Key | None = None) -> list[str] | None:
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
