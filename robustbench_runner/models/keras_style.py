"""Keras defaults for the two networks paper samplerob (App. C.1) took from the Keras examples.

PyTorch and Keras differ in defaults that change training, not shapes; with
``keras_defaults=True`` the small CNN and ResNet-56 use Keras' instead:

- initializers: ``glorot_uniform`` kernels (the Keras default; ``torch`` xavier_uniform_
  uses the same fan_in/fan_out), zero biases; ``he_normal`` where the example asks for it,
  implemented as tf.keras (>= 2.3) does: normal(0, sqrt(2 / fan_in)) truncated at two standard
  deviations, the standard deviation divided by 0.87962566103423978 to undo the truncation;
- BatchNormalization: Keras momentum 0.99 is PyTorch ``momentum=0.01``; ``eps=1e-3``;
- ``padding='same'`` with stride 2 pads asymmetrically (TF puts the odd pixel after), so a
  strided 3x3 conv on 32x32 pads (0, 1) rows and columns, not (1, 1) as ``padding=1`` does.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

KERAS_BN_MOMENTUM = 0.01  # torch convention: 1 - Keras momentum 0.99
KERAS_BN_EPS = 1e-3
_TRUNC_NORMAL_STD_CORRECTION = 0.87962566103423978  # std of N(0,1) truncated to [-2, 2]


def glorot_uniform_(module: nn.Conv2d | nn.Linear) -> None:
    nn.init.xavier_uniform_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def he_normal_(module: nn.Conv2d | nn.Linear) -> None:
    fan_in = module.weight[0].numel()  # in_channels * kh * kw, or in_features
    std = math.sqrt(2.0 / fan_in) / _TRUNC_NORMAL_STD_CORRECTION
    nn.init.trunc_normal_(module.weight, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def batch_norm(channels: int, keras_defaults: bool) -> nn.BatchNorm2d:
    if keras_defaults:
        return nn.BatchNorm2d(channels, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)
    return nn.BatchNorm2d(channels)


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``padding='same'``: output size ceil(in / stride),
    total padding split with the extra pixel at the bottom/right. Same parameters and
    state-dict keys as ``nn.Conv2d``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        bias: bool = True,
    ):
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for size, k, s in (
            (x.shape[-1], self.kernel_size[1], self.stride[1]),
            (x.shape[-2], self.kernel_size[0], self.stride[0]),
        ):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


def same_conv(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, keras_defaults: bool
) -> nn.Conv2d:
    """A biased conv with Keras ``padding='same'`` geometry (exact TF padding when
    ``keras_defaults``, symmetric ``kernel_size // 2`` padding otherwise)."""
    if keras_defaults:
        return Conv2dSame(in_channels, out_channels, kernel_size, stride=stride)
    return nn.Conv2d(
        in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2
    )
