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
    """Intra-op threads: $BENCH_THREADS if set, else the cores not already busy.

    Why: on a 2-core CPU, two torch threads next to another busy process run a small conv batch
    ~20x slower than one thread (OpenMP threads wait on each other at every op), so the core
    count alone is the wrong default. OMP_NUM_THREADS, when set, is left to torch.
    """
    if os.environ.get("BENCH_THREADS"):
        torch.set_num_threads(max(1, int(os.environ["BENCH_THREADS"])))
    elif "OMP_NUM_THREADS" not in os.environ:
        cores = os.cpu_count() or 1
        try:
            busy = int(round(os.getloadavg()[0]))
        except OSError:
            busy = 0
        torch.set_num_threads(max(1, min(cores, cores - busy + 1)))
    return torch.get_num_threads()
