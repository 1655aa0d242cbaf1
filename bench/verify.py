"""The harness's verdict on candidate inputs returned by any backend.

Nothing a backend says is counted: predictions are recomputed on the returned inputs, the
perturbation is measured against the budget and the inputs against the [0,1] range, and only
candidates that pass every check count as adversarial. Nothing is clipped: an out-of-budget or
out-of-range candidate is reported (``rejected_*``) and the example counts as not broken.
``TOL`` absorbs float32 rounding only (far below one grey level, 1/255).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bench.models.base import Classifier

TOL = 1e-5


@dataclass
class Verdict:
    robust: torch.Tensor  # bool: right on the reference input and no verified adversarial
    ref_correct: torch.Tensor  # bool: right on the reference (clean or BSA-scaled) input
    pred: torch.Tensor  # prediction on the candidate
    linf: torch.Tensor
    l2: torch.Tensor
    stats: dict[str, int]

    def fooled_medians(self) -> dict[str, float]:
        """Median L2 and L-inf distance of the examples the attack fooled (right on the reference,
        not robust); empty when it fooled none. The cell's typical cost of a break."""
        fooled = self.ref_correct & ~self.robust
        if not fooled.any():
            return {}
        return {"median_l2_fooled": float(self.l2[fooled].median()), "median_linf_fooled": float(self.linf[fooled].median())}


def _predict(model: Classifier, x: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            out.append(model.log_probs(x[i : i + batch_size].to(device)).argmax(1).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def verify(model: Classifier, x_ref: torch.Tensor, x_cand: torch.Tensor, y: torch.Tensor, threat: dict[str, Any] | None,
           device: torch.device, batch_size: int = 500) -> Verdict:
    if x_cand.shape != x_ref.shape:
        raise ValueError(f"backend returned shape {tuple(x_cand.shape)}, expected {tuple(x_ref.shape)}")
    x_cand = x_cand.detach().to(torch.float32).cpu()
    ref_pred = _predict(model, x_ref, device, batch_size)
    pred = _predict(model, x_cand, device, batch_size)
    ref_correct = ref_pred == y
    delta = (x_cand - x_ref).flatten(1)
    linf = delta.abs().amax(1) if delta.shape[1] else torch.zeros(len(y))
    l2 = delta.norm(dim=1)
    finite = torch.isfinite(x_cand.flatten(1)).all(1)
    in_range = finite & (x_cand.flatten(1).amin(1) >= -TOL) & (x_cand.flatten(1).amax(1) <= 1 + TOL)
    eps = None if threat is None else threat.get("eps")
    if eps is None:
        in_budget = torch.ones_like(in_range)
    else:
        norm = linf if threat["norm"] == "linf" else l2  # type: ignore[index]
        in_budget = norm <= float(eps) + TOL
    wrong = pred != y
    claimed = ref_correct & wrong
    fooled = claimed & in_range & in_budget
    robust = ref_correct & ~fooled
    stats = {
        "claimed": int(claimed.sum()),
        "verified": int(fooled.sum()),
        "rejected_budget": int((claimed & in_range & ~in_budget).sum()),
        "rejected_range": int((claimed & ~in_range).sum()),
        "ref_correct": int(ref_correct.sum()),
    }
    return Verdict(robust=robust, ref_correct=ref_correct, pred=pred, linf=linf.float(), l2=l2.float(), stats=stats)
