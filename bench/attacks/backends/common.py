"""Batching and seeding shared by the backends."""

from __future__ import annotations

import hashlib
import random
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch

from bench.attacks.base import Context

# PGD parameters only the native engine runs (targeted runs, a member taking over from a rank or a
# restart): the libraries' ``SUPPORTS`` take them at these values, their default.
NATIVE_ONLY_PGD: dict[str, tuple[int, ...]] = {"targets": (0,), "first_target": (1,), "first_restart": (1,)}


def seed_everything(seed: int) -> None:
    """ART draws from numpy's global RNG and foolbox/native from torch's: seed both."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def example_seed(seed: int, salt: str, index: int) -> int:
    """A 63-bit seed for one example's draws: the same whatever shard or batch the example is in."""
    digest = hashlib.blake2b(f"{seed}/{salt}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def per_example(draw: Callable[[torch.Generator], torch.Tensor], index: torch.Tensor, seed: int, salt: str) -> torch.Tensor:
    """``draw`` once per example with a CPU generator seeded from (seed, salt, dataset index),
    stacked: the draws of an example never depend on the other examples of its batch."""
    rows = [draw(torch.Generator().manual_seed(example_seed(seed, salt, int(i)))) for i in index.tolist()]
    return torch.stack(rows) if rows else torch.empty(0)


def indices_of(x: torch.Tensor, ctx: Context) -> torch.Tensor:
    """The dataset index of each row of ``x`` (``ctx.index``), else 0..n-1 (direct callers)."""
    return ctx.index if ctx.index is not None else torch.arange(len(x))


def library_seed(ctx: Context) -> int:
    """The seed a library backend's global RNG gets for a shard: from the cell seed and the
    shard's first example, so shards of one cell do not repeat one another's draws. Library draws
    still follow the shard's composition (the runner fixes it per kind, never per machine)."""
    index = ctx.index
    return ctx.seed if index is None or len(index) == 0 else example_seed(ctx.seed, "shard", int(index[0]))


def batches(x: torch.Tensor, y: torch.Tensor, ctx: Context) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    index = indices_of(x, ctx)
    for i in range(0, len(y), ctx.batch_size):
        yield x[i : i + ctx.batch_size].to(ctx.device), y[i : i + ctx.batch_size].to(ctx.device), index[i : i + ctx.batch_size]


def run_batched(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                ctx: Context) -> torch.Tensor:
    """``fn(x_batch, y_batch, index_batch)`` over batches of ``ctx.batch_size``; the progress bar
    hears what ``fn`` settled itself (``ctx.settle``) and the rest of each batch at its end."""
    out = []
    for xb, yb, ib in batches(x, y, ctx):
        ctx.reported = 0
        out.append(fn(xb, yb, ib).detach().cpu())
        if ctx.progress is not None and len(yb) > ctx.reported:
            ctx.progress(len(yb) - ctx.reported)
        ctx.reported = 0
    return torch.cat(out) if out else x.clone()


# --- host round-trips ---------------------------------------------------------------------------
# Reading a device tensor on the host (``bool(t.any())``, ``float(loss)``, boolean-mask indexing)
# blocks until the device has finished all queued work. On the CPU that costs only Python overhead;
# on CUDA it stalls the pipeline at every step. The native loops therefore keep their per-step
# bookkeeping on the device (``torch.where``) and read it on the host only every
# ``sync_interval`` steps, through ``host_int`` / ``host_indices``, so tests can count the reads.

HOST_READS = {"count": 0}  # host reads made through the helpers below (tests count them)


def sync_interval(device: torch.device, requested: int | None = None) -> int:
    """Steps between host reads in an attack loop: ``requested`` if given, else 1 on the CPU
    (a read is free there and compacting the batch at every step saves compute) and 10 on an
    accelerator (a read stalls the device's queue)."""
    if requested is not None:
        return max(1, int(requested))
    return 1 if torch.device(device).type == "cpu" else 10


def host_indices(mask: torch.Tensor) -> torch.Tensor:
    """``mask.nonzero()`` as a 1-d index tensor: one counted host read."""
    HOST_READS["count"] += 1
    return mask.nonzero().squeeze(1)


def host_split(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices where ``mask``, indices where not), on ``mask``'s device: one counted host read."""
    HOST_READS["count"] += 1
    m = mask.cpu()
    return m.nonzero().squeeze(1).to(mask.device), (~m).nonzero().squeeze(1).to(mask.device)


def host_int(t: torch.Tensor) -> int:
    """A scalar tensor read on the host: one counted host read."""
    HOST_READS["count"] += 1
    return int(t)


# --- memory layout ------------------------------------------------------------------------------


def has_conv2d(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


@contextmanager
def channels_last(model: torch.nn.Module, enabled: bool | None = None) -> Iterator[bool]:
    """Run ``model`` in the channels-last (NHWC) layout for the duration, then restore it.

    Why: oneDNN's convolutions run natively in NHWC; in the default NCHW layout every conv
    reorders its input and output. Measured on this machine class (Softmax zoo model, forward +
    input gradient, 1 thread): 265 -> 596 ex/s at batch 20, 262 -> 377-409 ex/s at batch 200.
    ``enabled=None`` turns it on for models with 2-d convolutions; inputs must be converted too
    (``to_layout``), else the first convolution picks NCHW again. Yields whether it is on.
    """
    on = has_conv2d(model) if enabled is None else enabled
    if not on:
        yield False
        return
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    was_nhwc = all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in convs)
    model.to(memory_format=torch.channels_last)
    try:
        yield True
    finally:
        if not was_nhwc:
            model.to(memory_format=torch.contiguous_format)


def to_layout(x: torch.Tensor, nhwc: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if nhwc and x.dim() == 4 else x
