"""Per-sample attack losses (CE, the CW margin of Carlini & Wagner 2017, DLR of Croce &
Hein 2020, TRADES KL of Zhang et al. 2019). Each returns a ``(B,)`` tensor to
be *maximized* by the attacker."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def wrong_class_max(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """max_{k != y} z_k, with the true class masked by -inf (never by 0: with all-negative
    logits a 0 mask would win the max and break the CW margin)."""
    masked = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return masked.max(dim=1).values


def true_class(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, y[:, None]).squeeze(1)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Logit margin z_y - max_{k != y} z_k: positive iff the point is classified correctly
    (ties aside). Maximizing its negative is the CW / MD / SPSA attack objective."""
    return true_class(logits, y) - wrong_class_max(logits, y)


def ce_loss(logits: torch.Tensor, y: torch.Tensor, **_) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def cw_loss(logits: torch.Tensor, y: torch.Tensor, kappa: float = 0.0, **_) -> torch.Tensor:
    """CW margin: -relu(z_y - max_{k != y} z_k + kappa)."""
    return -F.relu(margin(logits, y) + kappa)


def dlr_loss(logits: torch.Tensor, y: torch.Tensor, **_) -> torch.Tensor:
    """Difference of logits ratio (Croce & Hein 2020): -(z_y - max_{k!=y} z_k) / (z_pi1 - z_pi3)."""
    top = logits.sort(dim=1, descending=True).values
    return -margin(logits, y) / (top[:, 0] - top[:, 2] + 1e-12)


def kl_loss(logits: torch.Tensor, y: torch.Tensor, clean_logits: torch.Tensor | None = None, **_) -> torch.Tensor:
    """KL(p(x) || p(x')) summed over classes (TRADES inner maximization)."""
    if clean_logits is None:
        raise ValueError("the KL loss needs the clean logits")
    return F.kl_div(
        F.log_softmax(logits, dim=1), F.log_softmax(clean_logits, dim=1), reduction="none", log_target=True
    ).sum(dim=1)


LOSSES = {"ce": ce_loss, "cw": cw_loss, "dlr": dlr_loss, "kl": kl_loss}
