"""Carlini-Wagner L2 (untargeted). No budget: any adversarial found counts, whatever its size,
so the column is the fraction of examples where CW fails (thesis Table 2)."""

from __future__ import annotations

from typing import Any

import torch

from bench.attacks.backends import get_backend
from bench.attacks.base import BACKENDS, AttackKind, Context, register
from bench.attacks.spec import Param, non_negative, one_of, positive
from bench.models.base import Classifier

CW_PARAMS: dict[str, Param] = {
    "steps": Param(int, 1000, positive, "optimizer steps per binary-search step"),
    "binary_search_steps": Param(int, 10, positive, "binary search steps over the constant"),
    "initial_const": Param(float, 0.01, positive, "initial trade-off constant c"),
    "confidence": Param(float, 0.0, non_negative, "kappa: margin required"),
    "lr": Param(float, 0.01, positive, "Adam step size"),
    "surface": Param(str, "logprob", one_of("logprob", "linear"), "model surface attacked"),
    "abort_early": Param(bool, True, None, "stop a search step when the loss stalls"),
    "minimize": Param(bool, True, None, "after an adversarial is found, keep searching for a smaller one (CW as "
                      "published); false: stop at the first, same robust accuracy, fewer steps (native only; "
                      "ART and foolbox always minimise)", late=True),
}


def run_cw(model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None, ctx: Context) -> torch.Tensor:
    cw = {k: params[k] for k in CW_PARAMS}
    return get_backend(backend or "native").cw_l2(model, x, y, ctx=ctx, **cw)


@register
class CarliniWagnerL2(AttackKind):
    name = "cw_l2"
    description = "Carlini-Wagner L2, untargeted, unbounded (column = fraction where CW fails)"
    params = CW_PARAMS
    backends = BACKENDS
    backend_op = "cw_l2"
    shard_examples = 25  # ~15 min of CW on an ensemble per shard on one CPU core

    def threat(self, params: dict[str, Any]) -> dict[str, Any] | None:
        return {"norm": "l2", "eps": None}

    def generate(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None, ctx: Context) -> torch.Tensor:
        return run_cw(model, x, y, params, backend, ctx)
