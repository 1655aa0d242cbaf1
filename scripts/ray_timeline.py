"""The per-cell timeline of a `bench run --executor ray` results folder (docs/perf.md): for each
cell, how many shards, and when (seconds from the run's first shard) each worker ran them, from
the cells' provenance (``ran_on``: node, pid, start, seconds per shard), for the models of the
folder's last run (run.json).

    python scripts/ray_timeline.py RESULTS_DIR [--by-model]   (--by-model: one row per model)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tabulate import tabulate


def main(folder: Path, by_model: bool = False) -> int:
    shards = []  # (cell, worker, began, ended)
    run = folder / "run.json"
    models = set(json.loads(run.read_text()).get("models") or []) if run.is_file() else set()
    for path in sorted(folder.glob("cells/*/*.json")):
        cell = json.loads(path.read_text())
        if models and cell["model"] not in models:  # a model of an earlier run into the same folder
            continue
        for where in (cell.get("provenance") or {}).get("ran_on") or []:
            worker = f"{where['node']}:{where['pid']}"
            name = cell["model"] if by_model else f"{cell['model']} {cell['attack']}"
            shards.append((name, worker, where["began"], where["began"] + where["seconds"]))
    if not shards:
        print(f"{folder}: no cell ran on Ray workers", file=sys.stderr)
        return 1
    t0 = min(s[2] for s in shards)
    workers = sorted({s[1] for s in shards})
    rows = []
    for cell in sorted({s[0] for s in shards}, key=lambda c: min(s[2] for s in shards if s[0] == c)):
        mine = [s for s in shards if s[0] == cell]
        spans = []
        for w in workers:
            on = [s for s in mine if s[1] == w]
            spans.append(f"{min(s[2] for s in on) - t0:.0f}-{max(s[3] for s in on) - t0:.0f} s ({len(on)})" if on else "")
        rows.append([cell, len(mine), *spans])
    busy = [sum(s[3] - s[2] for s in shards if s[1] == w) for w in workers]
    end = max(s[3] for s in shards) - t0
    print(tabulate(rows, headers=["cell", "shards", *[f"worker {w.split(':')[1]}" for w in workers]], tablefmt="github"))
    print(f"\nfirst to last shard: {end:.0f} s; busy per worker: " + ", ".join(f"{b:.0f} s" for b in busy)
          + f"; shard compute summed: {sum(busy):.0f} s")
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--by-model"]
    sys.exit(main(Path(args[0]), "--by-model" in sys.argv) if len(args) == 1 else print(__doc__) or 2)
