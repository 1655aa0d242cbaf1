"""Batching and seeding shared by the backends."""

from __future__ import annotations

import random
from typing import Callable, Iterator

import numpy as np
import torch

from bench.attacks.base import Context


def seed_everything(seed: int) -> None:
    """ART draws from numpy's global RNG and foolbox/native from torch's: seed both."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def batches(x: torch.Tensor, y: torch.Tensor, ctx: Context) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for i in range(0, len(y), ctx.batch_size):
        yield x[i : i + ctx.batch_size].to(ctx.device), y[i : i + ctx.batch_size].to(ctx.device)


def run_batched(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, ctx: Context) -> torch.Tensor:
    out = []
    for xb, yb in batches(x, y, ctx):
        out.append(fn(xb, yb).detach().cpu())
        if ctx.progress is not None:
            ctx.progress(len(yb))
    return torch.cat(out) if out else x.clone()
