"""TRADES (Zhang et al. 2019; definitions.md "trades").

loss = mean CE(f(x), y) + beta * mean_i KL(p(x_i) || p(x'_i)), x' maximizing the KL from
x + 0.001 N(0, 1) (KL-PGD with ``start: normal`` in ``conf/scheme/trades.yaml``), the
model in eval mode while the attack runs (official code). The clean distribution is not
detached. Training accuracy is measured on the adversarial logits.
"""

from __future__ import annotations

from .adversarial import AdversarialScheme
from .base import StepOutput
from .losses import trades_loss


class TRADES(AdversarialScheme):
    """Args: ``attack``, ``attack_bn_mode``, ``name`` as in :class:`AdversarialScheme`;
    ``beta``: weight of the KL term (6.0 in the TRADES paper for CIFAR-10; seed 004's
    1/lambda: 6.0 WRN, 4.0 RN-18)."""

    default_name = "trades"

    def __init__(self, attack, attack_bn_mode: str = "eval", beta: float = 6.0, name: str | None = None):
        super().__init__(attack, attack_bn_mode=attack_bn_mode, name=name)
        self.beta = float(beta)

    def step(self, model, x, y, epoch):
        x_adv = self.generate(model, x, y)
        nat_logits = model(x)  # official order: natural forward first, then adversarial
        adv_logits = model(x_adv)
        return StepOutput(trades_loss(nat_logits, adv_logits, y, beta=self.beta), adv_logits)
