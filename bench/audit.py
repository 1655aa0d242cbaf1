"""Audits: attacks beyond a cell's battery, on a random sample of the examples it counts robust.

Why: a robust accuracy is an upper bound, as strong as the attacks behind it. An audit runs a
stronger, costlier member list (default: the ``beyond`` preset of ``bench.attacks.kinds.cascade``)
on ``k`` of the cell's ``R`` robust examples, drawn without replacement from a recorded seed, and
verifies every break on the model itself. From ``b`` breaks it estimates how far the cell's figure
overstates robustness, ``(R/n) * b/k`` with the exact interval of a sample drawn without
replacement (hypergeometric; no interval left when ``k = R``), and states the verified bound
``(R - b)/n``. Auditing a sample costs ``k/R`` of auditing the whole cell, which on the code models
would take tens of core-hours per cell.

Written to ``ResultsStore.audit_json`` (``<results>/audits/<model>/<attack>.json``); the
leaderboard flags a cell whose audit broke an example (``bench.report.flags.audit_flags``).
Resumable: the sample runs in batches, each kept as it finishes, and inside a batch each finished
member is kept (``ShardStages``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from bench import data, zoo
from bench.attacks.base import RESUMED_S, Context, get_kind
from bench.attacks.kinds import cascade
from bench.errors import BenchError
from bench.results import ResultsStore, ShardStages, atomic_write_json
from bench.stats import sampled_count_interval

DEFAULT_PRESETS = ("beyond",)
BATCH = 20  # examples per kept batch: a TanhEns16 batch runs ~15 minutes on one core


def audit_path(results: Path, model: str, attack: str) -> Path:
    return ResultsStore(results).audit_json(model, attack)


def draw_robust(robust: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """Positions of ``min(k, R)`` of the ``R`` robust flags in the order ``seed`` draws them
    (without replacement): a larger ``k`` draws the smaller one's examples first."""
    rows = robust.bool().nonzero().squeeze(1)
    g = torch.Generator().manual_seed(int(seed))
    return rows[torch.randperm(len(rows), generator=g)[: max(0, int(k))]]


