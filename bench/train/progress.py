"""How far a zoo model's training has got: what its checkpoint holds vs. what its recipe plans.

Why: a card may plan more epochs (``training.continue``) than its committed checkpoint has, while a
resumable run is under way; `bench ls models` says so instead of implying the card's recipe
produced the weights it lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.train.trainer import _epochs_done, phases, recipe
from bench.zoo.card import Card


@dataclass(frozen=True)
class Progress:
    checkpoint_epochs: int  # epochs behind the committed checkpoint
    done_epochs: int  # epochs completed so far, including an unfinished continuation
    planned_epochs: int  # every phase of the recipe
    under_way: str = ""  # an unfinished full-batch run: "<run> L-BFGS iteration N"

    def text(self) -> str:
        if self.checkpoint_epochs >= self.planned_epochs:
            return str(self.checkpoint_epochs)
        if self.under_way:
            return f"{self.checkpoint_epochs} (training: {self.under_way})"
        return f"{self.checkpoint_epochs} (training {self.done_epochs}/{self.planned_epochs})"


def progress(card: Card) -> Progress | None:
    """None for cards without a training recipe."""
    r = card.data.get("training")
    if not isinstance(r, dict) or "epochs" not in r:
        return None
    planned = sum(p["epochs"] for p in phases(recipe(card)))
    folder = card.folder / "training"
    state = json.loads((folder / "state.json").read_text()) if (folder / "state.json").is_file() else {}
    done = int(state.get("epochs_done") or _epochs_done(folder))
    trained = int(r.get("epochs_trained") or r["epochs"]) if card.checkpoint_path.is_file() else 0
    if state.get("finished"):
        trained = done
    return Progress(trained, max(done, trained), planned, _full_batch_under_way(card, r, folder) if trained < planned else "")


def _full_batch_under_way(card: Card, r: dict, folder: Path) -> str:
    """``optimizer: lbfgs`` runs one objective to convergence, not epochs: say which run (the
    pre-training or the model's own) is saved unfinished and at which iteration."""
    from bench.train.full_batch import PRETRAIN, saved_run

    names = ([PRETRAIN] if isinstance(r.get("pretrain"), dict) and r["pretrain"].get("optimizer") == "lbfgs" else []) \
        + ([card.id] if r.get("optimizer") == "lbfgs" else [])
    for name in reversed(names):  # the later run first: once it is saved, the pre-training is done
        meta = saved_run(folder, name)
        if meta is not None and not meta.get("converged"):
            return f"{'pre-training' if name == PRETRAIN else 'full-batch'} L-BFGS iteration {meta['iters']}"
    return ""
