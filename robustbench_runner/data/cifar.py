"""CIFAR-10 and CIFAR-100 from the official "python version" pickled batches.

Layout (as the official archives unpack, and as torchvision downloads them):
``<root>/cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch`` (+ ``batches.meta``)
and ``<root>/cifar-100-python/train, test`` (+ ``meta``). Each pickle holds ``data``
(N x 3072 uint8, channel-major 3 x 32 x 32 rows) and ``labels`` (CIFAR-10) or
``fine_labels`` / ``coarse_labels`` (CIFAR-100). Keys are bytes or str depending on how
the file was written; both are read. Images stay uint8 ``(N, 3, 32, 32)`` (no normalization:
all five papers feed [0, 1] pixels, paper auc explicitly without CIFAR colour normalization).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .base import ArraySplit, DataBundle
from .missing import ensure_files, first_existing, reading

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST = ["test_batch"]
CIFAR100_DIR = "cifar-100-python"


def read_pickle(path: Path) -> dict:
    """A CIFAR pickle with its keys as str (the files use bytes keys under Python 3)."""
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}


def read_batches(paths: list[Path], label_key: str) -> ArraySplit:
    """Concatenate pickled batches into a uint8 ``(N, 3, 32, 32)`` split."""
    xs, ys = [], []
    for p in paths:
        with reading(p.parent.name, p):
            d = read_pickle(p)
            if "data" not in d or label_key not in d:
                raise ValueError(f"no 'data'/'{label_key}' entries (keys: {sorted(d)})")
            data = np.asarray(d["data"], dtype=np.uint8)
            xs.append(data.reshape(-1, 3, 32, 32))
            ys.append(np.asarray(d[label_key], dtype=np.int64))
            if len(xs[-1]) != len(ys[-1]):
                raise ValueError(f"{len(xs[-1])} images but {len(ys[-1])} labels")
    x = torch.from_numpy(np.concatenate(xs))
    y = torch.from_numpy(np.concatenate(ys))
    return ArraySplit(x, y)


def _names(path: Path | None, key: str) -> list[str] | None:
    if path is None or not path.is_file():
        return None
    names = read_pickle(path).get(key)
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names] if names is not None else None


def _fetch(cls_name: str, root: Path):
    def fetch():
        import torchvision.datasets as tvd

        getattr(tvd, cls_name)(str(root), train=True, download=True)

    return fetch


def load_cifar10(root: str | Path = "data", download: bool = False) -> DataBundle:
    """CIFAR-10: 50,000 / 10,000 32x32 RGB images, 10 classes."""
    root = Path(root)
    base = root / CIFAR10_DIR
    names = CIFAR10_TRAIN + CIFAR10_TEST
    paths = ensure_files(
        "cifar10", root, lambda: {n: first_existing([base / n]) for n in names},
        [base / n for n in names], download=download, fetch=_fetch("CIFAR10", root),
    )  # fmt: skip
    train = read_batches([paths[n] for n in CIFAR10_TRAIN], "labels")
    test = read_batches([paths[n] for n in CIFAR10_TEST], "labels")
    return DataBundle(
        name="cifar10",
        train=train,
        test=test,
        num_classes=10,
        in_channels=3,
        image_size=32,
        class_names=_names(base / "batches.meta", "label_names"),
    )


def load_cifar100(root: str | Path = "data", download: bool = False, labels: str = "fine") -> DataBundle:
    """CIFAR-100: 50,000 / 10,000 32x32 RGB images; ``labels='fine'`` (100 classes, the
    papers' setting) or ``'coarse'`` (20 superclasses)."""
    if labels not in ("fine", "coarse"):
        raise UserError(f"cifar100: labels={labels!r} is not a label set", fix="set data.labels=fine (100 classes) or coarse (20)")
    root = Path(root)
    base = root / CIFAR100_DIR
    names = ["train", "test"]
    paths = ensure_files(
        "cifar100", root, lambda: {n: first_existing([base / n]) for n in names},
        [base / n for n in names], download=download, fetch=_fetch("CIFAR100", root),
    )  # fmt: skip
    key = f"{labels}_labels"
    train = read_batches([paths["train"]], key)
    test = read_batches([paths["test"]], key)
    return DataBundle(
        name="cifar100",
        train=train,
        test=test,
        num_classes=100 if labels == "fine" else 20,
        in_channels=3,
        image_size=32,
        class_names=_names(base / "meta", f"{labels}_label_names"),
    )
