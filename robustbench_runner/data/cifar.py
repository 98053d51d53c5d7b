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

from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..reading import BadFile, check_counts, check_labels, check_shape, load_data_pickle
from .base import ArraySplit, DataBundle
from .missing import ensure_files, first_existing

FIX = "replace it with an intact copy of the official file (the CIFAR 'python version' archive), or move it away and set data.download=true"

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST = ["test_batch"]
CIFAR100_DIR = "cifar-100-python"


def read_pickle(path: Path, what: str = "cifar") -> dict:
    """A CIFAR pickle with its keys as str (the files use bytes keys under Python 3), read
    with the data-only unpickler (:func:`reading.load_data_pickle`): a batch that names
    any Python object, or is not a dict with str/bytes keys, is a one-line :class:`BadFile`."""
    d = load_data_pickle(path, expect=dict, what=what, fix=FIX)
    if not all(isinstance(k, (bytes, str)) for k in d):
        raise BadFile(path, "is a dict whose keys are not names", fix=FIX, what=what)
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}


def read_batch(path: Path, label_key: str, num_classes: int, what: str = "cifar") -> tuple[np.ndarray, np.ndarray]:
    """One batch: uint8 ``(N, 3, 32, 32)`` images and int64 labels in ``[0, num_classes)``."""
    d = read_pickle(path, what)
    if "data" not in d or label_key not in d:
        raise BadFile(path, f"has no 'data'/'{label_key}' entries (keys: {sorted(d)[:8]})", fix=FIX, what=what)
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        kind = f"a {data.dtype} array" if isinstance(data, np.ndarray) else f"a {type(data).__name__}"
        raise BadFile(path, f"holds 'data' as {kind}, not a uint8 array", fix=FIX, what=what)
    check_shape(data, (None, 3 * 32 * 32), path, name="'data'", what=what, fix=FIX)
    labels = d[label_key]
    if not isinstance(labels, (list, np.ndarray)) or (isinstance(labels, list) and not all(type(v) is int for v in labels)):
        raise BadFile(path, f"holds '{label_key}' that is not a list of integers", fix=FIX, what=what)
    y = check_labels(np.asarray(labels), num_classes, path, what=what, fix=FIX)
    check_counts(len(data), len(y), path, what=what, fix=FIX)
    return data.reshape(-1, 3, 32, 32), y


def read_batches(paths: list[Path], label_key: str, num_classes: int, what: str = "cifar") -> ArraySplit:
    """Concatenate pickled batches into a uint8 ``(N, 3, 32, 32)`` split."""
    xs, ys = [], []
    for p in paths:
        x, y = read_batch(p, label_key, num_classes, what)
        xs.append(x)
        ys.append(y)
    x = torch.from_numpy(np.ascontiguousarray(np.concatenate(xs)))
    y = torch.from_numpy(np.concatenate(ys))
    return ArraySplit(x, y)


def _names(path: Path | None, key: str, num_classes: int, what: str) -> list[str] | None:
    """Class names from ``batches.meta`` / ``meta`` (optional: absent -> None; present but
    not a dict holding a list of ``num_classes`` names -> :class:`BadFile`)."""
    if path is None or not path.exists():
        return None
    names = read_pickle(path, what).get(key)
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names) or len(names) != num_classes:
        raise BadFile(path, f"holds '{key}' that is not a list of {num_classes} names", fix=FIX, what=what)
    try:
        return [n.decode() if isinstance(n, bytes) else n for n in names]
    except UnicodeDecodeError:
        raise BadFile(path, f"holds '{key}' that are not UTF-8 names", fix=FIX, what=what) from None


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
    train = read_batches([paths[n] for n in CIFAR10_TRAIN], "labels", 10, "cifar10")
    test = read_batches([paths[n] for n in CIFAR10_TEST], "labels", 10, "cifar10")
    return DataBundle(
        name="cifar10",
        train=train,
        test=test,
        num_classes=10,
        in_channels=3,
        image_size=32,
        class_names=_names(base / "batches.meta", "label_names", 10, "cifar10"),
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
    n_classes = 100 if labels == "fine" else 20
    train = read_batches([paths["train"]], key, n_classes, "cifar100")
    test = read_batches([paths["test"]], key, n_classes, "cifar100")
    return DataBundle(
        name="cifar100",
        train=train,
        test=test,
        num_classes=n_classes,
        in_channels=3,
        image_size=32,
        class_names=_names(base / "meta", f"{labels}_label_names", n_classes, "cifar100"),
    )
