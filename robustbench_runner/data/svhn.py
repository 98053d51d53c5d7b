"""SVHN (cropped digits, format 2) from the official MATLAB files.

``<root>/train_32x32.mat`` and ``<root>/test_32x32.mat`` (optionally ``extra_32x32.mat``
added to training with ``use_extra``), as torchvision downloads them. Each holds ``X``
(32, 32, 3, N) uint8 and ``y`` (N, 1) with digits 1..9 and **10 for the digit 0**, mapped
to 0 as torchvision does, so label k means digit k. Images stay uint8 ``(N, 3, 32, 32)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..reading import BadFile, check_counts, check_labels, check_shape, load_mat
from .base import ArraySplit, DataBundle
from .missing import ensure_files, first_existing

FIX = "replace it with an intact copy of the official file (or move it away and set data.download=true)"


def read_svhn_mat(path: Path) -> ArraySplit:
    """One SVHN split through :func:`reading.load_mat` (a file that is not MAT, a missing or
    non-numeric ``X``/``y``, wrong shapes, labels outside 1..10: one line naming the file)."""
    mat = load_mat(path, ["X", "y"], what="svhn", fix=FIX)
    x = mat["X"]
    check_shape(x, (32, 32, 3, None), path, name="X", what="svhn", fix=FIX)
    if x.dtype != np.uint8:
        raise BadFile(path, f"holds X as {x.dtype}, not uint8 pixels", fix=FIX, what="svhn")
    raw = mat["y"]
    if raw.ndim != 2 or raw.shape[1] != 1:
        raise BadFile(path, f"holds y of shape {raw.shape}, expected (N, 1)", fix=FIX, what="svhn")
    y = check_labels(raw.reshape(-1), 11, path, what="svhn", fix=FIX)  # 1..10 as stored
    if (y == 0).any():
        raise BadFile(path, f"holds {int((y == 0).sum())} label(s) 0; SVHN labels are 1..10 (10 = the digit 0)", fix=FIX, what="svhn")
    y[y == 10] = 0  # SVHN stores the digit 0 as label 10
    check_counts(x.shape[3], len(y), path, what="svhn", fix=FIX)
    x = np.ascontiguousarray(np.transpose(x, (3, 2, 0, 1)))  # (H, W, C, N) -> (N, C, H, W)
    return ArraySplit(torch.from_numpy(x), torch.from_numpy(y))


def load_svhn(root: str | Path = "data", download: bool = False, use_extra: bool = False) -> DataBundle:
    """SVHN: 73,257 train / 26,032 test 32x32 RGB digits (+ 531,131 with ``use_extra``)."""
    root = Path(root)
    files = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
    if use_extra:
        files["extra"] = "extra_32x32.mat"

    def fetch():
        import torchvision.datasets as tvd

        for split in files:
            if not (root / files[split]).is_file():
                tvd.SVHN(str(root), split=split, download=True)

    paths = ensure_files(
        "svhn", root, lambda: {k: first_existing([root / f]) for k, f in files.items()},
        [root / f for f in files.values()], download=download, fetch=fetch,
    )  # fmt: skip
    splits = {}
    for key, path in paths.items():
        splits[key] = read_svhn_mat(path)
    train, test = splits["train"], splits["test"]
    if use_extra:
        train = ArraySplit(torch.cat([train.x, splits["extra"].x]), torch.cat([train.y, splits["extra"].y]))
    return DataBundle(
        name="svhn",
        train=train,
        test=test,
        num_classes=10,
        in_channels=3,
        image_size=32,
        class_names=[str(i) for i in range(10)],
    )
