"""Benchmark one attack across backends on the same model, examples and budget.

Speed is only reported beside success rate (speed bought with weakness is not speed) and beside
achieved GFLOP/s against this machine's measured fp32 matmul peak. A benchmark, not a test: the
ratios are measured in one process, one backend after the other, on identical inputs.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.attacks import Context, get_kind
from bench.models.base import Classifier
from bench.verify import verify


@dataclass
class PerfRow:
    backend: str
    seconds: float
    examples_per_s: float
    success_rate: float  # verified adversarials among clean-correct examples
    robust_accuracy: float
    gflops: float  # model FLOPs actually spent (forward+backward per example forwarded) per second
    passes_per_example: float  # forward passes actually made per example (early exit lowers it)


def matmul_peak_gflops(n: int = 2048, reps: int = 5) -> float:
    """Practical fp32 peak: the best of a few n x n matmuls."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def flops_per_example(model: Classifier, surface: str = "logprob") -> float:
    """Forward + input-gradient backward FLOPs for one example (torch's flop counter)."""
    x = torch.rand(1, *model.input_shape, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        out = model.surface(surface)(x)
        out.sum().backward()
    return float(counter.get_total_flops())


class _Counter:
    """Counts examples through the model's attack surfaces (every backend attacks a surface)."""

    def __init__(self, model: Classifier):
        self.model, self.examples = model, 0
        self._orig = model.surface

    def __enter__(self) -> "_Counter":
        def surface(name: str = "logprob") -> torch.nn.Module:
            inner = self._orig(name)
            counter = self

            class Counted(type(inner)):  # type: ignore[misc, valid-type]
                def forward(self, x: torch.Tensor) -> torch.Tensor:
                    counter.examples += len(x)
                    return super().forward(x)

            inner.__class__ = Counted
            return inner

        self.model.surface = surface  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.model.surface


def torchattacks_generate(model: Classifier, kind: str, x: torch.Tensor, y: torch.Tensor, p: dict[str, Any], ctx: Context) -> torch.Tensor:
    import torchattacks

    surf = model.surface(p["surface"]).eval()
    if kind == "pgd_linf":
        atk = torchattacks.PGD(surf, eps=p["eps"], alpha=p["step_size"], steps=p["steps"], random_start=p["random_start"])
    else:
        atk = torchattacks.CW(surf, c=p["initial_const"], kappa=p["confidence"], steps=p["steps"], lr=p["lr"])
    out = [atk(x[i : i + ctx.batch_size], y[i : i + ctx.batch_size]) for i in range(0, len(y), ctx.batch_size)]
    return torch.cat(out)


def benchmark(model: Classifier, x: torch.Tensor, y: torch.Tensor, kind_name: str, params: dict[str, Any],
              backends: list[str], batch_size: int, device: torch.device, seed: int = 0) -> list[PerfRow]:
    kind = get_kind(kind_name)
    p = kind.resolve(params)
    per_pass = flops_per_example(model, p["surface"])
    rows = []
    for backend in backends:
        if backend == "torchattacks" and importlib.util.find_spec("torchattacks") is None:
            continue
        ctx = Context(device=device, seed=seed, batch_size=batch_size)
        timed: dict[str, float] = {}

        def generate(x_ref: torch.Tensor, y_: torch.Tensor, backend: str = backend, ctx: Context = ctx) -> torch.Tensor:
            """The backend's candidates, timed and counted (the harness's verification is not)."""
            t = time.perf_counter()
            with _Counter(model) as count:
                if backend == "torchattacks":
                    out = torchattacks_generate(model, kind_name, x_ref, y_, p, ctx)
                else:
                    out = kind.generate(model, x_ref, y_, p, backend, ctx)
            timed.update(seconds=time.perf_counter() - t, examples=count.examples)
            return out

        v = kind.attack(model, x, y, p, backend, ctx, generate=generate).verdict
        secs = timed["seconds"]
        correct = max(int(v.ref_correct.sum()), 1)
        rows.append(PerfRow(backend, secs, len(y) / secs, v.stats["verified"] / correct, float(v.robust.float().mean()),
                            per_pass * timed["examples"] / secs / 1e9, timed["examples"] / len(y)))
    return rows


def profile_native(model: Classifier, x: torch.Tensor, y: torch.Tensor, kind_name: str, params: dict[str, Any],
                   batch_size: int, device: torch.device, rows: int = 12) -> str:
    """torch.profiler's top operators (by self time) of the native backend on these inputs: where
    the attack loop's time goes (convolutions vs. elementwise ops vs. Python overhead)."""
    from torch.profiler import ProfilerActivity, profile

    kind = get_kind(kind_name)
    p = kind.resolve(params)
    ctx = Context(device=device, seed=0, batch_size=batch_size)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        kind.attack(model, x, y, p, "native", ctx)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return str(prof.key_averages().table(sort_by=sort, row_limit=rows))


# torchattacks' AutoAttack rows of ``autoattack_comparison``: (name, steps of APGD/APGD-T/FAB; None = as shipped)
REFERENCES: tuple[tuple[str, int | None], ...] = (
    ("torchattacks AutoAttack('standard') as shipped (10 steps)", None),
    ("torchattacks AutoAttack('standard') at 100 steps (reference budgets)", 100),
)


@dataclass
class CascadeRow:
    name: str
    seconds: float
    robust_accuracy: float
    robust: torch.Tensor  # per-example flags, verified by the harness
    members: dict[str, Any]


def autoattack_comparison(model: Classifier, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor, eps: float, batch_size: int,
                          device: torch.device, presets: list[list[str]], precisions: tuple[str, ...] = ("float32",)) -> list[CascadeRow]:
    """The cascade with each preset list beside torchattacks' ``AutoAttack(version='standard')``, as
    it ships (10-step gradient components) and at the reference's budgets (100 steps: the
    cascade's strength), on the same examples in one process; every output verified by the harness.
    The first two rows are the references; then each preset list at each search precision."""
    from bench.attacks.backends import torchattacks_backend

    kind = get_kind("cascade")
    threat = {"norm": "linf", "eps": eps}
    rows = []
    for name, steps in REFERENCES:
        t0 = time.perf_counter()
        adv = torchattacks_backend.autoattack(model, x, y, ctx=Context(device=device, seed=0, batch_size=batch_size), norm="linf",
                                              eps=eps, version="standard", surface="logprob", steps=steps)
        seconds = time.perf_counter() - t0
        v = verify(model, x, adv, y, threat, device, batch_size)
        rows.append(CascadeRow(name, seconds, float(v.robust.float().mean()), v.robust, {}))
    for names, precision in [(n, p) for p in precisions for n in presets]:
        params = kind.resolve({"eps": eps, "presets": names, "precision": precision})
        ctx = Context(device=device, seed=0, batch_size=batch_size, index=index)
        timed: dict[str, float] = {}

        def generate(x_ref: torch.Tensor, y_: torch.Tensor, params: dict[str, Any] = params, ctx: Context = ctx) -> Any:
            t0 = time.perf_counter()
            out = kind.generate(model, x_ref, y_, params, None, ctx)
            timed["seconds"] = time.perf_counter() - t0
            return out

        done = kind.attack(model, x, y, params, None, ctx, generate=generate, verify_batch=batch_size)
        seconds = timed["seconds"]
        v, out = done.verdict, done.candidates
        label = f"cascade {'+'.join(names)}" + ("" if precision == "float32" else f" ({precision} search)")
        rows.append(CascadeRow(label, seconds, float(v.robust.float().mean()), v.robust,
                               kind.details(out.tensors, out.stats, v, params)["members"]))
    return rows
