"""ECOC classifiers (Verma & Swami 2019; thesis sections 2.1-2.2) behind the Classifier interface.

Decoder (thesis Eq. 2, with the original code's floor): p(k) proportional to
relu(a(z)·C_k) + floor, normalised over *all* rows of C (rows beyond ``num_classes`` belong to
no class, as in the original TanhEns code). The softmax model uses Eq. 1 instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.models.base import Classifier
from bench.models.codes import hadamard_code, identity_code
from bench.models.trunks import build_trunk

ACTIVATIONS = {"softmax": None, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
LOSSES = ("ce", "bce", "hinge", "eq5")


class ECOCClassifier(Classifier):
    """A trunk producing ``num_bits`` code scores z, an output activation and a code matrix."""

    def __init__(
        self,
        trunk: nn.Module,
        code: np.ndarray | None,
        activation: str,
        loss: str,
        num_classes: int = 10,
        floor: float = 1e-6,
        learnable_bits: int = 0,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}")
        self.trunk = trunk
        self.activation = activation
        self.loss_name = loss
        self.num_classes = num_classes
        self.floor = floor
        if learnable_bits:
            # Label encoder L_theta(y) = tanh(W^T onehot(y)): one learnable row per class.
            self.label_encoder = nn.Parameter(torch.randn(num_classes, learnable_bits) * 0.5)
        else:
            self.label_encoder = None
            self.register_buffer("fixed_code", torch.as_tensor(code, dtype=torch.float32))

    def code(self) -> torch.Tensor:
        """The code matrix C (rows x bits); rows beyond num_classes belong to no class."""
        if self.label_encoder is not None:
            return torch.tanh(self.label_encoder)
        return self.fixed_code

    def code_scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def code_words(self) -> torch.Tensor | None:
        """+-1 class rows of the code (0/1 codes mapped to -1/+1); None for a softmax head, whose
        identity code is a plain classifier's one-hot target."""
        if self.activation == "softmax":
            return None
        rows = self.code()[: self.num_classes].detach()
        return rows.sign() if bool((rows < 0).any()) else rows * 2 - 1

    def readout_activation(self, z: torch.Tensor) -> torch.Tensor:
        if self.activation == "softmax":
            return torch.softmax(z, dim=1)
        return ACTIVATIONS[self.activation](z)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        """Log-probabilities over all code rows."""
        if self.activation == "softmax":
            return F.log_softmax(z, dim=1)
        a = ACTIVATIONS[self.activation](z)
        q = torch.relu(a @ self.code().T) + self.floor
        return torch.log(q) - torch.log(q.sum(dim=1, keepdim=True))

    def decoder_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities over every code row (sums to 1 in probability space)."""
        return self._decode(self.code_scores(x))

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder_log_probs(x)[:, : self.num_classes]

    def linear_scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.code_scores(x) @ self.code()[: self.num_classes].T

    def code_hinge_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-bit hinge of the code scores toward the (frozen) current code row of the label.

        Why: the Eq. 4 decoder relu(a·L(i)) passes no gradient to a class whose score is negative.
        An example whose scores are all negative sits at p = 1/M with zero gradient, and Eq. 5
        pushes examples there (measured: 0.90 test accuracy after a hinge warm-up fell to 0.2-0.5
        within 200 steps of Eq. 5 alone, loss at the dead value 0.325). The trainer's ``code_hinge``
        recipe adds this term (as Tanh16 is trained) to keep a(x)·L(y) positive."""
        target = self.code().detach()[y]
        return torch.relu(1.0 - target * self.code_scores(x)).mean()

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Training loss on the raw code scores, per the model type (paper-notes section 1)."""
        z = self.code_scores(x)
        if self.loss_name == "ce":
            return F.cross_entropy(z, y)
        target = self.code()[y]
        if self.loss_name == "bce":
            return F.binary_cross_entropy_with_logits(z, target)
        if self.loss_name == "hinge":
            return torch.relu(1.0 - target * z).mean()
        # thesis Eq. 5, read as the cross-entropy the thesis' abstract names:
        # -(y log p + (1-y) log(1-p)) per class on the decoder probabilities (Eq. 4). The extracted
        # equation shows no logs; taken literally, -(y p + (1-y)(1-p)) = -(2 p_y + M - 2)/M, which
        # did not train here (test accuracy 0.22 after one epoch, loss flat): see the card's notes.
        logp = self._decode(z)[:, : self.num_classes]
        onehot = F.one_hot(y, self.num_classes).to(logp.dtype)
        log1mp = torch.log1p(-logp.exp().clamp(max=1 - 1e-6))
        return -(onehot * logp + (1 - onehot) * log1mp).mean()


def build(
    *,
    trunk: str = "standard",
    code: str = "identity",
    code_length: int = 10,
    code_rows: int | None = None,
    activation: str = "softmax",
    loss: str = "ce",
    members: int = 1,
    num_classes: int = 10,
    floor: float = 1e-6,
    hadamard_seed: int = 59,
    in_channels: int = 1,
    **unused: Any,
) -> ECOCClassifier:
    """Factory named by the ECOC model cards. ``code``: identity | hadamard | learnable."""
    if unused:
        raise TypeError(f"unknown ECOC option(s): {', '.join(sorted(unused))}")
    rows = code_rows or num_classes
    learnable = 0
    if code == "identity":
        matrix = identity_code(num_classes, zero_one=activation != "tanh")
    elif code == "hadamard":
        matrix = hadamard_code(code_length, rows, seed=hadamard_seed)
    elif code == "learnable":
        matrix, learnable = None, code_length
    else:
        raise ValueError(f"unknown code {code!r}; expected identity, hadamard or learnable")
    return ECOCClassifier(
        build_trunk(trunk, code_length, members, in_channels), matrix, activation, loss, num_classes, floor, learnable
    )
