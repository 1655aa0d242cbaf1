"""Extending a stored cell instead of recomputing it, when only its attack list grew.

Why: a cascade cell of mnist_robust costs up to 9 core-hours; appending one attack to the battery
should cost that attack (and a re-check of what the cell counted), not the whole cascade again.
The stored cell must be the cell of the same configuration except for the kind's parameters (its
config hash, recomputed with its own parameters, proves it), and the kind must say the parameters
only grew (``AttackKind.extendable``). The runner then leaves in each shard not yet computed a
``PRIOR`` stage with what the stored cell knew (``AttackKind.prior``); the kind reads it while it
generates, so Ray workers and resumed runs see it the same way.

The extended cell is the per-example worst case of the stored cell and the new run (``carry``):
the stored members run again on what they broke, and every break is verified again, but a member
that draws its random start per batch (a library's) can miss on fewer examples a break it had, and
an example the stored cell verified broken must not come back robust because the battery grew.
Such an example keeps the stored cell's verdict (its prediction, distances and the member that
broke it), and ``verification.carried`` counts them.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from bench.attacks.base import PRIOR
from bench.results import ResultsStore
from bench.verify import Verdict


def extends(kind: Any, stored: dict[str, Any], params: dict[str, Any], hash_with: Callable[[dict[str, Any]], str]) -> bool:
    """Whether a cell of ``params`` extends ``stored`` (no side effect; ``bench run --plan`` asks too)."""
    was = stored.get("params")
    return isinstance(was, dict) and kind.extendable(was, params) and hash_with(was) == stored.get("config_hash")


def seed_extension(store: ResultsStore, model: str, attack: str, kind: Any, stored: dict[str, Any], params: dict[str, Any],
                   indices: torch.Tensor, bounds: list[tuple[int, int]], config_hash: str,
                   hash_with: Callable[[dict[str, Any]], str]) -> str | None:
    """The stored cell's config hash when the new cell (``params``, ``config_hash``) extends it, its
    shards' ``PRIOR`` stages written; None when it does not (the cell is recomputed in full).

    ``hash_with(p)``: this cell's config hash with the kind's parameters ``p``."""
    if not extends(kind, stored, params, hash_with):
        return None
    was = stored["params"]
    tensors = store.read_tensors(model, attack)
    if tensors is None or "index" not in tensors or not torch.equal(tensors["index"].long(), indices.long()):
        return None
    for start, stop in bounds:
        if store.read_shard(model, attack, start, stop, config_hash) is not None:
            continue  # computed already (a resumed run)
        stages = store.shard_stages(model, attack, start, stop, config_hash)
        if stages.load(PRIOR) is None:
            stages.save(PRIOR, kind.prior(was, {k: v[start:stop] for k, v in tensors.items() if len(v) == len(indices)}))
    return str(stored["config_hash"])


VERDICT_TENSORS = ("pred", "linf", "l2")


def carry(verdict: Verdict, tensors: dict[str, torch.Tensor], stored: dict[str, torch.Tensor]) -> tuple[Verdict, dict[str, torch.Tensor]]:
    """The per-example worst case of the stored cell (its tensors) and this run (its verdict and the
    kind's per-example ``tensors``): an example robust here but broken in the stored cell takes
    the stored verdict and the stored values of the kind's tensors; ``stats["carried"]`` counts them."""
    was = stored["robust"].bool()
    back = verdict.robust & ~was & stored["ref_correct"].bool()
    fields = {k: getattr(verdict, k).clone() for k in VERDICT_TENSORS}
    for k in VERDICT_TENSORS:
        fields[k][back] = stored[k][back].to(fields[k].dtype)
    kept = {k: v.clone() for k, v in tensors.items()}
    for k, v in kept.items():
        if k in stored and stored[k].shape == v.shape:
            v[back] = stored[k][back].to(v.dtype)
    out = Verdict(verdict.robust & ~back, verdict.ref_correct, fields["pred"], fields["linf"], fields["l2"],
                  {**verdict.stats, "carried": int(back.sum())})
    return out, kept
