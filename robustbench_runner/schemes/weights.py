"""Per-sample weights of the instance-reweighted training schemes (robustbench_runner/papers/irat/README.md,
robustbench_runner/papers/vir/README.md).

Every function is pure: it takes logits (and labels, natural logits or kappa where
needed) and returns a ``(B,)`` tensor. Nothing is detached here; the schemes decide that
through :func:`postprocess_weights` (``multiplier`` M, ``normalize``, ``detach``), except
VIR's S_d, which paper vir (Fakorede et al. 2023) defines as a value (eq. 6: "the gradient of the KL-divergence
is not used").

Margin convention: m = p'_y - max_{k != y} p'_k on the adversarial outputs, positive =
correctly classified. Paper irat ("Revisiting Instance-Reweighted Adversarial Training")
prints eq. 4 with the opposite sign;
its weighting functions (eq. 15, 16) and the official MAIL / WMMR code only give larger
weights to examples near or past the boundary with the convention used here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..attacks.losses import true_class, wrong_class_max
from ..errors import UserError

NORMALIZE_MODES = ("none", "sum_to_batch")
VIR_COMPONENTS = ("both", "sv", "sd")

# Guards against 0/0 where a probability saturates (p'_y = 1 in float32).
_TINY = 1e-12


def _full(logits: torch.Tensor) -> torch.Tensor:
    """Half-precision logits (AMP) are promoted to float32; float32/float64 kept."""
    return logits if logits.dtype in (torch.float32, torch.float64) else logits.float()


def _probs(logits: torch.Tensor) -> torch.Tensor:
    return F.softmax(_full(logits), dim=1)


def margin(adv_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Probability margin m = p'_y - max_{k != y} p'_k (paper irat eq. 4 with the
    sign convention explained in the module docstring; paper vir eq. 3 "PM")."""
    p = _probs(adv_logits)
    return true_class(p, y) - wrong_class_max(p, y)


def sum_to_batch(w: torch.Tensor) -> torch.Tensor:
    """Rescale weights so that they sum to the batch size B (mean 1)."""
    return w * (w.numel() / w.sum().clamp_min(_TINY))


def gairat_weights(
    kappa: torch.Tensor, K: int, lam: float = -1.0, normalize: bool = True
) -> torch.Tensor:
    """GAIRAT (Zhang et al. 2021, "Geometry-aware Instance-reweighted Adversarial Training",
    ICLR 2021; paper vir eq. 2):
    w = (1 + tanh(lambda + 5 (1 - 2 kappa / K))) / 2, then renormalized to sum to B.

    ``kappa`` is the number of the K PGD iterates x_0..x_{K-1} still classified correctly.
    The official code (``GAIR.py``, "Tanh") writes the argument as
    ``lambda + (floor(K/2) - kappa) * 5 / floor(K/2)``, identical to the formula for even K
    (K = 10 in every paper); we follow the code, so odd K uses floor(K/2) as it does. It
    normalizes with ``w * len(w) / w.sum()`` (sum to B), which ``normalize=True`` does.
    """
    K = int(K)
    if K < 2:
        raise UserError(f"GAIRAT needs at least 2 PGD steps, got K={K}", fix="set attack.steps >= 2")
    half = K // 2
    a = lam + (half - kappa.float()) * 5.0 / half
    w = torch.sigmoid(2.0 * a)  # == (1 + tanh(a)) / 2, without its cancellation near a << 0
    return sum_to_batch(w) if normalize else w


def mail_weights(
    adv_logits: torch.Tensor,
    y: torch.Tensor,
    beta: float = 0.5,
    gamma: float = 10.0,
    M: float = 3.0,
) -> torch.Tensor:
    """MAIL (Wang et al. 2021, NeurIPS 2021; paper irat eq. 16 applied to m):
    w = M * sigmoid(-gamma * (m + beta)).

    The official code (``mail_loss.weight_assign``) computes ``sigmoid((PM + bias) * slope)``
    with PM = -m, slope = gamma, bias = -beta, multiplies by 3 and does not renormalize.
    """
    return M * torch.sigmoid(-gamma * (margin(adv_logits, y) + beta))


