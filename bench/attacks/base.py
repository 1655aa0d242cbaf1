"""Attack kinds: what an attack *is* (its parameters, threat model, how candidates are made).

The harness, not the attack, owns the verdict: a kind returns candidate inputs, and
``bench.verify`` recomputes predictions and checks budget and range before anything is counted
(foolbox's final ``__call__`` idea, taken one step further: the check runs outside the library).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, final

import torch

from bench.attacks.spec import Param, resolve_params, validate_params
from bench.models.base import Classifier
from bench.registry import Registry
from bench.verify import Verdict, verify

BACKENDS = ("art", "foolbox", "native", "torchattacks")


@dataclass
class Context:
    """What a kind needs besides the model and inputs.

    ``index`` holds the dataset index of each row of the inputs (the runner sets it per shard):
    randomness is drawn per example from (seed, index), so a cell's numbers do not depend on how
    its examples are cut into shards and batches (``common.example_seed``)."""

    device: torch.device
    seed: int
    batch_size: int = 250
    progress: Any = None  # callable(n_done) for progress bars, or None
    status: Callable[[str], None] | None = None  # where a long batch is (e.g. CW's search step)
    extra: dict[str, Any] = field(default_factory=dict)
    index: torch.Tensor | None = None
    reported: int = 0  # examples of the current batch already counted by ``settle``
    stages: Any = None  # bench.results.ShardStages of the running shard, or None: where a long kind keeps finished stages

    def settle(self, k: int) -> None:
        """``k`` examples of the running batch are settled (broken, or done): count them now, not
        at the end of the batch (a CW batch can run for an hour)."""
        if k > 0 and self.progress is not None:
            self.reported += k
            self.progress(k)


class AttackKind:
    """Base class; subclasses set the ClassVars and implement :meth:`generate` (and optionally
    :meth:`prepare`); callers use the final :meth:`attack`, never the steps one by one."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    backends: ClassVar[tuple[str, ...]] = ()  # () = the kind needs no backend
    adversarial: ClassVar[bool] = True  # part of the default worst-case column
    per_example: ClassVar[bool] = True  # False: the kind computes its own cell (see evaluate)
    metric: ClassVar[str] = "robust_accuracy"
    after_others: ClassVar[bool] = False  # True: reads other cells of the run (runs last)
    # True: a cell's n counts examples another result selected (a transfer cell's n is the number
    # of verified source adversarials), so it may differ between machines; ``bench check`` then
    # compares the figure as a rate (docs/ci-recipe.md).
    n_from_data: ClassVar[bool] = False
    # Examples per shard: the unit of resume inside a cell (a killed run loses at most one shard)
    # and of distribution. Fixed per kind, never per machine; 0 = the whole cell in one shard.
    shard_examples: ClassVar[int] = 100
    # Bumped when the kind's random draws change (e.g. per-example seeds): enters the cell's config
    # hash when > 1, so cells drawn the older way are recomputed instead of passed off as the same.
    rng_version: ClassVar[int] = 1
    # False: the cell keeps flags, predictions and norms but not the adversarial images (no other
    # cell or gallery reads them; a cell of 1,000 MNIST images is 3.1 MB): re-run it to get them.
    keeps_images: ClassVar[bool] = True
    backend_op: ClassVar[str] = ""  # the backends' operation it runs (pgd, cw_l2); validation asks them
    # Prefixes of the cell's ``extra`` fields that are proportions of its n (the cascade's
    # "robust_after <member>"): a leaderboard column of one gets its interval like the cell's value.
    proportion_fields: ClassVar[tuple[str, ...]] = ()

    def statistic_sample(self, field: str, tensors: dict[str, torch.Tensor]) -> tuple[str, torch.Tensor] | None:
        """("mean" or "median", the per-example values) behind an ``extra`` field that summarises a
        cell's examples, read from its stored tensors, so a leaderboard can give the figure its
        interval; None for other fields. Here: the median distortions of the verified breaks
        (``bench.verify.Verdict.fooled_medians``)."""
        if field not in ("median_l2_fooled", "median_linf_fooled") or not {"robust", "ref_correct", "l2", "linf"} <= set(tensors):
            return None
        fooled = tensors["ref_correct"].bool() & ~tensors["robust"].bool()
        return "median", tensors["l2" if field == "median_l2_fooled" else "linf"][fooled]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "attack" in vars(cls):
            raise TypeError(f"{cls.__name__}: AttackKind.attack is final (override prepare or generate)")

    @final
    def attack(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None,
               ctx: Context, *, index: torch.Tensor | None = None, generate: Generate | None = None,
               verify_batch: int = 500) -> Attempt:
        """prepare -> generate -> verify: the one sequence by which a candidate can count (foolbox's
        final ``__call__``). ``generate(x_ref, y)``, when given, replaces the kind's own
        ``generate`` on the whole batch (the runner's resumable shards, a timed benchmark); the
        verdict is the harness's either way."""
        if index is None:
            index = ctx.index if ctx.index is not None else torch.arange(len(y))
        x_ref = self.prepare(x, y, params, ctx, index)
        out = generate(x_ref, y) if generate is not None else self.generate(model, x_ref, y, params, backend, ctx)
        cand = out if isinstance(out, Candidates) else Candidates(out)
        cand = Candidates(cand.x.detach().cpu(), {k: v.cpu() for k, v in cand.tensors.items()}, dict(cand.stats))
        verdict = verify(model, x_ref, cand.x, y, self.threat(params), ctx.device, verify_batch)
        return Attempt(x_ref, y, cand, verdict)

    def depends_on(self, params: dict[str, Any], models: list[str], model_id: str | None = None) -> list[tuple[str, str]]:
        """(model, attack id) cells this kind reads for ``model_id``; their hashes enter its cell's hash."""
        return []

    def validate(self, params: Any, where: str) -> list[str]:
        return validate_params(self.params, params, where)

    def device_notes(self, params: dict[str, Any], device: torch.device) -> list[str]:
        """Warnings worth one line before a run: a setting that works on ``device`` but defeats its
        purpose there (a bfloat16 search on a CPU that emulates bfloat16). Default: none."""
        return []

    def extendable(self, stored: dict[str, Any], params: dict[str, Any]) -> bool:
        """Whether a stored cell computed with ``stored`` (and otherwise this configuration) can be
        extended to ``params`` instead of recomputed (``bench.extension``): a cascade whose member
        list grew. Default: never."""
        return False

    def adopted(self, model: Classifier, stored: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        """When extending the stored cell (its JSON) would compute nothing new for ``model``: its
        ``extra`` as the extended cell's (the cell is then relabelled, not recomputed). Default: None."""
        return None

    def prior(self, stored: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The stage ``PRIOR`` of one shard of an extended cell, from the stored cell's tensors of its rows."""
        raise NotImplementedError(f"{self.name} cells are never extended")

    def resolve(self, params: dict[str, Any] | None) -> dict[str, Any]:
        return resolve_params(self.params, params)

    def threat(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The perturbation budget the harness verifies: {'norm': 'linf'|'l2', 'eps': float|None}."""
        return None

    def prepare(self, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], ctx: Context, index: torch.Tensor) -> torch.Tensor:
        """The reference input the budget is measured from (e.g. the BSA-scaled image)."""
        return x

    def generate(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None,
                 ctx: Context) -> torch.Tensor | Candidates:
        """Candidate inputs, same shape as ``x``; never trusted without verification."""
        raise NotImplementedError

    def details(self, tensors: dict[str, torch.Tensor], stats: dict[str, float], verdict: Any, params: dict[str, Any]) -> dict[str, Any]:
        """The cell's ``extra`` from what ``generate`` returned beside the candidates (Candidates)."""
        return {}


@dataclass
class Candidates:
    """What ``generate`` may return instead of a bare tensor: the candidates plus per-example
    tensors (concatenated over shards and stored in the cell) and numbers (summed over shards),
    e.g. a cascade's ``broken_by`` and each member's time."""

    x: torch.Tensor
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)


Generate = Callable[[torch.Tensor, torch.Tensor], "torch.Tensor | Candidates"]

# A stat a kind that resumed from ``Context.stages`` returns: the seconds an earlier process spent
# on the stages it read back, so the shard's recorded cost is its whole cost (the runner adds it).
RESUMED_S = "resumed_s"

# The stage (``Context.stages``) in which the runner leaves a shard what a stored cell it extends
# knew (``AttackKind.prior``); the kind reads it in ``generate``.
PRIOR = "prior"


@dataclass
class Attempt:
    """What :meth:`AttackKind.attack` did to a batch: the reference inputs it measured from, the
    candidates, and the harness's verdict on them."""

    x_ref: torch.Tensor
    y: torch.Tensor
    candidates: Candidates
    verdict: Verdict

    @property
    def broken(self) -> torch.Tensor:
        """Per example: right on the reference input, and a verified adversarial found."""
        return self.verdict.ref_correct & ~self.verdict.robust


KINDS: Registry[AttackKind] = Registry("attack kind")


def register(cls: type[AttackKind]) -> type[AttackKind]:
    KINDS.register(cls.name, cls())
    return cls


def get_kind(name: str) -> AttackKind:
    return KINDS.get(name)


def kind_names() -> list[str]:
    return list(KINDS)


@dataclass
class CellOutcome:
    """What a kind that computes its own cell (``per_example = False``) returns."""

    value: float
    n: int
    count: int
    extra: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


class CellKind(AttackKind):
    """A kind that computes a whole cell itself (random inputs, transfer) instead of candidates."""

    per_example = False
    adversarial = False

    def evaluate(self, model: Classifier, model_id: str, params: dict[str, Any], ctx: Context) -> CellOutcome:
        raise NotImplementedError
