"""Worst-case robust accuracy: an example counts as robust only if it survives every attack.

Attacks may have been run on different example selections, so the aggregate is taken over the
intersection of their index sets; comparing per-attack accuracies on different examples would
overstate robustness.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError
from bench.results import ResultsStore


def eps_key(key: Any) -> str | None:
    """The canonical text of a worst-case eps key (0.1, "0.1", "1e-1" -> "0.1"), or None."""
    if isinstance(key, bool):
        return None
    try:
        value = float(key)
    except (TypeError, ValueError):
        return None
    return f"{value:g}" if math.isfinite(value) and value > 0 else None


def worst_case(per_example: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, int, int]:
    """(accuracy, robust_count, n) over the examples every attack saw.

    ``per_example`` maps attack id -> (index int tensor, robust bool tensor), one entry per
    example. Accuracy is NaN when no example is shared.
    """
    shared, robust = shared_and_robust(per_example)
    return _accuracy(robust.numel(), shared.numel()), robust.numel(), shared.numel()


def _accuracy(count: int, n: int) -> float:
    return count / n if n else float("nan")


def shared_and_robust(per_example: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(the example indices every attack saw, those of them every attack left robust), sorted.

    Exact integer counting: an index present in all k attacks appears k times in the concatenated
    indices (indices are unique per attack), and is robust everywhere iff it also appears k times
    among the robust indices."""
    if not per_example:
        raise ValueError("worst_case needs at least one attack")
    indices, robust_indices = [], []
    for attack, (index, robust) in per_example.items():
        index, robust = index.reshape(-1).to(torch.int64), robust.reshape(-1).to(torch.bool)
        if index.numel() != robust.numel():
            raise BenchError(f"{attack}: 'index' has {index.numel()} entries but 'robust' has {robust.numel()}")
        if torch.unique(index).numel() != index.numel():
            raise BenchError(f"{attack}: duplicate example indices")
        indices.append(index)
        robust_indices.append(index[robust])
    k = len(per_example)
    return _present_in_all(torch.cat(indices), k), _present_in_all(torch.cat(robust_indices), k)


def _present_in_all(values: torch.Tensor, k: int) -> torch.Tensor:
    """The distinct values that occur exactly k times (once per attack)."""
    unique, counts = torch.unique(values, return_counts=True)
    return unique[counts == k]


def worst_case_for_model(results_dir: Path, model: str, attack_ids: list[str]) -> dict[str, Any]:
    """Worst case of one model from its cells' per-example files (``ResultsStore.cell_tensors``)."""
    store = ResultsStore(Path(results_dir))
    per_example = {}
    for attack in attack_ids:
        path = store.cell_tensors(model, attack)
        tensors = store.read_tensors(model, attack)  # a damaged file: a one-line error naming it
        if tensors is None:
            raise BenchError(f"{path}: missing per-example results")
        missing = [key for key in ("index", "robust") if key not in tensors]
        if missing:
            raise BenchError(f"{path}: missing tensor(s) {', '.join(missing)}")
        per_example[attack] = (tensors["index"], tensors["robust"])
    shared, robust = shared_and_robust(per_example)
    return {"model": model, "attacks": list(attack_ids), "value": _accuracy(robust.numel(), shared.numel()),
            "count": robust.numel(), "n": shared.numel(), "robust_index": robust.tolist()}
