"""Forward and forward+backward time of zoo models as loaded and as their search copy
(bench.models.search_copy: channels-last on CPU), on 100 random inputs of the model's shape, one
thread, best of several rounds taken in turn; and the largest score difference between the two
(docs/perf.md).

    python scripts/search_copy_speed.py MODEL [MODEL ...]
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import torch
from tabulate import tabulate

from bench import zoo
from bench.models.search_copy import search_copy


def _forward(model: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        model.log_probs(x)


def _backward(model: torch.nn.Module, x: torch.Tensor) -> None:
    xr = x.clone().requires_grad_(True)
    torch.autograd.grad(model.log_probs(xr).sum(), xr)


def best_ms(step: Callable[[], None], rounds: int = 5, reps: int = 3) -> list[float]:
    """Milliseconds per call of each round (``reps`` calls each)."""
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        out.append((time.perf_counter() - t0) / reps * 1e3)
    return out


def main(model_ids: list[str]) -> int:
    torch.set_num_threads(1)
    rows = []
    for model_id in model_ids:
        model = zoo.load(model_id).eval()
        fast = search_copy(model, torch.device("cpu"))
        x = torch.rand(100, *model.input_shape)
        times: dict[str, list[float]] = {}
        for _ in range(2):  # interleaved, so a change of machine load hits both
            for name, m in (("plain", model), ("copy", fast)):
                for op, fn in (("fwd", _forward), ("bwd", _backward)):
                    times.setdefault(f"{name} {op}", []).extend(best_ms(lambda: fn(m, x)))
        with torch.no_grad():
            diff = float((model.log_probs(x) - fast.log_probs(x)).abs().max())
        b = {k: min(v) for k, v in times.items()}
        rows.append([model_id, f"{b['plain fwd']:.1f}", f"{b['copy fwd']:.1f}", f"{b['plain fwd'] / b['copy fwd']:.2f}x",
                     f"{b['plain bwd']:.1f}", f"{b['copy bwd']:.1f}", f"{b['plain bwd'] / b['copy bwd']:.2f}x", f"{diff:.1e}"])
    print(tabulate(rows, headers=["model", "fwd ms", "copy fwd ms", "ratio", "fwd+bwd ms", "copy fwd+bwd ms", "ratio",
                                  "max |score diff|"], disable_numparse=True))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
