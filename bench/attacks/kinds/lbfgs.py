"""Box-constrained L-BFGS minimum-distortion attack (Szegedy et al. 2013, section 4.1).

For an image x and a label l the paper approximates the closest image classified l,
``min ||r||_2 s.t. f(x + r) = l, x + r in [0,1]^m``, by minimising, with box-constrained L-BFGS,

    c * |r|^2 + loss_f(x + r, l)        subject to  x + r in [0, 1]^m

and searching over c. Here:

- ``|r|`` is the squared L2 norm ``sum(r_i^2)`` (as in the CleverHans and foolbox 2 versions of
  this attack): smooth at r = 0, so L-BFGS-B behaves; ``norm: l2`` uses ``||r||_2`` instead.
- the optimiser is ``scipy.optimize.minimize(method="L-BFGS-B")`` with bounds [0, 1] per pixel
  (in float64), started at x; the gradient comes from torch (the model's log-probabilities).
  Each example has its own solve; to keep one CPU core busy with useful work the solves of up to
  ``batch_size`` examples run in threads whose model calls are batched (``BatchedOracle``).
- ``targeted``: l is a random wrong label per example (seeded by ``seed``: ``l = (y + k) mod 10``,
  k uniform in 1..9, drawn in example order), loss = cross-entropy -log p_l.
  ``untargeted``: loss = -log(1 - p_y) = -logsumexp_{j != y} log p_j (the cross-entropy of
  "not y"), success = any label but y.
- the search over c (c weights the distortion, so the search wants the *largest* c whose
  minimiser still reaches the goal): start at ``c_init``; while the minimiser succeeds multiply
  c by 10, while it fails divide by 10, until the goal is bracketed; then bisect geometrically
  between the largest succeeding and the smallest failing c. ``c_search_steps`` minimisations per
  example in all. The returned image is the succeeding minimiser with the smallest L2 distortion
  (success checked on the float32 image the harness verifies); if none succeeded, x itself.

Examples the model already misclassifies are returned unchanged. The cell (robust accuracy, no
budget, like CW) gets in ``extra``: ``av_min_distortion`` = mean over successful examples of
sqrt(sum((x'-x)^2) / 784) (the paper's measure), its median, and ``success_rate`` = fraction of
the correctly classified examples for which a verified adversarial was found (targeted mode also
reports ``targeted_success_rate``: reached the chosen label).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import torch
from scipy.optimize import Bounds, minimize

from bench.attacks.base import AttackKind, Context, register
from bench.attacks.spec import Param, non_negative, one_of, positive
from bench.models.base import Classifier

PARAMS: dict[str, Param] = {
    "mode": Param(str, "untargeted", one_of("targeted", "untargeted"), "targeted: random wrong label (seeded); untargeted: any wrong label"),
    "c_init": Param(float, 0.1, positive, "first value of c (the weight of |r|^2) in the search"),
    "c_search_steps": Param(int, 10, positive, "L-BFGS-B minimisations per example (bracketing + bisection on c)"),
    "max_iter": Param(int, 150, positive, "L-BFGS-B iterations per minimisation"),
    "seed": Param(int, 0, non_negative, "seed of the target labels (targeted mode)"),
    "norm": Param(str, "l2_squared", one_of("l2_squared", "l2"), "|r| in the objective: sum(r^2) or ||r||_2"),
}


def target_labels(y: torch.Tensor, seed: int, num_classes: int = 10) -> torch.Tensor:
    """A random wrong label per example, ``(y + k) mod num_classes`` with k in 1..num_classes-1."""
    k = np.random.RandomState(seed).randint(1, num_classes, size=len(y))
    return (y + torch.from_numpy(k).to(y)) % num_classes


def _goal_loss(log_probs: torch.Tensor, labels: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per-example loss to minimise: -log p_l (targeted), -log(1 - p_y) (untargeted)."""
    if targeted:
        return -log_probs.gather(1, labels[:, None]).squeeze(1)
    masked = log_probs.scatter(1, labels[:, None], float("-inf"))
    return -torch.logsumexp(masked, dim=1)


def _reached(pred: int, label: int, targeted: bool) -> bool:
    return pred == label if targeted else pred != label


