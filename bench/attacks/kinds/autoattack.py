"""AutoAttack components through ART (Croce & Hein 2020): APGD with the CE or DLR loss, the
gradient-free Square attack, and ART's AutoAttack running them in sequence.

ART draws its randomness from numpy's global RNG and AutoAttack's reference code seeds from the
clock: every kind here seeds numpy and torch from the cell seed, recorded in the results, so a
re-run gives the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.attacks.backends.art_backend import classifier
from bench.attacks.backends.common import library_seed, run_batched, seed_everything
from bench.attacks.base import AttackKind, Context, register
from bench.attacks.spec import Param, one_of, open_unit_interval, positive
from bench.models.base import Classifier

LOSSES = {"ce": "cross_entropy", "dlr": "difference_logits_ratio"}


class _ARTLinf(AttackKind):
    backends = ("art",)
    rng_version = 2  # seeded per shard (common.library_seed)

    def threat(self, params: dict[str, Any]) -> dict[str, Any] | None:
        return {"norm": "linf", "eps": float(params["eps"])}

    def build(self, clf: Any, params: dict[str, Any], ctx: Context) -> Any:
        raise NotImplementedError

    def generate(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None, ctx: Context) -> torch.Tensor:
        seed_everything(library_seed(ctx))
        attack = self.build(classifier(model, params.get("surface", "logprob"), ctx), params, ctx)

        def one(xb: torch.Tensor, yb: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(attack.generate(x=xb.cpu().numpy(), y=yb.cpu().numpy()).astype(np.float32))

        return run_batched(one, x, y, ctx)


def _apgd(clf: Any, params: dict[str, Any], ctx: Context, loss: str) -> Any:
    from art.attacks.evasion import AutoProjectedGradientDescent

    return AutoProjectedGradientDescent(
        clf, norm=np.inf, eps=params["eps"], eps_step=params["step_size"], max_iter=params["steps"],
        nb_random_init=params["restarts"], batch_size=ctx.batch_size, loss_type=LOSSES[loss], verbose=False,
    )


def _square(clf: Any, params: dict[str, Any], ctx: Context) -> Any:
    from art.attacks.evasion import SquareAttack

    return SquareAttack(clf, norm=np.inf, eps=params["eps"], max_iter=params["queries"], p_init=params["p_init"],
                        nb_restarts=params["restarts"], batch_size=ctx.batch_size, verbose=False)


COMMON = {
    "eps": Param(float, 0.3, positive, "L-inf budget (ART refuses 0)"),
    "surface": Param(str, "logprob", one_of("logprob", "linear"), "model surface attacked"),
}
APGD_PARAMS = {
    "steps": Param(int, 100, positive, "APGD iterations"),
    "step_size": Param(float, 0.1, positive, "APGD initial step size (APGD adapts it)"),
    "restarts": Param(int, 1, positive, "APGD random initialisations"),
}
SQUARE_PARAMS = {
    "queries": Param(int, 1000, positive, "Square iterations (one model query each)"),
    "p_init": Param(float, 0.8, open_unit_interval, "Square initial fraction of pixels changed"),
}


@register
class APGD(_ARTLinf):
    name = "apgd"
    description = "Auto-PGD (ART), L-inf, CE or DLR loss, step size adapted by the attack"
    params = {**COMMON, "loss": Param(str, "ce", one_of(*LOSSES), "ce or dlr"), **APGD_PARAMS}
    default_label = "APGD"

    def build(self, clf: Any, params: dict[str, Any], ctx: Context) -> Any:
        return _apgd(clf, params, ctx, params["loss"])


@register
class Square(_ARTLinf):
    name = "square"
    description = "Square attack (ART): gradient-free, score-based, L-inf"
    params = {**COMMON, **SQUARE_PARAMS, "restarts": Param(int, 1, positive, "restarts")}
    default_label = "Square"

    def build(self, clf: Any, params: dict[str, Any], ctx: Context) -> Any:
        return _square(clf, params, ctx)


@register
class AutoAttackKind(_ARTLinf):
    name = "autoattack"
    description = "ART AutoAttack: APGD-CE, APGD-DLR and Square in sequence on still-robust points"
    params = {**COMMON, **APGD_PARAMS, **SQUARE_PARAMS}
    default_label = "AutoAttack"

    def build(self, clf: Any, params: dict[str, Any], ctx: Context) -> Any:
        from art.attacks.evasion import AutoAttack

        attacks = [_apgd(clf, params, ctx, "ce"), _apgd(clf, params, ctx, "dlr"), _square(clf, {**params, "restarts": 1}, ctx)]
        return AutoAttack(clf, norm=np.inf, eps=params["eps"], eps_step=params["step_size"], attacks=attacks, batch_size=ctx.batch_size)
