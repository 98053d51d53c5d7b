"""GAIRAT (Zhang et al. 2021, "Geometry-aware Instance-reweighted Adversarial Training", ICLR
2021; the weight as restated in paper vir's eq. 2; official code
github.com/zjfheart/Geometry-aware-Instance-reweighted-Adversarial-Training).

kappa_i = number of the K PGD iterates x_0..x_{K-1} still classified correctly, counted
while the attack runs (the official ``GA_PGD`` increments kappa from the prediction at
each iterate before its gradient step); w = (1 + tanh(lambda + 5 (1 - 2 kappa / K))) / 2,
renormalized to sum to B; loss mean_i(w_i * CE(f(x'_i), y_i)). The official code starts
reweighting at epoch 60 (``(epoch + 1) >= begin_epoch`` with 0-based epochs), i.e.
``burn_in: 59`` here.
"""

from __future__ import annotations

import torch

from ..attacks.base import project_linf
from ..attacks.pgd import PGD
from ..errors import UserError
from .adversarial import bn_mode
from .base import AT_KEYS, PLAIN_AT, WarmupRule
from .reweighted import ReweightedAT
from .weights import gairat_weights


def pgd_with_kappa(attack: PGD, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PGD's last iterate (exactly :meth:`PGD.perturb` with one restart: same start, same
    steps, same random draws) and kappa, the number of iterates x_0..x_{K-1} the model
    classifies correctly. Reuses PGD's start and loss/gradient pieces; the logits of each
    iterate come with its gradient, so kappa costs no extra forward pass."""
    if attack.restarts != 1:
        raise UserError(
            f"GAIRAT counts kappa along one PGD path; the attack has restarts={attack.restarts}",
            fix="set scheme.attack.restarts=1",
        )
    eps = attack.eps
    alpha = attack.alpha(eps)
    x = x.detach()
    clean_logits = attack._clean_logits(x)
    x_adv = attack._start(x, eps, y)
    kappa = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    for _ in range(attack.steps):
        logits, grad = attack._loss_and_grad(x_adv, y, clean_logits)
        kappa += (logits.argmax(dim=1) == y).long()
        x_adv = project_linf(x_adv + alpha * grad.sign(), x, eps)
    return x_adv.detach(), kappa


class GAIRAT(ReweightedAT):
    """gairat. Args: ``lam`` (lambda, -1), the rest as in
    :class:`~.reweighted.ReweightedScheme` (``normalize: sum_to_batch`` in the config, as
    the official code renormalizes). The attack must be :class:`PGD`."""

    warmup_rule = WarmupRule(PLAIN_AT, AT_KEYS, "burn_in")

    default_name = "gairat"

    def __init__(self, attack, lam: float = -1.0, **kwargs):
        super().__init__(attack, **kwargs)
        self.lam = float(lam)

    def bind(self, model):
        super().bind(model)
        if not isinstance(self.attack, PGD):
            raise UserError(
                f"GAIRAT needs a PGD training attack to count kappa, got {type(self.attack).__name__}",
                fix="set scheme.attack._target_=robustbench_runner.attacks.pgd.PGD",
            )

    def adversarial(self, model, x, y):
        attack = self._bound_attack(model)
        with bn_mode(model, self.attack_bn_mode):
            return pgd_with_kappa(attack, x, y)

    def raw_weights(self, *, aux, **_):
        return gairat_weights(aux, K=self.attack.steps, lam=self.lam, normalize=False)
