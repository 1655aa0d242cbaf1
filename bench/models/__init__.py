"""Model building blocks and the attack-surface interface every zoo model implements."""

from bench.models.base import Classifier, Surface

__all__ = ["Classifier", "Surface"]
