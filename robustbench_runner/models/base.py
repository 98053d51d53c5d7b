"""Base class shared by every network: normalization inside the model, ``features`` and
``classifier`` exposed so that ``classifier(features(x)) == model(x)``.

Inputs are always in [0, 1] pixel space (docs/papers/README.md, "Conventions"). Per-dataset
normalization is a pair of buffers (identity by default, as in the papers) applied first
in ``features``; attacks therefore never need to know about it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ImageClassifier(nn.Module):
    """A classifier ``x -> logits`` split at the penultimate layer.

    Subclasses build ``self.body`` (normalized input -> penultimate activations, i.e. the
    input of the final linear layer, flattened to ``(B, D)``) and ``self.classifier`` (the
    final ``nn.Linear``). ``features(x)`` is what the PRS analysis and denseness use.
    """

    body: nn.Module
    classifier: nn.Linear

    def __init__(
        self,
        in_channels: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ):
        super().__init__()
        mean_t = torch.zeros(in_channels) if mean is None else _channel_vector(mean, in_channels)
        std_t = torch.ones(in_channels) if std is None else _channel_vector(std, in_channels)
        if (std_t <= 0).any():
            raise ValueError(f"normalization std must be positive, got {std_t.tolist()}")
        self.register_buffer("mean", mean_t.view(1, -1, 1, 1))
        self.register_buffer("std", std_t.view(1, -1, 1, 1))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return (x - self.mean) / self.std
        return x  # tabular input: no per-channel normalization

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``(B, D)``: the input of ``self.classifier``."""
        return self.body(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _channel_vector(values: Sequence[float], channels: int) -> torch.Tensor:
    t = torch.as_tensor(list(values), dtype=torch.float32).flatten()
    if t.numel() == 1:
        t = t.expand(channels).clone()
    if t.numel() != channels:
        raise ValueError(f"expected {channels} per-channel values, got {t.numel()}")
    return t
