"""The one interface between models and attacks.

Every zoo model is a :class:`Classifier`. Attacks never ask for a model by name; they ask for a
*surface*: a differentiable map from inputs in [0,1] to per-class scores whose argmax is (or, for
adaptive surfaces, tracks) the model's prediction.

Surfaces:
- ``logprob``: decoder log-probabilities over the classes (what the original ECOC attacks used as
  "logits"); the default, and the verdict surface.
- ``linear``: class scores that are linear in the raw code scores, ``z @ C.T`` with the output
  activation replaced by identity and the decoder floor removed (the adaptive surface of
  Tramer et al. 2020). For models without a code these are the logits.
- ``code``: the raw code scores ``z`` themselves (``num_bits`` columns); not per class.

Beside the surfaces, :meth:`Classifier.penultimate` gives the features the last linear layer(s)
read (what the binarization test of Zimmermann et al. 2022 puts its readout on). The readout
layers are found from the model's own computation graph (:meth:`Classifier.readout_layers`), so
no model has to declare them; a model may override either method.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

SurfaceName = Literal["logprob", "linear", "code"]
CLASS_SURFACES: tuple[str, ...] = ("logprob", "linear")
# autograd nodes that only move or regroup values (no arithmetic): the code scores may reach the
# readout layers' outputs through these, e.g. an ensemble's per-bit heads concatenated.
_REGROUP_NODES = {
    "CatBackward", "StackBackward", "ViewBackward", "UnsafeViewBackward", "ReshapeAliasBackward",
    "SliceBackward", "SelectBackward", "IndexBackward", "CloneBackward", "SqueezeBackward",
    "UnsqueezeBackward", "PermuteBackward", "TransposeBackward", "TBackward", "ToCopyBackward",
}


class Classifier(nn.Module):
    """Base class: subclasses implement :meth:`log_probs`; code models override the rest."""

    num_classes: int = 10
    input_shape: tuple[int, ...] = (1, 28, 28)

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Log class probabilities, shape (N, num_classes). May not sum to 1 (extra code rows)."""
        raise NotImplementedError

    def code_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Raw scores before the output activation; for plain classifiers, the logits."""
        return self.log_probs(x)

    def linear_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores linear in the code scores (adaptive-attack surface)."""
        return self.code_scores(x)

    def code_words(self) -> torch.Tensor | None:
        """The class rows of the model's output code as +-1 targets for the raw code scores
        (num_classes x bits), or None for a model without one: what the code-word attack pushes
        the code scores toward."""
        return None

    def readout_activation(self, z: torch.Tensor) -> torch.Tensor:
        """The output activation between code scores and the final linear readout (identity
        for plain classifiers)."""
        return z

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the final linear readout (code matrix or logits layer) reads."""
        return self.readout_activation(self.code_scores(x))

    def readout_layers(self) -> list[nn.Linear]:
        """The last linear layer(s): the ``nn.Linear`` modules whose outputs *are* the code scores
        (directly, or regrouped by concatenation, reshaping or slicing; in call order).

        Found once per model by tracing one input through :meth:`code_scores` and walking the
        autograd graph back from the code scores; ``[]`` when the code scores are not such a
        regrouping of linear-layer outputs (then :meth:`penultimate` falls back to
        :meth:`features`)."""
        cached = self.__dict__.get("_readout_layers")
        if cached is None:
            cached = _find_readout_layers(self)
            self.__dict__["_readout_layers"] = cached
        return list(cached)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """The features the readout layers read, flattened per example and concatenated in call
        order (shape (N, D)): the penultimate layer of Zimmermann et al. 2022. For a code model
        these are the trunk's last hidden features, before the code layer, the output activation
        and the decoder; for a plain classifier, the input of its logits layer. Differentiable.
        Models with no linear readout (see :meth:`readout_layers`) return :meth:`features`."""
        layers = self.readout_layers()
        if not layers:
            return self.features(x).flatten(1)
        captured: list[torch.Tensor] = []
        handles = [m.register_forward_pre_hook(lambda _m, args: captured.append(args[0].flatten(1))) for m in layers]
        try:
            self.code_scores(x)
        finally:
            for h in handles:
                h.remove()
        return torch.cat(captured, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_probs(x)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Training loss; plain classifiers use cross-entropy on their log-probabilities."""
        return torch.nn.functional.nll_loss(self.log_probs(x), y)

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_probs(x).exp()

    @torch.inference_mode()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Predicted labels, computed in batches on the model's device, returned on CPU."""
        device = next(self.parameters()).device
        out = [self.log_probs(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)

    def surface(self, name: str = "logprob") -> nn.Module:
        """An nn.Module whose forward is the named surface (what ART and foolbox are given)."""
        if name not in ("logprob", "linear", "code"):
            raise ValueError(f"unknown surface {name!r}; expected logprob, linear or code")
        return Surface(self, name)


def _find_readout_layers(model: Classifier) -> list[nn.Linear]:
    """See :meth:`Classifier.readout_layers`: trace one zero input with gradients on."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        return []
    made_by: dict[Any, tuple[int, nn.Linear]] = {}  # autograd node of an output -> (call order, layer)

    def record(module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.grad_fn is not None:
            made_by.setdefault(output.grad_fn, (len(made_by), module))

    handles = [m.register_forward_hook(record) for m in linears]
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.inference_mode(False), torch.enable_grad():
            x = torch.zeros((1, *model.input_shape), device=device, requires_grad=True)
            z = model.code_scores(x)
    finally:
        for h in handles:
            h.remove()
    if z.grad_fn is None:
        return []
    found: dict[int, nn.Linear] = {}
    stack, seen = [z.grad_fn], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in made_by:
            order, layer = made_by[node]
            found[order] = layer
        elif type(node).__name__.rstrip("0123456789") in _REGROUP_NODES:
            stack += [n for n, _ in node.next_functions if n is not None]
        else:  # arithmetic between the last linear layer and the code scores: no plain readout
            return []
    return [found[k] for k in sorted(found)]


class Surface(nn.Module):
    """Wraps a Classifier so that ``forward`` returns one of its surfaces."""

    def __init__(self, model: Classifier, name: str):
        super().__init__()
        self.model = model
        self.name = name
        self.train(model.training)  # libraries check the wrapper's mode, not the model's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.name == "logprob":
            return self.model.log_probs(x)
        if self.name == "linear":
            return self.model.linear_scores(x)
        return self.model.code_scores(x)
