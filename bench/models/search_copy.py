"""A copy of a model laid out for the attack's search: the attack searches on it, the harness
verifies on the model itself.

Why: on CPU, oneDNN's convolutions in channels-last layout run a zoo model's forward pass
1.3-1.8x faster (and forward plus backward 1.1-1.3x) than the default layout; the scores differ
only by float rounding (~1e-6 relative). A cascade spends nearly all its time in forward passes
(Square's 5,000 queries on every robust example), so it searches on this copy. Candidates it finds
count only after ``bench.verify`` recomputes the prediction on the original model, so the layout
can never make a number look better than the model is.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bench.models.base import Classifier


def search_copy(model: Classifier, device: torch.device) -> Classifier:
    """``model`` itself where the layout is not known to help (no convolution, or not on CPU: on
    CUDA it has not been measured here), else a channels-last copy in eval mode."""
    if torch.device(device).type != "cpu" or not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return model
    fast = copy.deepcopy(model).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    fast.eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    return fast
