"""The binarization test of Zimmermann, Brendel, Tramer & Carlini (2022).

For each test point x, the model's final linear readout is replaced by a binary one, trained on
the model's penultimate features (:meth:`Classifier.penultimate`: what the last linear layer reads,
as in the original test) so that x and points sampled inside the eps-ball (inner, class 0) are
separated from one point on the eps-ball's surface (boundary, class 1). An adversarial example
therefore exists inside the ball by construction; an attack that does not find it on most points
is too weak for this model. The feature extractor is kept, so whatever masks gradients before
the last linear layer masks them here too; what comes after it (an ECOC model's code layer,
saturating output activation and decoder) is replaced, which is also why the readout is not put
on the activated code: saturated features rarely separate the planted point from the ball
(measured on the ECOC zoo: 0-2 separable points of 10 after the activation).
Models without a linear readout layer fall back to :meth:`Classifier.features`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from bench.models.base import Classifier


class BinarizedModel(Classifier):
    """``model``'s penultimate features with a binary linear readout: class 1 is the planted
    adversarial. Both class surfaces (logprob and linear) are this readout."""

    num_classes = 2

    def __init__(self, model: Classifier, weight: torch.Tensor, bias: float, features: str = "penultimate"):
        super().__init__()
        self.model = model
        self.feature_source = features
        self.input_shape = model.input_shape
        self.register_buffer("weight", weight.float())
        self.bias = float(bias)
        self.train(False)

    def _scores(self, f: torch.Tensor) -> torch.Tensor:
        s = f @ self.weight + self.bias
        return torch.stack([torch.zeros_like(s), s], dim=1)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return feature_map(self.model, self.feature_source)(x)

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self._scores(self._features(x)), dim=1)

    def code_scores(self, x: torch.Tensor) -> torch.Tensor:
        return self._scores(self._features(x))

    def linear_scores(self, x: torch.Tensor) -> torch.Tensor:
        return self._scores(self._features(x))

    def readout_layers(self) -> list[torch.nn.Linear]:
        return []


FEATURES = ("penultimate", "activation")


def feature_map(model: Classifier, source: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``penultimate``: what the last linear layer reads (the original test); ``activation``: the
    output activation of the code scores (:meth:`Classifier.features`, this harness's first
    version, kept for comparison)."""
    if source == "penultimate":
        return model.penultimate
    if source == "activation":
        return lambda x: model.features(x).flatten(1)
    raise ValueError(f"unknown binarization features {source!r} (expected {' or '.join(FEATURES)})")


def feature_source(model: Classifier, source: str) -> str:
    """What ``source`` reads on this model, for the record: ``penultimate`` falls back to the
    activation features when the model has no linear readout layer."""
    return "activation (no linear readout layer)" if source == "penultimate" and not model.readout_layers() else source


@dataclass
class BinarizationResult:
    attempted: int
    valid: int  # points where a separating readout was found
    found: int  # valid points where the attack found the planted adversarial
    score: float  # found / valid
    features: str = "penultimate"  # what the readout read (see feature_source)
    dim: int = 0  # feature dimension


def _sample(x: torch.Tensor, eps: float, n_inner: int, gen: torch.Generator, eta: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    inner = (x + (torch.rand((n_inner, *x.shape), generator=gen) * 2 - 1) * eta * eps).clamp(0, 1)
    inner = torch.cat([x[None], inner])
    corner = (torch.randint(0, 2, x.shape, generator=gen).float() * 2 - 1) * eps
    boundary = (x + corner).clamp(0, 1)[None]
    return inner, boundary


def readout_for(model: Classifier, x: torch.Tensor, eps: float, n_inner: int, gen: torch.Generator,
                device: torch.device, features: str = "penultimate") -> BinarizedModel | None:
    """Fit the binary readout for one point; None when no readout separates the samples."""
    inner, boundary = _sample(x, eps, n_inner, gen)
    with torch.no_grad():
        f = feature_map(model, features)(torch.cat([inner, boundary]).to(device)).cpu().double().numpy()
    labels = np.r_[np.zeros(len(inner)), np.ones(1)]
    from sklearn.linear_model import LogisticRegression  # imported here: ~1 s that every command listing kinds would pay

    clf = LogisticRegression(C=1e4, class_weight="balanced", max_iter=5000)
    clf.fit(f, labels)
    if not (clf.predict(f) == labels).all():
        return None
    return BinarizedModel(model, torch.from_numpy(clf.coef_[0]).to(device), float(clf.intercept_[0]), features).to(device)


def binarization_test(model: Classifier, x: torch.Tensor, eps: float, attack: Callable[[Classifier, torch.Tensor, torch.Tensor], torch.Tensor],
                      device: torch.device, n_inner: int = 99, seed: int = 0,
                      features: str = "penultimate") -> BinarizationResult:
    """Run ``attack(binarized_model, x_i, y=0)`` on each point; count planted adversarials found
    (verified: prediction 1, inside the L-inf ball, inside [0,1])."""
    feature_map(model, features)  # unknown source: fail before any work
    gen = torch.Generator().manual_seed(seed)
    valid = found = 0
    with torch.no_grad():
        dim = int(feature_map(model, features)(x[:1].to(device)).shape[1]) if len(x) else 0
    for i in range(len(x)):
        xi = x[i]
        binar = readout_for(model, xi, eps, n_inner, gen, device, features)
        if binar is None:
            continue
        valid += 1
        y0 = torch.zeros(1, dtype=torch.long)
        adv = attack(binar, xi[None], y0).cpu()
        inside = float((adv - xi[None]).abs().max()) <= eps + 1e-5 and float(adv.min()) >= -1e-5 and float(adv.max()) <= 1 + 1e-5
        with torch.no_grad():
            pred = int(binar.log_probs(adv.to(device)).argmax(1))
        found += int(inside and pred == 1)
    return BinarizationResult(len(x), valid, found, found / valid if valid else float("nan"),
                              feature_source(model, features), dim)
