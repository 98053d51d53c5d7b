"""Train-time augmentation on batched tensors (``data.augment``).

``crop_flip`` is the CIFAR adversarial-training augmentation (Madry et al. 2018; used by the
training recipes of papers irat and vir): zero-pad 4 pixels on each side, take a random crop of
the original size, flip horizontally with probability 1/2 — the same as torchvision's
``RandomCrop(size, padding=4)`` followed by ``RandomHorizontalFlip()``, but for a whole
``(B, C, H, W)`` batch at once, on whatever device the batch is on.

The random offsets and flips are drawn from the generator ``batches`` passes in (the
trainer's per-epoch generator), on the generator's device, then moved to the batch's device:
the same seed gives the same augmentation on CPU and GPU, and the draws depend only on the
batch size, not on where the data live.

``shift_flip`` is the Keras ``cifar10_cnn.py`` example's ``ImageDataGenerator`` (paper
samplerob's small CNN comes from that example, whose default is ``data_augmentation = True``):
a random shift of up to ``shift`` x the width and x the height (``width_shift_range`` /
``height_shift_range`` 0.1, drawn uniformly, not rounded to whole pixels), bilinear
interpolation (Keras ``interpolation_order=1``), the border pixel repeated outside the image
(``fill_mode='nearest'``), and a horizontal flip with probability 1/2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ..errors import UserError
from .loader import Augment

AUGMENTATIONS = ("none", "crop_flip", "shift_flip")


@dataclass(frozen=True)
class CropFlip:
    """Random crop with ``padding`` pixels of ``fill`` on each side + horizontal flip."""

    padding: int = 4
    flip: bool = True
    fill: float = 0.0

    def __post_init__(self):
        if int(self.padding) < 0:
            raise UserError(f"crop_flip padding={self.padding} must be >= 0", fix="use data.augment.padding=4")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.dim() != 4:
            raise UserError(
                f"augment=crop_flip needs image batches (B, C, H, W), got shape {tuple(x.shape)}",
                fix="use data.augment=none for tabular data",
            )
        b, c, h, w = x.shape
        p = int(self.padding)
        gen_device = generator.device if generator is not None else torch.device("cpu")
        offsets = torch.randint(0, 2 * p + 1, (b, 2), generator=generator, device=gen_device).to(x.device)
        if self.flip:
            flips = (torch.rand(b, generator=generator, device=gen_device) < 0.5).to(x.device)
        else:
            flips = torch.zeros(b, dtype=torch.bool, device=x.device)
        # Output pixel (i, j) reads source pixel (dy - p + i, dx - p + j'), j' = W - 1 - j when
        # flipped (crop of the padded image, then flip); sources outside the image are padding.
        # One flat gather per batch instead of padding + two gathers.
        rows = offsets[:, :1] - p + torch.arange(h, device=x.device)  # (B, H)
        cols = torch.arange(w, device=x.device).expand(b, w)
        cols = torch.where(flips[:, None], (w - 1) - cols, cols) + offsets[:, 1:] - p  # (B, W)
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        flat = rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]  # (B, H, W)
        out = x.reshape(b, c, h * w).gather(2, flat.view(b, 1, h * w).expand(b, c, h * w))
        return out.view(b, c, h, w).masked_fill_(~inside[:, None], float(self.fill))


@dataclass(frozen=True)
class ShiftFlip:
    """Keras-style random shift (a fraction ``shift`` of each side, continuous, bilinear,
    nearest fill) + horizontal flip with probability 1/2 (``flip``)."""

    shift: float = 0.1
    flip: bool = True

    def __post_init__(self):
        if not 0.0 <= float(self.shift) < 1.0:
            raise UserError(f"shift_flip shift={self.shift} must be in [0, 1)", fix="use data.augment.shift=0.1 (Keras example)")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.dim() != 4:
            raise UserError(
                f"augment=shift_flip needs image batches (B, C, H, W), got shape {tuple(x.shape)}",
                fix="use data.augment=none for tabular data",
            )
        b, _, h, w = x.shape
        gen_device = generator.device if generator is not None else torch.device("cpu")
        # shifts in pixels, uniform in [-shift * side, shift * side] as Keras draws them
        u = torch.rand(b, 2, generator=generator, device=gen_device).to(device=x.device, dtype=torch.float32)
        dy = (2 * u[:, 0] - 1) * float(self.shift) * h
        dx = (2 * u[:, 1] - 1) * float(self.shift) * w
        if self.flip:
            flips = (torch.rand(b, generator=generator, device=gen_device) < 0.5).to(x.device)
        else:
            flips = torch.zeros(b, dtype=torch.bool, device=x.device)
        # the flipped (or not) image shifted by (dy, dx): output pixel (i, j) reads source
        # (i - dy, j - dx) of the flipped image, i.e. column W - 1 - (j - dx) of the original;
        # in grid_sample's normalised coordinates (align_corners=True) a pixel is 2 / (side - 1)
        sign = torch.where(flips, -1.0, 1.0).to(torch.float32)
        theta = torch.zeros(b, 2, 3, device=x.device, dtype=torch.float32)
        theta[:, 0, 0] = sign
        theta[:, 1, 1] = 1.0
        theta[:, 0, 2] = -sign * dx * 2 / max(w - 1, 1)
        theta[:, 1, 2] = -dy * 2 / max(h - 1, 1)
        grid = torch.nn.functional.affine_grid(theta, [b, 1, h, w], align_corners=True)
        out = torch.nn.functional.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
        return out.to(x.dtype)


def make_augment(spec: str | Mapping | None) -> Augment | None:
    """The augmentation ``data.augment`` names: ``none`` (or null) -> None; ``crop_flip`` ->
    :class:`CropFlip` with padding 4; ``shift_flip`` -> :class:`ShiftFlip` (Keras example); a mapping ``{name: crop_flip, padding: 2, flip: false}``
    sets its options."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        options = dict(spec)
        name = options.pop("name", None)
    else:
        name, options = str(spec), {}
    if name in (None, "none", "None", ""):
        return None
    if name == "crop_flip":
        try:
            return CropFlip(**options)
        except TypeError as e:
            raise UserError(f"data.augment: {e}", fix="crop_flip takes padding, flip and fill") from e
    if name == "shift_flip":
        try:
            return ShiftFlip(**options)
        except TypeError as e:
            raise UserError(f"data.augment: {e}", fix="shift_flip takes shift and flip") from e
    raise UserError(f"data.augment={name!r} is not an augmentation", fix=f"use one of {', '.join(AUGMENTATIONS)}")
