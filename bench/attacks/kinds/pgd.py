"""Projected gradient descent (Madry et al. 2018), L-inf and L2, through any backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from bench.attacks.backends import get_backend
from bench.attacks.base import BACKENDS, AttackKind, Context, register
from bench.attacks.spec import Param, non_negative, one_of, positive, unit_interval
from bench.models.base import Classifier


def pgd_params(eps: float, step_size: float, eps_check: Callable[[Any], str | None]) -> dict[str, Param]:
    return {
        "eps": Param(float, eps, eps_check, "perturbation budget"),
        "steps": Param(int, 100, positive, "iterations per restart"),
        "step_size": Param(float, step_size, positive, "absolute step size"),
        "restarts": Param(int, 1, positive, "random restarts (an example counts as broken if any breaks it)"),
        "random_start": Param(bool, True, None, "start uniformly in the eps-ball"),
        "surface": Param(str, "logprob", one_of("logprob", "linear"), "model surface the gradient is taken on"),
        "loss": Param(str, "ce", one_of("ce", "margin", "codeword"), "loss maximised (margin, codeword: native backend "
                      "only; codeword: per-bit hinge of the raw code scores toward a target's code word, needs targets)"),
        "early_stop": Param(bool, True, None, "stop attacking examples already broken (native)"),
        "targets": Param(int, 0, non_negative, "0: untargeted; K: toward each of the K most likely other classes in turn, "
                         "an example broken if any target succeeds (native)", late=True),
        "first_target": Param(int, 1, positive, "with targets K: start at the class ranked this (1: the most likely "
                              "other class); the ranks before it are another member's (a cascade's), each rank draws "
                              "its own random starts, so T3 then ranks 4..9 is T9 (native)", late=True),
        "first_restart": Param(int, 1, positive, "start at this restart (1: the first); the restarts before it are "
                               "another member's (a cascade's), each restart draws its own random starts, so restart 1 "
                               "then restarts 2..R is R restarts (native)", late=True),
    }


class _PGD(AttackKind):
    norm = "linf"
    backends = BACKENDS
    backend_op = "pgd"
    rng_version = 2  # random starts per example (native), per shard (libraries)

    def threat(self, params: dict[str, Any]) -> dict[str, Any] | None:
        return {"norm": self.norm, "eps": float(params["eps"])}

    def validate(self, params: Any, where: str) -> list[str]:
        problems = super().validate(params, where)
        if not problems and isinstance(params, dict) and params.get("loss") == "codeword" and not params.get("targets"):
            problems.append(f"{where}.loss: 'codeword' attacks toward other classes' code words: set targets to K > 0")
        for key, count, default, what in (("first_target", "targets", 0, "target"), ("first_restart", "restarts", 1, "restart")):
            first = params.get(key, 1) if isinstance(params, dict) else 1
            if not problems and isinstance(first, int) and first > 1 and first > int(params.get(count, default)):
                problems.append(f"{where}.{key}: {first} is past the last {what} ({count} {params.get(count, default)})")
        return problems

    def generate(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None, ctx: Context) -> torch.Tensor:
        return get_backend(backend or "native").pgd(model, x, y, ctx=ctx, norm=self.norm, **params)


@register
class PGDLinf(_PGD):
    name = "pgd_linf"
    description = "PGD, L-inf ball, random start, CE or margin loss on a chosen surface"
    params = pgd_params(0.3, 0.01, unit_interval)  # inputs lie in [0, 1]: eps 1 is already unbounded


@register
class PGDL2(_PGD):
    name = "pgd_l2"
    norm = "l2"
    description = "PGD, L2 ball, random start"
    params = pgd_params(2.0, 0.1, non_negative)