def wmmr_weights(adv_logits: torch.Tensor, y: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """WMMR (Zeng et al. 2021, AAAI 2021): w = exp(-alpha * m), alpha 2 in paper irat
    (section 4.1)."""
    return torch.exp(-alpha * margin(adv_logits, y))


def ewat_weights(adv_logits: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """EWAT (Kim et al. 2021, "Entropy Weighted Adversarial Training") - ASSUMED formula: no
    official code exists and paper irat only says EWAT assigns "an entropy to the input as a
    weight". The assumption used here: w proportional to the entropy H(p(x')) = -sum_k p'_k log p'_k of
    the adversarial output, normalized to mean 1 (``normalize=True``)."""
    logp = F.log_softmax(_full(adv_logits), dim=1)
    entropy = -(logp.exp() * logp).sum(dim=1)
    return sum_to_batch(entropy) if normalize else entropy


@dataclass
class MarginReweightTerms:
    """Intermediates of margin reweighting (paper irat, section 3)."""

    m: torch.Tensor  # margin p'_y - p2 (eq. 4, sign convention of the module docstring)
    p2: torch.Tensor  # top2 probability max_{k != y} p'_k (definition 1)
    pbar: torch.Tensor  # incorrect rate 1 - p'_y = sum_{k != y} p'_k (eq. 6)
    o: torch.Tensor  # top2 ratio p2 / pbar (eq. 7)
    s: torch.Tensor  # tau - o (eq. 10)
    c: torch.Tensor  # cos(p', q), q = p' with the true class zeroed (eq. 11, 12)
    s_prime: torch.Tensor  # s * c (eq. 13), or s without similarity (ablation, table 4)
    m_tilde: torch.Tensor  # m * s' (eq. 14)


def margin_reweight_terms(
    adv_logits: torch.Tensor, y: torch.Tensor, tau: float = 2.0, similarity: bool = True
) -> MarginReweightTerms:
    """All intermediates of paper irat's margin reweighting on the adversarial outputs.

    pbar is computed as sum_{k != y} p'_k (the second form of eq. 6), which is exact where
    1 - p'_y would round to 0. Where pbar = 0 (p'_y = 1 in floating point) p2 = 0 too and
    o is taken as 0; where q = 0 the cosine is taken as 0 (its limit as p'_y -> 1).
    """
    p = _probs(adv_logits)
    true_mask = F.one_hot(y, p.shape[1]).bool()
    q = p.masked_fill(true_mask, 0.0)  # eq. 12: p' * (1 - M), M the true-class mask
    p_y = true_class(p, y)
    p2 = q.max(dim=1).values  # probabilities are >= 0, so zeroing the true class masks it
    pbar = q.sum(dim=1)
    m = p_y - p2
    o = p2 / pbar.clamp_min(_TINY)
    s = tau - o
    c = (p * q).sum(dim=1) / (p.norm(dim=1) * q.norm(dim=1)).clamp_min(_TINY)
    s_prime = s * c if similarity else s
    return MarginReweightTerms(m=m, p2=p2, pbar=pbar, o=o, s=s, c=c, s_prime=s_prime, m_tilde=m * s_prime)


def margin_reweight(
    adv_logits: torch.Tensor, y: torch.Tensor, tau: float = 2.0, similarity: bool = True
) -> torch.Tensor:
    """Reweighted margin m~ = m * s' (paper irat eq. 14), s' = (tau - o) * c (eq. 10, 13), or
    s' = tau - o with ``similarity=False`` (the ablation of paper irat table 4)."""
    return margin_reweight_terms(adv_logits, y, tau=tau, similarity=similarity).m_tilde


def mr_wmmr_weights(
    adv_logits: torch.Tensor, y: torch.Tensor, tau: float = 2.0, similarity: bool = True, M: float = 3.0
) -> torch.Tensor:
    """Ours+WMMR (paper irat eq. 15, algorithm 1 line 12): w = M * exp(-m~); the WMMR alpha
    is dropped ("we omit the WMMR constant")."""
    return M * torch.exp(-margin_reweight(adv_logits, y, tau=tau, similarity=similarity))


def mr_mail_weights(
    adv_logits: torch.Tensor,
    y: torch.Tensor,
    tau: float = 2.0,
    similarity: bool = True,
    beta: float = 0.5,
    gamma: float = 10.0,
    M: float = 3.0,
) -> torch.Tensor:
    """Ours+MAIL (paper irat eq. 16): w = M * sigmoid(-gamma * (m~ + beta)). Algorithm 1
    line 10 drops the minus sign; we keep eq. 16 (see module docstring)."""
    m_tilde = margin_reweight(adv_logits, y, tau=tau, similarity=similarity)
    return M * torch.sigmoid(-gamma * (m_tilde + beta))


def vir_scores(
    nat_logits: torch.Tensor, adv_logits: torch.Tensor, y: torch.Tensor, alpha: float, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """VIR's two scores (paper vir, Fakorede et al. 2023): S_v = alpha * exp(-gamma * p_y(x)) on the natural example
    (eq. 5) and S_d = KL(p(x) || p(x')) summed over classes (eq. 6), returned detached
    because paper vir uses it "as a weighting (a value)". S_v is not detached here."""
    p_y = true_class(_probs(nat_logits), y)
    s_v = alpha * torch.exp(-gamma * p_y)
    with torch.no_grad():
        s_d = F.kl_div(
            F.log_softmax(_full(adv_logits), dim=1),
            F.log_softmax(_full(nat_logits), dim=1),
            reduction="none",
            log_target=True,
        ).sum(dim=1)
    return s_v, s_d


def vir_weights(
    nat_logits: torch.Tensor,
    adv_logits: torch.Tensor,
    y: torch.Tensor,
    alpha: float,
    beta: float,
    gamma: float,
    components: str = "both",
) -> torch.Tensor:
    """VIR weight (paper vir eq. 7): w = S_v * S_d + beta (``components="both"``).

    Ablations of paper vir tables 6 (VIR-AT) and 7 (VIR-TRADES) reweight the loss by one
    score alone - the rows read ``S_v(x_i, y_i) * L`` and ``S_d(x_i, x'_i) * L`` - so
    ``components="sv"`` gives w = S_v and ``"sd"`` gives w = S_d, without beta.
    """
    if components not in VIR_COMPONENTS:
        raise UserError(
            f"unknown VIR components {components!r}", fix=f"use one of: {', '.join(VIR_COMPONENTS)}"
        )
    s_v, s_d = vir_scores(nat_logits, adv_logits, y, alpha=alpha, gamma=gamma)
    if components == "sv":
        return s_v
    if components == "sd":
        return s_d
    return s_v * s_d + beta


def postprocess_weights(
    w: torch.Tensor, multiplier: float = 1.0, normalize: str = "none", detach: bool = True
) -> torch.Tensor:
    """Options shared by the reweighted schemes: ``normalize`` (``none`` | ``sum_to_batch``,
    i.e. rescale to mean 1 as GAIRAT and EWAT do), then multiply by ``multiplier`` M
    (the MAIL code's and paper irat's M = 3), then ``detach`` (no gradient through the weights)."""
    check_normalize(normalize)
    if normalize == "sum_to_batch":
        w = sum_to_batch(w)
    w = w * multiplier
    return w.detach() if detach else w


def check_normalize(normalize: str) -> str:
    if normalize not in NORMALIZE_MODES:
        raise UserError(
            f"unknown weight normalization {normalize!r}", fix=f"use one of: {', '.join(NORMALIZE_MODES)}"
        )
    return normalize
