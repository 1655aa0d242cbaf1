"""The results folder: one JSON + one safetensors per (model, attack) cell, written atomically.

A cell is complete when its JSON exists (the tensors are written first), so a run killed at any
moment leaves only complete cells behind and a re-run resumes from them. Inside a cell, each
finished shard of examples is kept under ``cells/<model>/<attack>.partial/`` (its candidates and
the cell's config hash) until the cell is complete, so a killed run loses at most one shard.
Writes that would not change a file leave it untouched: a run that computes nothing changes
nothing on disk.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file


def atomic_write_text(path: Path, text: str) -> None:
    """Write through a temp file and ``os.replace`` (readers never see half a file); a file that
    already holds exactly ``text`` is left untouched, mtime included."""
    data = text.encode("utf-8")
    try:
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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

    # --- shards: partial results inside a cell ---------------------------------------------------

    def partial_dir(self, model: str, attack: str) -> Path:
        return self.root / "cells" / model / f"{attack}.partial"

    def shard_path(self, model: str, attack: str, start: int, stop: int) -> Path:
        return self.partial_dir(model, attack) / f"{start:06d}-{stop:06d}.safetensors"

    def write_shard(self, model: str, attack: str, start: int, stop: int, config_hash: str, tensors: dict[str, torch.Tensor]) -> None:
        path = self.shard_path(model, attack, start, stop)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata={"config_hash": config_hash})
        os.replace(tmp, path)

    def read_shard(self, model: str, attack: str, start: int, stop: int, config_hash: str) -> dict[str, torch.Tensor] | None:
        """A finished shard of the same configuration, else None (another config's is ignored)."""
        path = self.shard_path(model, attack, start, stop)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), "pt") as fh:
                if (fh.metadata() or {}).get("config_hash") != config_hash:
                    return None
            return load_file(str(path))
        except (OSError, SafetensorError):
            return None  # a damaged shard is recomputed

    def clear_shards(self, model: str, attack: str) -> None:
        folder = self.partial_dir(model, attack)
        if folder.is_dir():
            shutil.rmtree(folder)

    def cells(self) -> list[tuple[str, str]]:
        out = []
        for path in sorted((self.root / "cells").glob("*/*.json")):
            out.append((path.parent.name, path.stem))
        return out
