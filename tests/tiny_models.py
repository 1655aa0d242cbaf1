"""Tiny classifiers registered like real zoo models, so tests take seconds (foolbox's trick).

- ``build_linear``: a linear softmax classifier (trained in the fixture); easily fooled at eps 0.3.
- ``build_constant``: ignores its input; nothing can fool it (robust accuracy = clean accuracy).
- ``build_masked``: the linear model behind a hard-saturating softmax: standard PGD on its
  log-probabilities sees zero gradients, while the linear surface still carries them.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.models.base import Classifier


class LinearClassifier(Classifier):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.logits(x), dim=1)

    def code_scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)


class ConstantClassifier(Classifier):
    def __init__(self, label: int = 1) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.full((10,), -5.0))
        with torch.no_grad():
            self.bias[label] = 5.0

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.bias.expand(len(x), 10) + 0 * x.flatten(1)[:, :1], dim=1)


class MaskedClassifier(LinearClassifier):
    """The linear model's logits at temperature 1e-4: predictions are unchanged, but the softmax
    saturates, so the gradient of CE on the log-probabilities is exactly zero on most inputs."""

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(1e4 * self.logits(x), dim=1)


def build_linear() -> Classifier:
    return LinearClassifier()


def build_constant(label: int = 1) -> Classifier:
    return ConstantClassifier(label)


def build_masked() -> Classifier:
    return MaskedClassifier()


class DiesOnceInAWorker(LinearClassifier):
    """The linear model, whose first forward pass in a process other than ``driver_pid`` kills that
    process (SIGKILL) after leaving ``marker``: a Ray worker that dies mid-task, once."""

    def __init__(self, marker: str, driver_pid: int) -> None:
        super().__init__()
        self.marker, self.driver_pid = marker, driver_pid

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        import os
        import signal
        from pathlib import Path

        if os.getpid() != self.driver_pid and not Path(self.marker).exists():
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().logits(x)


def build_dies_once(marker: str = "", driver_pid: int = 0) -> Classifier:
    return DiesOnceInAWorker(marker, driver_pid)
