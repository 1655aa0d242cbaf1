"""MNIST (LeCun et al.), the thesis' and Szegedy et al.'s dataset."""

from __future__ import annotations

from bench.data.idx import IdxDataset


class MNIST(IdxDataset):
    name = "mnist"
    title = "MNIST"
    input_shape = (1, 28, 28)
    class_names = tuple(str(d) for d in range(10))
    split_sizes = {"train": 60_000, "test": 10_000}
    env_var = "BENCH_DATA_DIR"  # the variable MNIST has always used
    mirrors = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )
    files = {
        "train-images": ("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb"),
        "train-labels": ("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624"),
        "test-images": ("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea"),
        "test-labels": ("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637"),
    }
    how_to_get = "pass --data-dir DIR or set $BENCH_DATA_DIR=DIR to a folder with the four MNIST .gz files"
