"""Benign (clean) accuracy: the unperturbed inputs."""

from __future__ import annotations

from typing import Any

import torch

from bench.attacks.base import AttackKind, Context, register
from bench.models.base import Classifier


@register
class Benign(AttackKind):
    name = "benign"
    shard_examples = 0  # a forward pass per example: one shard
    description = "clean accuracy on the unperturbed test images"
    metric = "accuracy"

    def threat(self, params: dict[str, Any]) -> dict[str, Any] | None:
        return {"norm": "linf", "eps": 0.0}

    def generate(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None, ctx: Context) -> torch.Tensor:
        if ctx.progress is not None:
            ctx.progress(len(y))
        return x
