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
from typing import ClassVar

import torch
from torch import nn

from ..errors import UserError
from ..registry import Registry


@dataclass(frozen=True)
class WarmupRule:
    """What a scheme class computes in a shared warm-up (docs/warmup.md): the loss it
    computes while ``epoch <= bound`` (``bound``: a scheme key, e.g. ``burn_in``; None = every
    epoch), the scheme keys that loss reads, and renames onto the family's key names
    (MAIL-TRADES' ``trades_beta`` is TRADES' ``beta``). Two schemes share their first K epochs
    when their rules give the same signature (:func:`robustbench_runner.warmup.scheme_signature`)."""

    loss: str
    keys: tuple[str, ...]
    bound: str | None = None
    rename: tuple[tuple[str, str], ...] = ()


PLAIN_AT = "adversarial CE: mean CE(f(x'), y) (Madry et al. 2018, eq. 2.1)"
TRADES_LOSS = "TRADES: mean CE(f(x), y) + beta * mean KL(p(x) || p(x')) (Zhang et al. 2019, eq. 5)"
AT_KEYS = ("attack", "attack_bn_mode")
TRADES_KEYS = ("attack", "attack_bn_mode", "beta", "forward_order")

#: every Scheme subclass by its import path (``module.Class``, the ``_target_`` that names it);
#: a class registers itself when it is defined, so a user's scheme is found once imported
SCHEMES: Registry[type] = Registry("scheme")


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
    #: what this class computes in a shared warm-up (None: nothing shared, the run's whole
    #: scheme config must match). Subclasses inherit it: a subclass that changes the loss
    #: of the warm-up epochs sets its own (or None).
    warmup_rule: ClassVar[WarmupRule | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        SCHEMES.add(f"{cls.__module__}.{cls.__qualname__}", cls, replace=True)

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
