"""Batch size per device and model: measured once, cached.

Why: on this machine class the best batch is neither "as large as fits" nor the same for every
model: with one core busy elsewhere, the Softmax zoo model's forward + input gradient ran at
~390 ex/s at batch 20-50 and ~260 ex/s at batch 200 (cache effects), while a GPU wants batches of
hundreds. So the harness measures it: the throughput of one attack pass (forward + gradient with
respect to the input, in the layout the native backend uses) over a few batch sizes, and keeps the
smallest batch within ``TOLERANCE`` of the fastest (smaller batches let early exit drop finished
examples sooner and use less memory).

The result is cached in ``$BENCH_CACHE_DIR/batch_size.json`` (default ``~/.cache/bench``), keyed
by what changes the answer: the checkpoint's sha256, the device, the torch thread count and the
torch version. The runner uses it only when the suite does not set ``batch_size``
(``batch_size_for``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from bench.attacks.backends.common import channels_last, to_layout

CPU_CANDIDATES = (32, 64, 128, 256, 512)
CUDA_CANDIDATES = (64, 128, 256, 512, 1024, 2048)
TOLERANCE = 0.05  # keep the smallest batch within 5% of the best throughput
MIN_SECONDS = 0.25  # time each candidate for at least this long (best of the repeats)


def cache_path() -> Path:
    root = os.environ.get("BENCH_CACHE_DIR") or str(Path.home() / ".cache" / "bench")
    return Path(root).expanduser() / "batch_size.json"


def cache_key(sha256: str, device: torch.device | str, threads: int | None = None, torch_version: str | None = None) -> str:
    """What the measured batch size depends on: checkpoint, device, threads, torch version."""
    dev = torch.device(device)
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev) if torch.cuda.is_available() else "cuda"
        dev_s = f"cuda:{name}"
    else:
        dev_s = dev.type
    threads = torch.get_num_threads() if threads is None else threads
    return f"{sha256}|{dev_s}|threads={threads}|torch={torch_version or torch.__version__}"


def read_cache(path: Path | None = None) -> dict[str, Any]:
    path = path or cache_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_cache(entries: dict[str, Any], path: Path | None = None) -> None:
    path = path or cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
    os.replace(tmp, path)


def measure(model: torch.nn.Module, device: torch.device, candidates: tuple[int, ...], surface: str = "logprob",
            min_seconds: float = MIN_SECONDS) -> dict[int, float]:
    """Examples per second of one attack pass (forward + input gradient) at each batch size."""
    surf = model.surface(surface) if hasattr(model, "surface") else model
    shape = tuple(getattr(model, "input_shape", (1, 28, 28)))
    out: dict[int, float] = {}
    with channels_last(model) as nhwc:
        for bs in candidates:
            x = to_layout(torch.rand(bs, *shape, device=device), nhwc)

            def one() -> None:
                d = x.clone().requires_grad_(True)
                torch.autograd.grad(surf(d).sum(), d)

            one()  # warm-up (allocator, oneDNN primitive cache)
            best, spent, reps = float("inf"), 0.0, 0
            while spent < min_seconds or reps < 2:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                t = time.perf_counter()
                one()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                dt = time.perf_counter() - t
                best, spent, reps = min(best, dt), spent + dt, reps + 1
            out[bs] = bs / best
    return out


def choose(throughput: dict[int, float], tolerance: float = TOLERANCE) -> int:
    """The smallest batch within ``tolerance`` of the best throughput."""
    top = max(throughput.values())
    return min(bs for bs, v in throughput.items() if v >= (1 - tolerance) * top)


def autotune(model: torch.nn.Module, sha256: str, device: torch.device, candidates: tuple[int, ...] | None = None,
             path: Path | None = None) -> int:
    """The cached batch size for (checkpoint, device, threads, torch), measured on a miss."""
    device = torch.device(device)
    key = cache_key(sha256, device)
    entries = read_cache(path)
    hit = entries.get(key)
    if isinstance(hit, dict) and isinstance(hit.get("batch_size"), int) and hit["batch_size"] > 0:
        return int(hit["batch_size"])
    candidates = candidates or (CUDA_CANDIDATES if device.type == "cuda" else CPU_CANDIDATES)
    tp = measure(model, device, candidates)
    bs = choose(tp)
    entries = read_cache(path)  # re-read: another process may have added entries meanwhile
    entries[key] = {"batch_size": bs, "examples_per_s": {str(k): round(v, 1) for k, v in tp.items()},
                    "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_cache(entries, path)
    return bs


def suite_sets_batch_size(suite: Any) -> bool:
    """Whether the suite file (or a file it includes) sets ``batch_size`` explicitly."""
    return bool(getattr(suite, "batch_size_explicit", True))


def batch_size_for(suite: Any, model: torch.nn.Module, sha256: str | None, device: torch.device) -> int:
    """The suite's batch size when it sets one, else the measured one for this model and device."""
    if not sha256 or suite_sets_batch_size(suite):
        return int(suite.batch_size)
    return autotune(model, sha256, device)
