"""Gradient-masking checks read from a run's cells (each returns a status and its evidence)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from bench.models.base import Classifier


@dataclass
class Check:
    status: str  # pass | warn | skip
    evidence: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def unbounded_attack(acc: float | None, max_acc: float) -> Check:
    """(a) With eps covering the whole input range, a working attack reaches ~0 accuracy."""
    if acc is None:
        return Check("skip", "no unbounded-attack cell")
    ok = acc <= max_acc
    return Check("pass" if ok else "warn", f"accuracy {acc:.3f} at the unbounded budget ({'<=' if ok else '>'} {max_acc})")


def monotone_in_eps(curve: list[tuple[float, float]], tolerance: float) -> Check:
    """(b) Robust accuracy must not increase with eps (a security curve)."""
    if len(curve) < 2:
        return Check("skip", "fewer than two eps in the sweep")
    pts = sorted(curve)
    rises = [(a, b) for a, b in zip(pts, pts[1:]) if b[1] > a[1] + tolerance]
    if rises:
        (e1, a1), (e2, a2) = rises[0]
        return Check("warn", f"accuracy rises from {a1:.3f} at eps {e1:g} to {a2:.3f} at eps {e2:g}")
    within = f" (within {tolerance:g})" if any(b[1] > a[1] for a, b in zip(pts, pts[1:])) else ""
    return Check("pass", f"non-increasing{within}: " + ", ".join(f"{e:g}:{a:.3f}" for e, a in pts))


def gradient_free_vs_gradient(free: float | None, gradient: dict[str, float], margin: float) -> Check:
    """(c) A gradient-free attack beating every gradient attack by more than a margin means the
    gradients mislead."""
    if free is None or not gradient:
        return Check("skip", "needs a gradient-free cell and gradient-attack cells")
    best_id, best = min(gradient.items(), key=lambda kv: kv[1])
    if free < best - margin:
        return Check("warn", f"gradient-free attack reaches {free:.3f} < best gradient attack {best_id} {best:.3f} - {margin}")
    return Check("pass", f"gradient-free {free:.3f} vs best gradient attack {best_id} {best:.3f}")


def gradient_health(model: Classifier, x: torch.Tensor, y: torch.Tensor, device: torch.device, max_bad: float) -> Check:
    """(d) Input gradients of the loss must be finite and non-zero for most inputs."""
    xs = x.to(device).requires_grad_(True)
    loss = torch.nn.functional.nll_loss(model.log_probs(xs), y.to(device), reduction="sum")
    (g,) = torch.autograd.grad(loss, xs)
    norms = g.flatten(1).norm(dim=1).cpu()
    nonfinite = ~torch.isfinite(g.flatten(1)).all(1).cpu()
    zero = (norms < 1e-12) & ~nonfinite
    bad = float((zero | nonfinite).float().mean())
    med = float(norms[~nonfinite].median()) if (~nonfinite).any() else float("nan")
    ev = f"{int(zero.sum())} zero and {int(nonfinite.sum())} non-finite input gradients of {len(y)}; median norm {med:.2e}"
    return Check("warn" if bad > max_bad else "pass", ev)


def binarization(results: dict[str, Any], threshold: float) -> Check:
    """(e) Every attack tested must find the planted adversarial on most points."""
    if not results:
        return Check("skip", "no attack listed for the binarization test")
    on = _features_text(results)
    if all(v["valid"] == 0 for v in results.values()):
        attempted = max(v["attempted"] for v in results.values())
        return Check("skip", f"inconclusive: no linear readout{on} separated the planted point on any of {attempted} points "
                             "(the features do not set the ball's surface apart from its inside)")
    weak = {k: v for k, v in results.items() if v["valid"] and not (v["score"] >= threshold)}
    text = "; ".join(f"{k}: found {v['found']}/{v['valid']} (separable on {v['valid']} of {v['attempted']} points)" for k, v in results.items())
    text += f" [readout{on}]" if on else ""
    if weak:
        return Check("warn", f"too weak for this model (< {threshold:.0%} found): {', '.join(weak)}. {text}")
    return Check("pass", text)


def _features_text(results: dict[str, Any]) -> str:
    """' on <features> (<dim> dims)' from the results (older cells have no such fields: '')."""
    first = next(iter(results.values()))
    if "features" not in first:
        return ""
    dim = f" ({first['dim']} dims)" if first.get("dim") else ""
    return f" on {first['features']} features{dim}"