def sample_robust(robust: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """Positions (sorted) of ``min(k, R)`` of the ``R`` robust flags, drawn without replacement
    from ``seed`` alone, so an audit names its sample by (seed, k) and a rerun draws the same."""
    return draw_robust(robust, k, seed).sort().values


def estimate(robust: int, n: int, sampled: int, broke: int) -> dict[str, float | None]:
    """How far a figure of ``robust`` of ``n`` overstates robustness when ``broke`` of ``sampled``
    of its robust examples fall to the audit: the point estimate ``(robust/n) * broke/sampled``, the
    exact 95% interval of how many of the ``robust`` examples the audit would break (the sample is
    drawn without replacement, so ``bench.stats.sampled_count_interval``; an audit of every robust
    example is exact), over ``n``, and the bound the verified breaks alone prove. The figure's own
    sampling error is its own interval."""
    share = robust / n if n else float("nan")
    if sampled <= 0:
        return {"overstated_by": None, "lo": None, "hi": None, "verified_at_most": share}
    lo, hi = sampled_count_interval(broke, sampled, robust)
    return {"overstated_by": share * broke / sampled, "lo": lo / n, "hi": hi / n,
            "verified_at_most": (robust - broke) / n}


@dataclass(frozen=True)
class Cell:
    """What an audit reads of a committed cell."""

    path: Path
    meta: dict[str, Any]
    index: torch.Tensor
    label: torch.Tensor
    robust: torch.Tensor

    @property
    def eps(self) -> float:
        return float(self.meta["threat"]["eps"])


def read_cell(results: Path, model: str, attack: str) -> Cell:
    """A complete L-inf cell with per-example flags, or a one-line error naming the file."""
    store = ResultsStore(results)
    path = store.cell_json(model, attack)
    if not path.is_file():
        have = sorted(a for _, a in store.cells(model))
        raise BenchError(f"{path}: no such complete cell ({model}'s cells here: {', '.join(have) or 'none'})")
    try:
        meta, tensors = store.read_cell(model, attack), store.read_tensors(model, attack)
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: unreadable ({exc})") from None
    if meta is None:
        raise BenchError(f"{path}: unreadable (damaged JSON)")
    tensors = tensors or {}
    threat = meta.get("threat") or {}
    if threat.get("norm") != "linf" or not isinstance(threat.get("eps"), (int, float)) or threat["eps"] <= 0:
        raise BenchError(f"{path}: threat {threat or None}: an audit needs an L-inf cell with a budget (e.g. cascade_e02)")
    if not {"index", "label", "robust"} <= set(tensors):
        raise BenchError(f"{store.cell_tensors(model, attack)}: no per-example robust flags to audit")
    return Cell(path, meta, tensors["index"].long(), tensors["label"].long(), tensors["robust"].bool())


def _members(presets: list[str]) -> list[dict[str, Any]]:
    return [{"label": m.label, "kind": m.kind, "backend": m.backend, "params": m.params, "needs_code": m.needs_code}
            for m in cascade.members({"presets": presets})]


def audit_key(cell: Cell, sample: torch.Tensor, seed: int, presets: list[str]) -> str:
    """The identity of an audit: its cell's config, its sample and its members (kept state of
    another audit is never reused)."""
    blob = json.dumps({"cell": cell.meta.get("config_hash"), "sample": cell.index[sample].tolist(), "seed": seed,
                       "members": _members(presets)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _family_key(cell: Cell, seed: int, presets: list[str]) -> str:
    """What audits of one cell by one seed and member list share: their examples come in the same
    drawn order, so a batch one of them kept serves every other whose sample holds its rows."""
    blob = json.dumps({"cell": cell.meta.get("config_hash"), "seed": seed, "members": _members(presets), "order": "drawn"},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_audit(results: Path, model_id: str, attack: str, *, sample: int | None, seed: int = 0,
              presets: list[str] | None = None, device: torch.device | None = None, data_dir: str | None = None,
              batch_size: int = 100, progress: Callable[[int], None] | None = None,
              status: Callable[[str], None] | None = None, force: bool = False,
              kept: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Audit one cell and write its JSON; returns what it wrote (an audit of the same cell, sample
    and members already written is returned as it is, unless ``force``). ``sample=None`` audits
    every robust example: the estimate is then exact. ``kept`` hears a line each time a batch is
    kept (a whole-cell audit runs for hours: a log shows how far it got and what it found)."""
    presets = list(presets or DEFAULT_PRESETS)
    kind = get_kind("cascade")
    problems = kind.validate({"eps": 0.1, "presets": presets}, "--presets")
    if problems:
        raise BenchError(problems[0])
    cell = read_cell(results, model_id, attack)
    store = ResultsStore(results)
    finished = _json_or_empty(store.audit_json(model_id, attack))
    drawn = (finished.get("carried_from") or [finished])[0]  # the sample as the audit first drew it
    drawn_of = drawn.get("robust") or 0
    same_audit = (finished.get("presets") == presets and finished.get("seed") == seed
                  and drawn.get("sample") == (drawn_of if sample is None else min(sample, drawn_of)))
    if not force and same_audit and finished.get("carried_from") and finished.get("cell_config_hash") == cell.meta.get("config_hash"):
        return finished  # carried over onto this cell already
    carried = carry_over(finished, cell.meta, cell.index, cell.robust) if not force and same_audit else None
    if carried is not None:
        atomic_write_json(store.audit_json(model_id, attack), carried)
        if status is not None:
            status("audit of the stored cell this one extends, carried over (no attack run; --force audits anew)")
        return carried
    card = zoo.get_card(model_id)
    if cell.meta.get("checkpoint_sha256") not in (None, card.sha256):
        raise BenchError(f"{cell.path}: computed on checkpoint {str(cell.meta['checkpoint_sha256'])[:8]}, the zoo's "
                         f"{model_id} is now {str(card.sha256)[:8]}: rerun the cell first")
    device = device or torch.device("cpu")
    model = zoo.load(model_id, device)
    split = data.load(card.dataset, "test", data_dir)
    if int(cell.index.max()) >= len(split.y) or not torch.equal(split.y[cell.index], cell.label):
        raise BenchError(f"{cell.path}: the cell's labels differ from {card.dataset}'s test labels at its indices")
    # The examples in drawn order: the batches kept at any point are a uniform sample of the robust
    # set, and a smaller sample of the same seed is a prefix, so `--sample K` can finish at once from
    # a longer (e.g. whole-cell) audit's kept batches, which stay for it to go on.
    order = draw_robust(cell.robust, len(cell.robust) if sample is None else sample, seed)
    picked = order.sort().values
    key = audit_key(cell, picked, seed, presets)
    done_path, state_path = store.audit_json(model_id, attack), store.audit_partial(model_id, attack)
    if not force and finished.get("audit_key") == key:  # this very audit is done: nothing to compute
        return finished
    family = _family_key(cell, seed, presets)
    state = _json_or_empty(state_path)
    if state.get("key") != family:  # another cell's, seed's or member list's batches are never reused
        other = sum(len(b.get("index") or ()) for b in (state.get("batches") or {}).values() if isinstance(b, dict))
        if other and state.get("cell") == cell.meta.get("config_hash") and not force:  # hours of work: not dropped silently
            raise BenchError(f"{state_path}: holds {other} examples kept by another audit of this cell (seed "
                             f"{state.get('seed')}, presets {','.join(state.get('presets') or [])}): finish it with those "
                             f"options, or pass --force to discard them")
        state = {"key": family, "cell": cell.meta.get("config_hash"), "seed": seed, "presets": presets, "batches": {}, "size": 0}
    state["size"] = max(int(state.get("size") or 0), len(order))  # the longest audit these batches serve
    params = kind.resolve({"eps": cell.eps, "presets": presets})
    labels = [m.label for m in cascade.members(params)]
    ours: list[str] = []
    for start in range(0, len(order), BATCH):
        idx = cell.index[order[start:start + BATCH]]
        name = f"{start}+{len(idx)}"
        ours.append(name)
        if (state["batches"].get(name) or {}).get("index") == idx.tolist():
            if progress is not None:
                progress(len(idx))
            continue
        stages = ShardStages(store.audit_stages(model_id, attack) / f"{start:06d}-{len(idx)}",
                             hashlib.sha256(f"{family}:{idx.tolist()}".encode()).hexdigest()[:16])
        ctx = Context(device=device, seed=seed, batch_size=batch_size, index=idx, progress=progress, status=status,
                      stages=stages)
        t0 = time.perf_counter()
        done = kind.attack(model, split.x[idx], split.y[idx], params, None, ctx, verify_batch=batch_size)
        broken_by = done.candidates.tensors["broken_by"].long()
        hit = done.broken
        state["batches"][name] = {
            "index": idx.tolist(),
            "broken_index": idx[hit].tolist(),
            "broken_by": [labels[int(j)] if j >= 0 else "clean" for j in broken_by[hit]],
            "seconds": done.candidates.stats.get(RESUMED_S, 0.0) + time.perf_counter() - t0,
            "time_s": {lab: done.candidates.stats.get(f"time_s/{lab}", 0.0) for lab in labels},
        }
        atomic_write_json(state_path, state)
        stages.clear()
        if kept is not None:
            kept(_kept_line([state["batches"][b] for b in ours], len(order)))
    out = _summary(cell, model_id, attack, picked, seed, presets, key, [state["batches"][b] for b in ours], labels)
    atomic_write_json(done_path, out)
    if len(order) >= state["size"]:  # no longer audit left to serve
        state_path.unlink(missing_ok=True)
        shutil.rmtree(store.audit_stages(model_id, attack), ignore_errors=True)
    elif status is not None:
        done_count = sum(len(b["index"]) for b in state["batches"].values())
        status(f"the kept batches of a longer audit ({state['size']} examples; these {done_count}) stay for it to go on")
    return out


def kept_prefix(results: Path, model: str, attack: str) -> int:
    """How many examples a stopped audit's kept batches cover from the start of its drawn order:
    the largest ``--sample`` that finishes from them with no attack run (0 when none)."""
    batches = _json_or_empty(ResultsStore(results).audit_partial(model, attack)).get("batches") or {}
    done = 0
    while isinstance(batches.get(f"{done}+{BATCH}"), dict):
        done += BATCH
    return done


def _kept_line(batches: list[dict[str, Any]], total: int) -> str:
    """'batch 3 of 12 kept: 60 of 233 examples audited, 1 broken (test images 1387), 1,045 s'."""
    done = sum(len(b["index"]) for b in batches)
    broken = [i for b in batches for i in b["broken_index"]]
    seconds = sum(float(b["seconds"]) for b in batches)
    found = f"{len(broken)} broken" + (f" (test images {', '.join(map(str, sorted(broken)))})" if broken else "")
    return (f"batch {len(batches)} of {-(-total // BATCH)} kept: {done} of {total} examples audited, {found}, "
            f"{seconds:,.0f} s")


def carry_over(audit: dict[str, Any], meta: dict[str, Any], index: torch.Tensor, robust: torch.Tensor) -> dict[str, Any] | None:
    """The audit of the stored cell that ``meta``'s cell extends (``provenance.extends``,
    bench.extension), re-expressed on the extended cell; None when it audited another cell.

    Why it stays valid: an extended cell's robust examples are a subset of the stored cell's, and
    the audit's sample was drawn uniformly from the stored cell's robust examples by a seed the cell
    never saw, so the sampled examples still robust are a uniform sample of the new robust set. The
    breaks among them keep their verdicts; examples the cell now breaks itself leave the sample."""
    was = audit.get("cell_config_hash")
    if was is None or was != (meta.get("provenance") or {}).get("extends") or not isinstance(audit.get("sampled_index"), list):
        return None
    still = {int(i) for i, r in zip(index.tolist(), robust.bool().tolist()) if r}
    sampled = [i for i in audit["sampled_index"] if i in still]
    broken = [(i, by) for i, by in zip(audit["broken_index"], audit["broken_by"]) if i in still]
    by = [b for _, b in broken]
    n, count = len(robust), len(still)
    origin = {"cell_config_hash": was, "robust": audit.get("robust"), "sample": audit.get("sample"), "broke": audit.get("broke")}
    return {**audit, "cell_config_hash": meta.get("config_hash"), "n": n, "robust": count, "sample": len(sampled),
            "sampled_index": sampled, "broken_index": [i for i, _ in broken], "broken_by": by, "broke": len(broken),
            "broke_by_member": {lab: by.count(lab) for lab in audit.get("broke_by_member") or {}},
            "estimate": estimate(count, n, len(sampled), len(broken)),
            "carried_from": [*(audit.get("carried_from") or []), origin]}


def carry_audit(store: ResultsStore, model: str, attack: str, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> str | None:
    """Rewrite the stored audit of the cell ``meta`` extends onto it (``carry_over``); a line saying
    so, or None when there is no such audit."""
    path = store.audit_json(model, attack)
    audit = _json_or_empty(path)
    if not audit or not {"index", "robust"} <= set(tensors):
        return None
    carried = carry_over(audit, meta, tensors["index"].long(), tensors["robust"])
    if carried is None:
        return None
    atomic_write_json(path, carried)
    return (f"  its audit carried over: {carried['broke']} of {carried['sample']} sampled examples still robust in the "
            f"cell were broken by the audit (was {audit['broke']} of {audit['sample']})")


def _json_or_empty(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; {} when absent or damaged (then recomputed, never trusted)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _summary(cell: Cell, model_id: str, attack: str, picked: torch.Tensor, seed: int, presets: list[str], key: str,
             batches: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    pairs = sorted((i, lab) for b in batches for i, lab in zip(b["broken_index"], b["broken_by"]))
    broken, by = [i for i, _ in pairs], [lab for _, lab in pairs]
    n, robust = len(cell.robust), int(cell.robust.sum())
    return {
        "model": model_id, "attack": attack, "cell_label": cell.meta.get("label") or attack,
        "cell_config_hash": cell.meta.get("config_hash"), "threat": cell.meta["threat"], "audit_key": key,
        "n": n, "robust": robust, "seed": seed, "sample": len(picked), "presets": presets, "members": _members(presets),
        "sampled_index": cell.index[picked].tolist(), "broken_index": broken, "broken_by": by, "broke": len(broken),
        "broke_by_member": {lab: by.count(lab) for lab in labels},
        "time_s_by_member": {lab: round(sum(b["time_s"].get(lab, 0.0) for b in batches), 1) for lab in labels},
        "seconds": round(sum(b["seconds"] for b in batches), 1),
        "estimate": estimate(robust, n, len(picked), len(broken)),
    }


def read_audits(results: Path, model: str) -> dict[str, dict[str, Any]]:
    """attack id -> audit JSON of one model (unreadable files are skipped: an audit is advice)."""
    folder = ResultsStore(results).audits_dir(model)
    found = {path.stem: _json_or_empty(path) for path in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    return {attack: audit for attack, audit in found.items() if audit}


def describe(audit: dict[str, Any]) -> str:
    """One line: what the audit found and what it means for the cell's figure."""
    n = audit["n"]
    est = estimate(audit["robust"], n, audit["sample"], audit["broke"])  # from the counts: one formula for every file
    found = ", ".join(f"{lab} {c}" for lab, c in audit.get("broke_by_member", {}).items() if c) or "none"
    drawn = (f"all {audit['robust']} robust examples" if audit["sample"] == audit["robust"]
             else f"{audit['sample']} sampled robust examples (of {audit['robust']}, seed {audit['seed']})")
    line = f"{audit['broke']} of {drawn} broken by attacks beyond the battery ({found})"
    if audit.get("carried_from"):
        first = audit["carried_from"][0]
        line += f" (carried over from the audit of the cell it extends: {first['broke']} of {first['sample']} there)"
    if est.get("overstated_by") is None:
        return line
    if audit["sample"] == audit["robust"]:  # no sampling error left: the interval is the point
        return (f"{line}; robust accuracy {audit['robust'] / n:.3f} overstated by {est['overstated_by']:.3f} (every "
                f"robust example audited); verified at most {est['verified_at_most']:.3f} (n={n})")
    return (f"{line}; robust accuracy {audit['robust'] / n:.3f} overstated by an estimated {est['overstated_by']:.3f} "
            f"[{est['lo']:.3f}, {est['hi']:.3f}]; verified at most {est['verified_at_most']:.3f} (n={n})")
