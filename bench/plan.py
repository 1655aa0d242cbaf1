"""What ``bench run`` would compute now, and why, without computing anything (``bench run --plan``).

Why: a full suite costs core-hours. Before starting one (or after pulling someone's results), a
user wants to know which cells are done, which are half done (finished shards are kept), and
which will be recomputed and for what reason, the way ``make -n`` answers before ``make``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.attacks import get_kind
from bench.attacks.base import PRIOR
from bench.extension import extends
from bench.runner import COMPUTE_S, Runner, shard_bounds

DONE, PARTIAL, STALE, MISSING = "done", "partial", "stale", "missing"


@dataclass(frozen=True)
class CellPlan:
    """One cell's state: ``done``, ``partial`` (finished shards of this configuration are kept),
    ``stale`` (a stored cell of another configuration: ``detail`` says why) or ``missing``."""

    model: str
    attack: str
    state: str
    detail: str = ""
    shards_done: int = 0
    shards: int = 0
    shard_s: float = 0.0  # seconds the finished shards took to compute


def cell_plan(runner: Runner, model_id: str, attack_id: str) -> CellPlan:
    cfg = next(a for a in runner.attacks if a.id == attack_id)
    job = runner.identify(model_id, cfg)
    stored = runner.store.read_cell(model_id, cfg.id)
    if stored is not None and stored.get("config_hash") == job.config_hash:
        return CellPlan(model_id, cfg.id, DONE)
    notes: list[str] = []
    done, total, seconds, timed, kept_stages = 0, 0, 0.0, 0, False
    if job.indices is not None:
        bounds = shard_bounds(len(job.indices), get_kind(cfg.kind).shard_examples)
        total = len(bounds) if len(bounds) > 1 else 0  # a one-shard cell keeps no shard file
        for start, stop in bounds:
            s = runner.store.shard_seconds(model_id, cfg.id, start, stop, job.config_hash, COMPUTE_S) if total else None
            if s is not None:
                done, seconds, timed = done + 1, seconds + s, timed + (s > 0)
                continue
            kept = [n for n in runner.store.shard_stages(model_id, cfg.id, start, stop, job.config_hash).names() if n != PRIOR]
            if kept:  # a killed run was inside this shard: what it finished there (a cascade's members)
                kept_stages = True
                notes.append(f"shard {start}-{stop}: {len(kept)} stage{'s' if len(kept) > 1 else ''} kept")
    if done:
        head = f"{done} of {total} shards done"
        if timed:  # shards written before shards kept their time have none
            head += f" ({seconds / 60:.0f} min; ~{(total - done) * seconds / timed / 60:.0f} min left at that rate)"
        notes.insert(0, head)
    if stored is not None:
        notes.append(runner.stale(stored, job))
        if job.indices is not None and extends(job.kind, stored, cfg.params, runner.hash_with(job)):
            if job.kind.adopted(runner.model(model_id), stored, cfg.params) is not None:
                notes.append("adopted as it is: the attacks it lacks have nothing to attack on this model")
            else:
                notes.append("extended, not recomputed: its attacks run again only on the examples they broke")
    state = PARTIAL if done or kept_stages else STALE if stored is not None else MISSING
    return CellPlan(model_id, cfg.id, state, "; ".join(notes), done, total, seconds)


def plan(runner: Runner) -> list[CellPlan]:
    """Every selected cell of the run, in the order the runner takes them (models outer)."""
    first = [a for a in runner.attacks if not get_kind(a.kind).after_others]
    last = [a for a in runner.attacks if get_kind(a.kind).after_others]
    return [cell_plan(runner, m, cfg.id) for group in (first, last) for m in runner.model_ids for cfg in group]


def plan_text(cells: list[CellPlan], show_done: bool = False, force: bool = False) -> str:
    """A table of the cells left to compute (all with ``show_done``), then a count per state."""
    from tabulate import tabulate

    rows = [(c.model, c.attack, c.state, c.detail) for c in cells if show_done or c.state != DONE]
    counts = {s: sum(c.state == s for c in cells) for s in (DONE, PARTIAL, STALE, MISSING)}
    summary = f"{len(cells)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    todo = len(cells) if force else len(cells) - counts[DONE]
    summary += (f"; `bench run` would compute {todo}" + (" (--force)" if force else "")) if todo else "; nothing to compute"
    table = tabulate(rows, headers=["model", "attack", "state", "detail"]) if rows else ""
    return f"{table}\n\n{summary}" if table else summary
