"""Per-sample attack losses (CE, the CW margin of Carlini & Wagner 2017, DLR of Croce &
Hein 2020, TRADES KL of Zhang et al. 2019). Each returns a ``(B,)`` tensor to
be *maximized* by the attacker.

Losses that drive an attack are computed in float32 with autocast off
(:func:`fp32_objective`, :func:`no_autocast`), whatever precision the model ran in: under
bf16 autocast, ``log_softmax`` of two nearly equal logit vectors rounds their KL to ~0
(TRADES' KL-PGD then reached KL 0.30 instead of 4.89 on a trained CNN-6).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F


@contextlib.contextmanager
def no_autocast() -> Iterator[None]:
    """Autocast off on CPU and CUDA for the block (restored afterwards)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.autocast("cpu", enabled=False))
        if torch.cuda.is_available():
            stack.enter_context(torch.autocast("cuda", enabled=False))
        yield


def as_fp32(t):
    """A floating-point tensor as float32 (other values unchanged)."""
    return t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t


def fp32_objective(fn, logits: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``fn(logits, *args, **kwargs)`` on float32 logits (and float32 tensor arguments, e.g. the
    clean logits of the KL), with autocast off: the precision of an attack's objective does
    not depend on the precision the model ran in."""
    with no_autocast():
        return fn(as_fp32(logits), *(as_fp32(a) for a in args), **{k: as_fp32(v) for k, v in kwargs.items()})


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
