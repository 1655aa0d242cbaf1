"""Training state saved as safetensors + JSON (never pickle), so a run resumes on any machine."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from bench.results import atomic_write_bytes


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Flatten an optimizer's state into tensors plus JSON-able scalars."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {"param_groups": sd["param_groups"], "state": {}}
    for pid, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"{prefix}.{pid}.{key}"] = val
            else:
                scalars["state"].setdefault(str(pid), {})[key] = val
    return tensors, scalars


def restore_optimizer(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, val in tensors.items():
        if not name.startswith(prefix + "."):
            continue
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = val
    for pid, extra in scalars.get("state", {}).items():
        state.setdefault(int(pid), {}).update(extra)
    opt.load_state_dict({"state": state, "param_groups": scalars["param_groups"]})


def save_state(folder: Path, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer], meta: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = dict(meta)
    meta["optimizers"] = {}
    for name, opt in optimizers.items():
        t, s = optimizer_tensors(opt, f"opt_{name}")
        tensors.update(t)
        meta["optimizers"][name] = s
    tensors["rng.torch"] = torch.get_rng_state()
    save_tensors(folder / "state.safetensors", tensors)
    atomic_write_bytes(folder / "state.json", json.dumps(meta, indent=1).encode())


def load_state(folder: Path, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Any] | None:
    if not (folder / "state.json").is_file() or not (folder / "state.safetensors").is_file():
        return None
    meta = json.loads((folder / "state.json").read_text())
    tensors = load_file(str(folder / "state.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    for name, opt in optimizers.items():
        restore_optimizer(opt, f"opt_{name}", tensors, meta["optimizers"][name])
    torch.set_rng_state(tensors["rng.torch"])
    return meta
