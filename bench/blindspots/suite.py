"""The blind-spot suite file: which dataset, signals, scales and models, and how much data.

```yaml
name: blindspots_mnist
version: 1
dataset: mnist
seed: 0
fraction: 0.25          # of the training set, drawn once per seed (the paper's quarter)
test_count: null        # null: the whole test set; N: its first N images
encodings: [none, one_pixel, pattern_pixels, random_pixel, multiple_locations, noise, mean]
scales: [0.001, 0.01, 0.1]
models: [conv, gaussian_nb, decision_tree, ...]
conv: {card: Softmax, epochs: 2}
shallow: {epochs: 10, lr: 0.001, batch_size: 128, pieces: 4}
```

Every problem is one line naming the file and the key (``bench.errors.ValidationError``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ValidationError
from bench.yaml_file import YamlFileError, read_yaml

KEYS = ("name", "version", "description", "dataset", "seed", "fraction", "test_count", "encodings", "scales",
        "models", "conv", "shallow", "outputs")
CONV_KEYS = ("card", "epochs")
SHALLOW_KEYS = ("epochs", "lr", "batch_size", "pieces")


@dataclass
class BlindSpotSuite:
    """A validated suite; ``out_dir`` defaults to results/<name>/ (from the working directory)."""

    path: Path
    name: str
    version: int
    description: str
    dataset: str
    seed: int
    fraction: float
    test_count: int | None
    encodings: list[str]
    scales: list[float]
    models: list[str]
    conv: dict[str, Any] = field(default_factory=dict)
    shallow: dict[str, Any] = field(default_factory=dict)
    out_dir: Path = Path("results")

    def model_config(self, model: str, num_classes: int) -> dict[str, Any]:
        """What a model's cell depends on beyond the data (part of the cell's config)."""
        base: dict[str, Any] = {"seed": self.seed, "num_classes": num_classes}
        if model == "conv":
            return {**base, "card": "Softmax", "epochs": 2, **self.conv}
        if model in ("perceptron", "shallow_max"):
            return {**base, **self.shallow}
        return base

    def data_config(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "seed": self.seed, "fraction": self.fraction, "test_count": self.test_count}


def config_digest(config: dict[str, Any]) -> str:
    """A cell's identity: the sha256 of its configuration (a changed suite value recomputes it)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def is_blindspot_study(path: str | Path) -> bool:
    """A blind-spot study file names encodings instead of attacks (so `bench validate` and
    `bench run` can tell it from an attack suite)."""
    try:
        data = read_yaml(path)
    except YamlFileError:
        return False
    return isinstance(data, dict) and "encodings" in data and "attacks" not in data


