"""Fast Minimum-Norm attack, L-inf (Pintor et al. 2021, "Fast minimum-norm adversarial
attacks through adaptive norm constraints", Algorithm 1).

A port to plain torch of the reference implementation in foolbox 3.3.4
(``foolbox.attacks.LInfFMNAttack``, contributed by the FMN authors), with its defaults:
start at delta = 0; per step k of K,

    alpha_k = alpha_min + (alpha_max - alpha_min) * (1 + cos(pi k / K)) / 2     (1 -> 0.01)
    gamma_k = gamma_min + (gamma_max - gamma_min) * (1 + cos(pi k / K)) / 2     (0.05 -> 0.001)
    loss    = z_y - max_{j != y} z_j       (true class masked with -inf)
    g       = grad_delta (-loss)
    epsilon = min(epsilon (1 - gamma_k), ||best delta||)  if x + delta is adversarial
              epsilon (1 + gamma_k)                        elif an adversarial was found
              ||delta||_inf + |loss| / ||g||_1             otherwise (distance to the
                                                             linearized boundary)
    epsilon = min(epsilon, worst-case norm); delta += alpha_k g / ||g||_2
    delta   = clip(delta, -epsilon, epsilon), then x + delta clipped to [0, 1]

keeping the smallest-norm adversarial delta seen. One run gives, per point, the best
norm found; a point is robust at eps when that norm exceeds eps (or no
adversarial was found), so :meth:`FMN.predictions` serves a whole eps list from one run.
Deterministic: no random start, the seed is unused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import progress
from ..errors import UserError
from .base import Attack
from .losses import fp32_objective, wrong_class_max
from .registry import register_attack


@dataclass
class MinimumNormResult:
    """Per point: smallest adversarial L-inf norm found (``found`` False: none found), the
    perturbation reaching it and the model's prediction there."""

    norm: torch.Tensor
    delta: torch.Tensor
    prediction: torch.Tensor
    found: torch.Tensor

    def fooled_at(self, eps: float) -> torch.Tensor:
        return self.found & (self.norm <= eps)


def _cosine(start: float, end: float, k: int, total: int) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * k / total)) / 2


def _batch_view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *[1] * (like.dim() - 1))


@register_attack("fmn")
class FMN(Attack):
    """L-inf FMN. ``steps`` K (paper vir: 100); step size alpha and epsilon-update gamma are
    cosine-annealed (alpha_max -> alpha_min, gamma_max -> gamma_min)."""

    default_name = "FMN"

    def __init__(
        self,
        model,
        eps,
        name: str | None = None,
        seed: int = 0,
        steps: int = 100,
        alpha_max: float = 1.0,
        alpha_min: float = 0.01,
        gamma_max: float = 0.05,
        gamma_min: float = 0.001,
        eps_points: int | None = None,
    ):
        super().__init__(model, eps, name=name or f"FMN-{steps}", seed=seed, eps_points=eps_points)
        if steps < 1:
            raise UserError(f"FMN steps must be >= 1, got {steps}", fix="use steps: 100")
        if not 0 < alpha_min <= alpha_max or not 0 < gamma_min <= gamma_max < 1:
            raise UserError(
                f"FMN needs 0 < alpha_min <= alpha_max and 0 < gamma_min <= gamma_max < 1, got "
                f"alpha {alpha_max}->{alpha_min}, gamma {gamma_max}->{gamma_min}",
                fix="use alpha 1 -> 0.01 and gamma 0.05 -> 0.001 (Pintor et al. 2021)",
            )
        self.steps = int(steps)
        self.alpha_max, self.alpha_min = float(alpha_max), float(alpha_min)
        self.gamma_max, self.gamma_min = float(gamma_max), float(gamma_min)

    # -- the attack -------------------------------------------------------------------
    def minimum_norm(self, x: torch.Tensor, y: torch.Tensor) -> MinimumNormResult:
        """Run FMN once on (x, y)."""
        x = x.detach()
        n = len(x)
        delta = torch.zeros_like(x)
        epsilon = torch.full((n,), math.inf, device=x.device, dtype=x.dtype)
        worst_norm = torch.maximum(x, 1 - x).flatten(1).amax(dim=1)
        best_norm = worst_norm.clone()
        best_delta = torch.zeros_like(x)
        best_pred = y.clone()
        found = torch.zeros(n, dtype=torch.bool, device=x.device)  # any adversarial seen
        for k in range(self.steps):
            progress.within(k / self.steps)  # an ETA within one long batch
            alpha = _cosine(self.alpha_max, self.alpha_min, k, self.steps)
            gamma = _cosine(self.gamma_max, self.gamma_min, k, self.steps)
            logits, loss, grad = self._loss_and_grad(x + delta, y)
            pred = logits.argmax(dim=1)
            adversarial = pred != y
            norm = delta.flatten(1).abs().amax(dim=1)
            improved = adversarial & (norm <= best_norm)
            found |= adversarial
            best_norm = torch.where(improved, norm, best_norm)
            best_delta = torch.where(_batch_view(improved, x), delta, best_delta)
            best_pred = torch.where(improved, pred, best_pred)

            grad_flat = grad.flatten(1)
            to_boundary = loss.abs() / grad_flat.abs().sum(dim=1).clamp_min(1e-12)
            best_delta_norm = best_delta.flatten(1).abs().amax(dim=1)
            epsilon = torch.where(
                adversarial,
                torch.minimum(epsilon * (1 - gamma), best_delta_norm),
                torch.where(found, epsilon * (1 + gamma), norm + to_boundary),
            )
            epsilon = torch.minimum(epsilon, worst_norm)

            step = grad_flat / grad_flat.norm(p=2, dim=1, keepdim=True).clamp_min(1e-12)
            delta = delta + alpha * step.view_as(delta)
            bound = _batch_view(epsilon, x)
            delta = torch.maximum(torch.minimum(delta, bound), -bound)
            delta = (x + delta).clamp(0.0, 1.0) - x
        return MinimumNormResult(norm=best_norm, delta=best_delta, prediction=best_pred, found=found)

    def _loss_and_grad(self, x_adv: torch.Tensor, y: torch.Tensor):
        x_adv = x_adv.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model(x_adv)
            loss = fp32_objective(lambda z, t: z.gather(1, t[:, None]).squeeze(1) - wrong_class_max(z, t), logits, y)
            (grad,) = torch.autograd.grad(-loss.sum(), x_adv)
        return logits.detach(), loss.detach(), grad

    # -- the interface ------------------------------------------------------------------
    def perturb(self, x, y, eps):
        """x + best delta where its norm is within eps, else x (FMN found nothing in the ball)."""
        result = self.minimum_norm(x, y)
        within = _batch_view(result.fooled_at(eps), x)
        return torch.where(within, (x + result.delta).clamp(0.0, 1.0), x).detach()

    def predictions(self, x, y):
        result = self.minimum_norm(x, y)
        return {eps: torch.where(result.fooled_at(eps), result.prediction, y) for eps in self.eps_list}
