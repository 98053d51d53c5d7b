"""SVHN (cropped digits, format 2) from the official MATLAB files.

``<root>/train_32x32.mat`` and ``<root>/test_32x32.mat`` (optionally ``extra_32x32.mat``
added to training with ``use_extra``), as torchvision downloads them. Each holds ``X``
(32, 32, 3, N) uint8 and ``y`` (N, 1) with digits 1..9 and **10 for the digit 0**, mapped
to 0 as torchvision does, so label k means digit k. Images stay uint8 ``(N, 3, 32, 32)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import torch

from .base import ArraySplit, DataBundle
from .missing import ensure_files, first_existing, reading


def read_svhn_mat(path: Path) -> ArraySplit:
    mat = scipy.io.loadmat(str(path))
    x = np.asarray(mat["X"], dtype=np.uint8)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise ValueError(f"X has shape {x.shape}, expected (32, 32, 3, N)")
    y = np.asarray(mat["y"], dtype=np.int64).reshape(-1)
    y[y == 10] = 0  # SVHN stores the digit 0 as label 10
    if y.min(initial=0) < 0 or y.max(initial=0) > 9:
        raise ValueError("labels outside 1..10")
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
        with reading("svhn", path):
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
