"""Model cards: the YAML file that says exactly what a zoo model is, and its schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError, ValidationError
from bench.yaml_file import read_yaml

CARD_FILE = "card.yaml"
REQUIRED = {
    "id": str,
    "family": str,
    "description": str,
    "source": dict,
    "architecture": str,
    "factory": str,
    "checkpoint": dict,
}
OPTIONAL = {
    "tags": list,
    "config": dict,
    "parameters": int,
    "code": dict,
    "decoder": str,
    "training": dict,
    "measured": dict,
    "reported": dict,
    "dataset": str,
    "threat_model": str,
    "randomized": bool,
    "variant_of": str,
    "notes": str,
}


@dataclass
class Card:
    """A parsed, schema-checked model card; ``folder`` is where its files live."""

    data: dict[str, Any]
    folder: Path
    path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.path = self.folder / CARD_FILE

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def dataset(self) -> str:
        """The dataset the model was trained on and is evaluated on (cards before the registry: mnist)."""
        return str(self.data.get("dataset", "mnist"))

    @property
    def tags(self) -> list[str]:
        return [str(t) for t in self.data.get("tags", [])]

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / str(self.data["checkpoint"]["file"])

    @property
    def sha256(self) -> str | None:
        return self.data["checkpoint"].get("sha256")

    @property
    def reported(self) -> dict[str, Any]:
        return dict(self.data.get("reported") or {})

    @property
    def measured(self) -> dict[str, Any]:
        return dict(self.data.get("measured") or {})

    @property
    def variant_of(self) -> str | None:
        """The model this one repeats on another dataset (same architecture, loss and recipe), for
        ``bench compare``; None for an original."""
        value = self.data.get("variant_of")
        return None if value is None else str(value)


def validate_card_data(data: Any, where: str) -> list[str]:
    """Schema problems, one line each, naming the file and key."""
    if not isinstance(data, dict):
        return [f"{where}: card must be a mapping"]
    problems = []
    for key, typ in REQUIRED.items():
        if key not in data:
            problems.append(f"{where}: missing required key '{key}'")
        elif not isinstance(data[key], typ):
            problems.append(f"{where}: key '{key}' must be a {typ.__name__}")
    for key, value in data.items():
        if key in REQUIRED:
            continue
        if key not in OPTIONAL:
            problems.append(f"{where}: unknown key '{key}'")
        elif value is not None and not isinstance(value, OPTIONAL[key]):
            problems.append(f"{where}: key '{key}' must be a {OPTIONAL[key].__name__}")
    ckpt = data.get("checkpoint")
    if isinstance(ckpt, dict):
        if not isinstance(ckpt.get("file"), str):
            problems.append(f"{where}: key 'checkpoint.file' must name the safetensors file")
        elif not ckpt["file"].endswith(".safetensors"):
            problems.append(f"{where}: key 'checkpoint.file' must be a .safetensors file")
        sha = ckpt.get("sha256")
        if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
            problems.append(f"{where}: key 'checkpoint.sha256' must be 64 hex digits")
    dataset = data.get("dataset")
    if isinstance(dataset, str):
        from bench.data import DATASETS

        if dataset not in DATASETS:
            problems.append(f"{where}: key 'dataset': unknown dataset {dataset!r} (known: {', '.join(DATASETS)})")
    factory = data.get("factory")
    if isinstance(factory, str) and ":" not in factory:
        problems.append(f"{where}: key 'factory' must look like 'module:function'")
    return problems


def load_card(folder: Path) -> Card:
    path = folder / CARD_FILE
    if not path.exists():
        raise BenchError(f"{path}: no model card")
    data = read_yaml(path)
    problems = validate_card_data(data, str(path))
    if problems:
        raise ValidationError(problems)
    return Card(data=data, folder=folder)
