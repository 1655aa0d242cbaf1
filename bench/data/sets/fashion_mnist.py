"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): MNIST's format and shape, ten kinds of clothing."""

from __future__ import annotations

from bench.data.idx import IdxDataset


class FashionMNIST(IdxDataset):
    name = "fashion_mnist"
    title = "Fashion-MNIST"
    input_shape = (1, 28, 28)
    class_names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    split_sizes = {"train": 60_000, "test": 10_000}
    env_var = "BENCH_FASHION_MNIST_DIR"
    aliases = ("fashion-mnist",)
    system_dirs = ("/usr/share/datasets/fashion-mnist",)  # Debian's dataset-fashion-mnist
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    files = {
        "train-images": ("train-images-idx3-ubyte", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        "train-labels": ("train-labels-idx1-ubyte", "9018921c3c673c538a1fc5bad174d6f9"),
        "test-images": ("t10k-images-idx3-ubyte", "8181f5470baa50b63fa0f6fddb340f0a"),
        "test-labels": ("t10k-labels-idx1-ubyte", "15d484375f8d13e6eb1aabb0c3f46965"),
    }
    how_to_get = ("apt-get install dataset-fashion-mnist (Debian: /usr/share/datasets/fashion-mnist), "
                  "or pass --data-dir DIR / set $BENCH_FASHION_MNIST_DIR=DIR to a folder with its four .gz files")
