"""Full-batch L-BFGS until the model's own objective converges (Szegedy et al. 2013 trained their
MNIST nets so). Minibatch Adam on an epoch budget stops where the budget ends; this stops where
the objective stops moving, so a remaining gap to the paper is the objective's, not the budget's.

Convergence is judged on the training objective only (never on test data): torch's L-BFGS ends a
call early when the gradient or the change of the objective falls under its tolerances; the run
is converged when a call of ``chunk`` iterations ends early, or the relative decrease over a chunk
is below ``rel_tol``. After every chunk the weights and the full L-BFGS state (history included)
are saved as safetensors + JSON, so an interrupted run resumes where it stopped, bit for bit.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import safe_open

from bench.errors import BenchError
from bench.train.state import save_tensors

LBFGS_DEFAULTS: dict[str, Any] = {
    "chunk": 25,  # iterations per call (and between saves)
    "max_iters": 4000,  # a cap, reported when hit: the run is then "not converged"
    "history_size": 50,
    "tolerance_grad": 1e-7,
    "tolerance_change": 1e-10,
    "rel_tol": 1e-7,  # relative decrease of the objective over one chunk that counts as converged
    "batch": 10_000,  # rows per forward pass inside one full-batch evaluation (memory, not maths)
}
LIST_KEYS = ("old_dirs", "old_stps", "ro")
SKIP_KEYS = ("al",)  # scratch space L-BFGS overwrites before every read


def lbfgs_spec(given: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """The recipe's ``lbfgs`` block over the defaults; unknown keys are an error naming them."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(LBFGS_DEFAULTS))
    if unknown:
        raise BenchError(f"{where}: lbfgs: unknown key(s) {', '.join(unknown)} (known: {', '.join(LBFGS_DEFAULTS)})")
    return {**LBFGS_DEFAULTS, **given}


def _state_tensors(opt: torch.optim.LBFGS) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = opt.state[opt._params[0]]
    tensors, scalars = {}, {}
    for key, val in state.items():
        if key in SKIP_KEYS:
            continue
        if key in LIST_KEYS:
            for i, t in enumerate(val):
                tensors[f"lbfgs.{key}.{i}"] = t
            scalars[f"len.{key}"] = len(val)
        elif torch.is_tensor(val):
            tensors[f"lbfgs.{key}"] = val
        else:
            scalars[key] = float(val) if isinstance(val, float) else val
    return tensors, scalars


def _restore(opt: torch.optim.LBFGS, tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
    state = opt.state[opt._params[0]]
    for key in LIST_KEYS:
        if f"len.{key}" in scalars:
            state[key] = [tensors[f"lbfgs.{key}.{i}"] for i in range(int(scalars[f"len.{key}"]))]
    for name, t in tensors.items():
        key = name[len("lbfgs."):]
        if name.startswith("lbfgs.") and "." not in key:
            state[key] = t
    for key, val in scalars.items():
        if not key.startswith("len."):
            state[key] = val


PRETRAIN = "pretrain"  # the run name (and training/ file) of a model's unsupervised pre-training


def saved_run(folder: Path, name: str) -> dict[str, Any] | None:
    """The meta (iterations, converged, wall time, curve) of the run ``name`` saved in ``folder``,
    from the file's header alone (no tensor is read); None when none is saved."""
    path = folder / f"{name}.safetensors"
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads((fh.metadata() or {}).get("meta", "null"))
    return meta if isinstance(meta, dict) and "iters" in meta else None


def minimize(name: str, module: torch.nn.Module, params: list[torch.nn.Parameter],
             objective: Callable[[slice], torch.Tensor], n: int, spec: dict[str, Any], folder: Path,
             report: Callable[[], dict[str, float]] | None = None) -> dict[str, Any]:
    """Minimise ``sum over row slices of objective(rows)`` (each term already weighted so the sum is
    the full-batch objective) with L-BFGS; resumable from ``folder/<name>.*``. ``report`` adds
    figures to each curve point (e.g. test error: recorded, never used to stop)."""
    # max_eval well above max_iter: the line search spends several evaluations per iteration, and
    # a call that ended on its evaluation budget would read as "converged" below
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=int(spec["chunk"]), max_eval=int(spec["chunk"]) * 25, history_size=int(spec["history_size"]),
                            tolerance_grad=float(spec["tolerance_grad"]), tolerance_change=float(spec["tolerance_change"]),
                            line_search_fn="strong_wolfe")
    st_path = folder / f"{name}.safetensors"  # one file: tensors and their meta are written together
    meta: dict[str, Any] = {"iters": 0, "curve": [], "wall_time_s": 0.0, "converged": False, "reason": ""}
    if st_path.is_file():
        with safe_open(str(st_path), framework="pt") as fh:
            meta = json.loads(fh.metadata()["meta"])
            # clone: a fresh allocation, aligned as torch aligns its own (a tensor read from the file
            # may sit at any offset, and vectorised dot products round by alignment)
            tensors = {k: fh.get_tensor(k).clone() for k in fh.keys()}
        module.load_state_dict({k[len("module."):]: v for k, v in tensors.items() if k.startswith("module.")})
        _restore(opt, tensors, meta.pop("lbfgs"))
    if meta["converged"]:
        return meta

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        total = torch.zeros(())
        for i in range(0, n, int(spec["batch"])):
            term = objective(slice(i, min(n, i + int(spec["batch"]))))
            term.backward()
            total = total + term.detach()
        return total

    folder.mkdir(parents=True, exist_ok=True)
    t0, wall0 = time.time(), float(meta["wall_time_s"])
    module.train()
    while meta["iters"] < int(spec["max_iters"]):
        before = int(opt.state[opt._params[0]].get("n_iter", 0))
        loss = float(opt.step(closure))
        after = int(opt.state[opt._params[0]].get("n_iter", 0))
        meta["iters"] += after - before
        prev = meta["curve"][-1]["objective"] if meta["curve"] else None
        point = {"iter": meta["iters"], "objective": loss, **(report() if report else {})}
        module.train()
        meta["curve"].append(point)
        meta["wall_time_s"] = round(wall0 + time.time() - t0, 1)
        print(f"{name}: L-BFGS iter {meta['iters']}: objective {loss:.6g}"
              + "".join(f", {k} {v:.4f}" for k, v in point.items() if k not in ("iter", "objective")), flush=True)
        if after - before < int(spec["chunk"]):
            meta["converged"], meta["reason"] = True, "L-BFGS tolerance (gradient or objective change) reached"
        elif prev is not None and (prev - loss) <= float(spec["rel_tol"]) * abs(prev):
            meta["converged"], meta["reason"] = True, f"relative decrease over {spec['chunk']} iterations <= {spec['rel_tol']:g}"
        tensors, scalars = _state_tensors(opt)
        tensors.update({f"module.{k}": v for k, v in module.state_dict().items()})
        save_tensors(st_path, tensors, {"meta": json.dumps({**meta, "lbfgs": scalars})})
        if meta["converged"]:
            break
    if not meta["converged"]:
        meta["reason"] = f"max_iters {spec['max_iters']} reached before convergence"
    return meta
