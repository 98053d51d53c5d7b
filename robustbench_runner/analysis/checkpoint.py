"""Per-checkpoint analyses (config group ``analysis``, e.g. ``analysis=[prs,denseness]``):
metrics computed from a checkpoint's weights beside the attack suite, written as rows of
``metrics.csv`` (``attack`` = the analysis name, ``metric`` = what it measured).

An analysis subclasses :class:`CheckpointAnalysis` and implements :meth:`rows`, reading
what it needs from an :class:`AnalysisContext`: the evaluation model (eval mode, weights
of the checkpoint), the dataset, and :meth:`AnalysisContext.features`, which runs the
one-pass feature extraction (``analysis/features.py``) at most once per split and
checkpoint, so every analysis that needs penultimate features shares it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from omegaconf import DictConfig
from torch import nn

from ..data.base import DataBundle
from .features import FeatureExtraction, extract


@dataclass
class AnalysisContext:
    model: nn.Module
    bundle: DataBundle
    device: torch.device
    cfg: DictConfig
    checkpoint: str
    epoch: int | None
    batch_size: int = 500
    _features: dict[str, FeatureExtraction] = field(default_factory=dict)

    def features(self, split: str) -> FeatureExtraction:
        """Penultimate features, packed patterns, predictions and per-layer zero counts of a
        split (``train`` or ``test``; un-augmented, eval mode), computed once."""
        if split not in self._features:
            data = self.bundle.split(split)
            self._features[split] = extract(self.model, data, batch_size=self.batch_size, device=self.device)
        return self._features[split]


class CheckpointAnalysis:
    """Base class. ``name`` labels the rows (the ``attack`` column of metrics.csv)."""

    default_name = "analysis"

    def __init__(self, name: str | None = None):
        self.name = name or self.default_name

    def rows(self, ctx: AnalysisContext) -> list[dict]:
        """Rows with keys ``split``, ``eps`` (NaN when not applicable), ``metric``, ``value``, ``n``."""
        raise NotImplementedError(f"{type(self).__name__} must implement rows()")
