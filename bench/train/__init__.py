"""Resumable training of zoo models from the recipe in their card."""

from bench.train.trainer import train_model

__all__ = ["train_model"]
