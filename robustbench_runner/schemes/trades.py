"""TRADES (Zhang et al. 2019, "Theoretically Principled Trade-off between Robustness and
Accuracy", ICML 2019, eq. 5; official code github.com/yaodongyu/TRADES, ``trades.py``).

loss = mean CE(f(x), y) + beta * mean_i KL(p(x_i) || p(x'_i)), x' maximizing the KL from
x + 0.001 N(0, 1) (KL-PGD with ``start: normal`` in ``conf/scheme/trades.yaml``), the
model in eval mode while the attack runs (``model.eval()`` in the official code). The clean
distribution is not detached. Training accuracy is measured on the adversarial logits.

Forward order after the attack (``forward_order``), which only changes the BN running
statistics (in train mode BN normalizes with batch statistics, so the natural logits of two
forwards of x are the same numbers):

- ``nat_adv_nat`` (official ``trades.py``): ``logits = model(x)`` for the CE term, then
  ``model(x_adv)``, then ``model(x)`` again for the KL's natural distribution: three BN
  updates per batch, the last on the clean batch;
- ``nat_adv``: one natural forward serves both terms (the TRADES branches of the official
  MAIL code, ``at_loss.py`` / ``mail_loss.py``, which papers irat and vir build on).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError
from .adversarial import AdversarialScheme
from .base import TRADES_KEYS, TRADES_LOSS, StepOutput, WarmupRule
from .losses import trades_loss

FORWARD_ORDERS = ("nat_adv_nat", "nat_adv")


def check_forward_order(order: str, scheme: str) -> str:
    if order not in FORWARD_ORDERS:
        raise UserError(
            f"scheme {scheme!r}: unknown forward_order {order!r}",
            fix=f"use one of: {', '.join(FORWARD_ORDERS)}",
        )
    return order


def trades_forwards(
    model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, order: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(natural logits for CE, adversarial logits, natural logits for the KL term), computed
    in ``order`` (see the module docstring)."""
    nat_logits = model(x)
    adv_logits = model(x_adv)
    kl_nat_logits = model(x) if order == "nat_adv_nat" else nat_logits
    return nat_logits, adv_logits, kl_nat_logits


class TRADES(AdversarialScheme):
    """Args: ``attack``, ``attack_bn_mode``, ``name`` as in :class:`AdversarialScheme`;
    ``beta``: weight of the KL term (6.0 in the TRADES paper for CIFAR-10; paper vir's
    1/lambda: 6.0 WRN, 4.0 RN-18); ``forward_order``: ``nat_adv_nat`` | ``nat_adv``."""

    warmup_rule = WarmupRule(TRADES_LOSS, TRADES_KEYS)

    default_name = "trades"

    def __init__(
        self,
        attack,
        attack_bn_mode: str = "eval",
        beta: float = 6.0,
        forward_order: str = "nat_adv_nat",
        name: str | None = None,
    ):
        super().__init__(attack, attack_bn_mode=attack_bn_mode, name=name)
        self.beta = float(beta)
        self.forward_order = check_forward_order(forward_order, self.name)

    def step(self, model, x, y, epoch):
        x_adv = self.generate(model, x, y)
        nat_logits, adv_logits, kl_nat_logits = trades_forwards(model, x, x_adv, self.forward_order)
        loss = trades_loss(nat_logits, adv_logits, y, beta=self.beta, kl_nat_logits=kl_nat_logits)
        return StepOutput(loss, adv_logits)