class BatchedOracle:
    """Loss, input gradient and prediction for many examples' L-BFGS-B solves at once.

    Each example runs its own, unmodified ``scipy.optimize.minimize`` in a worker thread; every
    function evaluation blocks in :meth:`__call__` until all live workers have asked, then the main
    thread (:meth:`serve`) evaluates them in one torch batch (rows in example order). The solves
    are exactly the per-example ones, only the model calls are batched (the model is stateless in
    eval mode, so rows do not interact)."""

    def __init__(self, model: Classifier, device: torch.device, shape: tuple[int, ...], targeted: bool, workers: int):
        self.model, self.device, self.shape, self.targeted = model, device, shape, targeted
        self.lock = threading.Lock()
        self.ready = threading.Event()  # wakes the server: every live worker has asked (or died)
        self.pending: dict[int, tuple[np.ndarray, int, threading.Event]] = {}
        self.results: dict[int, tuple[float, np.ndarray, int]] = {}
        self.alive = workers
        self.error: BaseException | None = None

    def __call__(self, key: int, z: np.ndarray, label: int) -> tuple[float, np.ndarray, int]:
        answered = threading.Event()
        with self.lock:
            self.pending[key] = (z, label, answered)
            if len(self.pending) >= self.alive:
                self.ready.set()
        answered.wait()
        if self.error is not None:
            raise RuntimeError("L-BFGS oracle failed") from self.error
        with self.lock:
            return self.results.pop(key)

    def done(self, error: BaseException | None = None) -> None:
        with self.lock:
            self.alive -= 1
            if error is not None and self.error is None:
                self.error = error
            self.ready.set()

    def serve(self) -> None:
        while True:
            self.ready.wait()
            self.ready.clear()
            with self.lock:
                if self.error is not None or (self.alive == 0 and not self.pending):
                    for _, _, ev in self.pending.values():
                        ev.set()
                    return
                if len(self.pending) < self.alive:
                    continue
                batch, self.pending = self.pending, {}
            keys = sorted(batch)
            try:
                answers = self._evaluate([batch[k][:2] for k in keys])
            except BaseException as exc:  # wake the workers, then re-raise in the caller
                with self.lock:
                    self.error = exc
                for k in keys:
                    batch[k][2].set()
                raise
            with self.lock:
                self.results.update(zip(keys, answers))
            for k in keys:
                batch[k][2].set()

    def _evaluate(self, reqs: list[tuple[np.ndarray, int]]) -> list[tuple[float, np.ndarray, int]]:
        x = torch.from_numpy(np.stack([z for z, _ in reqs])).float().view(len(reqs), *self.shape).to(self.device)
        labels = torch.tensor([lab for _, lab in reqs], device=self.device)
        x.requires_grad_(True)
        with torch.enable_grad():
            lp = self.model.log_probs(x)
            loss = _goal_loss(lp, labels, self.targeted)
            (grad,) = torch.autograd.grad(loss.sum(), x)
        pred = lp.detach().argmax(1).cpu().tolist()
        losses = loss.detach().double().cpu().tolist()
        grads = grad.detach().double().cpu().numpy().reshape(len(reqs), -1)
        return [(losses[i], grads[i], pred[i]) for i in range(len(reqs))]


def minimise(oracle: Any, key: int, x0: np.ndarray, label: int, c: float, *, max_iter: int, norm: str) -> np.ndarray:
    """One box-constrained L-BFGS-B solve of ``c*|r| + loss(x0 + r, label)``; returns x0 + r (float64)."""

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        loss, g, _ = oracle(key, z, label)
        r = z - x0
        if norm == "l2_squared":
            dist, dgrad = float(r @ r), 2.0 * r
        else:
            nrm = math.sqrt(float(r @ r))
            dist, dgrad = nrm, (r / nrm if nrm > 0 else np.zeros_like(r))
        return c * dist + loss, c * dgrad + g

    res = minimize(fun, x0.copy(), jac=True, method="L-BFGS-B", bounds=Bounds(0.0, 1.0), options={"maxiter": int(max_iter)})
    return np.clip(res.x, 0.0, 1.0)


def attack_one(oracle: Any, key: int, x: torch.Tensor, label: int, *, targeted: bool, c_init: float, c_search_steps: int,
               max_iter: int, norm: str) -> tuple[torch.Tensor, dict[str, Any]]:
    """The search over c for one example ``x`` (shape C,H,W); returns (best image, search record)."""
    shape = tuple(x.shape)
    xc = x.detach().cpu().float()
    x0 = xc.double().numpy().ravel()
    best, best_d2 = xc.clone(), math.inf
    ok_c, fail_c = None, None  # largest succeeding c, smallest failing c
    c = float(c_init)
    for _ in range(int(c_search_steps)):
        z = minimise(oracle, key, x0, label, c, max_iter=max_iter, norm=norm)
        cand = torch.from_numpy(z).float().view(shape)
        _, _, pred = oracle(key, cand.double().numpy().ravel(), label)  # judged on the float32 image
        if _reached(pred, label, targeted):
            d2 = float((cand - xc).pow(2).sum())
            if d2 < best_d2:
                best, best_d2 = cand, d2
            ok_c = c if ok_c is None else max(ok_c, c)
        else:
            fail_c = c if fail_c is None else min(fail_c, c)
        if ok_c is None:
            c = c / 10.0
        elif fail_c is None:
            c = c * 10.0
        else:
            c = math.sqrt(ok_c * fail_c)
    return best, {"c": ok_c, "found": math.isfinite(best_d2)}


