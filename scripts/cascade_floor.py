"""The least time any implementation of a cascade preset can take on this machine: each member's
passes (from its budget in ``bench.attacks.kinds.cascade.PRESETS``) times the search copy's own
forward or forward+input-gradient time at batch N, one thread, no other overhead. Used for issue
19's item 7 (docs/perf.md): N is the number of examples every member attacks on a robust model.

    python scripts/cascade_floor.py MODEL N [PRESET] [--shipped SECONDS]
"""

from __future__ import annotations

import argparse

import torch
from tabulate import tabulate

from bench import zoo
from bench.attacks.kinds.cascade import PRESETS, Member
from bench.models.search_copy import search_copy
from search_copy_speed import _backward, _forward, as_bench_runs, best_ms  # scripts/ is on the path when a script here runs


def passes(member: Member) -> tuple[str, int]:
    """("fwd" or "bwd", how many batch passes the member's budget spends on an example it never breaks)."""
    p = member.params
    if member.kind == "square":
        return "fwd", int(p["queries"]) * int(p.get("restarts", 1))
    return "bwd", int(p["steps"]) * max(int(p.get("targets", 0)), 1) * int(p.get("restarts", 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("n", type=int)
    ap.add_argument("preset", nargs="?", default="autoattack_standard", choices=list(PRESETS))
    ap.add_argument("--shipped", type=float, help="seconds of the run compared with (e.g. torchattacks as shipped)")
    args = ap.parse_args()
    as_bench_runs()
    model = zoo.load(args.model).eval()
    fast = search_copy(model, torch.device("cpu"))
    x = torch.rand(args.n, *model.input_shape)
    ms = {"fwd": min(best_ms(lambda: _forward(fast, x), rounds=5, reps=40)),
          "bwd": min(best_ms(lambda: _backward(fast, x), rounds=5, reps=20))}
    rows, total = [], 0.0
    for m in PRESETS[args.preset]:
        op, k = passes(m)
        s = k * ms[op] / 1e3
        total += s
        rows.append([m.label, op, k, f"{s:.1f}"])
    print(f"{args.model}, batch {args.n}, one thread: forward {ms['fwd']:.2f} ms, forward+input gradient {ms['bwd']:.2f} ms")
    print(tabulate(rows, headers=["member", "pass", "passes", "floor s"]))
    print(f"floor of {args.preset}: {total:.1f} s" + (f"; at most {args.shipped / total:.2f}x a {args.shipped:.1f} s run"
                                                   if args.shipped else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
