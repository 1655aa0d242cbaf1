"""The flag rules: what, beside a model's numbers, says they must not be read as robustness.
Each flag reads "<attack label>: <check>: <evidence>" (the evidence goes to numbered notes)."""

from __future__ import annotations

from typing import Any

from bench.audit import describe

Cells = dict[str, dict[str, Any]]  # attack id -> cell JSON of one model


def model_flags(cells: Cells, checkpoint_sha256: str | None, audits: Cells | None = None) -> tuple[str, ...]:
    """Every flag of one model's cells (and of their audits), in a fixed order, without repeats."""
    return tuple(dict.fromkeys(stale(cells, checkpoint_sha256) + cell_flags(cells) + unbounded_failures(cells)
                               + audit_flags(cells, audits or {})))


def stale(cells: Cells, sha: str | None) -> list[str]:
    """A flag when cells were computed on another checkpoint than the zoo's card names now
    (the model was retrained after the run): their numbers describe weights no longer shipped."""
    old = [c for c in cells.values() if sha and c.get("checkpoint_sha256") not in (None, sha)]
    if not old or not sha:
        return []
    was = sorted({str(c["checkpoint_sha256"])[:8] for c in old})
    return [f"Zoo: stale checkpoint: {len(old)} of {len(cells)} cells computed on checkpoint {', '.join(was)}, "
            f"the zoo's is now {sha[:8]}; bench run recomputes them"]


def cell_flags(cells: Cells) -> list[str]:
    """What the cells raise themselves: ``extra.flags`` / ``extra.masking`` (text or list of text)."""
    flags = []
    for attack, cell in cells.items():
        extra = cell.get("extra") or {}
        for key in ("flags", "masking"):
            value = extra.get(key)
            items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            flags += [f"{cell.get('label') or attack}: {item}" for item in items if isinstance(item, str)]
    return flags


def unbounded_failures(cells: Cells) -> list[str]:
    """A flag per attack with no distortion budget (CW, BSA) that left examples unbroken.

    Why: with no budget an attack can always move an image to one the model assigns another class
    (unless the model never predicts one), so every example it could not break is a failure of the
    attack, typically gradient masking, not robustness (Carlini et al. 2019, "On Evaluating
    Adversarial Robustness": unbounded attacks must reach 100% success). The column stays as
    measured, since it is the protocol's number; the flag says how to read it."""
    flags = []
    for attack, cell in cells.items():
        threat = cell.get("threat") or {}
        count, n = cell.get("count"), cell.get("n")
        if not cell.get("adversarial") or cell.get("metric") != "robust_accuracy" or "eps" not in threat:
            continue
        if threat["eps"] is None and isinstance(count, int) and count > 0:
            flags.append(f"{cell.get('label') or attack}: unbounded attack failed: {count} of {n} examples not broken with "
                         f"no distortion limit, an attack failure (e.g. gradient masking), not robustness (see the "
                         f"adaptive attacks of suites/mnist_adaptive.yaml)")
    return flags


def short_flag(flag: str) -> str:
    """A flag's name without its evidence, so a flagged row stays one line tall: "<attack>:
    <check>: <evidence>" -> "<attack>: <check>"; a flag without evidence is kept whole."""
    head, sep, _ = flag.rpartition(": ")
    return head if sep and ": " in head else flag


def current_audits(cells: Cells, audits: Cells) -> Cells:
    """The audits (``bench audit``) of cells as they are now: an audit of another configuration of
    its cell (since recomputed) says nothing about it."""
    return {a: audit for a, audit in audits.items()
            if a in cells and isinstance(audit.get("broke"), int) and isinstance(audit.get("estimate"), dict)
            and audit.get("cell_config_hash") == cells[a].get("config_hash")}


def audit_flags(cells: Cells, audits: Cells) -> list[str]:
    """A flag per cell whose audit (attacks beyond its battery, on a sample of its robust
    examples) broke an example: its figure is shown to overstate robustness."""
    return [f"{cells[a].get('label') or a}: audit: {describe(audit)}"
            for a, audit in current_audits(cells, audits).items() if audit["broke"] > 0]
