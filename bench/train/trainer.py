"""Train a zoo model from its card's ``training`` recipe, resumably.

State (weights, optimizer moments, position) is written as safetensors + JSON every epoch and every
few minutes, to ``<model folder>/training/``; a restarted run continues from the last write and
follows the same data order (per-step seeds), so an interrupted run ends where an uninterrupted
one would. When training finishes, the weights go to the card's checkpoint file and the card
records sha256, wall time, machine and measured clean accuracy.
"""

from __future__ import annotations

import json
import math
import platform
import time
from typing import Any

import numpy as np
import torch
import yaml
from safetensors.torch import load_file
from tqdm import tqdm

from bench.data import load
from bench.errors import BenchError
from bench.results import atomic_write_text
from bench.models.codes import hadamard_code
from bench.train.augment import gaussian_noise, random_affine, random_hflip
from bench.train.full_batch import PRETRAIN
from bench.train.state import load_state, save_state, save_tensors
from bench.zoo.card import Card
from bench.zoo.registry import build, sha256_file

DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 128,
    "optimizer": "adam",
    "lr": 1e-3,
    "schedule": "cosine",
    "noise_std": 0.3,
    "max_shift_px": 2.0,
    "max_rot_deg": 10.0,
    "hflip": False,
    "seed": 0,
    "train_subset": None,
}


def recipe(card: Card) -> dict[str, Any]:
    r = dict(DEFAULTS)
    r.update(card.data.get("training") or {})
    return r


def _lr(base: float, step: int, total: int, schedule: str) -> float:
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    if schedule == "constant":
        return base
    raise BenchError(f"unknown lr schedule {schedule!r} (cosine, constant)")


def _param_groups(model: torch.nn.Module, r: dict[str, Any]) -> dict[str, list[torch.nn.Parameter]]:
    """Learnable-code models alternate between the input encoder (phi) and label encoder (theta)."""
    label = getattr(model, "label_encoder", None)
    if isinstance(label, torch.nn.Parameter) and r.get("alternate"):
        return {"phi": [p for n, p in model.named_parameters() if n != "label_encoder"], "theta": [label]}
    return {"all": list(model.parameters())}


