"""Which budget breaks given examples: the targeted linear-margin PGD of the adaptive preset toward
the top-K other classes, at a few (K, restarts, steps), two seeds each; prints the clean rank of the
classes by linear score and, per setting, which examples stay robust (verified on the model).
Used for docs/audits.md (do more targets or more steps matter?).

    python scripts/targeted_budgets.py MODEL EPS INDEX [INDEX ...] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import sys

import torch

from bench import data, zoo
from bench.attacks.base import Context, get_kind
from bench.models.search_copy import search_copy
from bench.verify import verify

SETTINGS = ((3, 2, 300), (9, 1, 100), (9, 1, 300), (9, 2, 100))  # (targets, restarts, steps)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("model")
    p.add_argument("eps", type=float)
    p.add_argument("index", type=int, nargs="+", help="test-set indices")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    model = zoo.load(args.model, cpu)
    split = data.load(zoo.get_card(args.model).dataset, "test", args.data_dir)
    idx = torch.tensor(args.index)
    x, y = split.x[idx], split.y[idx]
    with torch.no_grad():
        order = model.linear_scores(x).argsort(1, descending=True)
    print(f"labels {y.tolist()}; classes by clean linear score {order.tolist()}")
    search, kind = search_copy(model, cpu), get_kind("pgd_linf")
    for targets, restarts, steps in SETTINGS:
        for seed in (0, 1):
            params = kind.resolve({"surface": "linear", "loss": "margin", "eps": args.eps, "targets": targets,
                                   "restarts": restarts, "steps": steps, "step_size": args.eps * (0.05 if steps > 100 else 0.1)})
            out = kind.generate(search, x, y, params, "native", Context(device=cpu, seed=seed, batch_size=100, index=idx))
            adv = out.x if hasattr(out, "x") else out
            v = verify(model, x, adv, y, {"norm": "linf", "eps": args.eps}, cpu, 100)
            with torch.no_grad():
                pred = model.predict(adv)
            print(f"targets {targets}, {restarts} x {steps} steps, seed {seed}: robust {v.robust.tolist()}, "
                  f"predicted {pred.tolist()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
