"""Where a cascade cell's time goes, per member: the examples it was run on, the examples it broke,
its seconds and seconds per example, for a finished cell (its JSON) or an unfinished one (the
finished shards of its ``.partial`` folder), so that the cost of the cells still to run can be
read off the ones that ran (docs/perf.md).

    python scripts/cascade_members.py RESULTS_DIR MODEL ATTACK
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from safetensors.torch import load_file
from tabulate import tabulate

from bench.attacks.kinds.cascade import members
from bench.suite import load_suite


def from_shards(folder: Path, labels: list[str]) -> tuple[dict[str, dict[str, float]], int, int]:
    """Member rows summed over the finished shards: (rows, shards, examples)."""
    rows: dict[str, Counter[str]] = {label: Counter() for label in labels}
    shards = sorted(folder.glob("*.safetensors"))
    examples = 0
    for path in shards:
        saved = load_file(str(path))
        broken_by = saved["t/broken_by"].long()
        examples += len(broken_by)
        for j, label in enumerate(labels):
            rows[label]["attempted"] += float(saved.get(f"s/attempted/{label}", [0.0])[0])
            rows[label]["time_s"] += float(saved.get(f"s/time_s/{label}", [0.0])[0])
            rows[label]["broke"] += int((broken_by == j).sum())
    return {k: dict(v) for k, v in rows.items()}, len(shards), examples


def main(folder: Path, model: str, attack: str) -> int:
    suite_path = folder / "suite.yaml"
    if not suite_path.is_file():
        print(f"{suite_path}: not found (not a results folder?)", file=sys.stderr)
        return 2
    cfg = next((a for a in load_suite(suite_path).attacks if a.id == attack), None)
    if cfg is None or cfg.kind != "cascade":
        print(f"{suite_path}: no cascade attack {attack!r}", file=sys.stderr)
        return 2
    labels = [m.label for m in members(cfg.params)]
    cell = folder / "cells" / model / f"{attack}.json"
    if cell.is_file():
        rows = json.loads(cell.read_text())["extra"]["members"]
        where = f"{cell} (complete)"
    else:
        partial = folder / "cells" / model / f"{attack}.partial"
        rows, shards, examples = from_shards(partial, labels)
        if not shards:
            print(f"{partial}: no finished shard", file=sys.stderr)
            return 2
        where = f"{partial} ({shards} finished shards, {examples} examples)"
    table, total = [], 0.0
    for label in labels:
        r = rows.get(label, {})
        attempted, seconds = float(r.get("attempted", 0)), float(r.get("time_s", 0.0))
        total += seconds
        table.append([label, int(attempted), int(r.get("broke", 0)), f"{seconds:,.0f}",
                      f"{seconds / attempted:.1f}" if attempted else "-"])
    for row in table:
        row.append(f"{float(row[3].replace(',', '')) / total:.0%}" if total else "-")
    print(where)
    print(tabulate(table, headers=["member", "run on", "broke", "seconds", "s per example", "share"], disable_numparse=True))
    print(f"total {total:,.0f} s")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
