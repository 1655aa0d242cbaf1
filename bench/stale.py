"""Why a stored cell no longer counts: the first difference between what it was computed with and
what the suite, the card and the code say now.

Why: a results folder outlives the code that filled it. A cell whose configuration hash no longer
matches is recomputed, and the user should read why (a retrained checkpoint, a changed parameter, a
kind whose random draws changed) instead of watching hours of work restart for no stated reason.
"""

from __future__ import annotations

from typing import Any, Callable


def _short(v: Any) -> str:
    return "(absent)" if v is None else (f"{v[:12]}..." if isinstance(v, str) and len(v) > 16 else repr(v))


def param_changes(stored: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``key old -> new`` for every parameter that differs."""
    keys = sorted(set(stored) | set(now))
    return [f"{k} {_short(stored.get(k))} -> {_short(now.get(k))}" for k in keys if stored.get(k) != now.get(k)]


def stale_reason(stored: dict[str, Any], kind: str, backend: str | None, params: dict[str, Any], seed: int,
                 checkpoint: str, rng_version: int, rehash: Callable[[int], str]) -> str:
    """One line: why ``stored`` (a cell JSON) is not the cell of this configuration.

    ``rehash(v)`` is the configuration hash with the kind's random draws at version ``v``: when an
    earlier version reproduces the stored hash, only the draws changed."""
    if stored.get("config_hash") is None:
        return "the stored cell has no configuration hash (damaged or from an old format)"
    if stored.get("checkpoint_sha256") not in (None, checkpoint):
        return f"the checkpoint changed (cell {_short(stored.get('checkpoint_sha256'))}, card {_short(checkpoint)}): the model was retrained"
    if stored.get("kind") not in (None, kind):
        return f"the attack kind changed ({stored.get('kind')} -> {kind})"
    if stored.get("backend") not in (None, backend):
        return f"the backend changed ({stored.get('backend')} -> {backend})"
    if isinstance(stored.get("params"), dict) and stored["params"] != params:
        return "parameters changed: " + ", ".join(param_changes(stored["params"], params))
    if stored.get("seed") not in (None, seed):
        return f"the seed changed ({stored.get('seed')} -> {seed}: the suite's seed or the attack id)"
    for v in range(rng_version - 1, 0, -1):
        if rehash(v) == stored["config_hash"]:
            return f"computed with the kind's earlier random draws (version {v}; the code's are version {rng_version})"
    return "the examples, the dataset or a cell it reads changed"
