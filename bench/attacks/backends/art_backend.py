"""Attacks through the Adversarial Robustness Toolbox (ART)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from bench.attacks.backends.common import NATIVE_ONLY_PGD, library_seed, run_batched, seed_everything
from bench.attacks.base import Context
from bench.models.base import Classifier

logging.getLogger("art").setLevel(logging.WARNING)

# What ART can run (bench.attacks.backends.problems): its PGD maximises the CE loss only.
LOSSES = {"ce": "cross_entropy", "dlr": "difference_logits_ratio"}  # APGD: the kind's names -> ART's
SUPPORTS = {"pgd": {"loss": ("ce",), **NATIVE_ONLY_PGD}, "cw_l2": {}, "apgd": {"loss": tuple(LOSSES), "targets": (0,)}, "square": {}}


def classifier(model: Classifier, surface: str, ctx: Context):  # type: ignore[no-untyped-def]
    """ART's PyTorchClassifier over one surface of the model (CE loss on that surface's scores)."""
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(
        model=model.surface(surface),
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=tuple(model.input_shape),
        nb_classes=model.num_classes,
        clip_values=(0.0, 1.0),
        device_type="gpu" if ctx.device.type == "cuda" else "cpu",
    )


def pgd(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, norm: str, eps: float, steps: int, step_size: float,
        restarts: int, random_start: bool, surface: str, loss: str, early_stop: bool, targets: int,
        **_native_only: int) -> torch.Tensor:
    """ART's PGD; ``loss`` and ``targets`` are accepted at the values ``SUPPORTS`` declares only
    (validation refuses the others), ``early_stop`` is ignored (ART runs every step)."""
    from art.attacks.evasion import ProjectedGradientDescentPyTorch

    seed_everything(library_seed(ctx))
    clf = classifier(model, surface, ctx)
    attack = ProjectedGradientDescentPyTorch(
        clf, norm=np.inf if norm == "linf" else 2, eps=eps, eps_step=step_size, max_iter=steps,
        num_random_init=max(restarts, 1) if random_start else 0, batch_size=ctx.batch_size, verbose=False,
    )

    def one(xb: torch.Tensor, yb: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        adv = attack.generate(x=xb.cpu().numpy(), y=yb.cpu().numpy())
        return torch.from_numpy(adv)

    return run_batched(one, x, y, ctx)


def cw_l2(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, steps: int, binary_search_steps: int,
          initial_const: float, confidence: float, lr: float, surface: str, abort_early: bool, minimize: bool) -> torch.Tensor:
    """CW-L2 as the library publishes it. ``minimize`` is accepted and ignored: the library always
    keeps minimising after a find; the examples it finds are the same either way."""
    from art.attacks.evasion import CarliniL2Method

    seed_everything(library_seed(ctx))
    clf = classifier(model, surface, ctx)
    attack = CarliniL2Method(
        clf, confidence=confidence, targeted=False, learning_rate=lr, binary_search_steps=binary_search_steps,
        max_iter=steps, initial_const=initial_const, batch_size=ctx.batch_size, verbose=False,
    )

    def one(xb: torch.Tensor, yb: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        adv = attack.generate(x=xb.cpu().numpy(), y=yb.cpu().numpy())
        return torch.from_numpy(adv)

    return run_batched(one, x, y, ctx)


def art_apgd_attack(clf: Any, params: dict[str, Any], ctx: Context, loss: str) -> Any:
    from art.attacks.evasion import AutoProjectedGradientDescent

    return AutoProjectedGradientDescent(
        clf, norm=np.inf, eps=params["eps"], eps_step=params["step_size"], max_iter=params["steps"],
        nb_random_init=params["restarts"], batch_size=ctx.batch_size, loss_type=LOSSES[loss], verbose=False,
    )


def art_square_attack(clf: Any, params: dict[str, Any], ctx: Context) -> Any:
    from art.attacks.evasion import SquareAttack

    return SquareAttack(clf, norm=np.inf, eps=params["eps"], max_iter=params["queries"], p_init=params["p_init"],
                        nb_restarts=params["restarts"], batch_size=ctx.batch_size, verbose=False)


def _generate(attack: Any, x: torch.Tensor, y: torch.Tensor, ctx: Context) -> torch.Tensor:
    def one(xb: torch.Tensor, yb: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(attack.generate(x=xb.cpu().numpy(), y=yb.cpu().numpy()).astype(np.float32))

    return run_batched(one, x, y, ctx)


def apgd(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, surface: str, loss: str, **params: Any) -> torch.Tensor:
    seed_everything(library_seed(ctx))
    return _generate(art_apgd_attack(classifier(model, surface, ctx), params, ctx, loss), x, y, ctx)


def square(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, surface: str, **params: Any) -> torch.Tensor:
    seed_everything(library_seed(ctx))
    return _generate(art_square_attack(classifier(model, surface, ctx), params, ctx), x, y, ctx)
