"""The suite format's keys, allowed values and defaults (docs/formats.md), in one place."""

from __future__ import annotations

import re
from typing import Any

from bench import data

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

Key = tuple[Any, ...]  # a path into the merged suite, e.g. ("attacks", "pgd", "params", "eps")
Origin = tuple[str, int | None]  # (file as shown, attack index in that file)
