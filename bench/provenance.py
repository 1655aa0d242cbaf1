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
