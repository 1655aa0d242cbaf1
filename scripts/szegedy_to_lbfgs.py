"""One-off: switch the Szegedy et al. Table-1 cards from the minibatch-Adam epoch budget to the
paper's recipe (full-batch L-BFGS to convergence of the objective), keeping the previous run's
recipe and test error in the card (training.previous_run), and reset their training folders so
`bench zoo train ID` retrains them. Idempotent: a card already on lbfgs is left alone."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import yaml

ZOO = Path(__file__).resolve().parents[1] / "zoo"
FOLDERS = ["szegedy_softmax1", "szegedy_softmax2", "szegedy_softmax3", "szegedy_n100", "szegedy_n200",
           "szegedy_ae400", "szegedy_m1", "szegedy_m1prime", "szegedy_m2"]
KEEP = ("dataset", "seed", "loss", "train_subset", "pretrain")


def convert(folder: Path) -> bool:
    card = yaml.safe_load((folder / "card.yaml").read_text())
    old = card["training"]
    if old.get("optimizer") == "lbfgs":
        return False
    previous = {k: old[k] for k in ("epochs", "batch_size", "optimizer", "lr", "schedule", "wall_time_s") if k in old}
    previous["test_error"] = round(1 - float(card["measured"]["clean_accuracy"]), 4)
    new = {k: old[k] for k in KEEP if k in old}
    new.update({"epochs": 1, "optimizer": "lbfgs", "noise_std": 0.0, "max_shift_px": 0.0, "max_rot_deg": 0.0,
                "lbfgs": {"max_iters": 4000, "history_size": 10}, "previous_run": previous})
    if "pretrain" in new:
        new["pretrain"] = {**{k: v for k, v in new["pretrain"].items() if k not in ("epochs", "batch_size", "lr", "schedule")},
                           "optimizer": "lbfgs", "lbfgs": {"max_iters": 4000, "history_size": 10}}
    card["training"] = new
    card["checkpoint"] = {"file": card["checkpoint"]["file"]}
    card.pop("measured", None)
    notes = " ".join(str(card.get("notes", "")).split())
    notes = re.sub(r"The paper trained with full-batch L-BFGS until convergence; here .*? numbers\. ?", "", notes)
    notes = re.sub(r"Check \(not used for the checkpoint\):.*?\. ?(?=[A-Z]|$)", "", notes)
    card["notes"] = (notes + " Trained as the paper trained: full-batch L-BFGS on the whole objective until it "
                     "converged (training.lbfgs_result: iterations, stopping rule, curve of objective and test error; "
                     "the test error is recorded, never used to stop). The earlier minibatch-Adam run on an epoch "
                     "budget is in training.previous_run.").strip()
    (folder / "card.yaml").write_text(yaml.safe_dump(card, sort_keys=False, width=110))
    shutil.rmtree(folder / "training", ignore_errors=True)
    (folder / card["checkpoint"]["file"]).unlink(missing_ok=True)
    return True


if __name__ == "__main__":
    for name in sys.argv[1:] or FOLDERS:
        print(name, "converted" if convert(ZOO / name) else "already lbfgs")
