"""The models of the blind-spot study: scikit-learn's classifiers at the library's defaults (the
paper: "in a straightforward manner", no tuning), two shallow torch nets, and the zoo's Standard
conv trunk with its Softmax head, trained as ``bench zoo train`` trains it but without augmentation
(augmentation would wipe out most signals, as the paper notes).

Every model takes (N, C, H, W) float32 images in [0,1] as they are (no pre-processing); the flat
models see them flattened. ``params()`` is what the results cell records."""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from bench.registry import Registry


@dataclass
class FitContext:
    """What a fit needs besides the data: where, how seeded, and how it reports."""

    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    state_dir: Path | None = None  # resumable training state (conv net), removed by the runner
    progress: bool = True
    log: Callable[[str], None] = print
    label: str = ""  # the cell, for progress lines
    key: str = ""  # the cell's configuration digest: a training state of another one is not resumed


class Model:
    """One classifier of the study; ``conv`` marks the conv net (the table's first column)."""

    name: str = ""
    title: str = ""
    conv: bool = False
    slow: bool = False  # fits that take minutes on 2 cores get start and end lines

    def __init__(self, config: dict[str, Any]):
        self.config = dict(config)

    def fit(self, x: torch.Tensor, y: torch.Tensor, ctx: FitContext) -> None:
        raise NotImplementedError

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return dict(self.config)


MODELS: Registry[Callable[[dict[str, Any]], Model]] = Registry("model")
TITLES: dict[str, str] = {}


# -- scikit-learn ------------------------------------------------------------------------------
class SklearnModel(Model):
    """A scikit-learn estimator at its defaults; ``random_state`` (where it has one) is the suite
    seed so a rerun gives the same numbers."""

    def __init__(self, config: dict[str, Any], estimator: Callable[..., Any], overrides: dict[str, Any] | None = None):
        super().__init__(config)
        self.estimator = estimator()
        fixed = dict(overrides or {})
        if "random_state" in self.estimator.get_params():
            fixed["random_state"] = int(config.get("seed", 0))
        self.estimator.set_params(**fixed)

    def fit(self, x: torch.Tensor, y: torch.Tensor, ctx: FitContext) -> None:
        self.estimator.fit(x.flatten(1).numpy(), y.numpy())

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        out = [torch.from_numpy(np.asarray(self.estimator.predict(c.flatten(1).numpy()))).long() for c in x.split(5000)]
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)

    def params(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in sorted(self.estimator.get_params().items())}


def _jsonable(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)


def _sklearn(name: str, title: str, estimator: str, slow: bool = False, **overrides: Any) -> None:
    def factory(config: dict[str, Any]) -> Model:
        import importlib

        module, cls = estimator.rsplit(".", 1)
        m = SklearnModel(config, getattr(importlib.import_module(module), cls), overrides)
        m.name, m.title, m.slow = name, title, slow
        return m

    MODELS.register(name, factory)
    TITLES[name] = title


_sklearn("gaussian_nb", "GaussianNB", "sklearn.naive_bayes.GaussianNB")
_sklearn("decision_tree", "Dec. Tree", "sklearn.tree.DecisionTreeClassifier")
_sklearn("extra_trees", "Extra Trees", "sklearn.ensemble.ExtraTreesClassifier", slow=True)
_sklearn("random_forest", "Random Forest", "sklearn.ensemble.RandomForestClassifier", slow=True)
_sklearn("logistic_regression", "Logistic Regr.", "sklearn.linear_model.LogisticRegression", slow=True)
_sklearn("lda", "LDA", "sklearn.discriminant_analysis.LinearDiscriminantAnalysis")
_sklearn("qda", "QDA", "sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis", slow=True)
# sklearn refuses QDA at its default reg_param=0 when a class's covariance is rank-deficient (MNIST's
# always-black border pixels); this variant is the one deliberate change, one round value, untuned.
_sklearn("qda_reg", "QDA (reg 0.01)", "sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis", slow=True, reg_param=0.01)


