"""VIR: vulnerability-aware instance reweighting (paper vir: Fakorede, Nirala, Atsague, Tian,
"Vulnerability-Aware Instance Reweighting for Adversarial Training", TMLR 2023, arXiv
2307.07167; robustbench_runner/papers/vir/README.md).

w = S_v * S_d + beta (eq. 7), S_v = alpha * exp(-gamma * p_y(x)) on the natural example
(eq. 5), S_d = KL(p(x) || p(x')) used as a value (eq. 6). ``components: sv | sd`` are the
ablations of tables 6 and 7 (w = S_v or w = S_d alone, see :func:`~.weights.vir_weights`).

- VIR-AT (eq. 8): mean_i(w_i * CE(f(x'_i), y_i)); algorithm 1 starts PGD from
  x + 0.001 N(0, 1) and maximizes CE (``conf/scheme/vir_at.yaml``).
- VIR-TRADES (eq. 10): mean CE(f(x), y) + (1/lambda) * mean_i(w_i * KL_i) (``trades_beta``
  = 1/lambda); KL-PGD from x + 0.001 N(0, 1).

Burn-in: paper vir introduces the weights "on the 76th epoch" (section 5.1), so
``burn_in: 75``; its algorithm 1 comment reads "w <- 1 if epoch <= 76" (``burn_in: 76``,
which is also what the official MAIL code's ``epoch <= 75`` with 0-based epochs does).
"""

from __future__ import annotations

import torch

from ..errors import UserError
from .adversarial import bn_mode
from .base import AT_KEYS, PLAIN_AT, TRADES_KEYS, TRADES_LOSS, WarmupRule
from .reweighted import ReweightedAT, ReweightedTRADES
from .weights import VIR_COMPONENTS, vir_weights


def _check_components(components: str) -> str:
    if components not in VIR_COMPONENTS:
        raise UserError(
            f"unknown VIR components {components!r}", fix=f"use one of: {', '.join(VIR_COMPONENTS)}"
        )
    return components


class VIRAT(ReweightedAT):
    """vir_at. Args: ``alpha`` (7), ``beta`` (0.007), ``gamma`` (10; 3 on TinyImageNet),
    ``components`` (``both`` | ``sv`` | ``sd``); the rest as in
    :class:`~.reweighted.ReweightedScheme`.

    VIR-AT's loss has no natural forward pass; S_v and S_d need p(x), which is computed
    here without gradient and with the model in ``attack_bn_mode`` (the mode the attack saw;
    in eval mode this leaves BN statistics untouched, so with w = 1 VIR-AT is exactly
    pgd_at, step for step). Paper vir does not say in which mode p(x) is computed: this is
    our choice.
    """

    warmup_rule = WarmupRule(PLAIN_AT, AT_KEYS, "burn_in")

    default_name = "vir_at"

    def __init__(
        self,
        attack,
        alpha: float = 7.0,
        beta: float = 0.007,
        gamma: float = 10.0,
        components: str = "both",
        **kwargs,
    ):
        super().__init__(attack, **kwargs)
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.components = _check_components(components)

    def raw_weights(self, *, model, x, y, adv_logits, **_):
        with torch.no_grad(), bn_mode(model, self.attack_bn_mode):
            nat_logits = model(x)
        return vir_weights(
            nat_logits, adv_logits, y, self.alpha, self.beta, self.gamma, components=self.components
        )


class VIRTRADES(ReweightedTRADES):
    """vir_trades. Args: ``trades_beta`` (1/lambda: 5.0), ``alpha`` (8), ``beta`` (1.6),
    ``gamma`` (3), ``components``; the rest as in :class:`~.reweighted.ReweightedScheme`.
    S_v and S_d use the natural logits of the TRADES loss (train mode); ``forward_order``
    as in :class:`~.reweighted.ReweightedTRADES`."""

    warmup_rule = WarmupRule(TRADES_LOSS, TRADES_KEYS, "burn_in", (("trades_beta", "beta"),))

    default_name = "vir_trades"

    def __init__(
        self,
        attack,
        trades_beta: float = 5.0,
        alpha: float = 8.0,
        beta: float = 1.6,
        gamma: float = 3.0,
        components: str = "both",
        **kwargs,
    ):
        super().__init__(attack, beta=trades_beta, **kwargs)
        self.alpha, self.vir_beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.components = _check_components(components)

    def raw_weights(self, *, y, adv_logits, nat_logits, **_):
        return vir_weights(
            nat_logits, adv_logits, y, self.alpha, self.vir_beta, self.gamma, components=self.components
        )
