"""The full-size cross-check of a committed cascade cell against torchattacks' AutoAttack: run
``AutoAttack(version='standard')`` (as shipped, or with ``--steps 100`` at the reference's
budgets) on the cell's own test images, verify its outputs with the harness, and compare the two
robust sets. The cascade may be stronger, never weaker: at most 1 example in 100 that the
reference breaks may be robust in the cell (exit 1 otherwise).

Resumable: each batch of 100 is kept in ``--state`` (JSON) as it finishes; a rerun goes on from
there.

    python scripts/crosscheck_autoattack.py results/mnist_robust MODEL cascade_e03 [--steps 100]
        [--state FILE] [--device cpu] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm import tqdm

from bench import data, zoo
from bench.attacks.backends import torchattacks_backend
from bench.attacks.base import Context
from bench.device import resolve_device
from bench.results import atomic_write_json
from bench.verify import verify

BATCH = 100


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("results", type=Path)
    p.add_argument("model")
    p.add_argument("attack", help="a cascade cell's attack id, e.g. cascade_e03")
    p.add_argument("--steps", type=int, default=None, help="APGD/APGD-T/FAB steps (default: as shipped, 10)")
    p.add_argument("--state", type=Path, default=None, help="where finished batches are kept (default: under /tmp)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    cell_json = args.results / "cells" / args.model / f"{args.attack}.json"
    if not cell_json.is_file():
        print(f"{cell_json}: no such complete cell", file=sys.stderr)
        return 2
    cell = json.loads(cell_json.read_text())
    if cell.get("kind") != "cascade":
        print(f"{cell_json}: kind {cell.get('kind')!r}, not a cascade cell", file=sys.stderr)
        return 2
    tensors = load_file(str(cell_json.with_suffix(".safetensors")))
    index, robust_cell = tensors["index"].long(), tensors["robust"].bool()
    eps = float(cell["threat"]["eps"])
    device = resolve_device(args.device)
    model = zoo.load(args.model, device)
    split = data.load(zoo.get_card(args.model).dataset, "test", args.data_dir)
    x, y = split.x[index], split.y[index]
    if not torch.equal(y, tensors["label"].long()):
        print(f"{cell_json}: the cell's labels differ from the dataset's at its indices", file=sys.stderr)
        return 2
    name = f"{args.model}_{args.attack}_{'shipped' if args.steps is None else f'steps{args.steps}'}"
    state_path = args.state or Path("/tmp") / f"crosscheck_{name}.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    key = {"cell": cell["config_hash"], "steps": args.steps}
    if state.get("key") != key:
        state = {"key": key, "batches": {}, "seconds": 0.0}
    threat = {"norm": "linf", "eps": eps}
    bar = tqdm(total=len(y), desc=f"{name}", unit="ex", disable=not sys.stderr.isatty())
    for start in range(0, len(y), BATCH):
        stop = min(start + BATCH, len(y))
        if str(start) in state["batches"]:
            bar.update(stop - start)
            continue
        t0 = time.perf_counter()
        ctx = Context(device=device, seed=0, batch_size=BATCH, index=index[start:stop])
        adv = torchattacks_backend.autoattack(model, x[start:stop], y[start:stop], ctx=ctx, norm="linf", eps=eps,
                                              version="standard", surface="logprob", steps=args.steps)
        v = verify(model, x[start:stop], adv, y[start:stop], threat, device, BATCH)
        state["batches"][str(start)] = v.robust.int().tolist()
        state["seconds"] += time.perf_counter() - t0
        atomic_write_json(state_path, state)
        bar.update(stop - start)
    bar.close()
    robust_ref = torch.tensor([b for s in sorted(state["batches"], key=int) for b in state["batches"][s]], dtype=torch.bool)
    weaker = int((robust_cell & ~robust_ref).sum())
    stronger = int((~robust_cell & robust_ref).sum())
    n = len(y)
    ok = weaker <= n // 100
    print(f"{args.model} {args.attack} (L-inf eps {eps}, n={n}): cascade robust {int(robust_cell.sum())} "
          f"({robust_cell.float().mean():.3f}); torchattacks AutoAttack('standard') "
          f"{'as shipped' if args.steps is None else f'at {args.steps} steps'} robust {int(robust_ref.sum())} "
          f"({robust_ref.float().mean():.3f}), {state['seconds']:.0f} s; robust in the cascade but broken by the "
          f"reference: {weaker} (allowed {n // 100}); broken by the cascade, robust in the reference: {stronger}: "
          f"{'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