def lbfgs_attack(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, mode: str, c_init: float, c_search_steps: int,
                 max_iter: int, seed: int, norm: str = "l2_squared", device: torch.device | str = "cpu",
                 concurrent: int = 100, progress: Any = None) -> torch.Tensor:
    """Attack every example of ``x`` (N,C,H,W) in chunks of ``concurrent`` parallel solves; examples
    already misclassified are returned unchanged."""
    device = torch.device(device)
    targeted = mode == "targeted"
    goal = target_labels(y, seed, model.num_classes) if targeted else y
    out = x.detach().cpu().clone()
    with torch.no_grad():
        clean = torch.cat([model.log_probs(x[i : i + 500].to(device)).argmax(1).cpu() for i in range(0, len(y), 500)])
    todo = [i for i in range(len(y)) if int(clean[i]) == int(y[i])]
    if progress is not None and len(y) > len(todo):
        progress(len(y) - len(todo))
    shape = tuple(x.shape[1:])
    for start in range(0, len(todo), max(int(concurrent), 1)):
        chunk = todo[start : start + max(int(concurrent), 1)]
        oracle = BatchedOracle(model, device, shape, targeted, len(chunk))

        def work(i: int) -> None:
            try:
                out[i], _ = attack_one(oracle, i, x[i], int(goal[i]), targeted=targeted, c_init=c_init,
                                       c_search_steps=c_search_steps, max_iter=max_iter, norm=norm)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                oracle.done(exc)
                return
            oracle.done()

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in chunk]
        for t in threads:
            t.start()
        oracle.serve()
        for t in threads:
            t.join()
        if oracle.error is not None:
            raise oracle.error
        if progress is not None:
            progress(len(chunk))
    return out


@register
class LBFGS(AttackKind):
    name = "lbfgs"
    description = "box-constrained L-BFGS minimum-distortion attack (Szegedy et al. 2013), search on c; unbounded"
    params = PARAMS
    shard_examples = 0  # its random targets are drawn for the whole example set: one shard

    def threat(self, params: dict[str, Any]) -> dict[str, Any] | None:
        return {"norm": "l2", "eps": None}

    def generate(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None, ctx: Context) -> torch.Tensor:
        return lbfgs_attack(model, x, y, mode=str(params["mode"]), c_init=float(params["c_init"]),
                            c_search_steps=int(params["c_search_steps"]), max_iter=int(params["max_iter"]),
                            seed=int(params["seed"]), norm=str(params["norm"]), device=ctx.device,
                            concurrent=ctx.batch_size, progress=ctx.progress)

    def statistic_sample(self, field: str, tensors: dict[str, torch.Tensor]) -> tuple[str, torch.Tensor] | None:
        """The paper's distortions of the verified successes, as ``summarize`` averages them."""
        stat = {"av_min_distortion": "mean", "median_min_distortion": "median"}.get(field)
        if stat is None or not {"robust", "ref_correct", "l2", "x_adv"} <= set(tensors):
            return super().statistic_sample(field, tensors)
        fooled = tensors["ref_correct"].bool() & ~tensors["robust"].bool()
        return stat, tensors["l2"][fooled].double() / math.sqrt(tensors["x_adv"][0].numel())

    def summarize(self, x_ref: torch.Tensor, x_cand: torch.Tensor, y: torch.Tensor, verdict: Any, params: dict[str, Any]) -> dict[str, Any]:
        """Cell ``extra``: the paper's average minimum distortion and the success rate."""
        fooled = verdict.ref_correct & ~verdict.robust
        pixels = x_ref[0].numel() if len(x_ref) else 784
        dist = verdict.l2[fooled].double() / math.sqrt(pixels)
        correct = int(verdict.ref_correct.sum())
        out: dict[str, Any] = {
            "mode": params["mode"],
            "av_min_distortion": float(dist.mean()) if len(dist) else float("nan"),
            "median_min_distortion": float(dist.median()) if len(dist) else float("nan"),
            "success_rate": int(fooled.sum()) / correct if correct else float("nan"),
            "n_success": int(fooled.sum()),
            "n_correct": correct,
            "distortion": "sqrt(sum((x'-x)^2)/784), mean over verified successes",
        }
        if params["mode"] == "targeted":
            hit = verdict.ref_correct & (verdict.pred == target_labels(y, int(params["seed"])))
            out["targeted_success_rate"] = int(hit.sum()) / correct if correct else float("nan")
        return out
