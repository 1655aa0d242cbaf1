"""The harness's own batched torch attacks.

Why: library overheads cost 1.3-1.5x for PGD on this machine class and more for CW
(reference/performance-baseline.md). These loops take no parameter gradients, stop spending
steps on examples already broken (AutoAttack's early exit), and support the adaptive surfaces
and margin loss that ART and foolbox do not expose. They are checked against ART and foolbox in
tests/test_backends_agree.py.

Work is saved per example, never by weakening the attack: an example leaves the working batch
(the batch is *compacted*, so no forward or backward pass is spent on it any more) when its
result is settled: PGD found a misclassified iterate; CW's search step stalled for that example
(its own loss stopped decreasing: the per-example form of CW's abort-early), or, with
``minimize=False``, CW found any adversarial. Per-step bookkeeping stays on the device
(``torch.where``); the host reads it only every ``sync_every`` steps (default: every step on the
CPU, every 10 on an accelerator), see ``common.sync_interval``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, ClassVar

import torch

from bench.attacks.backends.common import (
    channels_last, host_indices, host_int, host_split, per_example, run_batched, sync_interval, to_layout,
)
from bench.attacks.base import Context
from bench.models.base import Classifier

def _loss(scores: torch.Tensor, y: torch.Tensor, loss: str, target: torch.Tensor | None = None,
          words: torch.Tensor | None = None) -> torch.Tensor:
    """Per-example loss to *maximise*. With ``target``: toward that class (CE to it, its margin
    over every other class, or, ``codeword``, the per-bit hinge of the raw code scores toward its
    code word ``words[target]``). ``loss`` is one of ``LOSSES``, checked when the suite is
    validated (``codeword`` needs targets: the kind's own check)."""
    if target is None:
        assert loss != "codeword", "codeword needs targets (the kind's validate refuses it)"
        if loss == "ce":
            return torch.nn.functional.cross_entropy(scores, y, reduction="none")
        return -_margin(scores, y)
    if loss == "ce":
        return -torch.nn.functional.cross_entropy(scores, target, reduction="none")
    if loss == "margin":
        return _margin(scores, target)
    assert words is not None  # codeword: pgd_batch refuses a model without a code
    return -torch.relu(1.0 - words[target] * scores).sum(1)


LOSSES = ("ce", "margin", "codeword")
# What the native backend runs (bench.attacks.backends.problems): every loss, every other value.
SUPPORTS: dict[str, dict[str, tuple[object, ...]]] = {"pgd": {"loss": LOSSES}, "cw_l2": {}, "square": {}}


def _rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-example mask shaped to broadcast over ``like``'s non-batch dimensions."""
    return mask.view(-1, *([1] * (like.dim() - 1)))


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


def _random_start(x: torch.Tensor, norm: str, eps: float, index: torch.Tensor, seed: int, restart: int, salt: str = "pgd") -> torch.Tensor:
    """A uniform draw from the eps-ball per example, seeded by (seed, restart, dataset index), so
    an example starts at the same point whatever batch or shard it is in."""
    shape = x.shape[1:]
    if norm == "linf":
        return per_example(lambda g: torch.rand(shape, generator=g) * (2 * eps) - eps, index, seed, f"{salt}-start-{restart}").to(x)

    def ball(g: torch.Generator) -> torch.Tensor:
        d = torch.randn(shape, generator=g)
        r = torch.rand((), generator=g).pow(1.0 / d.numel())
        return d / d.norm().clamp_min(1e-12) * (eps * r)

    return per_example(ball, index, seed, f"{salt}-start-{restart}").to(x)


def pgd_batch(
    model: Classifier, x: torch.Tensor, y: torch.Tensor, *, norm: str, eps: float, steps: int, step_size: float,
    restarts: int, random_start: bool, surface: str, loss: str, early_stop: bool, targets: int, first_target: int = 1,
    first_restart: int = 1, sync_every: int | None = None, index: torch.Tensor | None = None, seed: int = 0,
    on_settle: Callable[[int], None] | None = None, target: torch.Tensor | None = None, salt: str = "pgd",
) -> torch.Tensor:
    """PGD on one batch, the parameters resolved by the kind (``pgd_params``). Returns, per example, the first iterate the model misclassifies (early
    stop), else the last iterate of the last restart. Success is always judged by the model's
    prediction (log_probs argmax), whatever surface the gradient is taken on.

    ``index`` (the dataset index of each row, default 0..n-1) and ``seed`` fix each example's
    random starts; ``on_settle(k)`` hears of examples broken as they are dropped.

    ``targets`` = K > 0: the attack toward each of the K most likely other classes in turn
    (``pgd_targeted``), from the class ranked ``first_target``; ``target`` (one class per row) is one such run.
    Restarts before ``first_restart`` are skipped (another member ran them; each draws its own starts).

    Between host reads (every ``sync_every`` steps) an example already fooled stays in the batch
    but is frozen: its first misclassified iterate is kept and it takes no further step, so the
    result does not depend on ``sync_every``; only the compute spent on it does."""
    if targets > 0:
        return pgd_targeted(model, x, y, norm=norm, eps=eps, steps=steps, step_size=step_size, restarts=restarts,
                            random_start=random_start, surface=surface, loss=loss, early_stop=early_stop,
                            sync_every=sync_every, index=index, seed=seed, on_settle=on_settle, targets=targets,
                            first_target=first_target, first_restart=first_restart)
    words = model.code_words() if loss == "codeword" else None
    if loss == "codeword" and words is None:
        raise ValueError("loss 'codeword' needs a model with a code (Classifier.code_words)")
    surf = model.code_scores if loss == "codeword" else model.surface(surface)
    k = sync_interval(x.device, sync_every)
    index = torch.arange(len(x)) if index is None else index.cpu()
    best = x.clone()
    with torch.no_grad():
        done = model.log_probs(x).argmax(1) != y if early_stop else torch.zeros(len(y), dtype=torch.bool, device=x.device)
    first = max(int(first_restart), 1) - 1
    for restart in range(first, max(restarts, 1)):
        active = host_indices(~done)
        if len(active) == 0:
            break
        if restart == first and on_settle is not None:
            on_settle(len(y) - len(active))  # wrong before the attack: settled at once
        xa, ya = x[active], y[active]
        ta = None if target is None else target[active]
        delta = _random_start(xa, norm, eps, index[active.cpu()], seed, restart, salt) if random_start else torch.zeros_like(xa)
        delta = (xa + delta).clamp(0, 1) - xa
        settled = torch.zeros(len(active), dtype=torch.bool, device=x.device)  # fooled, not yet dropped
        adv = xa.clone()  # first misclassified iterate of each settled example

        def drop_settled() -> bool:
            """Record and drop the settled examples (a host read); True when none remain."""
            nonlocal active, xa, ya, ta, delta, settled, adv
            gone, keep = host_split(settled)
            if len(gone):
                if on_settle is not None:
                    on_settle(len(gone))
                best[active[gone]] = adv[gone]
                done[active[gone]] = True
                active, xa, ya, delta, adv = active[keep], xa[keep], ya[keep], delta[keep], adv[keep]
                ta = None if ta is None else ta[keep]
                settled = settled[keep]
            return len(active) == 0

        for t in range(steps + 1):
            last = t == steps
            delta.requires_grad_(not last)
            with torch.set_grad_enabled(not last):
                scores = surf(xa + delta)
            if early_stop:
                with torch.no_grad():
                    pred = (scores if surface == "logprob" and words is None else model.log_probs(xa + delta)).argmax(1)
                    fooled = (pred != ya) & ~settled
                    adv = torch.where(_rows(fooled, xa), (xa + delta).detach(), adv)
                    settled = settled | fooled
            if last:
                break
            (grad,) = torch.autograd.grad(_loss(scores, ya, loss, ta, words).sum(), delta)
            with torch.no_grad():
                new = _project(delta + _step(grad, norm, step_size), norm, eps)
                new = (xa + new).clamp(0, 1) - xa
                delta = torch.where(_rows(settled, xa), delta.detach(), new) if early_stop else new
                if early_stop and (t + 1) % k == 0 and drop_settled():
                    break
        if early_stop and len(active):
            drop_settled()
        if len(active):
            best[active] = (xa + delta).detach()
    return best.detach()


def pgd_targeted(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, targets: int, surface: str, loss: str,
                 first_target: int = 1, on_settle: Callable[[int], None] | None = None, **params: object) -> torch.Tensor:
    """PGD toward each of the ``targets`` most likely other classes in turn (ranked by the clean
    class scores: the attacked surface, or the linear class scores for ``codeword``), each run
    only on the examples every earlier target left unbroken (AutoAttack's APGD-T schedule, and
    Gowal et al.'s MultiTargeted). Broken = misclassified, whichever class the model then says.
    Ranks before ``first_target`` are skipped (a cascade member that ran them); each rank's random
    starts depend on the rank, the example and the seed only, so ranks 1..3 then 4..9 equal 1..9."""
    with torch.no_grad():
        ranking = (model.linear_scores(x) if loss == "codeword" else model.surface(surface)(x)).float()
        ranking = ranking.masked_fill(torch.nn.functional.one_hot(y, ranking.shape[1]).bool(), float("-inf"))
        order = ranking.argsort(dim=1, descending=True)
        broken = model.log_probs(x).argmax(1) != y
    if on_settle is not None:
        on_settle(host_int(broken.sum()))
    best = x.clone()
    for k in range(max(int(first_target), 1) - 1, min(int(targets), ranking.shape[1] - 1)):
        rows = host_indices(~broken)
        if len(rows) == 0:
            break
        index = params.get("index")
        sub = {**params, "index": None if index is None else torch.as_tensor(index)[rows.cpu()]}
        adv = pgd_batch(model, x[rows], y[rows], surface=surface, loss=loss, targets=0, target=order[rows, k],
                        salt=f"pgd-t{k + 1}", on_settle=on_settle, **sub)  # type: ignore[arg-type]
        with torch.no_grad():
            hit = model.log_probs(adv).argmax(1) != y[rows]
        best[rows] = adv  # broken rows keep their adversarial; the others their last iterate (in the ball)
        broken[rows] = hit
    return best


def pgd(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, **params: object) -> torch.Tensor:
    with channels_last(model) as nhwc:
        return run_batched(lambda xb, yb, ib: pgd_batch(model, to_layout(xb, nhwc), yb, index=ib, seed=ctx.seed,  # type: ignore[arg-type]
                                                        on_settle=ctx.settle, **params), x, y, ctx)


def _margin(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Z_y - max_{j != y} Z_j (positive: still correctly classified)."""
    true = scores.gather(1, y[:, None]).squeeze(1)
    other = scores.masked_fill(torch.nn.functional.one_hot(y, scores.shape[1]).bool(), float("-inf"))
    return true - other.max(1).values


def _is_adversarial(model: Classifier, surface: str, scores: torch.Tensor, xa: torch.Tensor, y: torch.Tensor,
                    confidence: float) -> torch.Tensor:
    """Misclassified by the model (log_probs argmax) and, when kappa > 0, by margin kappa on the
    attacked surface."""
    pred = (scores if surface == "logprob" else model.log_probs(xa)).argmax(1)
    ok = pred != y
    if confidence > 0:
        ok = ok & (_margin(scores, y) <= -confidence)
    return ok


class _Adam:
    """torch.optim.Adam's update (default betas, eps 1e-8), with state that can be sliced per
    example when the batch is compacted (Adam is elementwise, so examples stay independent)."""

    def __init__(self, w: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
        self.m, self.v = torch.zeros_like(w), torch.zeros_like(w)

    def step(self, w: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        b1, b2 = self.betas
        self.t += 1
        self.m.mul_(b1).add_(g, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (self.v.sqrt() / math.sqrt(1 - b2**self.t)).add_(self.eps)
        return w - (self.lr / (1 - b1**self.t)) * self.m / denom

    def keep(self, index: torch.Tensor) -> None:
        self.m, self.v = self.m[index], self.v[index]


@dataclass
class _CWBatch:
    """Per-example state of a CW batch across binary-search steps (rows of the whole batch)."""

    best: torch.Tensor  # smallest-L2 adversarial found so far, else the input
    best_l2: torch.Tensor  # its squared L2 (inf: none found)
    const: torch.Tensor  # the trade-off constant c of the next search step
    lower: torch.Tensor  # binary-search bounds on c
    upper: torch.Tensor
    retired: torch.Tensor  # settled: wrong at x (distortion 0), or, minimize=False, broken

    def finish(self, rows: _SearchRows, sel: torch.Tensor, minimize: bool) -> None:
        """Write back the result of the working rows ``sel`` (they leave the search step)."""
        p, hit = rows.pos[sel], rows.found[sel]
        self.best[p], self.best_l2[p] = rows.bx[sel], rows.bl2[sel]
        self.upper[p] = torch.where(hit, torch.minimum(self.upper[p], rows.cs[sel]), self.upper[p])
        self.lower[p] = torch.where(hit, self.lower[p], torch.maximum(self.lower[p], rows.cs[sel]))
        if not minimize:
            self.retired[p] = hit


@dataclass
class _SearchRows:
    """The rows one binary-search step still optimises, with their per-row tensors: sliced all
    together when the batch is compacted, so no tensor can be left out of step."""

    pos: torch.Tensor  # rows of the batch
    w: torch.Tensor  # tanh-space variable
    xs: torch.Tensor
    ys: torch.Tensor
    cs: torch.Tensor
    bx: torch.Tensor  # local best adversarial and its squared L2
    bl2: torch.Tensor
    found: torch.Tensor  # adversarial found in this search step
    running: torch.Tensor  # not stalled (or, minimize=False, not found)
    prev: torch.Tensor  # objective at the last abort-early check
    opt: _Adam

    SLICED: ClassVar[tuple[str, ...]] = ("pos", "w", "xs", "ys", "cs", "bx", "bl2", "found", "running", "prev")

    @classmethod
    def start(cls, batch: _CWBatch, w0: torch.Tensor, x: torch.Tensor, y: torch.Tensor, pos: torch.Tensor, lr: float) -> _SearchRows:
        m, dev = len(pos), x.device
        w = w0[pos].clone()
        return cls(pos, w, x[pos], y[pos], batch.const[pos], batch.best[pos], batch.best_l2[pos],
                   torch.zeros(m, dtype=torch.bool, device=dev), torch.ones(m, dtype=torch.bool, device=dev),
                   torch.full((m,), float("inf"), device=dev), _Adam(w, lr))

    def keep(self, keep: torch.Tensor) -> None:
        for name in self.SLICED:
            setattr(self, name, getattr(self, name)[keep])
        self.opt.keep(keep)

    def compact(self, batch: _CWBatch, minimize: bool) -> bool:
        """Finish and drop the rows no longer running (a host read); True when none remain."""
        keep, gone = host_split(self.running)
        if len(gone):
            batch.finish(self, gone, minimize)
            self.keep(keep)
        return len(self.pos) == 0


def _cw_step(model: Classifier, surf: Callable[[torch.Tensor], torch.Tensor], surface: str, rows: _SearchRows, confidence: float,
             minimize: bool, check_now: bool) -> None:
    """One Adam step of every running row on ``||x'-x||^2 + c f(x')``, keeping each row's best
    adversarial; ``check_now``: abort-early's check (a row whose objective stalled stops)."""
    rows.w.requires_grad_(True)
    xa = (torch.tanh(rows.w) + 1) / 2
    scores = surf(xa)
    l2 = (xa - rows.xs).flatten(1).pow(2).sum(1)
    per_example = l2 + rows.cs * (_margin(scores, rows.ys) + confidence).clamp_min(0)
    (g,) = torch.autograd.grad(per_example.sum(), rows.w)
    with torch.no_grad():
        xa, l2, per_example = xa.detach(), l2.detach(), per_example.detach()
        ok = _is_adversarial(model, surface, scores.detach(), xa, rows.ys, confidence) & rows.running
        better = ok & (l2 < rows.bl2)
        rows.bl2 = torch.where(better, l2, rows.bl2)
        rows.bx = torch.where(_rows(better, rows.bx), xa, rows.bx)
        rows.found = rows.found | ok
        if not minimize:
            rows.running = rows.running & ~ok
        if check_now:
            rows.running = rows.running & ~(per_example > rows.prev * 0.9999)
            rows.prev = per_example
        rows.w = torch.where(_rows(rows.running, rows.w), rows.opt.step(rows.w.detach(), g), rows.w.detach())


def cw_l2_batch(
    model: Classifier, x: torch.Tensor, y: torch.Tensor, *, steps: int, binary_search_steps: int, initial_const: float,
    confidence: float, lr: float, surface: str, abort_early: bool, minimize: bool,
    sync_every: int | None = None, status: Callable[[str], None] | None = None,
    on_settle: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Carlini-Wagner L2 (untargeted), batched over examples, with a per-example binary search
    over the constant c. Returns the smallest-L2 adversarial found per example, else the input.

    Per-example work, same attack:
    - an example the model already gets wrong at x (with margin kappa) is returned as it is: its
      minimal distortion is 0, nothing to search;
    - ``abort_early`` is judged per example: every ``steps // 10`` steps, an example whose own
      objective ``||x'-x||^2 + c f(x')`` did not decrease by 0.01% leaves the search step (the
      stall at a local optimum that CW's abort-early detects). foolbox and the original code judge
      the *sum* over the batch, so one example still improving keeps every stalled one running;
      per example, each runs exactly as long as its own loss improves;
    - examples leave the working batch (it is compacted) instead of being computed and ignored.

    ``minimize`` (default True: CW as published) keeps searching for a smaller distortion after an
    adversarial is found. ``minimize=False`` stops an example at its first verified adversarial,
    in the search step where it is found, and never attacks it again: the right setting when only
    robust accuracy is wanted (the harness's CW column), since any adversarial counts there. Its
    robust set is the default's (an example is found by the default at the first search step where
    this mode finds it, and then counts as found whatever happens later); its distortions are
    larger. The returned image is then the first adversarial iterate, not the smallest.

    ``status`` (optional) hears where the batch is every ``steps // 10`` steps ("search 3/10,
    step 400: 43 broken, 57 unbroken, 12 searching"): one CW batch at 1000 x 10 can take an hour.
    ``on_settle(k)`` hears of examples whose result is final (misclassified at x, or, with
    ``minimize=False``, broken): a progress bar then moves inside the batch.
    """
    surf = model.surface(surface)
    n, dev = len(y), x.device
    k = sync_interval(dev, sync_every)
    check = max(steps // 10, 1)
    w0 = torch.atanh((x * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    with torch.no_grad():
        retired = _is_adversarial(model, surface, surf(x), x, y, confidence)  # distortion 0: settled
    batch = _CWBatch(best=x.clone(), best_l2=torch.full((n,), float("inf"), device=dev).masked_fill(retired, 0.0),
                     const=torch.full((n,), float(initial_const), device=dev), lower=torch.zeros(n, device=dev),
                     upper=torch.full((n,), float("inf"), device=dev), retired=retired)
    settled = host_int(retired.sum()) if on_settle is not None else 0
    if on_settle is not None:
        on_settle(settled)
    for search in range(binary_search_steps):
        pos = host_indices(~batch.retired)  # rows of the batch still searched
        if len(pos) == 0:
            break
        rows = _SearchRows.start(batch, w0, x, y, pos, lr)
        for step in range(steps):
            if status is not None and step % check == 0:
                _report(status, batch, rows, f"search {search + 1}/{binary_search_steps}, step {step}")
            check_now = abort_early and step % check == 0
            _cw_step(model, surf, surface, rows, confidence, minimize, check_now)
            sync = check_now or (not minimize and (step + 1) % k == 0)
            if sync and rows.compact(batch, minimize):
                break
        if len(rows.pos):
            batch.finish(rows, torch.arange(len(rows.pos), device=dev), minimize)
        if on_settle is not None and not minimize:
            now = host_int(batch.retired.sum())
            on_settle(now - settled)
            settled = now
        with torch.no_grad():
            batch.const = torch.where(torch.isinf(batch.upper), batch.const * 10, (batch.lower + batch.upper) / 2)
    return batch.best.detach()


def _report(status: Callable[[str], None], batch: _CWBatch, rows: _SearchRows, where: str) -> None:
    """Where a long CW batch is: examples broken so far (a host read), unbroken, still searched."""
    merged = batch.best_l2.clone()
    merged[rows.pos] = rows.bl2  # this search step's rows still running hold their best in bl2
    broken = host_int(torch.isfinite(merged).sum())
    n = len(merged)
    status(f"{where}: {broken} broken, {n - broken} unbroken, {len(rows.pos)} searching")


def cw_l2(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, **params: object) -> torch.Tensor:
    with channels_last(model) as nhwc:
        return run_batched(lambda xb, yb, ib: cw_l2_batch(model, to_layout(xb, nhwc), yb, status=ctx.status,  # type: ignore[arg-type]
                                                          on_settle=ctx.settle, **params), x, y, ctx)


# --- Square (Andriushchenko et al. 2020), L-inf --------------------------------------------------

_MIX = (0x9E3779B97F4A7C15 - (1 << 64), 0xBF58476D1CE4E5B9 - (1 << 64), 0x94D049BB133111EB - (1 << 64))  # splitmix64, as int64


def _hash(seed: torch.Tensor, *counters: int) -> torch.Tensor:
    """A counter-based random int64 per example (splitmix64 finaliser on seed and counters): the
    draws of example i at iteration t depend on (its seed, t) only, never on its batch."""
    z = seed.clone()
    for c in counters:
        step = ((int(c) + 1) * _MIX[0]) & 0xFFFFFFFFFFFFFFFF  # wrapped to 64 bits, as int64
        z = z + (step - (1 << 64) if step >= 1 << 63 else step)
        z = (z ^ ((z >> 30) & 0x3FFFFFFFF)) * _MIX[1]
        z = (z ^ ((z >> 27) & 0x1FFFFFFFFF)) * _MIX[2]
        z = z ^ ((z >> 31) & 0x1FFFFFFFF)
    return z & 0x7FFFFFFFFFFFFFFF


def _p_selection(p_init: float, it: int, queries: int) -> float:
    """The reference schedule of the square's area fraction, rescaled to a 10,000-query budget."""
    it = int(it / queries * 10000)
    for bound, div in ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128), (8000, 256)):
        if it <= bound:
            return p_init / div
    return p_init / 512


