"""What a result needs to be reproducible: versions, commit, machine."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from typing import Any
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "adversarial-robustness-toolbox", "foolbox", "torchattacks", "numpy", "scipy", "safetensors")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(path: Path | None = None) -> str:
    try:
        where = path or Path(__file__).resolve().parent
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where, capture_output=True, text=True, timeout=5).stdout.strip()
        return (commit + ("+dirty" if dirty else "")) if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> str:
    return f"{platform.node() or 'unknown host'}: {platform.system()} {platform.machine()}, {platform.processor() or 'cpu'}, {os.cpu_count()} cores"


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far, in MB (None where the OS does not say): the
    number a run's memory budget is checked against (docs/perf.md)."""
    try:
        import resource
    except ImportError:  # not on Unix
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / (1 << 20 if platform.system() == "Darwin" else 1 << 10), 1)  # macOS reports bytes


def cell_provenance(device: Any, threads: int) -> dict[str, Any]:
    """Who computed a cell: commit, machine, device, threads, library versions, when, and the
    peak resident memory of the process when it wrote the cell."""
    return {
        "git_commit": git_commit(), "machine": machine(), "device": str(device), "threads": threads,
        "packages": package_versions(), "computed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "peak_rss_mb": peak_rss_mb(),
    }


def core_seconds(cell: dict[str, Any]) -> tuple[float, bool]:
    """(core-seconds, exact) a complete cell cost: its ``compute_s`` when every shard recorded one,
    else a cascade's member times, else its wall time when it ran in one invocation (a lower bound
    otherwise), times its threads. An extended cell adds the stored cell's (``extends_core_s``;
    cells extended before it was recorded: ``extends_compute_s`` at this cell's threads).

    Why here: the runner records what an extended cell grew from, and docs/perf.md's cost table
    (scripts/run_cost.py) reads it; both must count a cell the same way."""
    prov = cell.get("provenance") or {}
    threads = int(prov.get("threads") or 1)
    if "compute_s" in prov and prov.get("shards_timed") == prov.get("shards"):  # every shard timed (or none: one cell)
        earlier = prov.get("extends_core_s")
        if earlier is None:
            earlier = float(prov.get("extends_compute_s") or 0.0) * threads
        return float(prov["compute_s"]) * threads + float(earlier), True
    members = (cell.get("extra") or {}).get("members")
    if isinstance(members, dict):
        return sum(float(m.get("time_s", 0.0)) for m in members.values()) * threads, True
    wall = float(cell.get("wall_time_s") or 0.0) * threads
    return wall, not prov.get("shards_resumed")
