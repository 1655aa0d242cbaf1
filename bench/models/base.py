"""The one interface between models and attacks.

Every zoo model is a :class:`Classifier`. Attacks never ask for a model by name; they ask for a
*surface*: a differentiable map from inputs in [0,1] to per-class scores whose argmax is (or, for
adaptive surfaces, tracks) the model's prediction.

Surfaces:
- ``logprob``: decoder log-probabilities over the classes (what the original ECOC attacks used as
  "logits"); the default, and the verdict surface.
- ``linear``: class scores that are linear in the raw code scores, ``z @ C.T`` with the output
  activation replaced by identity and the decoder floor removed (the adaptive surface of
  Tramer et al. 2020). For models without a code these are the logits.
- ``code``: the raw code scores ``z`` themselves (``num_bits`` columns); not per class.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

SurfaceName = Literal["logprob", "linear", "code"]
CLASS_SURFACES: tuple[str, ...] = ("logprob", "linear")


class Classifier(nn.Module):
    """Base class: subclasses implement :meth:`log_probs`; code models override the rest."""

    num_classes: int = 10
    input_shape: tuple[int, ...] = (1, 28, 28)

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Log class probabilities, shape (N, num_classes). May not sum to 1 (extra code rows)."""
        raise NotImplementedError

    def code_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Raw scores before the output activation; for plain classifiers, the logits."""
        return self.log_probs(x)

    def linear_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores linear in the code scores (adaptive-attack surface)."""
        return self.code_scores(x)

    def readout_activation(self, z: torch.Tensor) -> torch.Tensor:
        """The output activation between code scores and the final linear readout (identity
        for plain classifiers). The binarization test keeps it and replaces the readout."""
        return z

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the final linear readout (code matrix or logits layer) reads."""
        return self.readout_activation(self.code_scores(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_probs(x)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Training loss; plain classifiers use cross-entropy on their log-probabilities."""
        return torch.nn.functional.nll_loss(self.log_probs(x), y)

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_probs(x).exp()

    @torch.inference_mode()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Predicted labels, computed in batches on the model's device, returned on CPU."""
        device = next(self.parameters()).device
        out = [self.log_probs(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)

    def surface(self, name: str = "logprob") -> nn.Module:
        """An nn.Module whose forward is the named surface (what ART and foolbox are given)."""
        if name not in ("logprob", "linear", "code"):
            raise ValueError(f"unknown surface {name!r}; expected logprob, linear or code")
        return Surface(self, name)


class Surface(nn.Module):
    """Wraps a Classifier so that ``forward`` returns one of its surfaces."""

    def __init__(self, model: Classifier, name: str):
        super().__init__()
        self.model = model
        self.name = name
        self.train(model.training)  # libraries check the wrapper's mode, not the model's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.name == "logprob":
            return self.model.log_probs(x)
        if self.name == "linear":
            return self.model.linear_scores(x)
        return self.model.code_scores(x)