def square_batch(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, eps: float, queries: int, p_init: float,
                 restarts: int, surface: str, seeds: torch.Tensor | None = None,
                 on_settle: Callable[[int], None] | None = None) -> torch.Tensor:
    """Square attack, L-inf, margin loss, as the reference (fra31/auto-attack ``square.py``):
    vertical-stripe start at the corners of the eps-box, then per query one random square of side
    ``sqrt(p * pixels)`` set to +-eps per channel, kept when the margin falls. One difference, for
    reproducibility: the square's place and signs are drawn per example (``seeds``), where the
    reference draws one for the whole batch. Examples leave the batch once misclassified."""
    n, (c, h, w) = len(y), x.shape[1:]
    surf = model.surface(surface)
    seeds = (torch.arange(n) if seeds is None else seeds).to(torch.int64).to(x.device)
    best = x.clone()
    with torch.no_grad():
        todo = host_indices(model.log_probs(x).argmax(1) == y)
    if on_settle is not None:
        on_settle(n - len(todo))

    def margin_of(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        s = surf(xs)
        return _margin(s, ys)

    for restart in range(max(restarts, 1)):
        if len(todo) == 0:
            break
        xs, ys, sd = x[todo], y[todo], seeds[todo]
        cols = torch.arange(w, device=x.device)
        signs = (_hash(sd[:, None] + cols[None, :], 7919 + restart, 0) & 1).to(x.dtype) * 2 - 1  # (m, w) stripes
        xb = (xs + eps * signs.view(-1, 1, 1, w).expand(-1, c, h, w)).clamp(0, 1)
        with torch.no_grad():
            margin = margin_of(xb, ys)
            pred_ok = model.log_probs(xb).argmax(1) == ys if surface != "logprob" else margin > 0
        rows = torch.arange(h, device=x.device).view(1, 1, h, 1)
        colv = cols.view(1, 1, 1, w)
        chans = torch.arange(c, device=x.device)
        for it in range(queries):
            fooled = ~pred_ok
            if bool(fooled.any()):
                gone, keep = host_split(fooled)
                best[todo[gone]] = xb[gone]
                if on_settle is not None:
                    on_settle(len(gone))
                todo, xs, ys, sd, xb, margin = todo[keep], xs[keep], ys[keep], sd[keep], xb[keep], margin[keep]
                pred_ok = pred_ok[keep]
            if len(todo) == 0:
                break
            p = _p_selection(p_init, it, queries)
            s = max(int(round(math.sqrt(p * c * h * w / c))), 1)
            r = _hash(sd, restart, it + 1)
            vh = (r % (h - s + 1)).view(-1, 1, 1, 1)
            vw = ((r >> 20) % (w - s + 1)).view(-1, 1, 1, 1)
            sign = (((r.view(-1, 1) >> (40 + chans.view(1, -1))) & 1).to(x.dtype) * 2 - 1).view(-1, c, 1, 1)
            inside = (rows >= vh) & (rows < vh + s) & (colv >= vw) & (colv < vw + s)
            x_new = torch.where(inside, xb + 2 * eps * sign, xb)
            x_new = torch.minimum(torch.maximum(x_new, xs - eps), xs + eps).clamp(0, 1)
            with torch.no_grad():
                m_new = margin_of(x_new, ys)
                ok_new = model.log_probs(x_new).argmax(1) == ys if surface != "logprob" else m_new > 0
            better = (m_new < margin) | ~ok_new
            xb = torch.where(_rows(better, xb), x_new, xb)
            margin = torch.where(better, m_new, margin)
            pred_ok = torch.where(better, ok_new, pred_ok)
        if len(todo):
            fooled = ~pred_ok
            best[todo[fooled]] = xb[fooled]
            if on_settle is not None:
                on_settle(int(fooled.sum()))
            keep = (~fooled).nonzero().squeeze(1)
            best[todo[keep]] = xb[keep]  # the last accepted point, inside the ball
            todo = todo[keep]
    return best.detach()


def square(model: Classifier, x: torch.Tensor, y: torch.Tensor, *, ctx: Context, eps: float, queries: int, p_init: float,
           restarts: int, surface: str, **_: object) -> torch.Tensor:
    from bench.attacks.backends.common import example_seed

    def one(xb: torch.Tensor, yb: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        seeds = torch.tensor([example_seed(ctx.seed, "square", int(i)) for i in ib.tolist()], dtype=torch.int64)
        return square_batch(model, xb, yb, eps=eps, queries=queries, p_init=p_init, restarts=restarts, surface=surface,
                            seeds=seeds, on_settle=ctx.settle)

    with torch.no_grad(), channels_last(model) as nhwc:
        return run_batched(lambda xb, yb, ib: one(to_layout(xb, nhwc), yb, ib), x, y, ctx)
