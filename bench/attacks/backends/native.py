"""The harness's own batched torch attacks.

Why: library overheads cost 1.3-1.5x for PGD on this machine class and more for CW
(reference/performance-baseline.md). These loops take no parameter gradients, stop spending
steps on examples already broken (AutoAttack's early exit), and support the adaptive surfaces
and margin loss that ART and foolbox do not expose. They are checked against ART and foolbox in
tests/test_backends_agree.py.
"""

from __future__ import annotations

import torch

from bench.attacks.backends.common import run_batched, seed_everything
from bench.attacks.base import Context
from bench.models.base import Classifier


def _loss(scores: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-example loss to *maximise*."""
    if loss == "ce":
        return torch.nn.functional.cross_entropy(scores, y, reduction="none")
    if loss == "margin":
        true = scores.gather(1, y[:, None]).squeeze(1)
        other = scores.clone()
        other.scatter_(1, y[:, None], float("-inf"))
        return other.max(1).values - true
    raise ValueError(f"unknown loss {loss!r} (ce, margin)")


def _project(delta: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    flat = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    factor = (eps / flat).clamp(max=1.0)
    return delta * factor.view(-1, *([1] * (delta.dim() - 1)))


def _step(grad: torch.Tensor, norm: str, size: float) -> torch.Tensor:
    if norm == "linf":
        return size * grad.sign()
    g = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return size * grad / g.view(-1, *([1] * (grad.dim() - 1)))


def _random_start(x: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    if norm == "linf":
        return torch.empty_like(x).uniform_(-eps, eps)
    d = torch.randn_like(x)
    d = d / d.flatten(1).norm(dim=1).view(-1, *([1] * (x.dim() - 1)))
    r = torch.rand(len(x), device=x.device).pow(1.0 / x[0].numel())
    return d * (eps * r).view(-1, *([1] * (x.dim() - 1)))


def pgd_batch(
    model: Classifier, x: torch.Tensor, y: torch.Tensor, *, norm: str, eps: float, steps: int, step_size: float,
    restarts: int = 1, random_start: bool = True, surface: str = "logprob", loss: str = "ce", early_stop: bool = True,
) -> torch.Tensor:
    """PGD on one batch. Returns, per example, the first iterate the model misclassifies (early
    stop), else the last iterate of the last restart. Success is always judged by the model's
    prediction (log_probs argmax), whatever surface the gradient is taken on."""
    surf = model.surface(surface)
    best = x.clone()
    with torch.no_grad():
        done = model.log_probs(x).argmax(1) != y if early_stop else torch.zeros(len(y), dtype=torch.bool, device=x.device)
    for _ in range(max(restarts, 1)):
        active = (~done).nonzero().squeeze(1)
        if len(active) == 0:
            break
        xa, ya = x[active], y[active]
        delta = _random_start(xa, norm, eps) if random_start else torch.zeros_like(xa)
        delta = (xa + delta).clamp(0, 1) - xa
        for t in range(steps + 1):
            delta.requires_grad_(t < steps)
            with torch.set_grad_enabled(t < steps):
                scores = surf(xa + delta)
            if early_stop:
                with torch.no_grad():
                    pred = (scores if surface == "logprob" else model.log_probs(xa + delta)).argmax(1)
                    fooled = pred != ya
                if fooled.any():
                    idx = active[fooled]
                    best[idx] = (xa + delta)[fooled].detach()
                    done[idx] = True
            if t == steps:
                break
            (grad,) = torch.autograd.grad(_loss(scores, ya, loss).sum(), delta)
            with torch.no_grad():
                if early_stop and fooled.any():
                    keep = ~fooled
                    active, xa, ya, delta, grad = active[keep], xa[keep], ya[keep], delta[keep], grad[keep]
                    if len(active) == 0:
                        break
                delta = _project(delta + _step(grad, norm, step_size), norm, eps)
                delta = (xa + delta).clamp(0, 1) - xa
        if len(active):
            best[active] = (xa + delta).detach()
    return best.detach()


def pgd(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, **params: object) -> torch.Tensor:
    seed_everything(ctx.seed)
    return run_batched(lambda xb, yb: pgd_batch(model, xb, yb, **params), x, y, ctx)  # type: ignore[arg-type]


def _margin(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Z_y - max_{j != y} Z_j (positive: still correctly classified)."""
    true = scores.gather(1, y[:, None]).squeeze(1)
    other = scores.clone()
    other.scatter_(1, y[:, None], float("-inf"))
    return true - other.max(1).values


def cw_l2_batch(
    model: Classifier, x: torch.Tensor, y: torch.Tensor, *, steps: int, binary_search_steps: int, initial_const: float,
    confidence: float, lr: float, surface: str = "logprob", abort_early: bool = True,
) -> torch.Tensor:
    """Carlini-Wagner L2 (untargeted), batched over examples and over the binary search on the
    constant. Returns the smallest-L2 adversarial found per example, else the input itself."""
    surf = model.surface(surface)
    n = len(y)
    w0 = torch.atanh((x * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    const = torch.full((n,), float(initial_const), device=x.device)
    lower = torch.zeros(n, device=x.device)
    upper = torch.full((n,), float("inf"), device=x.device)
    best_l2 = torch.full((n,), float("inf"), device=x.device)
    best = x.clone()
    for _ in range(binary_search_steps):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        prev = float("inf")
        for step in range(steps):
            xa = (torch.tanh(w) + 1) / 2
            scores = surf(xa)
            l2 = (xa - x).flatten(1).pow(2).sum(1)
            f = (_margin(scores, y) + confidence).clamp_min(0)
            loss = (l2 + const * f).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                pred = (scores if surface == "logprob" else model.log_probs(xa)).argmax(1)
                ok = (pred != y) & (_margin(scores, y) <= -confidence if confidence > 0 else pred != y)
                better = ok & (l2 < best_l2)
                best_l2 = torch.where(better, l2, best_l2)
                best[better] = xa[better].detach()
                found |= ok
            if abort_early and step % max(steps // 10, 1) == 0:
                if float(loss.detach()) > prev * 0.9999:
                    break
                prev = float(loss.detach())
        with torch.no_grad():
            upper = torch.where(found, torch.minimum(upper, const), upper)
            lower = torch.where(found, lower, torch.maximum(lower, const))
            const = torch.where(torch.isinf(upper), const * 10, (lower + upper) / 2)
    return best.detach()


def cw_l2(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, **params: object) -> torch.Tensor:
    seed_everything(ctx.seed)
    return run_batched(lambda xb, yb: cw_l2_batch(model, xb, yb, **params), x, y, ctx)  # type: ignore[arg-type]