def _make_optimizer(params: list[torch.nn.Parameter], r: dict[str, Any]) -> torch.optim.Optimizer:
    if r["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=r["lr"], weight_decay=float(r.get("weight_decay", 0.0)))
    if r["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=r["lr"], momentum=float(r.get("momentum", 0.9)))
    raise BenchError(f"unknown optimizer {r['optimizer']!r} (adam, sgd, lbfgs)")


def _code_regulariser(model: torch.nn.Module, r: dict[str, Any]) -> torch.Tensor | None:
    """Algorithm 2: lambda * mean_i ||L(i) - H(i)|| toward Hadamard class rows."""
    reg = r.get("code_reg")
    if not reg:
        return None
    code = model.code()  # type: ignore[operator]
    target = torch.as_tensor(hadamard_code(int(reg.get("length", code.shape[1])), model.num_classes), dtype=code.dtype)
    return float(reg["lambda"]) * (code[: model.num_classes] - target).norm(dim=1).mean()


@torch.inference_mode()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch: int = 1000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(y), batch):
        pred = model.log_probs(x[i : i + batch].to(device)).argmax(1).cpu()
        correct += int((pred == y[i : i + batch]).sum())
    return correct / max(len(y), 1)


def phases(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The recipe's own epochs/lr/schedule, then each entry of ``continue``.

    Why: a finished model below its target accuracy can be trained further without rewriting
    its recorded recipe. Each phase starts a fresh optimizer and its own lr schedule, so a model
    extended after it finished gets the same updates as one run with all phases from the start."""
    first = {"epochs": int(r["epochs"]), "lr": float(r["lr"]), "schedule": str(r["schedule"])}
    more = []
    for i, p in enumerate(r.get("continue") or []):
        if not isinstance(p, dict) or int(p.get("epochs", 0)) <= 0:
            raise BenchError(f"training.continue[{i}]: expected a mapping with epochs > 0, e.g. {{epochs: 5, lr: 0.0005}}")
        more.append({"epochs": int(p["epochs"]), "lr": float(p.get("lr", r["lr"])), "schedule": str(p.get("schedule", r["schedule"]))})
    return [first, *more]


def _epochs_done(folder: Any) -> int:
    """Epochs logged by earlier runs (a finished state.json of older versions does not say)."""
    log = folder / "log.jsonl"
    if not log.is_file():
        return 0
    return sum(1 for line in log.read_text().splitlines() if line.strip() and "epoch" in json.loads(line))


def train_model(card: Card, device: str = "cpu", data_dir: str | None = None, save_every_s: float = 300.0, max_epochs: int | None = None) -> dict[str, Any]:
    """Train (or resume, or extend by the recipe's ``continue`` phases) the model of ``card``."""
    r = recipe(card)
    plan = phases(r)
    total_epochs = sum(p["epochs"] for p in plan)
    phase_start = [sum(p["epochs"] for p in plan[:i]) for i in range(len(plan))]
    dev = torch.device(device)
    torch.manual_seed(int(r["seed"]))
    model = build(card).to(dev)
    groups = _param_groups(model, r)

    def fresh_optimizers(lr: float) -> dict[str, torch.optim.Optimizer]:
        if r["optimizer"] == "lbfgs":  # the full-batch path keeps its own L-BFGS state (bench/train/full_batch.py)
            return {}
        return {name: _make_optimizer(params, {**r, "lr": lr}) for name, params in groups.items()}

    opts = fresh_optimizers(plan[0]["lr"])
    alt = r.get("alternate") or {}
    k_steps, j_steps = int(alt.get("input_steps", 1)), int(alt.get("label_steps", 1))
    # the label encoder gets j of every k + j steps; at Adam's lr it moves ~lr per step, so on a
    # short budget its code stays near its random init unless its lr is scaled (card notes)
    label_lr_scale = float(alt.get("label_lr_scale", 1.0))
    hinge = dict(r.get("code_hinge") or {})
    if hinge and not hasattr(model, "code_hinge_loss"):
        raise BenchError(f"{card.path}: training.code_hinge: model {card.id} has no code_hinge_loss")
    warmup_steps, hinge_weight = int(hinge.get("warmup_steps", 0)), float(hinge.get("weight", 0.0))

    train = load(card.dataset, "train", data_dir)
    test = load(card.dataset, "test", data_dir)
    x_all, y_all = train.x, train.y
    if r.get("train_subset"):
        idx = _subset_indices(r["train_subset"], len(y_all))
        x_all, y_all = x_all[idx], y_all[idx]
    n = len(y_all)
    bs = int(r["batch_size"])
    steps_per_epoch = math.ceil(n / bs)

    folder = card.folder / "training"
    meta = None
    finished = json.loads((folder / "state.json").read_text()) if (folder / "state.json").is_file() else {}
    if finished.get("finished") and card.checkpoint_path.is_file():
        done = int(finished.get("epochs_done") or _epochs_done(folder))
        if done >= total_epochs:
            return finished
        # extend a finished model: start from its verified checkpoint, at the next phase
        from bench.zoo.registry import verify_checkpoint

        verify_checkpoint(card)
        model.load_state_dict(load_file(str(card.checkpoint_path)))
        meta = {"step": done * steps_per_epoch, "wall_time_s": float(finished.get("wall_time_s", 0.0)), "epochs_done": done}
    meta = meta or load_state(folder, model, opts) or {"step": 0, "wall_time_s": 0.0, "epochs_done": 0}
    if r.get("pretrain") and hasattr(model, "pretrain") and int(meta["step"]) == 0 and not meta.get("pretrained"):
        meta = _pretrain(model, x_all, r, dev, folder, opts, meta)
    if r["optimizer"] == "lbfgs":
        return _train_full_batch(card, model, r, x_all, y_all, test, dev, folder, meta)
    step = int(meta["step"])
    wall = float(meta["wall_time_s"])
    log_path = folder / "log.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    last_save = time.time()
    t0 = time.time()
    epoch = step // steps_per_epoch
    stop_epoch = total_epochs if max_epochs is None else min(total_epochs, epoch + max_epochs)
    while epoch < stop_epoch:
        ph = max(i for i, start in enumerate(phase_start) if start <= epoch)
        phase_steps = plan[ph]["epochs"] * steps_per_epoch
        phase_first_step = phase_start[ph] * steps_per_epoch
        if ph > 0 and step == phase_first_step:
            opts = fresh_optimizers(plan[ph]["lr"])
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(r["seed"]) * 1000 + epoch))
        first = step - epoch * steps_per_epoch
        bar = tqdm(range(first, steps_per_epoch), desc=f"{card.id} epoch {epoch + 1}/{total_epochs}", unit="batch", leave=False)
        model.train()
        running = 0.0
        for b in bar:
            gen = torch.Generator().manual_seed(int(r["seed"]) * 10_000_019 + step)
            idx = perm[b * bs : (b + 1) * bs]
            x = random_affine(x_all[idx], float(r["max_shift_px"]), float(r["max_rot_deg"]), gen)
            if r["hflip"]:
                x = random_hflip(x, gen)
            x = gaussian_noise(x, float(r["noise_std"]), gen).to(dev)
            y = y_all[idx].to(dev)
            if r.get("adversarial"):
                x = _adversarial_batch(model, x, y, r, card, epoch + b / steps_per_epoch, step)
            warming = step < warmup_steps
            if len(opts) == 2:
                name = "phi" if warming or step % (k_steps + j_steps) < k_steps else "theta"
            else:
                name = "all"
            opt = opts[name]
            for g in opt.param_groups:
                g["lr"] = _lr(plan[ph]["lr"], step - phase_first_step, phase_steps, plan[ph]["schedule"])
                if name == "theta":
                    g["lr"] *= label_lr_scale
            if warming:
                loss = model.code_hinge_loss(x, y)
            else:
                loss = model.loss(x, y)
                if hinge_weight and name != "theta":
                    loss = loss + hinge_weight * model.code_hinge_loss(x, y)
            if name == "theta":
                reg = _code_regulariser(model, r)
                if reg is not None:
                    loss = loss + reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            running = 0.98 * running + 0.02 * float(loss) if b > first else float(loss)
            bar.set_postfix(loss=f"{running:.4f}")
            if time.time() - last_save > save_every_s and step % steps_per_epoch:
                save_state(folder, model, opts, {"step": step, "wall_time_s": wall + time.time() - t0, "epochs_done": epoch})
                last_save = time.time()
        bar.close()
        epoch += 1
        acc = evaluate(model, test.x, test.y, dev)
        elapsed = wall + time.time() - t0
        entry = {"epoch": epoch, "step": step, "test_accuracy": acc, "loss": running, "wall_time_s": round(elapsed, 1)}
        with open(log_path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")
        tqdm.write(f"{card.id}: epoch {epoch}/{total_epochs} loss {running:.4f} test acc {acc:.4f} ({elapsed / 60:.1f} min)")
        save_state(folder, model, opts, {"step": step, "wall_time_s": elapsed, "epochs_done": epoch})
        last_save = time.time()

    elapsed = wall + time.time() - t0
    if epoch < total_epochs:
        return {"step": step, "wall_time_s": elapsed, "epochs_done": epoch, "finished": False}
    return _finish(card, model, r, elapsed, test, dev, epoch)


ADVERSARIAL_KEYS = ("eps", "steps", "step_size", "random_start", "warmup_epochs")  # what a card's recipe may set
# Training's own PGD budget where the card sets none (7 steps, not evaluation's 100); every other
# parameter is pgd_linf's default (its Param spec), and early stopping is off: each example gets every step.
TRAINING_PGD = {"steps": 7, "step_size": 0.1, "early_stop": False}


def _adversarial_batch(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, r: dict[str, Any], card: Card, epoch: float, step: int) -> torch.Tensor:
    """Madry et al. (2018) adversarial training: the batch is replaced by native L-inf PGD examples,
    crafted in eval mode against the current weights. Over the first ``warmup_epochs`` the budget
    (and step size) ramps linearly from 0, which keeps small models from collapsing early. The random
    start is seeded per step, so a resumed run crafts the same examples."""
    from bench.attacks import get_kind
    from bench.attacks.backends.native import pgd_batch

    spec = r["adversarial"]
    unknown = sorted(set(spec) - set(ADVERSARIAL_KEYS)) if isinstance(spec, dict) else ["(not a mapping)"]
    if unknown:
        raise BenchError(f"{card.path}: training.adversarial: unknown key(s) {', '.join(unknown)} (known: {', '.join(ADVERSARIAL_KEYS)})")
    kind = get_kind("pgd_linf")
    given = {k: v for k, v in spec.items() if k != "warmup_epochs"}
    problems = kind.validate(given, f"{card.path}: training.adversarial")
    if problems:
        raise BenchError(problems[0])
    a = kind.resolve({**TRAINING_PGD, **given})
    warm = float(spec.get("warmup_epochs", 0))
    scale = min(1.0, epoch / warm) if warm > 0 else 1.0
    if scale <= 0:
        return x
    torch.manual_seed(int(r["seed"]) * 10_000_019 + step)
    model.eval()
    x_adv = pgd_batch(model, x, y, norm="linf", **{**a, "eps": float(a["eps"]) * scale, "step_size": float(a["step_size"]) * scale})
    model.train()
    return x_adv


def _pretrain(model: Any, x: torch.Tensor, r: dict[str, Any], dev: torch.device, folder: Any, opts: dict[str, torch.optim.Optimizer], meta: dict[str, Any]) -> dict[str, Any]:
    """Unsupervised pre-training (recipe ``pretrain: {...}``, model method ``pretrain(train_x, spec,
    device)`` returning a record), once, before supervised step 0. The result is saved as training
    state right away, so a resumed run never redoes it (an interrupted pre-training restarts)."""
    record = dict(model.pretrain(x, dict(r["pretrain"]), dev, folder=folder) or {})
    meta = {**meta, "pretrained": record, "wall_time_s": float(meta["wall_time_s"]) + float(record.get("wall_time_s", 0.0))}
    save_state(folder, model, opts, meta)
    with open(folder / "log.jsonl", "a") as fh:
        fh.write(json.dumps({"pretrain": record}) + "\n")
    return meta


def _subset_indices(spec: dict[str, Any], n: int) -> torch.Tensor:
    """A fixed, recorded split of the training set: {'split_seed': s, 'part': 0|1, 'parts': 2}."""
    parts = int(spec.get("parts", 2))
    perm = np.random.RandomState(int(spec["split_seed"])).permutation(n)
    return torch.from_numpy(np.sort(np.array_split(perm, parts)[int(spec["part"])]))


def _train_full_batch(card: Card, model: torch.nn.Module, r: dict[str, Any], x: torch.Tensor, y: torch.Tensor, test: Any,
                      dev: torch.device, folder: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """``optimizer: lbfgs``: the mean objective over the whole training set, minimised by L-BFGS to
    convergence (Szegedy et al.'s recipe); no augmentation (it would change the objective per call)."""
    from bench.train.full_batch import lbfgs_spec, minimize

    if float(r["noise_std"]) or float(r["max_shift_px"]) or float(r["max_rot_deg"]) or r["hflip"] or r.get("adversarial"):
        raise BenchError(f"{card.path}: training: optimizer lbfgs minimises a fixed objective; set noise_std, max_shift_px, "
                         f"max_rot_deg to 0 and drop hflip/adversarial")
    spec = lbfgs_spec(r.get("lbfgs"), f"{card.path}: training")
    xd, yd, n = x.to(dev), y.to(dev), len(y)
    test_err = lambda: {"test_error": round(1.0 - evaluate(model, test.x, test.y, dev), 4)}  # noqa: E731 (recorded, never used to stop)
    out = minimize(card.id, model, [p for p in model.parameters() if p.requires_grad], lambda rows: model.loss(xd[rows], yd[rows]) * ((rows.stop - rows.start) / n),
                   n, spec, folder, report=test_err)
    record = {"optimizer": "lbfgs (full batch, strong Wolfe line search)", "iters": out["iters"], "converged": out["converged"],
              "stopped_by": out["reason"], "final_objective": out["curve"][-1]["objective"] if out["curve"] else None,
              "curve": out["curve"][:: max(1, len(out["curve"]) // 40)] + out["curve"][-1:]}
    return _finish(card, model, r, float(meta["wall_time_s"]) + out["wall_time_s"], test, dev, int(r["epochs"]), {"lbfgs_result": record})


def _finish(card: Card, model: torch.nn.Module, r: dict[str, Any], elapsed: float, test: Any, dev: torch.device, epochs: int,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    model.eval()
    ckpt = card.checkpoint_path
    save_tensors(ckpt, {k: v for k, v in model.state_dict().items()})
    acc = evaluate(model, test.x, test.y, dev)
    data = dict(card.data)
    training = dict(data.get("training") or {})
    training.update({
        "epochs_trained": epochs,  # every phase, the first and each of ``continue``
        "wall_time_s": round(elapsed, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, {platform.processor() or 'cpu'}",
        "device": str(dev),
        "torch": str(torch.__version__),
        **(extra or {}),
    })
    data["training"] = training
    data["parameters"] = sum(p.numel() for p in model.parameters())
    data["checkpoint"] = {"file": ckpt.name, "sha256": sha256_file(ckpt)}
    measured = dict(data.get("measured") or {})
    measured.update({"clean_accuracy": round(acc, 4), "n": len(test.y), "split": f"{card.dataset} test"})
    data["measured"] = measured
    atomic_write_text(card.path, yaml.safe_dump(data, sort_keys=False, width=100))  # a killed run leaves the old card
    for name in ("state.safetensors", f"{card.id}.safetensors", f"{PRETRAIN}.safetensors"):  # resume state, not results
        if (card.folder / "training" / name).exists():
            (card.folder / "training" / name).unlink()
    meta = {"finished": True, "wall_time_s": elapsed, "clean_accuracy": acc, "epochs_done": epochs}
    (card.folder / "training" / "state.json").write_text(json.dumps(meta, indent=1))
    return meta
