"""Fully connected networks: paper auc's FullyConnectedNet (``fcnet``) and a small ``mlp``.

- ``fcnet`` (paper auc, Sec. 3.1): "1 hidden layer with 7500 hidden units", chosen so that its
  parameter count is of the order of ResNet50's; ReLU *(choice: the paper names no
  activation)*. Flattened 3x32x32 input gives 3072*7500 + 7500 + 7500*10 + 10 = 23,122,510
  parameters (ResNet50: 23,520,842).
- ``mlp``: ReLU hidden layers of ``hidden`` widths (default [64, 64]) for the tabular sets
  (paper samplerob's ONP with 58 features; a 10-feature regression set).

Input convention: images ``(B, C, H, W)`` are flattened (built with ``in_channels=C,
image_size=H``); tabular input ``(B, D)`` is announced by ``in_channels=D, image_size=0``.
``num_classes=1`` gives one output per sample, i.e. a regression head: the model returns
``(B, 1)`` (no squeeze, so that ``classifier(features(x)) == model(x)`` holds); a
regression loss squeezes it or uses ``(B, 1)`` targets.

Normalization: images use the per-channel buffers of :class:`ImageClassifier`; for tabular
input ``mean``/``std`` hold one value per feature and are applied to ``(B, D)`` rows.
Penultimate features: the last hidden ReLU (the flattened input when ``hidden`` is empty).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import UserError
from .base import ImageClassifier
from .registry import register_model


def input_size(model_name: str, in_channels: int, image_size: int) -> int:
    """Flattened input width: ``C*H*W`` for images, ``D`` for tabular (``image_size=0``)."""
    if in_channels < 1 or image_size < 0:
        raise UserError(
            f"model {model_name!r} got in_channels={in_channels}, image_size={image_size}",
            fix="images: in_channels=C, image_size=H; tabular: in_channels=D, image_size=0",
        )
    return in_channels * image_size * image_size if image_size > 0 else in_channels


class MLP(ImageClassifier):
    """flatten -> [Linear -> ReLU] per hidden width -> Linear(num_classes)."""

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        num_classes: int = 10,
        in_channels: int = 3,
        mean=None,
        std=None,
    ):
        super().__init__(in_channels, mean, std)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            if int(h) < 1:
                raise UserError(f"hidden layer width {h} is not positive", fix="use widths >= 1")
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # tabular rows: one mean/std per feature
            return (x - self.mean.view(1, -1)) / self.std.view(1, -1)
        return super().normalize(x)


@register_model("fcnet")
def fcnet(
    num_classes=10, in_channels=3, image_size=32, hidden_units=7500, mean=None, std=None
) -> MLP:
    """Paper auc's FullyConnectedNet: one ReLU hidden layer of ``hidden_units`` (7500)."""
    width = input_size("fcnet", in_channels, image_size)
    return MLP(width, [hidden_units], num_classes, in_channels, mean, std)


@register_model("mlp")
def mlp(num_classes=10, in_channels=3, image_size=32, hidden=(64, 64), mean=None, std=None) -> MLP:
    """Small ReLU MLP for tabular data; ``hidden`` lists the hidden widths."""
    if isinstance(hidden, (int, str)):
        raise UserError(
            f"mlp hidden must be a list of layer widths, got {hidden!r}",
            fix="write e.g. model.hidden=[64,64] (or [] for a linear model)",
        )
    width = input_size("mlp", in_channels, image_size)
    return MLP(width, list(hidden), num_classes, in_channels, mean, std)
