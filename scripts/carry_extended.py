"""Apply ``bench.extension.carry`` to cells extended before it existed (2026-12-05, commits
1124af4..3f6bd11): such a cell is the re-run alone, and a library member that re-ran on fewer
examples could miss a break the stored cell had verified. This takes the stored cell (its tensors
and JSON, read from git at ``--rev``, whose config hash must be the cell's ``provenance.extends``)
and writes the per-example worst case of both, as the runner now does when it extends a cell, with
``verification.carried`` and ``provenance.extends_compute_s``. Cells already carried are left alone.

    python scripts/carry_extended.py results/mnist_robust cascade_e02 --rev 870ede1 MODEL [MODEL ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load

from bench.attacks import get_kind
from bench.extension import carry
from bench.results import ResultsStore
from bench.stats import proportion_interval
from bench.verify import Verdict


def from_git(rev: str, path: Path) -> bytes:
    return subprocess.run(["git", "show", f"{rev}:{path.as_posix()}"], capture_output=True, check=True).stdout


def stats_of(members: dict[str, dict]) -> dict[str, float]:
    """The cascade's shard statistics back from a cell's ``extra.members`` (summed over shards)."""
    out: dict[str, float] = {}
    for label, row in members.items():
        out[f"attempted/{label}"], out[f"time_s/{label}"] = float(row["attempted"]), float(row["time_s"])
        if "not_rerun" in row:
            out[f"skipped/{label}"] = float(row["not_rerun"])
    return out


def carry_cell(store: ResultsStore, model: str, attack: str, rev: str) -> str:
    meta, tensors = store.read_cell(model, attack), store.read_tensors(model, attack)
    if meta is None or tensors is None:
        return f"{model}/{attack}: no cell"
    prov = meta.get("provenance") or {}
    if "carried" in meta.get("verification", {}) or prov.get("adopted") or not prov.get("extends"):
        return f"{model}/{attack}: nothing to do (carried already, adopted, or not extended)"
    rel = store.cell_json(model, attack).resolve().relative_to(Path.cwd().resolve())
    old_meta = json.loads(from_git(rev, rel))
    if old_meta.get("config_hash") != prov["extends"]:
        return f"{model}/{attack}: the cell at {rev} is not the one it extends; skipped"
    old = load(from_git(rev, rel.with_suffix(".safetensors")))
    if not torch.equal(old["index"], tensors["index"]):
        return f"{model}/{attack}: other examples at {rev}; skipped"
    verdict = Verdict(tensors["robust"].bool(), tensors["ref_correct"].bool(), tensors["pred"], tensors["linf"], tensors["l2"],
                      dict(meta["verification"]))
    v, kept = carry(verdict, {"broken_by": tensors["broken_by"]}, old)
    out = {**tensors, "robust": v.robust, "pred": v.pred, "linf": v.linf, "l2": v.l2, **kept}
    n, count = len(v.robust), int(v.robust.sum())
    kind = get_kind(meta["kind"])
    extra = dict(meta["extra"])
    extra.update(v.fooled_medians())
    extra.update(kind.details(kept, stats_of(meta["extra"]["members"]), v, kind.resolve(meta["params"])))
    new_meta = {**meta, "value": count / n, "count": count, "ci95": proportion_interval(count / n, n, count),
                "verification": v.stats, "extra": extra,
                "provenance": {**prov, "extends_compute_s": (old_meta.get("provenance") or {}).get("compute_s")}}
    store.write_cell(model, attack, new_meta, out)
    return f"{model}/{attack}: {meta['count']} -> {count} robust ({v.stats['carried']} carried from {prov['extends'][:8]})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("attack")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--rev", required=True, help="the git revision holding the stored cells the extension started from")
    args = parser.parse_args()
    store = ResultsStore(args.results)
    for model in args.models:
        print(carry_cell(store, model, args.attack, args.rev))
    return 0


if __name__ == "__main__":
    sys.exit(main())
