"""FAB / FAB-T (Croce & Hein 2020, "Minimally distorted adversarial examples with a fast
adaptive boundary attack"), L-inf, from the official code (``pyautoattack.fab_pt``).

FAB is a minimum-norm attack; the library keeps an adversarial point only when its norm
is within ``eps``, so outputs stay in the eps ball. The network is given as is (FAB is
white-box: it needs the gradients of the logit differences; it sees logits, never
probabilities). Defaults are AutoAttack "standard"'s FAB-T: targeted, 1 restart, 100
iterations, the 9 most likely wrong classes, alpha_max 0.1, eta 1.05, beta 0.9.

Randomness: with one restart FAB draws nothing. Its later restarts start from a random
point drawn inline in the library's ``attack_single_run`` (no hook to draw it per point), from
the global RNG the library reseeds with ``seed`` per call: with ``n_restarts`` > 1 a point's
result depends on the batch it is in (:mod:`.library_rng`).
"""

from __future__ import annotations

from pyautoattack.fab_pt import FABAttack_PT

from ..errors import UserError
from .base import Attack
from .official import library_call, num_classes, target_count
from .registry import register_attack


@register_attack("fab")
class FAB(Attack):
    """FAB (``targeted: false``) or FAB-T (``targeted: true``, the default)."""

    default_name = "FAB-T"

    def __init__(
        self,
        model,
        eps,
        name: str | None = None,
        seed: int = 0,
        targeted: bool = True,
        n_restarts: int = 1,
        n_iter: int = 100,
        n_target_classes: int = 9,
        alpha_max: float = 0.1,
        eta: float = 1.05,
        beta: float = 0.9,
        verbose: bool = False,
    ):
        super().__init__(model, eps, name=name or ("FAB-T" if targeted else "FAB"), seed=seed)
        if n_restarts < 1 or n_iter < 1:
            raise UserError(
                f"{self.name}: n_restarts and n_iter must be >= 1, got {n_restarts}, {n_iter}",
                fix="use n_restarts: 1, n_iter: 100 (AutoAttack standard)",
            )
        self.targeted = bool(targeted)
        self.n_restarts = int(n_restarts)
        self.n_iter = int(n_iter)
        self.n_target_classes = int(n_target_classes)
        self.alpha_max = float(alpha_max)
        self.eta = float(eta)
        self.beta = float(beta)
        self.verbose = bool(verbose)

    def perturb(self, x, y, eps):
        if eps == 0:
            return x.detach().clone()
        targets = target_count(self.n_target_classes, num_classes(self.model, x), self.name)
        attack = FABAttack_PT(
            self.model, norm="Linf", n_restarts=self.n_restarts, n_iter=self.n_iter, eps=eps,
            alpha_max=self.alpha_max, eta=self.eta, beta=self.beta, verbose=self.verbose,
            seed=self.seed, targeted=self.targeted, device=x.device, n_target_classes=targets,
        )
        with library_call(self.verbose):
            return attack.perturb(x.detach(), y).detach()
