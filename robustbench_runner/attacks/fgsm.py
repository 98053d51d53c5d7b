"""FGSM (Goodfellow et al. 2015): x' = clip_[0,1](x + eps * sign(grad_x CE(f(x), y))).

For an eps sweep the gradient sign does not depend on eps, so one forward/backward pass
serves every eps of the sweep (definitions.md: "An eps sweep may reuse one gradient").
"""

from __future__ import annotations

import torch

from .base import Attack
from .losses import LOSSES
from .registry import register_attack


@register_attack("fgsm")
class FGSM(Attack):
    default_name = "FGSM"

    def __init__(self, model, eps, name=None, seed=0, loss: str = "ce"):
        super().__init__(model, eps, name=name, seed=seed)
        if loss not in LOSSES or loss == "kl":
            raise ValueError(f"FGSM loss must be one of ce, cw, dlr; got {loss!r}")
        self.loss = LOSSES[loss]

    def gradient_sign(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            loss = self.loss(self.model(x), y).sum()
            (grad,) = torch.autograd.grad(loss, x)
        return grad.sign()

    def perturb(self, x, y, eps):
        return (x + eps * self.gradient_sign(x, y)).clamp_(0.0, 1.0).detach()

    @torch.no_grad()
    def predictions(self, x, y):
        sign = self.gradient_sign(x, y)
        return {eps: self._predict((x + eps * sign).clamp_(0.0, 1.0)) for eps in self.eps_list}
