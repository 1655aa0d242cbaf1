"""Zoo discovery and loading. Folders are found by scanning (no central list to edit): every
``<zoo path>/<id>/card.yaml``. Weights are safetensors, sha256-verified at every load."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from safetensors.torch import load_file

from bench.errors import BenchError
from bench.models.base import Classifier
from bench.zoo.card import CARD_FILE, Card, load_card

ENV_VAR = "BENCH_ZOO_PATH"
REPO_ZOO = Path(__file__).resolve().parents[2] / "zoo"


def zoo_paths() -> list[Path]:
    """The repo's zoo/ plus any folders listed in $BENCH_ZOO_PATH (os.pathsep-separated)."""
    extra = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    return [REPO_ZOO, *extra]


def _scan() -> dict[str, Card]:
    cards: dict[str, Card] = {}
    for root in zoo_paths():
        if not root.is_dir():
            continue
        for card_path in sorted(root.glob(f"*/{CARD_FILE}")):
            card = load_card(card_path.parent)
            if card.id in cards:
                raise BenchError(f"{card_path}: model id '{card.id}' already defined in {cards[card.id].path}")
            cards[card.id] = card
    for card in cards.values():
        if card.variant_of is not None and card.variant_of not in cards:
            raise BenchError(f"{card.path}: key 'variant_of': unknown model '{card.variant_of}'")
    return cards


def all_cards() -> dict[str, Card]:
    """Every registered card, by id (rescanned each call: cheap, and never stale)."""
    return _scan()


def model_ids() -> list[str]:
    return sorted(_scan())


def get_card(model_id: str) -> Card:
    cards = _scan()
    if model_id not in cards:
        known = ", ".join(sorted(cards)) or "none"
        raise BenchError(f"unknown model '{model_id}' (registered: {known})")
    return cards[model_id]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_factory(card: Card) -> Callable[..., Classifier]:
    """'module:function' where module is a file in the card's folder or an importable module."""
    module_name, func = str(card.data["factory"]).split(":", 1)
    local = card.folder / (module_name.replace(".", "/") + ".py")
    try:
        if local.is_file():
            unique = f"bench_zoo_{card.id}_{module_name}".replace(".", "_").replace("-", "_")
            spec = importlib.util.spec_from_file_location(unique, local)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        return getattr(module, func)
    except (ImportError, AttributeError) as exc:
        raise BenchError(f"model '{card.id}': factory '{card.data['factory']}' not found ({exc})") from None


def build(card: Card) -> Classifier:
    """The untrained architecture a card describes."""
    factory = resolve_factory(card)
    config: dict[str, Any] = dict(card.data.get("config") or {})
    try:
        model = factory(**config)
    except (TypeError, ValueError) as exc:
        raise BenchError(f"model '{card.id}': factory failed with config {config} ({exc})") from None
    if not isinstance(model, Classifier):
        raise BenchError(f"model '{card.id}': factory must return a bench.models.Classifier")
    from bench.data import get as get_dataset

    model.input_shape = tuple(get_dataset(card.dataset).input_shape)  # attacks and probes draw inputs of this shape
    return model


def checkpoint_check(card: Card) -> tuple[str, str]:
    """(status, the file's sha256 or ""): 'missing' (no file), 'unhashed' (the card records no
    sha256), 'tampered' (the hashes differ) or 'ok'. The one place a checkpoint is checked: loading,
    ``bench ls models`` and ``bench zoo add`` differ only in what they say about it."""
    if not card.checkpoint_path.is_file():
        return "missing", ""
    if not card.sha256:
        return "unhashed", ""
    digest = sha256_file(card.checkpoint_path)
    return ("ok" if digest == card.sha256 else "tampered"), digest


def require_checkpoint(card: Card, says: Mapping[str, Callable[[str], str]]) -> Path:
    """The checkpoint's path when ``checkpoint_check`` finds it ok; else a BenchError with what
    ``says[status](digest)`` words it as (each caller names the problem its own way)."""
    status, digest = checkpoint_check(card)
    if status != "ok":
        raise BenchError(says[status](digest))
    return card.checkpoint_path


def verify_checkpoint(card: Card) -> Path:
    """Check the checkpoint exists and its sha256 matches the card; return its path."""
    path = card.checkpoint_path
    return require_checkpoint(card, {
        "missing": lambda _: f"model '{card.id}': checkpoint {path} is missing (train it: bench zoo train {card.id})",
        "unhashed": lambda _: f"model '{card.id}': card {card.path} has no checkpoint.sha256",
        "tampered": lambda digest: (f"model '{card.id}': checkpoint {path} sha256 {digest[:12]}... does not match the card's "
                                    f"{card.sha256[:12]}...; refusing to load"),
    })


def checkpoint_status(card: Card) -> str:
    """What ``bench ls models`` shows: 'ok' only when the file's sha256 matches the card (a
    checkpoint is ~1 MB, hashing the zoo takes well under a second, so nothing is cached)."""
    return "not trained" if not card.sha256 else checkpoint_check(card)[0]


def load(model_id: str, device: str | torch.device = "cpu") -> Classifier:
    """A ready, eval-mode model with verified weights, on ``device``, gradients off."""
    card = get_card(model_id)
    return load_from_card(card, device)


def load_from_card(card: Card, device: str | torch.device = "cpu") -> Classifier:
    path = verify_checkpoint(card)
    model = build(card)
    state = load_file(str(path))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "state mismatch"
        raise BenchError(f"model '{card.id}': checkpoint does not fit the architecture ({first})") from None
    model.eval().requires_grad_(False)
    return model.to(device)


