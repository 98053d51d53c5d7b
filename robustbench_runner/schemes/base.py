"""The training-scheme interface: one optimization step's loss on a batch.

The trainer (``robustbench_runner/train.py``) owns the loop, the optimizer, AMP and
checkpoints; a scheme only says how a batch becomes a loss: which inputs (clean or adversarial), which base loss (CE, TRADES, MART) and
which per-sample weights (GAIRAT, MAIL, WMMR, margin reweighting, VIR).

The model arrives in train mode. A scheme that generates training attacks switches the
model to the configured BN mode (``attack_bn_mode``: ``eval`` | ``train``) while it does so
and back to train mode before the loss is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import UserError


@dataclass
class StepOutput:
    """What a scheme returns for one batch."""

    loss: torch.Tensor  # scalar to backpropagate
    logits: torch.Tensor  # logits the training accuracy is measured on (adversarial for AT)
    weights: torch.Tensor | None = None  # per-sample weights actually used (weights_log.csv)


class Scheme:
    """Base class: subclasses implement :meth:`step`.

    Args:
        name: short label used in run names and CSV columns.
    """

    default_name = "scheme"

    def __init__(self, name: str | None = None):
        self.name = name or self.default_name

    def bind(self, model: nn.Module) -> None:
        """Called once the model exists (build inner attacks here)."""

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, epoch: int) -> StepOutput:
        raise NotImplementedError(f"{type(self).__name__} must implement step()")


class Standard(Scheme):
    """standard: cross-entropy on clean inputs (no training attack)."""

    default_name = "standard"

    def __init__(self, name: str | None = None, **attack_options):
        if attack_options:
            raise UserError(
                f"scheme standard has no training attack, got {', '.join(sorted(attack_options))}",
                fix="drop train_attack=... and the scheme.attack* overrides, or use an adversarial scheme (e.g. scheme=pgd_at)",
            )
        super().__init__(name=name)

    def step(self, model, x, y, epoch):
        logits = model(x)
        return StepOutput(nn.functional.cross_entropy(logits, y), logits)
