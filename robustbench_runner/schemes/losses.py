"""Base training losses as per-sample terms, so that per-sample weights can multiply them
(TRADES, MART and the reweighted schemes built on them; robustbench_runner/papers/irat/README.md, vir.md).

Each ``*_terms`` function returns ``(B,)`` tensors; the matching ``*_loss`` reduces them
to the scalar the scheme backpropagates, optionally with weights ``w`` on the term the
reweighting papers weight. KL is KL(p(x) || p(x')) summed over classes and averaged over
the batch; the clean distribution is NOT detached (gradient flows through p(x)).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..attacks.losses import true_class, wrong_class_max

# Constants of the official MART code (YisenWang/MART, mart.py), kept as written there:
# log(1.0001 - p'_k + 1e-12) in the boosted-CE margin term, log(p' + 1e-12) in the KL,
# and (1.0000001 - p_y(x)) as the misclassification factor. The MART paper writes the
# last one as (1 - p_y); the difference is 1e-7.
MART_MARGIN_OFFSET = 1.0001
MART_LOG_EPS = 1e-12
MART_TRUE_PROB_OFFSET = 1.0000001


def ce_terms(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy CE(z, y)."""
    return F.cross_entropy(logits, y, reduction="none")


def kl_terms(nat_logits: torch.Tensor, adv_logits: torch.Tensor) -> torch.Tensor:
    """Per-sample KL(p(x) || p(x')) summed over classes, with gradient through both
    distributions (TRADES, Zhang et al. 2019 eq. 5; ``nn.KLDivLoss`` in the official code)."""
    return F.kl_div(
        F.log_softmax(adv_logits, dim=1), F.log_softmax(nat_logits, dim=1), reduction="none", log_target=True
    ).sum(dim=1)


def weighted_mean(terms: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """mean_i(w_i * terms_i); plain mean when ``w`` is None."""
    return terms.mean() if w is None else (w * terms).mean()


class TradesTerms(NamedTuple):
    natural: torch.Tensor  # CE(f(x_i), y_i)
    robust: torch.Tensor  # KL(p(x_i) || p(x'_i))


def trades_terms(nat_logits: torch.Tensor, adv_logits: torch.Tensor, y: torch.Tensor) -> TradesTerms:
    """TRADES per-sample terms: CE(f(x), y) and KL(p(x) || p(x'))."""
    return TradesTerms(ce_terms(nat_logits, y), kl_terms(nat_logits, adv_logits))


def trades_loss(
    nat_logits: torch.Tensor,
    adv_logits: torch.Tensor,
    y: torch.Tensor,
    beta: float,
    w: torch.Tensor | None = None,
    kl_nat_logits: torch.Tensor | None = None,
) -> torch.Tensor:
    """TRADES (Zhang et al. 2019, "Theoretically Principled Trade-off between Robustness and
    Accuracy", ICML 2019, eq. 5): mean CE(f(x), y) + beta * mean_i(w_i * KL(p(x_i) || p(x'_i))).

    Weights multiply the KL term only, as in MAIL-TRADES (official MAIL ``mail_loss``, method
    ``trades``) and VIR-TRADES (Fakorede et al. 2023, eq. 10, with beta = 1/lambda).
    ``kl_nat_logits``: the natural logits the KL term uses when they come from a separate
    forward pass (the official TRADES code forwards x again after x', see
    :mod:`~.trades`); None = ``nat_logits``."""
    kl_nat = nat_logits if kl_nat_logits is None else kl_nat_logits
    return ce_terms(nat_logits, y).mean() + beta * weighted_mean(kl_terms(kl_nat, adv_logits), w)


class MartTerms(NamedTuple):
    boosted_ce: torch.Tensor  # BCE(p(x'_i), y_i) = CE(z'_i, y_i) - log(1.0001 - max_{k!=y} p'_k)
    robust: torch.Tensor  # KL(p(x_i) || p(x'_i)) * (1.0000001 - p_y(x_i))


def mart_terms(nat_logits: torch.Tensor, adv_logits: torch.Tensor, y: torch.Tensor) -> MartTerms:
    """MART per-sample terms (Wang et al. 2020, "Improving Adversarial Robustness Requires
    Revisiting Misclassified Examples", ICLR 2020, eq. 9), as in the official code.

    - Boosted CE: the MART paper's BCE(p(x'), y) = -log p'_y - log(1 - max_{k!=y} p'_k);
      the code writes it as ``cross_entropy(z', y) + nll_loss(log(1.0001 - p' + 1e-12),
      new_y)`` with new_y the most probable wrong class, i.e. CE(z', y) - log(1.0001 -
      max_{k!=y} p'_k + 1e-12) (CE plus the margin term).
    - Robust term: KL(p(x) || p(x')) * (1 - p_y(x)); the code's KL takes log(p' + 1e-12)
      and the factor is (1.0000001 - p_y(x)). Neither p(x) nor the factor is detached.
    """
    adv_probs = F.softmax(adv_logits, dim=1)
    top_wrong = wrong_class_max(adv_probs, y)
    boosted_ce = ce_terms(adv_logits, y) - torch.log(MART_MARGIN_OFFSET - top_wrong + MART_LOG_EPS)
    nat_probs = F.softmax(nat_logits, dim=1)
    kl = F.kl_div(torch.log(adv_probs + MART_LOG_EPS), nat_probs, reduction="none").sum(dim=1)
    robust = kl * (MART_TRUE_PROB_OFFSET - true_class(nat_probs, y))
    return MartTerms(boosted_ce, robust)


def mart_loss(
    nat_logits: torch.Tensor,
    adv_logits: torch.Tensor,
    y: torch.Tensor,
    beta: float,
    w: torch.Tensor | None = None,
) -> torch.Tensor:
    """MART: mean_i(w_i * BCE_i) + beta * mean_i(KL_i * (1 - p_y(x_i))).

    Weights multiply the boosted-CE term only, as in the official MAIL-MART code
    (``mail_loss``, method ``mart``)."""
    t = mart_terms(nat_logits, adv_logits, y)
    return weighted_mean(t.boosted_ce, w) + beta * t.robust.mean()
