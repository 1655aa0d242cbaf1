"""Attacks through foolbox 3."""

from __future__ import annotations

import torch

from bench.attacks.backends.common import NATIVE_ONLY_PGD, library_seed, run_batched, seed_everything
from bench.attacks.base import Context
from bench.models.base import Classifier

# What foolbox can run (bench.attacks.backends.problems): its PGD maximises the CE loss only.
SUPPORTS = {"pgd": {"loss": ("ce",), **NATIVE_ONLY_PGD}, "cw_l2": {}}


def fmodel(model: Classifier, surface: str, ctx: Context):  # type: ignore[no-untyped-def]
    import foolbox as fb

    return fb.PyTorchModel(model.surface(surface).eval(), bounds=(0.0, 1.0), device=ctx.device)


def pgd(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, norm: str, eps: float, steps: int, step_size: float,
        restarts: int, random_start: bool, surface: str, loss: str, early_stop: bool, targets: int,
        **_native_only: int) -> torch.Tensor:
    """foolbox's PGD; ``loss`` and ``targets`` are accepted at the values ``SUPPORTS`` declares
    only (validation refuses the others), ``early_stop`` is ignored."""
    import foolbox as fb

    seed_everything(library_seed(ctx))
    cls = fb.attacks.LinfPGD if norm == "linf" else fb.attacks.L2PGD
    attack = cls(abs_stepsize=step_size, steps=steps, random_start=random_start)
    fm = fmodel(model, surface, ctx)

    def one(xb: torch.Tensor, yb: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        best = xb.clone()
        todo = torch.ones(len(yb), dtype=torch.bool, device=xb.device)
        for _ in range(max(restarts, 1)):  # foolbox has no restarts: keep each example's first success
            idx = todo.nonzero().squeeze(1)
            if len(idx) == 0:
                break
            _, clipped, success = attack(fm, xb[idx], yb[idx], epsilons=eps)
            best[idx] = clipped
            todo[idx[success]] = False
        return best

    return run_batched(one, x, y, ctx)


def cw_l2(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, steps: int, binary_search_steps: int,
          initial_const: float, confidence: float, lr: float, surface: str, abort_early: bool, minimize: bool) -> torch.Tensor:
    """CW-L2 as the library publishes it. ``minimize`` is accepted and ignored: the library always
    keeps minimising after a find; the examples it finds are the same either way."""
    import foolbox as fb

    seed_everything(library_seed(ctx))
    attack = fb.attacks.L2CarliniWagnerAttack(
        binary_search_steps=binary_search_steps, steps=steps, stepsize=lr, confidence=confidence,
        initial_const=initial_const, abort_early=abort_early,
    )
    fm = fmodel(model, surface, ctx)

    def one(xb: torch.Tensor, yb: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        # foolbox 3.3 starts its "best adversarial" at an all-zero image and returns it where CW
        # found nothing, and its success flag then judges that black image (usually
        # misclassified) as a success. Under an unbounded threat the black image would count, so
        # map an exactly-zero output back to x (a real CW output lives strictly inside (0,1)).
        _, clipped, _ = attack(fm, xb, yb, epsilons=None)
        flat, orig = clipped.flatten(1), xb.flatten(1)
        failed = (flat == 0).all(1) & (orig != 0).any(1)
        return torch.where(failed.view(-1, *([1] * (xb.dim() - 1))), xb, clipped)

    return run_batched(one, x, y, ctx)
