"""Input-shape checks and feature sizes shared by the architecture modules.

Shape convention (every builder gets ``num_classes, in_channels, image_size`` from the dataset):
images are ``(B, in_channels, image_size, image_size)``; tabular data is ``(B, D)`` and is
announced by ``in_channels=D, image_size=0`` (only the MLP models accept it).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError


def require_image_input(model_name: str, in_channels: int, image_size: int) -> None:
    """Raise a :class:`UserError` unless ``(in_channels, image_size)`` describes images."""
    if image_size <= 0:
        raise UserError(
            f"model {model_name!r} needs image input, but the dataset is tabular "
            f"(in_channels={in_channels}, image_size={image_size})",
            fix="use model=mlp or model=fcnet for tabular datasets",
        )
    if in_channels < 1:
        raise UserError(
            f"model {model_name!r} got in_channels={in_channels}",
            fix="in_channels must be a positive number of image channels",
        )


def flat_output_size(module: nn.Module, in_channels: int, image_size: int, model_name: str) -> int:
    """Number of features ``module`` produces per sample, found by a dummy forward pass.

    Runs in eval mode under ``no_grad`` (BatchNorm statistics are not touched, and a zero
    input draws no random numbers), then restores the module's training flag.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros(1, in_channels, image_size, image_size))
    except RuntimeError as err:  # e.g. a pool or kernel larger than the remaining map
        raise UserError(
            f"image_size {image_size} is too small for model {model_name!r} ({err})",
            fix="use a dataset with larger images or another model",
        ) from err
    finally:
        module.train(was_training)
    return int(out[0].numel())
