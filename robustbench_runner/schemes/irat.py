"""Margin- and entropy-reweighted adversarial training compared in paper irat ("Revisiting
Instance-Reweighted Adversarial Training", ICLR 2023 submission; robustbench_runner/papers/irat/README.md):
MAIL (-AT and -TRADES), WMMR, EWAT, and paper irat's margin reweighting ("Ours") on top of
MAIL and WMMR. Formulas: ``weights.py``; policy (burn-in, M, normalize, detach):
``reweighted.py``.

The weight formulas are called with M = 1 here; the scheme's ``multiplier`` applies M
once, in :func:`~.weights.postprocess_weights`.
"""

from __future__ import annotations

from .base import AT_KEYS, PLAIN_AT, TRADES_KEYS, TRADES_LOSS, WarmupRule
from .reweighted import ReweightedAT, ReweightedTRADES
from .weights import ewat_weights, mail_weights, mr_mail_weights, mr_wmmr_weights, wmmr_weights


class MAILAT(ReweightedAT):
    """mail (MAIL-AT, Wang et al. 2021, "Probabilistic Margins for Instance Reweighting in
    Adversarial Training", NeurIPS 2021, arXiv 2106.07904): mean_i(w_i * CE(f(x'_i), y_i)),
    w = M * sigmoid(-gamma * (m + beta)) on the adversarial outputs (paper irat eq. 16 with m).

    Args: ``beta`` (0.5), ``gamma`` (10) of the weight function; the rest as in
    :class:`~.reweighted.ReweightedScheme`.
    """

    warmup_rule = WarmupRule(PLAIN_AT, AT_KEYS, "burn_in")

    default_name = "mail"

    def __init__(self, attack, beta: float = 0.5, gamma: float = 10.0, **kwargs):
        super().__init__(attack, **kwargs)
        self.beta, self.gamma = float(beta), float(gamma)

    def raw_weights(self, *, adv_logits, y, **_):
        return mail_weights(adv_logits, y, beta=self.beta, gamma=self.gamma, M=1.0)


class MAILTRADES(ReweightedTRADES):
    """mail_trades (MAIL-TRADES, official MAIL ``mail_loss`` method ``trades``):
    mean CE(f(x), y) + trades_beta * mean_i(w_i * KL_i), w the MAIL weight of x'.

    Args: ``trades_beta`` (the TRADES trade-off; 5.0 = ``--beta`` of the official
    ``train.py``), ``beta``/``gamma`` of the MAIL weight (0 and 2: the official README runs
    ``--method mail_trades --bias 0 --slope 2``, and the code's weight
    ``sigmoid((PM + bias) * slope)`` with PM = -m is ours with beta = -bias, gamma = slope).
    """

    warmup_rule = WarmupRule(TRADES_LOSS, TRADES_KEYS, "burn_in", (("trades_beta", "beta"),))

    default_name = "mail_trades"

    def __init__(self, attack, trades_beta: float = 5.0, beta: float = 0.0, gamma: float = 2.0, **kwargs):
        super().__init__(attack, beta=trades_beta, **kwargs)
        self.mail_beta, self.gamma = float(beta), float(gamma)

    def raw_weights(self, *, adv_logits, y, **_):
        return mail_weights(adv_logits, y, beta=self.mail_beta, gamma=self.gamma, M=1.0)


class WMMR(ReweightedAT):
    """wmmr (Zeng et al. 2021, "Are Adversarial Examples Created Equal? A Learnable Weighted
    Minimax Risk for Robustness under Non-uniform Attacks", AAAI 2021):
    mean_i(w_i * CE(f(x'_i), y_i)), w = exp(-alpha * m).

    The official code neither detaches nor normalizes the weights (``detach: false`` in
    ``conf/scheme/wmmr.yaml``); paper irat's experiments detach them, as for every reweighted
    scheme of that comparison (``irat_detach_weights`` in ``robustbench_runner/papers/irat/conf/experiment/irat/main.yaml``)."""

    warmup_rule = WarmupRule(PLAIN_AT, AT_KEYS, "burn_in")

    default_name = "wmmr"

    def __init__(self, attack, alpha: float = 2.0, **kwargs):
        super().__init__(attack, **kwargs)
        self.alpha = float(alpha)

    def raw_weights(self, *, adv_logits, y, **_):
        return wmmr_weights(adv_logits, y, alpha=self.alpha)


class EWAT(ReweightedAT):
    """ewat (Kim, Tack, Shin, Hwang 2021, "Entropy Weighted Adversarial Training", ICML 2021
    workshop) - ASSUMED formula (no official code; paper irat only says EWAT assigns "an entropy
    to the input as a weight"): w proportional to the entropy of p(x'), normalized to mean 1
    by ``normalize: sum_to_batch``, detached."""

    warmup_rule = WarmupRule(PLAIN_AT, AT_KEYS, "burn_in")

    default_name = "ewat"

    def raw_weights(self, *, adv_logits, **_):
        return ewat_weights(adv_logits, normalize=False)


class MarginReweightMAIL(ReweightedAT):
    """mr_mail (paper irat "Ours+MAIL", eq. 16): w = M * sigmoid(-gamma * (m~ + beta)),
    m~ = m * s' (eq. 14).

    Args: ``tau`` (eq. 10; 2 or 3 in paper irat section 4.1), ``similarity`` (eq. 13; false =
    the table 4 ablation s' = s), ``beta``/``gamma`` of MAIL.
    """

    warmup_rule = WarmupRule(PLAIN_AT, AT_KEYS, "burn_in")

    default_name = "mr_mail"

    def __init__(
        self, attack, tau: float = 2.0, similarity: bool = True, beta: float = 0.5, gamma: float = 10.0, **kwargs
    ):
        super().__init__(attack, **kwargs)
        self.tau, self.similarity = float(tau), bool(similarity)
        self.beta, self.gamma = float(beta), float(gamma)

    def raw_weights(self, *, adv_logits, y, **_):
        return mr_mail_weights(
            adv_logits, y, tau=self.tau, similarity=self.similarity, beta=self.beta, gamma=self.gamma, M=1.0
        )


class MarginReweightWMMR(ReweightedAT):
    """mr_wmmr (paper irat "Ours+WMMR", eq. 15): w = M * exp(-m~); WMMR's alpha is dropped.

    Args: ``tau``, ``similarity`` as in :class:`MarginReweightMAIL`.
    """

    warmup_rule = WarmupRule(PLAIN_AT, AT_KEYS, "burn_in")

    default_name = "mr_wmmr"

    def __init__(self, attack, tau: float = 2.0, similarity: bool = True, **kwargs):
        super().__init__(attack, **kwargs)
        self.tau, self.similarity = float(tau), bool(similarity)

    def raw_weights(self, *, adv_logits, y, **_):
        return mr_wmmr_weights(adv_logits, y, tau=self.tau, similarity=self.similarity, M=1.0)