def load_suite(path: str | Path) -> BlindSpotSuite:
    """Read and validate ``path``; every problem found is reported at once."""
    from bench.blindspots.encodings import ENCODINGS
    from bench.blindspots.models import MODELS
    from bench.data import DATASETS, get

    path = Path(path)
    shown = str(path)
    if not path.is_file():
        raise ValidationError([f"{shown}: no such suite file"])
    try:
        data = read_yaml(path, shown)
    except YamlFileError as exc:
        raise ValidationError([str(exc)]) from None
    if not isinstance(data, dict):
        raise ValidationError([f"{shown}: must be a mapping of keys (name, dataset, encodings, ...)"])
    problems: list[str] = []

    def fail(key: str, message: str) -> None:
        problems.append(f"{shown}: {key}: {message}")

    for key in sorted(set(data) - set(KEYS), key=str):
        fail(str(key), f"unknown key (known: {', '.join(KEYS)})")
    for key in ("name", "dataset", "encodings", "scales", "models"):
        if key not in data:
            fail(key, "missing required key")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        fail("name", f"must be a word of letters, digits, _ or -, got {name!r}")
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        fail("version", f"must be an integer, got {version!r}")

    dataset = data.get("dataset", "mnist")
    num_classes = 10
    if dataset not in DATASETS:
        fail("dataset", f"unknown dataset {dataset!r} (known: {', '.join(DATASETS)})")
    else:
        num_classes = get(dataset).num_classes

    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        fail("seed", f"must be an integer >= 0, got {seed!r}")
    fraction = data.get("fraction", 1.0)
    if not _number(fraction) or not 0 < fraction <= 1:
        fail("fraction", f"must be a number in (0, 1], got {fraction!r}")
    test_count = data.get("test_count")
    if test_count is not None and (not isinstance(test_count, int) or isinstance(test_count, bool) or test_count < 1):
        fail("test_count", f"must be null (the whole test set) or an integer >= 1, got {test_count!r}")

    encodings = _names(data.get("encodings", []), "encodings", ENCODINGS, fail)
    models = _names(data.get("models", []), "models", MODELS, fail)

    scales = data.get("scales", [])
    if not isinstance(scales, list) or not scales:
        fail("scales", f"must be a non-empty list of numbers > 0, got {scales!r}")
        scales = []
    for i, s in enumerate(scales):
        if not _number(s) or s <= 0:
            fail(f"scales[{i}]", f"must be a number > 0, got {s!r}")
            continue
        for enc in encodings:
            cls = ENCODINGS.get(enc)
            top = cls.max_scale(num_classes)
            if cls.scaled and s > top * (1 + 1e-9):
                fail(f"scales[{i}]", f"{s} is above the largest scale {enc} can hold in [0,1] for {num_classes} classes ({top:.4g})")
    for enc in encodings:
        limit = ENCODINGS.get(enc).max_classes()
        if limit is not None and num_classes > limit:
            fail("encodings", f"{enc} tells at most {limit} classes apart; {dataset} has {num_classes}")

    conv = _section(data.get("conv"), "conv", CONV_KEYS, fail)
    if "epochs" in conv and (not isinstance(conv["epochs"], int) or isinstance(conv["epochs"], bool) or conv["epochs"] < 1):
        fail("conv.epochs", f"must be an integer >= 1, got {conv['epochs']!r}")
    if "card" in conv:
        from bench.zoo.registry import model_ids

        if conv["card"] not in model_ids():
            fail("conv.card", f"unknown zoo model {conv['card']!r}")
    shallow = _section(data.get("shallow"), "shallow", SHALLOW_KEYS, fail)
    for key in ("epochs", "batch_size", "pieces"):
        if key in shallow and (not isinstance(shallow[key], int) or isinstance(shallow[key], bool) or shallow[key] < 1):
            fail(f"shallow.{key}", f"must be an integer >= 1, got {shallow[key]!r}")
    if "lr" in shallow and (not _number(shallow["lr"]) or shallow["lr"] <= 0):
        fail("shallow.lr", f"must be a number > 0, got {shallow['lr']!r}")
    outputs = _section(data.get("outputs"), "outputs", ("dir",), fail)

    if problems:
        raise ValidationError(problems)
    out = Path.cwd() / str(outputs.get("dir", f"results/{name}"))  # as bench run: relative to where it runs
    return BlindSpotSuite(path=path, name=str(name), version=int(version), description=str(data.get("description", "")),
                          dataset=str(dataset), seed=int(seed), fraction=float(fraction), test_count=test_count,
                          encodings=encodings, scales=[float(s) for s in scales], models=models, conv=conv,
                          shallow=shallow, out_dir=out)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _names(value: Any, key: str, registry: Any, fail: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        fail(key, f"must be a non-empty list of names, got {value!r}")
        return []
    out: list[str] = []
    for i, n in enumerate(value):
        if not isinstance(n, str) or n not in registry:
            fail(f"{key}[{i}]", f"unknown {key[:-1]} {n!r} (known: {', '.join(registry)})")
        elif n in out:
            fail(f"{key}[{i}]", f"{n!r} listed twice")
        else:
            out.append(n)
    return out


def _section(value: Any, key: str, allowed: tuple[str, ...], fail: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(key, f"must be a mapping ({', '.join(allowed)}), got {value!r}")
        return {}
    for k in sorted(set(value) - set(allowed), key=str):
        fail(f"{key}.{k}", f"unknown key (known: {', '.join(allowed)})")
    return {k: v for k, v in value.items() if k in allowed}
