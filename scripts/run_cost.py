"""What a results folder has cost so far, per model, in core-hours (docs/perf.md): its complete
cells, the finished shards of its unfinished cells, and the cells not started, for the trained
models and the attacks of the suite the folder was run with (its suite.yaml).

A cell's seconds are, in order of preference: its provenance's ``compute_s`` when every shard
recorded one (bench.runner.COMPUTE_S; an extended cell adds the stored cell's), else a cascade's
member times (recorded per shard by the kind), else its ``wall_time_s`` when it ran in one
invocation; otherwise its cost is unknown and the last invocation's time is shown as a lower bound
(``>``). Seconds x threads = core-seconds (bench.provenance.core_seconds).

    python scripts/run_cost.py RESULTS_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from safetensors import safe_open
from tabulate import tabulate

from bench import zoo
from bench.provenance import core_seconds
from bench.suite import load_suite


def shard_seconds(path: Path) -> float:
    """Seconds of one finished shard: its compute_s, else the sum of a cascade's member times."""
    with safe_open(str(path), "pt") as fh:
        keys = list(fh.keys())
        if "s/compute_s" in keys:
            return float(fh.get_tensor("s/compute_s")[0])
        return float(sum(float(fh.get_tensor(k)[0]) for k in keys if k.startswith("s/time_s/")))


def main(folder: Path) -> int:
    path = folder / "suite.yaml"
    if not path.is_file():
        print(f"{path}: not found (not a results folder?)", file=sys.stderr)
        return 2
    suite, cards = load_suite(path), zoo.registry.all_cards()
    models = [m for m in suite.select_models(cards) if cards[m].sha256]
    attacks = [a.id for a in suite.attacks]
    rows, total = [], 0.0
    for model in models:
        done = exact = 0
        seconds = 0.0
        partial_cells, partial_shards, partial_s = 0, 0, 0.0
        for attack in attacks:
            path = folder / "cells" / model / f"{attack}.json"
            if path.is_file():
                s, ok = core_seconds(json.loads(path.read_text()))
                seconds += s
                done += 1
                exact += ok
                continue
            shards = sorted((folder / "cells" / model / f"{attack}.partial").glob("*.safetensors"))
            if shards:
                partial_cells += 1
                partial_shards += len(shards)
                partial_s += sum(shard_seconds(p) for p in shards)
        total += seconds + partial_s
        rows.append([model, f"{done}/{len(attacks)}", f"{'' if exact == done else '>'}{seconds / 3600:.2f}",
                     f"{partial_cells} ({partial_shards} shards)" if partial_cells else "-",
                     f"{partial_s / 3600:.2f}" if partial_cells else "-", len(attacks) - done - partial_cells])
    print(tabulate(rows, headers=["model", "cells done", "core-h (done)", "unfinished", "core-h (their shards)",
                                  "not started"], disable_numparse=True))
    print(f"\n{folder}: {total / 3600:.2f} core-hours so far")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
