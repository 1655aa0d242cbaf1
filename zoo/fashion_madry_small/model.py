"""madry_small: a small CNN in the style of Madry et al. (2018)'s MNIST model, scaled down to
train adversarially on one CPU core (conv 16 5x5 - pool - conv 32 5x5 - pool - dense 128 - dense 10).

This file is the whole model code of a submission: ``build()`` returns a
``bench.models.Classifier`` whose ``log_probs`` maps inputs in [0,1] of shape (N,1,28,28) to
log-probabilities of shape (N,10). No input preprocessing, no randomness. Submodules must not reuse the name of a Classifier method
(``features``, ``surface``, ...): nn.Module would register them, but ``self.<name>`` would still
find the method.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.models.base import Classifier


class SmallCNN(Classifier):
    def __init__(self, c1: int = 16, c2: int = 32, hidden: int = 128) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, c1, 5), nn.ReLU(), nn.MaxPool2d(2),   # 28 -> 24 -> 12
            nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2),  # 12 -> 8 -> 4
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c2 * 16, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def code_scores(self, x: torch.Tensor) -> torch.Tensor:
        """The logits (a plain classifier has no code)."""
        return self.head(self.convs(x))

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.code_scores(x), dim=1)


def build(c1: int = 16, c2: int = 32, hidden: int = 128) -> Classifier:
    return SmallCNN(c1, c2, hidden)
