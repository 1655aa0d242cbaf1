"""Datasets. MNIST is the only one the thesis protocol needs."""

from bench.data.mnist import load_mnist, resolve_data_dir

__all__ = ["load_mnist", "resolve_data_dir"]
