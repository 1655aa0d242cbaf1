"""The model zoo: one folder per model (code + card + safetensors checkpoint), found by scanning.

>>> from bench import zoo
>>> model = zoo.load("TanhEns16")          # eval mode, sha256-verified weights
"""

from bench.zoo.card import Card, load_card
from bench.zoo.registry import all_cards, get_card, load, model_ids, zoo_paths

__all__ = ["Card", "load_card", "all_cards", "get_card", "load", "model_ids", "zoo_paths"]
