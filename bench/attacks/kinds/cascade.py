"""A cascade of attacks of one threat model (AutoAttack's protocol, Croce & Hein 2020): each
member runs only on the examples every earlier member left robust, so the cell's robust set is
the per-example worst case over all of them, at the cost of attacking only what still stands.

Presets reproduce the reference lists and budgets (fra31/auto-attack ``set_version``):
``autoattack_standard`` = APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square (5,000 queries),
100 iterations each (``autoattack_shipped``: the same at torchattacks' shipped 10 steps, for timing
only); ``autoattack_plus`` adds restarts and the untargeted DLR and FAB runs; and
``adaptive`` adds, for models with an output code, the attacks of Tramer et al. 2020 on the class
scores linear in the raw code scores (margin loss, untargeted and toward the top-3 other classes,
and APGD-T on them) and the code-word attack (the raw code scores pushed toward another class's
code word); ``beyond`` (in no headline suite) holds costlier attacks for ``bench audit``. Members
search on a copy of the model laid out for speed (``search_copy``); the harness verifies every
member's output on the model itself before it counts (``bench.verify``), and the cell stores which
member broke each example and each member's time. Inside a shard, the state after each member is
kept (``Context.stages``): a killed run resumes at the next member.

Presets are frozen once a suite uses them (a stored cell's hash names the presets, not their
members; tests/test_extension.py pins them): a stronger battery is a preset appended to the list.
A stored cell whose presets are a prefix of the suite's is then extended (``extendable``, the
runner's ``bench.extension``): its members run again only on the examples they broke (every break
verified again), are skipped on those the stored cell shows they did not break, and the new members
run on what is still robust; the cell is the per-example worst case of the stored cell and that run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from bench.attacks.base import PRIOR, RESUMED_S, AttackKind, Candidates, Context, get_kind, register
from bench.attacks.spec import Param, one_of, unit_interval_open_closed
from bench.models.base import Classifier
from bench.models.search_copy import PRECISIONS, precision_note, search_copy

CLEAN_WRONG = -2  # broken_by: the model is already wrong on the clean input
UNBROKEN = -1


@dataclass(frozen=True)
class Member:
    """One attack of a cascade: ``params`` without eps (the cascade's), ``needs_code``: run only
    on models with an output code (``Classifier.code_words``)."""

    label: str
    kind: str
    backend: str | None
    params: dict[str, Any] = field(default_factory=dict)
    needs_code: bool = False

    def resolved(self, eps: float) -> dict[str, Any]:
        params = {k: (v * eps if k == "step_size_eps" else v) for k, v in self.params.items()}
        if "step_size_eps" in params:
            params["step_size"] = params.pop("step_size_eps")
        return get_kind(self.kind).resolve({**params, "eps": eps})


AA = "torchattacks"
PRESETS: dict[str, tuple[Member, ...]] = {
    "autoattack_standard": (
        Member("APGD-CE", "apgd", AA, {"loss": "ce", "steps": 100, "restarts": 1}),
        Member("APGD-T", "apgd", AA, {"steps": 100, "restarts": 1, "targets": 9}),
        Member("FAB-T", "fab", AA, {"steps": 100, "restarts": 1, "targets": 9}),
        Member("Square", "square", AA, {"queries": 5000, "restarts": 1, "p_init": 0.8}),
    ),
    # torchattacks' ``AutoAttack(version='standard')`` as it ships (3.5.1): the same four attacks at
    # its default budgets, APGD-CE, APGD-T and FAB-T at 10 steps (the reference's are 100), Square at
    # 5,000 queries. Not a headline battery (a tenth of the reference's gradient steps): it times the
    # cascade against the shipped run at equal budgets (`bench perf --attack autoattack --presets`).
    "autoattack_shipped": (
        Member("APGD-CE-10", "apgd", AA, {"loss": "ce", "steps": 10, "restarts": 1}),
        Member("APGD-T-10", "apgd", AA, {"steps": 10, "restarts": 1, "targets": 9}),
        Member("FAB-T-10", "fab", AA, {"steps": 10, "restarts": 1, "targets": 9}),
        Member("Square", "square", AA, {"queries": 5000, "restarts": 1, "p_init": 0.8}),
    ),
    "autoattack_plus": (
        Member("APGD-CE", "apgd", AA, {"loss": "ce", "steps": 100, "restarts": 5}),
        Member("APGD-DLR", "apgd", AA, {"loss": "dlr", "steps": 100, "restarts": 5}),
        Member("FAB", "fab", AA, {"steps": 100, "restarts": 5}),
        Member("Square", "square", AA, {"queries": 5000, "restarts": 1, "p_init": 0.8}),
        Member("APGD-T", "apgd", AA, {"steps": 100, "restarts": 1, "targets": 9}),
        Member("FAB-T", "fab", AA, {"steps": 100, "restarts": 1, "targets": 9}),
    ),
    "adaptive": (
        Member("PGD-linear-margin", "pgd_linf", "native",
               {"surface": "linear", "loss": "margin", "steps": 100, "step_size_eps": 0.1}, needs_code=True),
        Member("PGD-linear-margin-T", "pgd_linf", "native",
               {"surface": "linear", "loss": "margin", "steps": 100, "step_size_eps": 0.1, "targets": 3}, needs_code=True),
        Member("APGD-T-linear", "apgd", AA, {"surface": "linear", "steps": 100, "restarts": 1, "targets": 3}, needs_code=True),
        Member("Codeword-T", "pgd_linf", "native", {"loss": "codeword", "steps": 100, "step_size_eps": 0.1, "targets": 3},
               needs_code=True),
    ),
    # Completes PGD-linear-margin-T's top 3 to all 9 other classes (as APGD-T): the audits of
    # mnist_robust (docs/audits.md) found examples it counts robust broken toward the class ranked 9th.
    # A preset of its own, after ``adaptive``, so a stored cell of the shorter list is extended, not redone.
    "adaptive_all_targets": (
        Member("PGD-linear-margin-T4-9", "pgd_linf", "native",
               {"surface": "linear", "loss": "margin", "steps": 100, "step_size_eps": 0.1, "targets": 9, "first_target": 4},
               needs_code=True),
    ),
    # A second random start for the 9-target linear-margin attack (ranks 1-3 and 4-9 above draw the
    # first; this member draws restart 2 for every rank, so the three together are the 9-target attack
    # with 2 restarts): the audits' breaks of mnist_robust's eps-0.2 ensembles that the single start
    # leaves (docs/audits.md) fall to 2 x 100 steps toward the class ranked 9th.
    "adaptive_restart": (
        Member("PGD-linear-margin-T9-R2", "pgd_linf", "native",
               {"surface": "linear", "loss": "margin", "steps": 100, "step_size_eps": 0.1, "targets": 9,
                "restarts": 2, "first_restart": 2}, needs_code=True),
    ),
    # A third random start toward the classes ranked 4-9, which until now had two (ranks 1-3 have the
    # targeted PGD, APGD-T-linear and the code-word attack besides): the breaks of TanhEns32's eps-0.2
    # audit that both starts leave go to the 5th, 6th and 9th most likely class, each found by one start
    # in two or three (docs/audits.md)
    "adaptive_restart_ranks4_9": (
        Member("PGD-linear-margin-T4-9-R3", "pgd_linf", "native",
               {"surface": "linear", "loss": "margin", "steps": 100, "step_size_eps": 0.1, "targets": 9, "first_target": 4,
                "restarts": 3, "first_restart": 3}, needs_code=True),
    ),
    # Two longer starts toward all 9 classes (300 steps, step eps/20), drawn fresh (restarts 4 and 5;
    # 1-3 are the 100-step members'): the breaks of TanhEns16's eps-0.3 audit that three 100-step
    # starts leave fall to longer or further restarts (docs/audits.md). Cheap where few examples are
    # left robust, as at eps 0.3, where it runs.
    "adaptive_long": (
        Member("PGD-linear-margin-T9-L", "pgd_linf", "native",
               {"surface": "linear", "loss": "margin", "steps": 300, "step_size_eps": 0.05, "targets": 9,
                "restarts": 5, "first_restart": 4}, needs_code=True),
    ),
    # Beyond the headline battery, for audits (bench.audit): longer, restarted margin attacks that
    # broke examples mnist_robust's TanhEns16 eps-0.2 cascade counts robust (docs/audits.md)
    "beyond": (
        Member("PGD-margin-R5", "pgd_linf", "native",
               {"loss": "margin", "steps": 300, "step_size_eps": 0.05, "restarts": 5}),
        Member("PGD-linear-margin-T9", "pgd_linf", "native",
               {"surface": "linear", "loss": "margin", "steps": 300, "step_size_eps": 0.05, "restarts": 2, "targets": 9},
               needs_code=True),
    ),
}


def _presets(value: Any) -> str | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return "must be a non-empty list of preset names"
    unknown = [v for v in value if v not in PRESETS]
    return f"unknown preset(s) {', '.join(unknown)} (known: {', '.join(PRESETS)})" if unknown else None


def members(params: dict[str, Any]) -> list[Member]:
    """The cascade's members in order (a label repeated by two presets runs once)."""
    out: dict[str, Member] = {}
    for name in params["presets"]:
        for m in PRESETS[name]:
            out.setdefault(m.label, m)
    return list(out.values())


def has_code(model: Classifier) -> bool:
    return model.code_words() is not None


def _stage(j: int) -> str:
    return f"member-{j:02d}"


def _resume(stages: Any, count: int, shape: torch.Size) -> tuple[int, torch.Tensor, torch.Tensor, dict[str, float]] | None:
    """The state after the last member an earlier run of this shard finished: (next member, the
    candidates, broken_by, the stats so far), or None. Every member draws from (seed, example
    index) alone, so going on from here gives the shard an uninterrupted run gives."""
    if stages is None:
        return None
    for j in range(count - 2, -1, -1):
        saved = stages.load(_stage(j))
        if saved is not None and saved["out"].shape == shape:
            stats = {k[2:]: float(v[0]) for k, v in saved.items() if k.startswith("s/")}
            return j + 1, saved["out"], saved["broken_by"], stats
    return None


@register
class Cascade(AttackKind):
    name = "cascade"
    proportion_fields = ("robust_after ",)
    description = "attacks in sequence, each on the examples still robust (AutoAttack's protocol; presets, adaptive attacks)"
    params = {
        "eps": Param(float, 0.3, unit_interval_open_closed, "L-inf budget of every member"),
        "presets": Param(list, ["autoattack_standard", "adaptive"], _presets,
                         f"member lists, in order: {', '.join(PRESETS)}"),
        "precision": Param(str, "float32", one_of(*PRECISIONS),
                           "the members' search copy: float32, or bfloat16 convolutions and linear layers "
                           "(float32 activations; verified in float32; docs/perf.md measures its strength)", late=True),
    }
    shard_examples = 100
    rng_version = 2
    keeps_images = False  # per-example flags, broken_by, predictions and norms; no image reads them

    def threat(self, params: dict[str, Any]) -> dict[str, Any] | None:
        return {"norm": "linf", "eps": float(params["eps"])}

    def extendable(self, stored: dict[str, Any], params: dict[str, Any]) -> bool:
        """A stored cell of the same eps and precision whose presets are a proper prefix of these."""
        was, now = self.resolve(stored), self.resolve(params)
        if was["eps"] != now["eps"] or was.get("precision") != now.get("precision"):
            return False
        k = len(was["presets"])
        return k < len(now["presets"]) and now["presets"][:k] == was["presets"]

    def adopted(self, model: Classifier, stored: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        """The stored cell's ``extra`` as the extended cell's, when the new members would attack
        nothing: none applies to ``model`` (code-model attacks on a plain classifier), or the stored
        cell left no example robust. A full run would then run the stored cell's members with the
        same draws and nothing else, so the stored cell is that run's cell. None otherwise."""
        new = members(self.resolve(params))[len(members(self.resolve(stored["params"]))):]
        extra = stored.get("extra") or {}
        rows = extra.get("members")
        if not new or not isinstance(rows, dict):
            return None
        if stored.get("count") != 0 and any(not m.needs_code or has_code(model) for m in new):
            return None
        last = list(rows.values())[-1]["robust_after"] if rows else None
        added = {m.label: {"attempted": 0, "broke": 0, "time_s": 0.0, "robust_after": last, "backend": m.backend, "kind": m.kind}
                 for m in new}
        return {**extra, "members": {**rows, **added}, **{f"robust_after {label}": last for label in added}}

    def prior(self, stored: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What ``generate`` needs of the stored cell it extends (one shard's rows of ``tensors``)."""
        return {"broken_by": tensors["broken_by"].to(torch.int8), "members": torch.tensor([len(members(self.resolve(stored)))])}

    def validate(self, params: Any, where: str) -> list[str]:
        problems = super().validate(params, where)
        if problems or not isinstance(params, dict):
            return problems
        from bench.attacks.backends import problems as backend_problems

        for m in members(self.resolve(params)):  # a preset must run on its backends as written
            kind = get_kind(m.kind)
            resolved = m.resolved(float(self.resolve(params)["eps"]))
            problems += [f"{where}.presets: member {m.label}: {line}" for line in kind.validate(resolved, m.label)]
            if m.backend and kind.backend_op:
                problems += [f"{where}.presets: member {m.label}: {msg}" for _, msg in backend_problems(m.backend, kind.backend_op, resolved)]
        return problems

    def device_notes(self, params: dict[str, Any], device: torch.device) -> list[str]:
        note = precision_note(self.resolve(params)["precision"], device)
        return [note] if note else []

    def generate(self, model: Classifier, x: torch.Tensor, y: torch.Tensor, params: dict[str, Any], backend: str | None,
                 ctx: Context) -> Candidates:
        eps = float(params["eps"])
        index = ctx.index if ctx.index is not None else torch.arange(len(y))
        with torch.no_grad():
            pred = model.predict(x.to(ctx.device), batch_size=max(ctx.batch_size, 1))
        broken_by = torch.where(pred != y, CLEAN_WRONG, UNBROKEN).to(torch.int8)
        ctx.settle(int((broken_by == CLEAN_WRONG).sum()))
        out = x.clone()
        search = search_copy(model, ctx.device, params.get("precision", "float32"))
        stats: dict[str, float] = {}
        listed = members(params)
        first = 0
        resumed = _resume(ctx.stages, len(listed), x.shape)  # members an earlier (killed) run finished
        if resumed is not None:
            first, out, broken_by, stats = resumed
            ctx.settle(int((broken_by >= 0).sum()))
            stats[RESUMED_S] = sum(v for k, v in stats.items() if k.startswith("time_s/"))
        prior = ctx.stages.load(PRIOR) if ctx.stages is not None else None
        before, known = (prior["broken_by"].long(), int(prior["members"][0])) if prior is not None and len(prior["broken_by"]) == len(y) else (None, 0)
        for j, member in enumerate(listed):
            if j < first:
                continue
            rows = (broken_by == UNBROKEN).nonzero().squeeze(1)
            if before is not None and j < known:  # the stored cell ran member j on these: only its breaks are run again
                ran_again = (before[rows] >= 0) & (before[rows] <= j)
                stats[f"skipped/{member.label}"] = float((~ran_again).sum())
                rows = rows[ran_again]
            skip = member.needs_code and not has_code(model)
            stats[f"attempted/{member.label}"] = 0.0 if skip else float(len(rows))
            t0 = time.perf_counter()
            if len(rows) and not skip:
                if ctx.status is not None:
                    ctx.status(f"{member.label}: {len(rows)} of {len(y)} still robust")
                sub = Context(device=ctx.device, seed=ctx.seed, batch_size=ctx.batch_size, index=index[rows])
                kind, resolved = get_kind(member.kind), member.resolved(eps)

                def on_search_copy(x_ref: torch.Tensor, y_: torch.Tensor, kind: AttackKind = kind,
                                   resolved: dict[str, Any] = resolved, member: Member = member, sub: Context = sub) -> Any:
                    return kind.generate(search, x_ref, y_, resolved, member.backend, sub)

                done = kind.attack(model, x[rows], y[rows], resolved, member.backend, sub, generate=on_search_copy,
                                   verify_batch=max(ctx.batch_size, 100))  # searched on the copy, verified on the model
                hit = done.broken  # verified adversarial: counted, and attacked no more
                out[rows[hit]] = done.candidates.x[hit]
                broken_by[rows[hit]] = j
                ctx.settle(int(hit.sum()))
            stats[f"time_s/{member.label}"] = time.perf_counter() - t0
            if ctx.stages is not None and j + 1 < len(listed):
                ctx.stages.save(_stage(j), {"out": out, "broken_by": broken_by,
                                            **{f"s/{k}": torch.tensor([v], dtype=torch.float64) for k, v in stats.items() if k != RESUMED_S}})
        ctx.settle(int((broken_by == UNBROKEN).sum()))
        return Candidates(out, {"broken_by": broken_by}, stats)

    def details(self, tensors: dict[str, torch.Tensor], stats: dict[str, float], verdict: Any, params: dict[str, Any]) -> dict[str, Any]:
        """Per member: examples it was run on, examples it broke, its time, and the robust accuracy
        after it (robust after the last member = the cell's value, up to re-verification); in a
        cell that extended a stored one, ``not_rerun``: the examples the stored cell shows it ran
        on and did not break (its time is then the re-run's only)."""
        broken_by = tensors["broken_by"].long()
        n = len(broken_by)
        rows: dict[str, Any] = {}
        for j, member in enumerate(members(params)):
            still = int(((broken_by == UNBROKEN) | (broken_by > j)).sum())
            skipped = stats.get(f"skipped/{member.label}")
            rows[member.label] = {
                "attempted": int(stats.get(f"attempted/{member.label}", 0)), "broke": int((broken_by == j).sum()),
                **({"not_rerun": int(skipped)} if skipped is not None else {}),
                "time_s": round(stats.get(f"time_s/{member.label}", 0.0), 3), "robust_after": still / n if n else float("nan"),
                "backend": member.backend, "kind": member.kind,
            }
        flat = {f"robust_after {label}": r["robust_after"] for label, r in rows.items()}
        return {"members": rows, "clean_wrong": int((broken_by == CLEAN_WRONG).sum()), **flat}