# -- shallow torch nets ------------------------------------------------------------------------
class _Maxout(nn.Module):
    """Each class score is the max of ``pieces`` linear functions of the pixels."""

    def __init__(self, d: int, k: int, pieces: int):
        super().__init__()
        self.k, self.pieces = k, pieces
        self.linear = nn.Linear(d, k * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(len(x), self.k, self.pieces).max(2).values


class ShallowNet(Model):
    """A one-layer net on the flat pixels: ``perceptron`` (linear, softmax cross-entropy) or
    ``shallow_max`` (maxout). Adam at the zoo's lr and batch size, ``shallow.epochs`` epochs."""

    def __init__(self, config: dict[str, Any], maxout: bool):
        super().__init__(config)
        self.maxout = maxout
        self.net: nn.Module | None = None

    def params(self) -> dict[str, Any]:
        p = {"optimizer": "adam", "lr": float(self.config.get("lr", 1e-3)), "batch_size": int(self.config.get("batch_size", 128)),
             "epochs": int(self.config.get("epochs", 10)), "layer": "maxout" if self.maxout else "linear"}
        if self.maxout:
            p["pieces"] = int(self.config.get("pieces", 4))
        return p

    def fit(self, x: torch.Tensor, y: torch.Tensor, ctx: FitContext) -> None:
        p = self.params()
        torch.manual_seed(ctx.seed)
        d, k = int(x[0].numel()), int(self.config["num_classes"])
        self.net = (_Maxout(d, k, p["pieces"]) if self.maxout else nn.Linear(d, k)).to(ctx.device)
        opt = torch.optim.Adam(self.net.parameters(), lr=p["lr"])
        flat = x.flatten(1)
        for epoch in range(p["epochs"]):
            perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(ctx.seed * 1000 + epoch))
            for i in range(0, len(y), p["batch_size"]):
                idx = perm[i : i + p["batch_size"]]
                loss = nn.functional.cross_entropy(self.net(flat[idx].to(ctx.device)), y[idx].to(ctx.device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    @torch.inference_mode()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        assert self.net is not None, "fit first"
        dev = next(self.net.parameters()).device
        out = [self.net(c.flatten(1).to(dev)).argmax(1).cpu() for c in x.split(5000)]
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def _shallow(name: str, title: str, maxout: bool) -> None:
    def factory(config: dict[str, Any]) -> Model:
        m = ShallowNet(config, maxout)
        m.name, m.title = name, title
        return m

    MODELS.register(name, factory)
    TITLES[name] = title


_shallow("perceptron", "Perceptron", maxout=False)
_shallow("shallow_max", "Shallow Max NN", maxout=True)


# -- the zoo's conv trunk ----------------------------------------------------------------------
class ConvNet(Model):
    """The architecture of zoo card ``conv.card`` (default Softmax: the Standard trunk, softmax
    head), trained with that card's optimizer, lr, schedule and batch size for ``conv.epochs``
    epochs, augmentation off; resumable per epoch from safetensors state in ``ctx.state_dir``."""

    conv = True
    slow = True
    name = "conv"

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.model: Any = None
        self.log: list[dict[str, Any]] = []

    def _card(self) -> Any:
        from bench.zoo.registry import get_card

        return get_card(str(self.config.get("card", "Softmax")))

    def params(self) -> dict[str, Any]:
        from bench.train.trainer import recipe

        r = recipe(self._card())
        return {"card": self._card().id, "architecture": str(self._card().data.get("architecture", "")),
                "optimizer": r["optimizer"], "lr": float(r["lr"]), "schedule": r["schedule"],
                "batch_size": int(r["batch_size"]), "epochs": int(self.config.get("epochs", 2)),
                "augmentation": "none", "epoch_log": self.log}

    def fit(self, x: torch.Tensor, y: torch.Tensor, ctx: FitContext) -> None:
        from bench.train.state import load_state, save_state
        from bench.train.trainer import _lr, recipe

        card = self._card()
        r = recipe(card)
        epochs, bs, n = int(self.config.get("epochs", 2)), int(r["batch_size"]), len(y)
        steps_per_epoch = math.ceil(n / bs)
        total = epochs * steps_per_epoch
        model, opts = self._fresh(card, r, x, ctx)
        meta = (load_state(ctx.state_dir, model, opts) if ctx.state_dir else None) or {}
        if meta and meta.get("cell") != ctx.key:  # another configuration's state was loaded: start afresh
            model, opts = self._fresh(card, r, x, ctx)
        if meta.get("cell") != ctx.key:
            meta = {"step": 0, "wall_time_s": 0.0, "log": []}
        step, self.log = int(meta["step"]), list(meta.get("log", []))
        t0, wall = time.time(), float(meta["wall_time_s"])
        for epoch in range(step // steps_per_epoch, epochs):
            model.train()
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(ctx.seed * 1000 + epoch))
            bar = tqdm(range(step - epoch * steps_per_epoch, steps_per_epoch), desc=f"{ctx.label} conv epoch {epoch + 1}/{epochs}",
                       unit="batch", leave=False, disable=not ctx.progress)
            loss = torch.zeros(())
            for b in bar:
                idx = perm[b * bs : (b + 1) * bs]
                for g in opts["all"].param_groups:
                    g["lr"] = _lr(float(r["lr"]), step, total, str(r["schedule"]))
                loss = model.loss(x[idx].to(ctx.device), y[idx].to(ctx.device))
                opts["all"].zero_grad(set_to_none=True)
                loss.backward()
                opts["all"].step()
                step += 1
            bar.close()
            self.log.append({"epoch": epoch + 1, "loss": round(float(loss.detach()), 4), "wall_time_s": round(wall + time.time() - t0, 1)})
            if ctx.state_dir:
                save_state(ctx.state_dir, model, opts, {"step": step, "wall_time_s": wall + time.time() - t0, "log": self.log, "cell": ctx.key})
        model.eval()
        self.model = model

    def _fresh(self, card: Any, r: dict[str, Any], x: torch.Tensor, ctx: FitContext) -> tuple[nn.Module, dict[str, torch.optim.Optimizer]]:
        """The card's architecture for the data's channels (the ECOC factory's ``in_channels``), seeded,
        and its optimizer."""
        from bench.errors import BenchError
        from bench.train.trainer import _make_optimizer
        from bench.zoo.card import Card
        from bench.zoo.registry import build

        torch.manual_seed(ctx.seed)
        config = {**(card.data.get("config") or {}), "in_channels": int(x.shape[1])}
        model = build(Card(data={**card.data, "config": config}, folder=card.folder))
        try:
            model(x[:2])
        except RuntimeError as exc:
            raise BenchError(f"conv: card {card.id} does not take {tuple(x.shape[1:])} images ({exc})") from None
        model = model.to(ctx.device)
        return model, {"all": _make_optimizer(list(model.parameters()), r)}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        assert self.model is not None, "fit first"
        return self.model.predict(x)

    def trained_wall_time(self) -> float:
        """Training seconds over every resumed part (the epoch log's last entry)."""
        return float(self.log[-1]["wall_time_s"]) if self.log else 0.0


MODELS.register("conv", ConvNet)
TITLES["conv"] = "ConvNet"


def make(name: str, config: dict[str, Any]) -> Model:
    """A fresh, unfitted model by its suite name."""
    return MODELS.get(name)(config)


def clear_state(folder: Path | None) -> None:
    """Drop a finished cell's training state (the cell JSON holds what is kept)."""
    if folder is not None and folder.is_dir():
        shutil.rmtree(folder)
