"""Forward and forward+backward time of a zoo model's search copy, eager and under torch.compile
(inductor, float32), at one batch size, one thread; compile time and the largest log-probability
difference (docs/perf.md, "A compiled search copy").

    python scripts/compile_speed.py MODEL BATCH
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import torch

from bench import zoo
from bench.models.search_copy import search_copy
from search_copy_speed import as_bench_runs, best_ms  # scripts/ is on the path when a script here runs


def main(model_id: str, batch: int) -> int:
    as_bench_runs()
    model = zoo.load(model_id).eval()
    fast = search_copy(model, torch.device("cpu"))
    x = torch.rand(batch, *model.input_shape)

    def fwd(f: Callable[[torch.Tensor], torch.Tensor]) -> None:
        with torch.no_grad():
            f(x)

    def bwd(f: Callable[[torch.Tensor], torch.Tensor]) -> None:
        xr = x.clone().requires_grad_(True)
        torch.autograd.grad(f(xr).sum(), xr)

    t0 = time.perf_counter()
    compiled = torch.compile(fast.log_probs, dynamic=False)
    fwd(compiled)
    bwd(compiled)
    print(f"{model_id} batch {batch}: compile {time.perf_counter() - t0:.1f} s", flush=True)
    with torch.no_grad():
        print(f"max |log-prob difference| {float((compiled(x) - model.log_probs(x)).abs().max()):.1e}")
    for _ in range(2):  # two passes, so a change of machine load shows
        e_f, c_f = min(best_ms(lambda: fwd(fast.log_probs))), min(best_ms(lambda: fwd(compiled)))
        e_b, c_b = min(best_ms(lambda: bwd(fast.log_probs))), min(best_ms(lambda: bwd(compiled)))
        print(f"forward {e_f:.1f} -> {c_f:.1f} ms ({e_f / c_f:.2f}x); forward+backward {e_b:.1f} -> {c_b:.1f} ms ({e_b / c_b:.2f}x)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
