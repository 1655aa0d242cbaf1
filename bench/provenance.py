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


def _host_and_cores(machine_line: Any) -> tuple[str, int | None]:
    """The host and core count ``machine()`` wrote ("host: Linux x86_64, cpu, 2 cores"); cores None
    where the line does not say."""
    line = str(machine_line or "")
    words = line.rsplit(",", 1)[-1].split()
    cores = int(words[0]) if len(words) == 2 and words[1] == "cores" and words[0].isdigit() else None
    return line.split(":", 1)[0], cores


def _most_at_once(ran_on: list[dict[str, Any]]) -> int:
    """How many of a Ray cell's shards ran at the same time (``ran_on``: began, seconds)."""
    spans = [(float(w["began"]), float(w["began"]) + float(w["seconds"])) for w in ran_on
             if isinstance(w, dict) and "began" in w and "seconds" in w]
    return max([1, *(sum(1 for b, e in spans if b <= start < e) for start, _ in spans)])


def cell_threads(prov: dict[str, Any]) -> int:
    """The cores each shard of a cell had: its recorded threads, but where Ray workers on this
    host ran at once, no more than the host's cores shared among them. Why: a run that gave two
    workers two threads each on a two-core host used two cores, not four; counting threads alone
    doubled that cell's cost (mnist_robust TanhEns32 eps 0.1, docs/perf.md)."""
    threads = int(prov.get("threads") or 1)
    ran_on = prov.get("ran_on") or []
    host, cores = _host_and_cores(prov.get("machine"))
    if cores and ran_on and all(isinstance(w, dict) and w.get("node") == host for w in ran_on):
        threads = min(threads, max(1, cores // _most_at_once(ran_on)))
    return threads


def core_seconds(cell: dict[str, Any]) -> tuple[float, bool]:
    """(core-seconds, exact) a complete cell cost: its ``compute_s`` when every shard recorded one,
    else a cascade's member times, else its wall time when it ran in one invocation (a lower bound
    otherwise), times the cores each shard had (``cell_threads``). An extended cell adds the stored
    cell's (``extends_core_s``; cells extended before it was recorded: ``extends_compute_s`` at this
    cell's threads).

    Why here: the runner records what an extended cell grew from, and docs/perf.md's cost table
    (scripts/run_cost.py) reads it; both must count a cell the same way."""
    prov = cell.get("provenance") or {}
    threads = cell_threads(prov)
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
