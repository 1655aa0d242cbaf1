"""What a loaded suite is: its examples, attacks and the resolved form its sha256 identifies."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch

from bench.attacks.base import KINDS, get_kind
from bench.errors import BenchError
from bench.suite_stages.schema import DEFAULT_EXAMPLES

if TYPE_CHECKING:
    from bench.zoo.card import Card


@dataclass
class ExampleSelection:
    """Which examples of a split an attack runs on; deterministic, so cells can be cached."""

    split: str
    count: int
    offset: int | None = None
    seed: int | None = None

    def out_of_range(self, total: int, split: str | None = None) -> str | None:
        """Why the selection does not fit a split of ``total`` examples (named ``split``), or None."""
        if self.seed is not None:
            what, last = f"count {self.count}", self.count
        else:
            what, last = f"offset {self.offset or 0} + count {self.count}", (self.offset or 0) + self.count
        return f"{what} exceeds the {total} examples of the {split or self.split} split" if last > total else None

    def indices(self, total: int) -> torch.Tensor:
        """The sorted example indices (int64) into a split of ``total`` examples."""
        problem = self.out_of_range(total)
        if problem:
            raise BenchError(f"examples: {problem}")
        if self.seed is not None:
            picked = np.random.RandomState(self.seed).choice(total, self.count, replace=False)
            return torch.from_numpy(np.sort(picked).astype(np.int64))
        offset = self.offset or 0
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


def matrix_kind(kind: str) -> bool:
    """Kinds that read other cells (transfer) render as matrices, not leaderboard columns."""
    return kind in KINDS and KINDS.get(kind).after_others


def selection(top: dict[str, Any], override: dict[str, Any]) -> ExampleSelection:
    """Defaults, then the suite's selection, then the attack's override (all already checked)."""
    merged = {**DEFAULT_EXAMPLES, **top}
    drop_rule(merged, override)
    merged.update(override)
    return ExampleSelection(
        split=merged["split"], count=merged["count"],
        offset=None if "seed" in merged else merged.get("offset", 0), seed=merged.get("seed"),
    )


def drop_rule(base: dict[str, Any], over: Any) -> None:
    """``offset`` and ``seed`` are one choice: an override giving either replaces both."""
    if isinstance(over, dict) and ("offset" in over or "seed" in over):
        base.pop("offset", None)
        base.pop("seed", None)
