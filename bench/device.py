"""Device choice (--device auto|cpu|cuda) and CPU thread settings."""

from __future__ import annotations

import os

import torch

from bench.errors import BenchError


def resolve_device(name: str | None) -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without it is a one-line error."""
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda requested but no CUDA device is available (use --device auto or cpu)")
    if name not in ("cpu", "cuda"):
        raise BenchError(f"unknown device '{name}' (auto, cpu, cuda)")
    return torch.device(name)


def configure_threads() -> int:
    """Use every core for intra-op work unless the user set OMP/BENCH threads explicitly."""
    n = int(os.environ.get("BENCH_THREADS", "0")) or os.cpu_count() or 1
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(n)
    return torch.get_num_threads()
