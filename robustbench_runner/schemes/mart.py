"""MART (Wang et al. 2020, "Improving Adversarial Robustness Requires Revisiting
Misclassified Examples", ICLR 2020; official code github.com/YisenWang/MART), as in the
official code.

loss = mean_i BCE(p(x'_i), y_i) + beta * mean_i KL(p(x_i) || p(x'_i)) * (1 - p_y(x_i)),
BCE = CE(z', y) - log(1.0001 - max_{k != y} p'_k) (the boosted CE), the (1 - p_y) factor
not detached; x' by CE-PGD from x + 0.001 N(0, 1) with the model in eval mode
(``conf/scheme/mart.yaml``). See :func:`~.losses.mart_terms` for the code's constants.
"""

from __future__ import annotations

from .adversarial import AdversarialScheme
from .base import StepOutput
from .losses import mart_loss


class MART(AdversarialScheme):
    """Args: ``attack``, ``attack_bn_mode``, ``name`` as in :class:`AdversarialScheme`;
    ``beta``: weight of the misclassification-aware KL term (6.0 in the MART code's
    default, 5.0 in paper vir's experiments, section 5.3)."""

    default_name = "mart"

    def __init__(self, attack, attack_bn_mode: str = "eval", beta: float = 5.0, name: str | None = None):
        super().__init__(attack, attack_bn_mode=attack_bn_mode, name=name)
        self.beta = float(beta)

    def step(self, model, x, y, epoch):
        x_adv = self.generate(model, x, y)
        nat_logits = model(x)  # official order: natural forward first, then adversarial
        adv_logits = model(x_adv)
        return StepOutput(mart_loss(nat_logits, adv_logits, y, beta=self.beta), adv_logits)
