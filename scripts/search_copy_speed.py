"""Forward and forward+backward time of zoo models as loaded and as their search copy
(bench.models.search_copy: channels-last on CPU, an ensemble's bit heads fused), on 100 random
inputs of the model's shape (``--batch N``: N; a cascade's later members attack a handful), one
thread, best of several rounds taken in turn; and the largest score difference between the two
(docs/perf.md). With ``--bf16``, also the cascade's ``precision: bfloat16`` search copy
(convolutions and linear layers in bfloat16, activations float32) and how often its prediction
differs from the float32 model's. With ``--fusion``, the baseline is the search copy without its
ensemble fusion (channels-last only), to measure what the fusion adds.

    python scripts/search_copy_speed.py [--bf16] [--fusion] [--batch N] MODEL [MODEL ...]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from typing import Callable

import torch
from tabulate import tabulate

from bench import zoo
from bench.device import configure_allocator
from bench.errors import BenchError
from bench.models.search_copy import search_copy


def _forward(model: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        model.log_probs(x)


def _backward(model: torch.nn.Module, x: torch.Tensor) -> None:
    xr = x.clone().requires_grad_(True)
    torch.autograd.grad(model.log_probs(xr).sum(), xr)


def as_bench_runs() -> None:
    """One thread and the heap tuning every bench run has (``configure_allocator``): without it glibc
    maps and unmaps each step's large activations again, and MadrySmall's batch-76 forward takes
    6.5 ms instead of 3.5 ms, forward+gradient 17-19 ms instead of 13 (2026-12-06)."""
    torch.set_num_threads(1)
    configure_allocator()


def best_ms(step: Callable[[], None], rounds: int = 5, reps: int = 3) -> list[float]:
    """Milliseconds per call of each round (``reps`` calls each)."""
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        out.append((time.perf_counter() - t0) / reps * 1e3)
    return out


def main(model_ids: list[str], bf16: bool = False, batch: int = 100, fusion: bool = False) -> int:
    as_bench_runs()
    rows = []
    for model_id in model_ids:
        model = zoo.load(model_id).eval()
        fast = search_copy(model, torch.device("cpu"))
        base = copy.deepcopy(model).to(memory_format=torch.channels_last).eval() if fusion else model  # type: ignore[call-overload]
        variants = [("plain", base), ("copy", fast)] + ([("bf16", search_copy(model, torch.device("cpu"), "bfloat16"))] if bf16 else [])
        x = torch.rand(batch, *model.input_shape)
        times: dict[str, list[float]] = {}
        for _ in range(2):  # interleaved, so a change of machine load hits both
            for name, m in variants:
                for op, fn in (("fwd", _forward), ("bwd", _backward)):
                    times.setdefault(f"{name} {op}", []).extend(best_ms(lambda: fn(m, x)))
        with torch.no_grad():
            ref = model.log_probs(x)
            diff = float((ref - fast.log_probs(x)).abs().max())
            low_pred = variants[-1][1].log_probs(x).argmax(1)
        b = {k: min(v) for k, v in times.items()}
        row = [model_id, f"{b['plain fwd']:.1f}", f"{b['copy fwd']:.1f}", f"{b['plain fwd'] / b['copy fwd']:.2f}x",
               f"{b['plain bwd']:.1f}", f"{b['copy bwd']:.1f}", f"{b['plain bwd'] / b['copy bwd']:.2f}x", f"{diff:.1e}"]
        if bf16:
            row += [f"{b['bf16 fwd']:.1f}", f"{b['copy fwd'] / b['bf16 fwd']:.2f}x", f"{b['bf16 bwd']:.1f}",
                    f"{b['copy bwd'] / b['bf16 bwd']:.2f}x", f"{float((low_pred != ref.argmax(1)).float().mean()):.3f}"]
        rows.append(row)
    headers = ["model", "unfused copy fwd ms" if fusion else "fwd ms", "copy fwd ms", "ratio", "unfused fwd+bwd ms" if fusion else "fwd+bwd ms", "copy fwd+bwd ms", "ratio", "max |score diff|"]
    if bf16:
        headers += ["bf16 fwd ms", "vs copy", "bf16 fwd+bwd ms", "vs copy", "bf16 argmax differs"]
    print(tabulate(rows, headers=headers, disable_numparse=True))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(usage=__doc__.strip().splitlines()[-1].strip())
    parser.add_argument("models", nargs="+")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--fusion", action="store_true")
    opts = parser.parse_args()
    if opts.batch < 1:
        parser.error(f"--batch must be at least 1, got {opts.batch}")
    try:
        sys.exit(main(opts.models, opts.bf16, opts.batch, opts.fusion))
    except BenchError as e:  # an unknown model id or a checkpoint that fails its sha256: one line
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
