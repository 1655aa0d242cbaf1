"""The results folder: one JSON + one safetensors per (model, attack) cell, written atomically.

A cell is complete when its JSON exists (the tensors are written first), so a run killed at any
moment leaves only complete cells behind and a re-run resumes from them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


class ResultsStore:
    """Reads and writes the cells of one results folder (see docs/formats.md)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def cell_json(self, model: str, attack: str) -> Path:
        return self.root / "cells" / model / f"{attack}.json"

    def cell_tensors(self, model: str, attack: str) -> Path:
        return self.root / "cells" / model / f"{attack}.safetensors"

    def read_cell(self, model: str, attack: str) -> dict[str, Any] | None:
        path = self.cell_json(model, attack)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return None  # a damaged cell is recomputed, never trusted

    def is_complete(self, model: str, attack: str, config_hash: str) -> bool:
        cell = self.read_cell(model, attack)
        return cell is not None and cell.get("config_hash") == config_hash

    def read_tensors(self, model: str, attack: str) -> dict[str, torch.Tensor] | None:
        path = self.cell_tensors(model, attack)
        return load_file(str(path)) if path.is_file() and self.read_cell(model, attack) is not None else None

    def write_cell(self, model: str, attack: str, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        jpath = self.cell_json(model, attack)
        jpath.parent.mkdir(parents=True, exist_ok=True)
        if jpath.exists():
            jpath.unlink()  # never leave an old JSON beside new tensors
        if tensors:
            tpath = self.cell_tensors(model, attack)
            tmp = tpath.with_name(f".{tpath.name}.{os.getpid()}.tmp")
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
            os.replace(tmp, tpath)
        atomic_write_json(jpath, meta)

    def cells(self) -> list[tuple[str, str]]:
        out = []
        for path in sorted((self.root / "cells").glob("*/*.json")):
            out.append((path.parent.name, path.stem))
        return out
