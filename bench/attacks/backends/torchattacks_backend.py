"""Attacks through torchattacks 3.5.1: its ports of the reference AutoAttack components (APGD,
APGD-T, FAB, Square) and of PGD and CW, the reference the harness's own engine is checked against.

Install: ``pip install --no-deps torchattacks==3.5.1`` (its metadata pulls torchvision and a CUDA
torch; it imports neither). Each component is seeded from the cell seed and the shard's first
example (``common.library_seed``); torchattacks seeds torch's RNG itself from that seed.
"""

from __future__ import annotations

from typing import Any

import torch

from bench.attacks.backends.common import NATIVE_ONLY_PGD, library_seed, run_batched, seed_everything
from bench.attacks.base import Context
from bench.errors import BenchError
from bench.models.base import Classifier

# What torchattacks can run (bench.attacks.backends.problems): its PGD and CW optimise their own
# losses (CE, CW margin); its APGD-CE/DLR, APGD-T, FAB and Square take every value here.
SUPPORTS: dict[str, dict[str, tuple[Any, ...]]] = {
    "pgd": {"loss": ("ce",), "restarts": (1,), **NATIVE_ONLY_PGD}, "cw_l2": {"binary_search_steps": (1,)},
    "apgd": {}, "fab": {}, "square": {},
}
NORMS = {"linf": "Linf", "l2": "L2"}


def _library() -> Any:
    try:
        import torchattacks
    except ImportError:
        raise BenchError("backend 'torchattacks' is not installed: pip install --no-deps torchattacks==3.5.1") from None
    return torchattacks


def _run(model: Classifier, surface: str, make: Any, x: torch.Tensor, y: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Build the attack on ``surface`` (in eval mode, as the library expects) and run it per batch."""
    seed = library_seed(ctx) % (2**31)
    seed_everything(seed)
    net = model.surface(surface).eval()
    attack = make(_library(), net, seed)

    def one(xb: torch.Tensor, yb: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        return attack(xb, yb)

    return run_batched(one, x, y, ctx)


def pgd(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, norm: str, eps: float, steps: int, step_size: float,
        random_start: bool, surface: str, **_: Any) -> torch.Tensor:
    def make(ta: Any, net: torch.nn.Module, seed: int) -> Any:
        cls = ta.PGD if norm == "linf" else ta.PGDL2
        return cls(net, eps=eps, alpha=step_size, steps=steps, random_start=random_start)

    return _run(model, surface, make, x, y, ctx)


def cw_l2(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, steps: int, initial_const: float,
          confidence: float, lr: float, surface: str, **_: Any) -> torch.Tensor:
    """torchattacks' CW has no binary search: one constant, ``initial_const``."""
    return _run(model, surface, lambda ta, net, seed: ta.CW(net, c=initial_const, kappa=confidence, steps=steps, lr=lr), x, y, ctx)


def apgd(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, norm: str, eps: float, steps: int,
         restarts: int, loss: str, targets: int, surface: str, **_: Any) -> torch.Tensor:
    """APGD (CE or DLR loss), or with ``targets`` = K > 0 APGD-T: the targeted DLR loss toward each
    of the K most likely other classes in turn (AutoAttack's APGD-T: K = 9)."""
    def make(ta: Any, net: torch.nn.Module, seed: int) -> Any:
        if targets > 0:
            att = ta.APGDT(net, norm=NORMS[norm], eps=eps, steps=steps, n_restarts=restarts, seed=seed, n_classes=model.num_classes)
            att.n_target_classes = min(int(targets), model.num_classes - 1)
            return att
        return ta.APGD(net, norm=NORMS[norm], eps=eps, steps=steps, n_restarts=restarts, seed=seed, loss=loss)

    return _run(model, surface, make, x, y, ctx)


def fab(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, norm: str, eps: float, steps: int,
        restarts: int, targets: int, surface: str, **_: Any) -> torch.Tensor:
    """FAB (minimum-norm, returned within eps), or FAB-T toward the K most likely other classes."""
    def make(ta: Any, net: torch.nn.Module, seed: int) -> Any:
        att = ta.FAB(net, norm=NORMS[norm], eps=eps, steps=steps, n_restarts=restarts, seed=seed,
                     multi_targeted=targets > 0, n_classes=model.num_classes)
        if targets > 0:
            att.n_target_classes = min(int(targets), model.num_classes - 1)
        return att

    return _run(model, surface, make, x, y, ctx)


def square(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, norm: str, eps: float, queries: int,
           p_init: float, restarts: int, surface: str, **_: Any) -> torch.Tensor:
    def make(ta: Any, net: torch.nn.Module, seed: int) -> Any:
        return ta.Square(net, norm=NORMS[norm], eps=eps, n_queries=queries, n_restarts=restarts, p_init=p_init, seed=seed)

    return _run(model, surface, make, x, y, ctx)


def autoattack(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, norm: str, eps: float,
               version: str, surface: str, steps: int | None = None) -> torch.Tensor:
    """torchattacks' ``AutoAttack(version=...)`` exactly as it ships (its components at their own
    default budgets: APGD, APGD-T and FAB at 10 steps, Square at 5,000 queries), or with ``steps``
    its gradient components at that many steps (100: the reference's budgets, fra31/auto-attack):
    the references the cascade is cross-checked and timed against, never a headline figure."""
    def make(ta: Any, net: torch.nn.Module, seed: int) -> Any:
        aa = ta.AutoAttack(net, norm=NORMS[norm], eps=eps, version=version, n_classes=model.num_classes, seed=seed)
        for component in aa._autoattack.attacks if steps is not None else ():
            if hasattr(component, "steps"):  # APGD, APGD-T, FAB; Square counts queries
                component.steps = int(steps)
        return aa

    return _run(model, surface, make, x, y, ctx)
