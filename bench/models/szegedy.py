"""The MNIST models of Szegedy et al. 2013, "Intriguing properties of neural networks" (Table 1,
Table 3 and the "Conv" network of section 2), behind the Classifier interface.

Weight decay is the paper's: ``lambda * sum(w^2) / k`` for each layer's connection weights
(biases are not decayed), where ``k`` is the number of units in the layer, taken as the layer's
output units (100 for the first layer of a 100-100-10 network, 10 for a softmax layer, the
number of filters for a convolution). It is added to the mean cross-entropy of the batch, inside
:meth:`loss` (the trainer calls ``model.loss``), so a minibatch step follows the gradient of
mean-CE + decay, the full-batch objective the paper minimised with L-BFGS.

Families (``build(kind=...)``):

- ``mlp``: ``hidden=[]`` is the linear softmax (softmax1-3); ``hidden=[100, 100]`` with sigmoid
  units is N100-100-10 (and M1, M2), ``[200, 200]`` N200-200-10, ``[123, 456]`` M1'.
  ``lambdas`` has one entry per weight layer (hidden layers, then the softmax layer).
- ``ae``: AE400-10, a 400-unit sigmoid sparse autoencoder trained unsupervised first
  (:meth:`SparseAEClassifier.pretrain`, called once by the trainer when the recipe has a
  ``pretrain`` section), then frozen (not fine-tuned, as the paper says), with a softmax layer
  on top trained with ``lambdas=[1e-6]``.
- ``conv``: one convolution layer, max pooling, a fully connected layer, dropout, softmax (the
  paper gives no sizes; see :class:`ConvNet`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.models.base import Classifier

INPUT = 784


def decay_term(weight: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam * sum(w^2) / k`` with k = the layer's output units (rows of a Linear/Conv weight)."""
    return lam * weight.pow(2).sum() / weight.shape[0]


