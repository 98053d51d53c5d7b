"""scikit-learn's handwritten digits (1,797 8x8 images, 17 grey levels, 10 classes): a real
image dataset that ships with a package, so the default experiment runs offline.

Pixels are scaled to [0, 1] (value / 16) and upsampled bilinearly to ``image_size`` (32 by
default, like paper prs's MNIST 28 -> 32); train/test is a seeded stratified split.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits as _sk_load_digits

from .base import ArraySplit, DataBundle
from .splits import hold_out


def upsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of a float (N, C, H, W) batch to ``size`` x ``size``, clamped to [0, 1]."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)


def load_digits(
    image_size: int = 32,
    channels: int = 1,
    test_size: float = 0.25,
    split_seed: int = 0,
    root: str | None = None,
    download: bool = False,
) -> DataBundle:
    """Load the digits as a :class:`DataBundle` (``root``/``download`` are accepted for a uniform
    dataset interface; the data ship with scikit-learn)."""
    if channels not in (1, 3):
        raise ValueError(f"digits: channels must be 1 or 3, got {channels}")
    bunch = _sk_load_digits()
    x = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
    x = upsample(x, image_size)
    if channels == 3:
        x = x.repeat(1, 3, 1, 1)
    y = torch.from_numpy(bunch.target).long()
    train, test = hold_out(ArraySplit(x.contiguous(), y), test_size, split_seed)
    return DataBundle(
        name="digits",
        train=train,
        test=test,
        num_classes=10,
        in_channels=channels,
        image_size=image_size,
        class_names=[str(i) for i in range(10)],
    )
