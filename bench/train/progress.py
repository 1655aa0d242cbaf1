"""How far a zoo model's training has got: what its checkpoint holds vs. what its recipe plans.

Why: a card may plan more epochs (``training.continue``) than its committed checkpoint has, while a
resumable run is under way; `bench ls models` says so instead of implying the card's recipe
produced the weights it lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.train.trainer import _epochs_done, phases, recipe
from bench.zoo.card import Card


@dataclass(frozen=True)
class Progress:
    checkpoint_epochs: int  # epochs behind the committed checkpoint
    done_epochs: int  # epochs completed so far, including an unfinished continuation
    planned_epochs: int  # every phase of the recipe

    def text(self) -> str:
        if self.checkpoint_epochs >= self.planned_epochs:
            return str(self.checkpoint_epochs)
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
    return Progress(trained, max(done, trained), planned)
