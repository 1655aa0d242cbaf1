"""Random perturbations of test images: uniform noise (thesis Table 2) and Gaussian noise
(Szegedy et al. Table 2 rows). The noise of an example is drawn from (suite seed, kind, dataset
index), so every model sees the same noisy images, however the cell is cut into shards."""

from __future__ import annotations

from typing import Any

import torch

from bench.attacks.backends.common import indices_of, per_example
from bench.attacks.base import AttackKind, Context, register
from bench.attacks.spec import Param, non_negative
from bench.models.base import Classifier


class _Noise(AttackKind):
    adversarial = False
    metric = "accuracy"
    shard_examples = 1000  # one forward pass per example: shards would cost more than they save
    rng_version = 2  # per-example draws

    def sample(self, shape: torch.Size, params: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], ctx: Context, index: torch.Tensor) -> torch.Tensor:
        return x  # the budget is checked from the clean image

    def generate(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None, ctx: Context) -> torch.Tensor:
        noise = per_example(lambda g: self.sample(x.shape[1:], params, g), indices_of(x, ctx), ctx.seed, self.name)
        if ctx.progress is not None:
            ctx.progress(len(y))
        return (x + noise.to(x)).clamp(0.0, 1.0)


@register
class UniformNoise(_Noise):
    name = "uniform_noise"
    description = "i.i.d. uniform noise in [-gamma, gamma] added to each pixel, clipped to [0,1]"
    params = {"gamma": Param(float, 1.0, non_negative, "noise half-width")}

    def threat(self, params: dict[str, Any]) -> dict[str, Any] | None:
        return {"norm": "linf", "eps": float(params["gamma"])}

    def sample(self, shape: torch.Size, params: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
        return (torch.rand(shape, generator=gen) * 2 - 1) * params["gamma"]


@register
class GaussianNoise(_Noise):
    name = "gaussian_noise"
    description = "i.i.d. zero-mean Gaussian noise of a given std added to each pixel, clipped to [0,1]"
    params = {"std": Param(float, 0.1, non_negative, "noise standard deviation")}

    def sample(self, shape: torch.Size, params: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
        return torch.randn(shape, generator=gen) * params["std"]
