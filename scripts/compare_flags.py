"""Two runs of the same cell compared example by example: the robust flags of MODEL's ATTACK in
results folder A (the reference, e.g. results/mnist_robust: float32 search) and in B (e.g.
results/mnist_robust_bf16: the same cascade searched in bfloat16), on the examples both hold.
Prints each side's robust count with its interval, the examples robust in B that A breaks (B is
weaker there) and the reverse, each member's breaks and seconds on both sides, and whether B is
within the cross-check's tolerance of A (at most 1 example in 100 robust in B that A breaks;
exit 1 otherwise). Reads finished cells.

    python scripts/compare_flags.py results/mnist_robust results/mnist_robust_bf16 MODEL ATTACK [MODEL ATTACK ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from tabulate import tabulate

from bench.stats import clopper_pearson


def _cell(root: Path, model: str, attack: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """(tensors, each member's (broke, seconds)) of a finished cell, or None."""
    js = root / "cells" / model / f"{attack}.json"
    if not js.is_file():
        return None
    members = (json.loads(js.read_text()).get("extra") or {}).get("members") or {}
    return load_file(str(js.with_suffix(".safetensors"))), {k: (m["broke"], m["time_s"]) for k, m in members.items()}


def compare(a_root: Path, b_root: Path, model: str, attack: str) -> tuple[list[Any], bool] | None:
    a, b = _cell(a_root, model, attack), _cell(b_root, model, attack)
    if a is None or b is None:
        missing = a_root if a is None else b_root
        print(f"{missing}/cells/{model}/{attack}: no finished cell", file=sys.stderr)
        return None
    (ta, ma), (tb, mb) = a, b
    ia, ib = ta["index"].long().tolist(), tb["index"].long().tolist()
    common = sorted(set(ia) & set(ib))
    pos_a, pos_b = {v: i for i, v in enumerate(ia)}, {v: i for i, v in enumerate(ib)}
    ra = ta["robust"].bool()[[pos_a[i] for i in common]]
    rb = tb["robust"].bool()[[pos_b[i] for i in common]]
    n = len(common)
    weaker, stronger = int((rb & ~ra).sum()), int((ra & ~rb).sum())
    allowed = n // 100
    ok = weaker <= allowed

    def fig(k: int) -> str:
        lo, hi = clopper_pearson(k, n)
        return f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]" if n else "-"

    row = [model, attack, n, fig(int(ra.sum())), fig(int(rb.sum())), weaker, stronger, f"{'ok' if ok else 'FAILED'} (allowed {allowed})"]
    if ma and mb:
        print(f"{model} {attack}: member, broke and seconds in A | in B")
        for label in ma:
            (ba, sa), (bb, sb) = ma[label], mb.get(label, (0, 0.0))
            print(f"  {label:20s} {ba:4d} {sa:9.0f} s | {bb:4d} {sb:9.0f} s")
        ta_s, tb_s = sum(s for _, s in ma.values()), sum(s for _, s in mb.values())
        print(f"  {'all members':20s} {'':4s} {ta_s:9.0f} s | {'':4s} {tb_s:9.0f} s  (A/B {ta_s / max(tb_s, 1e-9):.2f}x)")
    return row, ok


def main(argv: list[str]) -> int:
    if len(argv) < 4 or len(argv) % 2:
        print("usage: compare_flags.py RESULTS_A RESULTS_B MODEL ATTACK [MODEL ATTACK ...]", file=sys.stderr)
        return 2
    a_root, b_root = Path(argv[0]), Path(argv[1])
    rows, all_ok = [], True
    for model, attack in zip(argv[2::2], argv[3::2]):
        got = compare(a_root, b_root, model, attack)
        if got is None:
            return 2
        rows.append(got[0])
        all_ok &= got[1]
    print(tabulate(rows, headers=["model", "attack", "n", f"robust in A ({a_root.name})", f"robust in B ({b_root.name})",
                                  "robust in B, broken in A", "robust in A, broken in B", "B within tolerance"]))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