class _Decayed(Classifier):
    """Cross-entropy plus the paper's per-layer weight decay over ``decayed()`` (weight, lambda)."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decayed(self) -> list[tuple[torch.Tensor, float]]:
        raise NotImplementedError

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.logits(x), dim=1)

    def code_scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def weight_decay(self) -> torch.Tensor:
        terms = [decay_term(w, lam) for w, lam in self.decayed() if lam]
        return torch.stack(terms).sum() if terms else torch.zeros(())

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(x), y) + self.weight_decay().to(x.device)


class SigmoidMLP(_Decayed):
    """784 -> hidden (sigmoid) ... -> 10 softmax; no hidden layer = linear softmax classifier."""

    def __init__(self, hidden: list[int], lambdas: list[float], activation: str = "sigmoid"):
        super().__init__()
        sizes = [INPUT, *hidden, self.num_classes]
        if len(lambdas) != len(sizes) - 1:
            raise ValueError(f"lambdas needs one value per weight layer ({len(sizes) - 1}), got {len(lambdas)}")
        if activation not in ("sigmoid", "relu", "tanh"):
            raise ValueError(f"unknown activation {activation!r} (sigmoid, relu, tanh)")
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lambdas = [float(v) for v in lambdas]
        self.act = getattr(torch, activation)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.layers[:-1]:
            h = self.act(layer(h))
        return self.layers[-1](h)

    def decayed(self) -> list[tuple[torch.Tensor, float]]:
        return [(layer.weight, lam) for layer, lam in zip(self.layers, self.lambdas)]


class SparseAEClassifier(_Decayed):
    """AE400-10: sigmoid encoder (pretrained as a sparse autoencoder, then frozen) + softmax.

    The encoder and decoder weights are buffers-in-spirit: their ``requires_grad`` is off except
    inside :meth:`pretrain`, so supervised training (whose optimizer skips parameters without a
    gradient) only moves the softmax layer, also after a resume. Gradients with respect to the
    *input* still flow through the encoder, as attacks need.
    """

    def __init__(self, hidden: int = 400, lambdas: list[float] | None = None):
        super().__init__()
        self.encoder = nn.Linear(INPUT, hidden)
        self.decoder = nn.Linear(hidden, INPUT)
        self.head = nn.Linear(hidden, self.num_classes)
        lambdas = [1e-6] if lambdas is None else lambdas
        if len(lambdas) != 1:
            raise ValueError("AE lambdas: one value, for the softmax layer")
        self.lambdas = [float(lambdas[0])]
        self._freeze(True)

    def _pretrain_lbfgs(self, train_x: torch.Tensor, spec: dict[str, Any], device: torch.device, folder: Any) -> dict[str, Any]:
        """The same objective on the whole training set at once (its sparsity term needs the mean
        activation over all of it), minimised to convergence."""
        from pathlib import Path

        from bench.train.full_batch import PRETRAIN, lbfgs_spec, minimize

        rho, beta, wd = float(spec.get("rho", 0.05)), float(spec.get("beta", 3.0)), float(spec.get("weight_decay", 3e-3))
        opts = lbfgs_spec(spec.get("lbfgs"), "training.pretrain")
        opts["batch"] = len(train_x)
        torch.manual_seed(int(spec.get("seed", 0)))
        self._freeze(False)
        x = train_x.to(device)
        meta = minimize(PRETRAIN, self, [*self.encoder.parameters(), *self.decoder.parameters()],
                        lambda rows: self.pretrain_loss(x[rows], rho, beta, wd)[0], len(x), opts, Path(folder))
        self._freeze(True)
        with torch.no_grad():
            recon = float(self.pretrain_loss(x, rho, beta, wd)[1])
            h = self.features(x)
        return {
            "objective": "UFLDL sparse autoencoder: 0.5*||x_hat-x||^2 + beta*KL(rho||rho_hat) + wd/2*||W||^2, sigmoid decoder",
            "optimizer": "lbfgs (full batch)", "iters": meta["iters"], "converged": meta["converged"], "reason": meta["reason"],
            "rho": rho, "beta": beta, "weight_decay": wd, "final_reconstruction": round(recon, 4),
            "mean_activation": round(float(h.mean()), 4), "curve": meta["curve"][:: max(1, len(meta["curve"]) // 40)],
            "wall_time_s": meta["wall_time_s"],
        }

    def _freeze(self, frozen: bool) -> None:
        for p in [*self.encoder.parameters(), *self.decoder.parameters()]:
            p.requires_grad_(not frozen)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.encoder(x.flatten(1)))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def decayed(self) -> list[tuple[torch.Tensor, float]]:
        return [(self.head.weight, self.lambdas[0])]

    def pretrain_loss(self, x: torch.Tensor, rho: float, beta: float, wd: float) -> tuple[torch.Tensor, torch.Tensor]:
        """UFLDL sparse autoencoder objective on a batch: 0.5*mean ||x_hat - x||^2 (sum over
        pixels) + beta * sum_j KL(rho || rho_hat_j) + wd/2 * (||W_enc||^2 + ||W_dec||^2).
        Returns (loss, reconstruction term)."""
        xf = x.flatten(1)
        h = torch.sigmoid(self.encoder(xf))
        x_hat = torch.sigmoid(self.decoder(h))
        recon = 0.5 * (x_hat - xf).pow(2).sum(1).mean()
        rho_hat = h.mean(0).clamp(1e-6, 1 - 1e-6)
        kl = (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
        reg = 0.5 * wd * (self.encoder.weight.pow(2).sum() + self.decoder.weight.pow(2).sum())
        return recon + beta * kl + reg, recon

    def pretrain(self, train_x: torch.Tensor, spec: dict[str, Any], device: torch.device, folder: Any = None) -> dict[str, Any]:
        """Unsupervised pre-training of the encoder/decoder, seeded by ``spec['seed']``: minibatch
        Adam with a cosine lr (a few minutes, redone if interrupted), or with ``optimizer: lbfgs``
        full-batch L-BFGS to convergence of the objective (resumable in ``folder``). Returns what
        the trainer records."""
        if spec.get("optimizer") == "lbfgs":
            return self._pretrain_lbfgs(train_x, spec, device, folder)
        t0 = time.time()
        epochs, bs = int(spec.get("epochs", 20)), int(spec.get("batch_size", 256))
        lr, seed = float(spec.get("lr", 1e-3)), int(spec.get("seed", 0))
        rho, beta, wd = float(spec.get("rho", 0.05)), float(spec.get("beta", 3.0)), float(spec.get("weight_decay", 3e-3))
        self._freeze(False)
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        opt = torch.optim.Adam(params, lr=lr)
        n = len(train_x)
        steps = math.ceil(n / bs) * epochs
        step, recon_avg = 0, float("nan")
        self.train()
        for epoch in range(epochs):
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
            total, count = 0.0, 0
            for i in range(0, n, bs):
                for g in opt.param_groups:
                    g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
                xb = train_x[perm[i : i + bs]].to(device)
                loss, recon = self.pretrain_loss(xb, rho, beta, wd)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                total += float(recon) * len(xb)
                count += len(xb)
            recon_avg = total / count
            print(f"AE pretrain epoch {epoch + 1}/{epochs}: reconstruction {recon_avg:.3f}", flush=True)
        self._freeze(True)
        with torch.no_grad():
            h = torch.cat([self.features(train_x[i : i + 2000].to(device)).cpu() for i in range(0, n, 2000)])
        return {
            "objective": "UFLDL sparse autoencoder: 0.5*||x_hat-x||^2 + beta*KL(rho||rho_hat) + wd/2*||W||^2, sigmoid decoder",
            "epochs": epochs, "batch_size": bs, "lr": lr, "rho": rho, "beta": beta, "weight_decay": wd, "seed": seed,
            "final_reconstruction": round(recon_avg, 4), "mean_activation": round(float(h.mean()), 4),
            "wall_time_s": round(time.time() - t0, 1),
        }


class ConvNet(_Decayed):
    """"Conv": conv 5x5 (``channels`` filters, ReLU) -> 2x2 max pool -> fully connected
    (``fc`` units, ReLU) -> dropout -> softmax. Sizes are ours (the paper gives none)."""

    def __init__(self, channels: int = 32, fc: int = 128, dropout: float = 0.5, lambdas: list[float] | None = None):
        super().__init__()
        self.conv = nn.Conv2d(1, channels, 5)
        self.fc = nn.Linear(channels * 12 * 12, fc)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(fc, self.num_classes)
        lambdas = [1e-5, 1e-5, 1e-6] if lambdas is None else lambdas
        if len(lambdas) != 3:
            raise ValueError("Conv lambdas: three values (conv, fc, softmax)")
        self.lambdas = [float(v) for v in lambdas]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(F.relu(self.conv(x)), 2)
        h = self.drop(F.relu(self.fc(h.flatten(1))))
        return self.out(h)

    def decayed(self) -> list[tuple[torch.Tensor, float]]:
        return [(self.conv.weight, self.lambdas[0]), (self.fc.weight, self.lambdas[1]), (self.out.weight, self.lambdas[2])]


def build(*, kind: str = "mlp", hidden: list[int] | None = None, lambdas: list[float] | None = None, **opts: Any) -> Classifier:
    """Factory named by the Szegedy cards: ``kind`` mlp | ae | conv (see the module docstring)."""
    if kind == "mlp":
        allowed = {"activation"}
        if set(opts) - allowed:
            raise TypeError(f"unknown mlp option(s): {', '.join(sorted(set(opts) - allowed))}")
        hidden = list(hidden or [])
        return SigmoidMLP(hidden, list(lambdas) if lambdas is not None else [0.0] * (len(hidden) + 1), **opts)
    if kind == "ae":
        if opts:
            raise TypeError(f"unknown ae option(s): {', '.join(sorted(opts))}")
        size = (hidden or [400])
        if len(size) != 1:
            raise ValueError("ae: hidden is one layer, e.g. [400]")
        return SparseAEClassifier(int(size[0]), lambdas)
    if kind == "conv":
        allowed = {"channels", "fc", "dropout"}
        if set(opts) - allowed or hidden is not None:
            raise TypeError(f"unknown conv option(s): {', '.join(sorted(set(opts) - allowed)) or 'hidden'}")
        return ConvNet(lambdas=lambdas, **opts)
    raise ValueError(f"unknown kind {kind!r} (mlp, ae, conv)")
