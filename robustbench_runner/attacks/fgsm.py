"""FGSM (Goodfellow et al. 2015): x' = clip_[0,1](x + eps * sign(grad_x CE(f(x), y))).

For an eps sweep the gradient sign does not depend on eps, so one forward/backward pass
serves every eps of the sweep. ``points: all`` (paper auc, Kunhardt, Deza & Poggio,
"The effects of image distribution and task on adversarial robustness": the accuracy of
the model on FGSM-perturbed test images at each eps) perturbs every image, also the
clean-misclassified ones, with the gradient of the loss at its true label; see
:mod:`robustbench_runner.evaluate`.
"""

from __future__ import annotations

import torch

from ..errors import UserError
from .base import Attack
from .losses import LOSSES, fp32_objective
from .registry import register_attack

FGSM_LOSSES = ("ce", "cw", "dlr")


@register_attack("fgsm")
class FGSM(Attack):
    """FGSM; ``loss`` ce (the paper's), cw or dlr; ``eps`` a value or a sweep."""

    default_name = "FGSM"

    def __init__(self, model, eps, name=None, seed=0, loss: str = "ce", eps_points=None, points: str = "robust"):
        super().__init__(model, eps, name=name, seed=seed, eps_points=eps_points, points=points)
        if loss not in FGSM_LOSSES:
            raise UserError(f"FGSM loss must be one of {FGSM_LOSSES}, got {loss!r}", fix="use loss: ce")
        self.loss = LOSSES[loss]

    def gradient_sign(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._logits_and_sign(x, y)[1]

    def _logits_and_sign(self, x: torch.Tensor, y: torch.Tensor):
        x = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model(x)
            (grad,) = torch.autograd.grad(fp32_objective(self.loss, logits, y).sum(), x)
        return logits.detach(), grad.sign()

    def perturb(self, x, y, eps):
        return (x + eps * self.gradient_sign(x, y)).clamp_(0.0, 1.0).detach()

    @torch.no_grad()
    def predictions(self, x, y):
        """One gradient for the whole sweep; eps = 0 reuses the clean logits of that pass."""
        logits, sign = self._logits_and_sign(x, y)
        return {
            eps: logits.argmax(dim=1) if eps == 0 else self._predict((x + eps * sign).clamp_(0.0, 1.0))
            for eps in self.eps_list
        }
