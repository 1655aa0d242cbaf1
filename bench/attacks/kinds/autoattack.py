"""AutoAttack components (Croce & Hein 2020) through ART or torchattacks: APGD with the CE or DLR
loss (targeted: APGD-T), FAB (targeted: FAB-T), the gradient-free Square attack, and ART's
AutoAttack running three of them in sequence (the reference protocol is the ``cascade`` kind).

ART draws its randomness from numpy's global RNG and AutoAttack's reference code seeds from the
clock: every kind here seeds numpy and torch from the cell seed, recorded in the results, so a
re-run gives the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.attacks.backends import get_backend
from bench.attacks.backends.art_backend import art_apgd_attack, art_square_attack, classifier
from bench.attacks.backends.common import library_seed, run_batched, seed_everything
from bench.attacks.base import AttackKind, Context, register
from bench.attacks.spec import Param, non_negative, one_of, open_unit_interval, positive, unit_interval_open_closed
from bench.models.base import Classifier


class _Linf(AttackKind):
    """An L-inf attack whose backends implement operation ``backend_op`` with the kind's params."""

    rng_version = 2  # seeded per shard (common.library_seed)

    def threat(self, params: dict[str, Any]) -> dict[str, Any] | None:
        return {"norm": "linf", "eps": float(params["eps"])}

    def generate(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None, ctx: Context) -> torch.Tensor:
        return getattr(get_backend(backend or self.backends[0]), self.backend_op)(model, x, y, ctx=ctx, norm="linf", **params)


COMMON = {
    "eps": Param(float, 0.3, unit_interval_open_closed, "L-inf budget (ART refuses 0)"),
    "surface": Param(str, "logprob", one_of("logprob", "linear"), "model surface attacked"),
}
APGD_PARAMS = {
    "steps": Param(int, 100, positive, "APGD iterations"),
    "step_size": Param(float, 0.1, positive, "APGD initial step size (ART; torchattacks starts at 2 eps as the reference)"),
    "restarts": Param(int, 1, positive, "APGD random initialisations"),
}
SQUARE_PARAMS = {
    "queries": Param(int, 1000, positive, "Square iterations (one model query each)"),
    "p_init": Param(float, 0.8, open_unit_interval, "Square initial fraction of pixels changed"),
}
TARGETS = Param(int, 0, non_negative, "0: untargeted; K: toward each of the K most likely other classes in turn "
                "(APGD-T: targeted DLR; FAB-T), an example broken if any target succeeds", late=True)


@register
class APGD(_Linf):
    name = "apgd"
    description = "Auto-PGD, L-inf, CE or DLR loss, step size adapted by the attack; targets: K = APGD-T"
    params = {**COMMON, "loss": Param(str, "ce", one_of("ce", "dlr"), "ce or dlr (targeted runs use the targeted DLR)"),
              **APGD_PARAMS, "targets": TARGETS}
    backends = ("art", "torchattacks")
    backend_op = "apgd"


@register
class FAB(_Linf):
    name = "fab"
    description = "FAB (Croce & Hein 2020), minimum-norm attack kept within eps; targets: K = FAB-T"
    params = {**COMMON, "steps": Param(int, 100, positive, "FAB iterations"),
              "restarts": Param(int, 1, positive, "random restarts"), "targets": TARGETS}
    backends = ("torchattacks",)
    backend_op = "fab"


@register
class Square(_Linf):
    name = "square"
    description = "Square attack: gradient-free, score-based, L-inf"
    params = {**COMMON, **SQUARE_PARAMS, "restarts": Param(int, 1, positive, "restarts")}
    backends = ("art", "torchattacks", "native")
    backend_op = "square"


@register
class AutoAttackKind(_Linf):
    name = "autoattack"
    description = "ART AutoAttack: APGD-CE, APGD-DLR and Square in sequence on still-robust points (not the reference protocol: see cascade)"
    params = {**COMMON, **APGD_PARAMS, **SQUARE_PARAMS}
    backends = ("art",)

    def generate(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None, ctx: Context) -> torch.Tensor:
        from art.attacks.evasion import AutoAttack

        seed_everything(library_seed(ctx))
        clf = classifier(model, params["surface"], ctx)
        attacks = [art_apgd_attack(clf, params, ctx, "ce"), art_apgd_attack(clf, params, ctx, "dlr"),
                   art_square_attack(clf, {**params, "restarts": 1}, ctx)]
        attack = AutoAttack(clf, norm=np.inf, eps=params["eps"], eps_step=params["step_size"], attacks=attacks, batch_size=ctx.batch_size)

        def one(xb: torch.Tensor, yb: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(attack.generate(x=xb.cpu().numpy(), y=yb.cpu().numpy()).astype(np.float32))

        return run_batched(one, x, y, ctx)
