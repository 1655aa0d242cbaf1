"""Device choice (--device auto|cpu|cuda) and CPU thread settings."""

from __future__ import annotations

import ctypes
import os
import sys

import torch

from bench.errors import BenchError


def resolve_device(name: str | None, source: str = "--device") -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without it is a one-line error naming
    ``source``, where the request came from (the option, or a suite file's ``device`` key)."""
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        fix = "--device auto or cpu" if source == "--device" else "--device cpu, or device: auto in the suite"
        raise BenchError(f"{source} cuda requested but no CUDA device is available (use {fix})")
    if name not in ("cpu", "cuda"):
        raise BenchError(f"{source}: unknown device '{name}' (auto, cpu, cuda)")
    return torch.device(name)


def configure_threads() -> int:
    """Intra-op threads: $BENCH_THREADS if set, else the cores not already busy.

    Why: on a 2-core CPU, two torch threads next to another busy process run a small conv batch
    ~20x slower than one thread (OpenMP threads wait on each other at every op), so the core
    count alone is the wrong default. OMP_NUM_THREADS, when set, is left to torch.
    """
    configure_allocator()
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


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_allocator_done = {"value": None}


def configure_allocator() -> bool:
    """Keep large freed CPU buffers in the heap instead of returning them to the OS (glibc).

    Why: glibc serves allocations above its mmap threshold (at most 32 MB) with a fresh mmap and
    unmaps them on free, so every attack step page-faults its large activations in again: a
    200 x 64 x 28 x 28 ReLU took 30 ms instead of 5 ms on this machine class, and batch 200 ran
    slower per example than batch 64. Raising the mmap and trim thresholds to 1-2 GB makes the
    heap reuse those buffers (peak memory is unchanged; resident memory stays at its high-water
    mark). Done once per process; a no-op off glibc; BENCH_MALLOC_TUNE=0 turns it off.
    Returns whether the thresholds were set.
    """
    if _allocator_done["value"] is not None:
        return bool(_allocator_done["value"])
    ok = False
    if sys.platform.startswith("linux") and os.environ.get("BENCH_MALLOC_TUNE", "1") != "0":
        try:
            libc = ctypes.CDLL("libc.so.6")
            ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 31))
        except (OSError, AttributeError):
            ok = False
    _allocator_done["value"] = ok
    return ok
