"""Confidence on random inputs (thesis Table 2, "Rand"): images with every pixel i.i.d. uniform in
(0,1); the column is the fraction on which the model's maximum class probability stays below the
threshold (a confident answer on noise counts as a failure)."""

from __future__ import annotations

import zlib
from typing import Any

import torch

from bench.attacks.base import CellKind, CellOutcome, Context, register
from bench.attacks.spec import Param, positive, unit_interval_open_closed
from bench.models.base import Classifier


def noise_generator(ctx: Context, salt: str) -> torch.Generator:
    """One generator for the whole cell (its inputs are drawn, not selected from a dataset)."""
    return torch.Generator().manual_seed(ctx.seed * 1_000_003 + zlib.crc32(salt.encode()))


@register
class RandomInputs(CellKind):
    name = "random_inputs"
    description = "fraction of uniform-noise images with max class probability < threshold"
    params = {
        "count": Param(int, 1000, positive, "number of random images"),
        "threshold": Param(float, 0.9, unit_interval_open_closed, "max-probability threshold"),
    }
    metric = "low_confidence_fraction"

    def evaluate(self, model: Classifier, model_id: str, params: dict[str, Any], ctx: Context) -> CellOutcome:
        gen = noise_generator(ctx, self.name)
        x = torch.rand((params["count"], *model.input_shape), generator=gen)
        maxp, preds = [], []
        with torch.inference_mode():
            for i in range(0, len(x), ctx.batch_size):
                p = model.probs(x[i : i + ctx.batch_size].to(ctx.device))
                m, k = p.max(1)
                maxp.append(m.cpu())
                preds.append(k.cpu())
                if ctx.progress is not None:
                    ctx.progress(len(m))
        max_prob = torch.cat(maxp)
        low = max_prob < params["threshold"]
        tensors = {"index": torch.arange(len(x)), "robust": low, "pred": torch.cat(preds), "max_prob": max_prob.float()}
        return CellOutcome(value=float(low.float().mean()), n=len(x), count=int(low.sum()),
                           extra={"mean_max_prob": float(max_prob.mean())}, tensors=tensors)
