"""Blind-spot attack (Zhang et al. 2019): shrink the image's contrast toward a centre, then CW.

The original code scales in its centred [-0.5, 0.5] space, which in [0,1] pixels is
x' = alpha*x + (1-alpha)*center with center 0.5 (paper-notes section 2). The scaled image is the
reference point: the model must classify it correctly *and* resist CW from it.
"""

from __future__ import annotations

from typing import Any

import torch

from bench.attacks.base import BACKENDS, AttackKind, Context, register
from bench.attacks.kinds.cw import CW_PARAMS, run_cw
from bench.attacks.spec import Param, unit_interval, unit_interval_open_closed
from bench.models.base import Classifier


@register
class BlindSpot(AttackKind):
    name = "blind_spot"
    description = "scale by alpha around a centre (mid-grey), then Carlini-Wagner L2"
    params = {
        "alpha": Param(float, 0.8, unit_interval_open_closed, "contrast scale"),
        "center": Param(float, 0.5, unit_interval, "scaling centre in [0,1] pixels"),
        **CW_PARAMS,
    }
    backends = BACKENDS
    backend_op = "cw_l2"
    shard_examples = 25  # ~15 min of CW on an ensemble per shard on one CPU core

    def threat(self, params: dict[str, Any]) -> dict[str, Any] | None:
        return {"norm": "l2", "eps": None}

    def prepare(self, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], ctx: Context, index: torch.Tensor) -> torch.Tensor:
        return (params["alpha"] * x + (1 - params["alpha"]) * params["center"]).clamp(0, 1)

    def generate(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None, ctx: Context) -> torch.Tensor:
        return run_cw(model, x, y, params, backend, ctx)
