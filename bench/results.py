"""The results folder: one JSON + one safetensors per (model, attack) cell, written atomically.

A cell is complete when its JSON exists (the tensors are written first), so a run killed at any
moment leaves only complete cells behind and a re-run resumes from them. Inside a cell, each
finished shard of examples is kept under ``cells/<model>/<attack>.partial/`` (its candidates and
the cell's config hash) until the cell is complete, so a killed run loses at most one shard; a
kind whose shard takes long (a cascade) keeps its finished stages there too (``ShardStages``).
Writes that would not change a file leave it untouched: a run that computes nothing changes
nothing on disk.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from bench.errors import BenchError


def atomic_write_text(path: Path, text: str) -> None:
    """Write through a temp file and ``os.replace`` (readers never see half a file); a file that
    already holds exactly ``text`` is left untouched, mtime included."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """``atomic_write_text`` for bytes (a PNG): unchanged files keep their mtime."""
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


def save_hashed(path: Path, tensors: dict[str, torch.Tensor], config_hash: str) -> None:
    """Tensors as safetensors, atomically, with the config hash they belong to in the metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata={"config_hash": config_hash})
    os.replace(tmp, path)


def load_hashed(path: Path, config_hash: str) -> dict[str, torch.Tensor] | None:
    """What ``save_hashed`` wrote for this config hash, else None: absent, another configuration's,
    or damaged (recomputed, never trusted)."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), "pt") as fh:
            if (fh.metadata() or {}).get("config_hash") != config_hash:
                return None
        return load_file(str(path))
    except (OSError, SafetensorError):
        return None


class ResultsStore:
    """Reads and writes the cells of one results folder (see docs/formats.md)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    # --- the layout: every path of a results folder is named here, and only here -----------------

    @property
    def cells_dir(self) -> Path:
        return self.root / "cells"

    @property
    def run_json(self) -> Path:
        """The run record: the suite, the models with cells here, every computing invocation."""
        return self.root / "run.json"

    @property
    def suite_yaml(self) -> Path:
        """The resolved suite the cells were computed with."""
        return self.root / "suite.yaml"

    def plot(self, name: str) -> Path:
        return self.root / "plots" / name

    def security_curve_plot(self, model: str) -> Path:
        """The masking check's robust accuracy vs eps of one model (a PNG)."""
        return self.plot(f"{model}_security_curve.png")

    def audits_dir(self, model: str) -> Path:
        """``bench audit``'s results for one model: ``<attack>.json`` per audited cell."""
        return self.root / "audits" / model

    def audit_json(self, model: str, attack: str) -> Path:
        return self.audits_dir(model) / f"{attack}.json"

    def audit_partial(self, model: str, attack: str) -> Path:
        """An unfinished audit's finished batches (JSON); its members' stages in ``audit_stages``."""
        return self.audits_dir(model) / f".{attack}.partial"

    def audit_stages(self, model: str, attack: str) -> Path:
        """An unfinished audit's member stages, one folder per batch (``ShardStages``)."""
        return self.audits_dir(model) / f".{attack}.stages"

    def output(self, name: str) -> Path:
        """A rendered file of the folder: ``leaderboard.md``, ``models/<model>.html``, ``plots/x.png``."""
        return self.root / name

    def analysis_dir(self) -> Path:
        """Where ``bench analyze --results <this folder>`` writes by default (its galleries)."""
        return self.root.parent / "analysis" / self.root.name

    def siblings(self) -> list[ResultsStore]:
        """The other results folders beside this one (a suite may be another's headline)."""
        return [ResultsStore(p) for p in sorted(self.root.parent.iterdir()) if p.is_dir() and p != self.root] \
            if self.root.parent.is_dir() else []

    def model_dir(self, model: str) -> Path:
        return self.cells_dir / model

    def cell_json(self, model: str, attack: str) -> Path:
        return self.model_dir(model) / f"{attack}.json"

    def cell_tensors(self, model: str, attack: str) -> Path:
        return self.model_dir(model) / f"{attack}.safetensors"

    def exists(self) -> bool:
        """A results folder (it has a cells/ folder, possibly empty)."""
        return self.cells_dir.is_dir()

    def models(self) -> list[str]:
        """Models with a folder of cells, sorted."""
        return sorted(p.name for p in self.cells_dir.glob("*") if p.is_dir())

    def has_model(self, model: str) -> bool:
        return self.model_dir(model).is_dir()

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
        """A complete cell's per-example tensors (None without them); a damaged file is a one-line
        error naming it, never a traceback."""
        path = self.cell_tensors(model, attack)
        if not path.is_file() or self.read_cell(model, attack) is None:
            return None
        try:
            return load_file(str(path))
        except (OSError, SafetensorError) as exc:
            raise BenchError(f"{path}: damaged ({exc}); recompute the cell: bench run SUITE --model {model} "
                             f"--attack {attack} --force") from None

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
        return self.model_dir(model) / f"{attack}.partial"

    def shard_path(self, model: str, attack: str, start: int, stop: int) -> Path:
        return self.partial_dir(model, attack) / f"{start:06d}-{stop:06d}.safetensors"

    def write_shard(self, model: str, attack: str, start: int, stop: int, config_hash: str, tensors: dict[str, torch.Tensor]) -> None:
        save_hashed(self.shard_path(model, attack, start, stop), tensors, config_hash)

    def read_shard(self, model: str, attack: str, start: int, stop: int, config_hash: str) -> dict[str, torch.Tensor] | None:
        """A finished shard of the same configuration, else None (another config's is ignored)."""
        return load_hashed(self.shard_path(model, attack, start, stop), config_hash)

    def shard_seconds(self, model: str, attack: str, start: int, stop: int, config_hash: str, key: str) -> float | None:
        """A finished shard's stored statistic ``key`` (0.0 when it has none); None when no shard of
        this configuration is there."""
        saved = self.read_shard(model, attack, start, stop, config_hash)
        if saved is None:
            return None
        value = saved.get(f"s/{key}")
        return 0.0 if value is None else float(value[0])

    def shard_stages(self, model: str, attack: str, start: int, stop: int, config_hash: str) -> ShardStages:
        """Where the running shard ``[start, stop)`` keeps its finished stages."""
        return ShardStages(self.partial_dir(model, attack) / "stages" / f"{start:06d}-{stop:06d}", config_hash)

    def clear_shards(self, model: str, attack: str) -> None:
        folder = self.partial_dir(model, attack)
        if folder.is_dir():
            shutil.rmtree(folder)

    def cells(self, model: str | None = None) -> list[tuple[str, str]]:
        """(model, attack) of every cell with a JSON (complete or damaged), sorted; one model's
        with ``model``."""
        pattern = f"{glob.escape(model)}/*.json" if model is not None else "*/*.json"
        return [(path.parent.name, path.stem) for path in sorted(self.cells_dir.glob(pattern))]


@dataclass(frozen=True)
class ShardStages:
    """Finished stages inside one shard, e.g. each member of a cascade (a TanhEns16 shard of 100
    examples runs for over an hour): a killed run then loses at most the stage it was in, not the
    shard. Each stage file carries the cell's config hash (another configuration's is ignored);
    the shard's stages are removed once the shard is written, and with the cell's ``.partial/``."""

    root: Path
    config_hash: str

    def path(self, name: str) -> Path:
        return self.root / f"{name}.safetensors"

    def save(self, name: str, tensors: dict[str, torch.Tensor]) -> None:
        save_hashed(self.path(name), tensors, self.config_hash)

    def load(self, name: str) -> dict[str, torch.Tensor] | None:
        """The stage of this configuration, else None (absent, damaged, or another config's)."""
        return load_hashed(self.path(name), self.config_hash)

    def names(self) -> list[str]:
        """The stages of this configuration kept so far, sorted."""
        files = sorted(self.root.glob("*.safetensors")) if self.root.is_dir() else []
        return [f.stem for f in files if load_hashed(f, self.config_hash) is not None]

    def clear(self) -> None:
        if self.root.is_dir():
            shutil.rmtree(self.root)
