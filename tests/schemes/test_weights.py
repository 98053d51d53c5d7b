"""Per-sample weight formulas (robustbench_runner.schemes.weights) against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from robustbench_runner.errors import UserError
from robustbench_runner.schemes import weights as W


def logits_of(*rows):
    """Logits whose softmax is exactly the given probability rows (z = log p)."""
    return torch.tensor(rows, dtype=torch.float64).log()


# p' = (0.5, 0.3, 0.2), y = 0: a margin-reweighting hand check (paper irat eq. 4-14, robustbench_runner/papers/irat/README.md).
P_HAND = (0.5, 0.3, 0.2)
Y0 = torch.tensor([0])


def test_margin_sign_convention():
    z = logits_of(P_HAND, (0.2, 0.5, 0.3))
    m = W.margin(z, torch.tensor([0, 0]))
    assert m.tolist() == pytest.approx([0.2, -0.3])  # positive = correctly classified


def test_margin_reweight_hand_check():
    t = W.margin_reweight_terms(logits_of(P_HAND), Y0, tau=2.0, similarity=True)
    assert t.m.item() == pytest.approx(0.2)
    assert t.p2.item() == pytest.approx(0.3)
    assert t.pbar.item() == pytest.approx(0.5)
    assert t.o.item() == pytest.approx(0.6)
    assert t.s.item() == pytest.approx(1.4)
    assert t.c.item() == pytest.approx(0.13 / (math.sqrt(0.38) * math.sqrt(0.13)))
    assert t.c.item() == pytest.approx(0.5849, abs=1e-4)
    assert t.s_prime.item() == pytest.approx(0.8189, abs=1e-4)
    assert t.m_tilde.item() == pytest.approx(0.1638, abs=1e-4)
    assert W.margin_reweight(logits_of(P_HAND), Y0).item() == pytest.approx(t.m_tilde.item())


def test_margin_reweight_tau_and_no_similarity():
    t3 = W.margin_reweight_terms(logits_of(P_HAND), Y0, tau=3.0)
    assert t3.s.item() == pytest.approx(2.4)
    no_sim = W.margin_reweight(logits_of(P_HAND), Y0, tau=2.0, similarity=False)
    assert no_sim.item() == pytest.approx(0.2 * 1.4)  # s' = s (paper irat table 4 ablation)


def test_margin_reweight_is_finite_when_saturated():
    z = torch.tensor([[200.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    t = W.margin_reweight_terms(z, torch.tensor([0, 1]))
    for v in (t.o, t.c, t.m_tilde):
        assert torch.isfinite(v).all()
    assert t.m_tilde[0].item() == pytest.approx(0.0, abs=1e-6)  # limit as p'_y -> 1


def test_gairat_weights_hand():
    kappa = torch.tensor([0, 5, 10])
    raw = [(1 + math.tanh(-1 + 5 * (1 - 2 * k / 10))) / 2 for k in (0, 5, 10)]
    w_raw = W.gairat_weights(kappa, K=10, lam=-1.0, normalize=False)
    assert w_raw.tolist() == pytest.approx(raw)
    w = W.gairat_weights(kappa, K=10, lam=-1.0)
    assert w.tolist() == pytest.approx([r * 3 / sum(raw) for r in raw])
    assert w.sum().item() == pytest.approx(3.0)
    assert w[0] > w[1] > w[2]  # fewer correctly classified iterates = closer to the boundary


def test_gairat_weights_odd_K_follows_official_floor():
    # official GAIR.py: lam + (floor(K/2) - kappa) * 5 / floor(K/2)
    w = W.gairat_weights(torch.tensor([1]), K=5, lam=0.0, normalize=False)
    assert w.item() == pytest.approx((1 + math.tanh((2 - 1) * 5 / 2)) / 2)
    with pytest.raises(UserError):
        W.gairat_weights(torch.tensor([0]), K=1)


def test_mail_weights_hand():
    z = logits_of(P_HAND, (0.2, 0.5, 0.3))
    w = W.mail_weights(z, torch.tensor([0, 0]), beta=0.5, gamma=10.0, M=3.0)
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    assert w.tolist() == pytest.approx([3 * sig(-10 * 0.7), 3 * sig(-10 * 0.2)])


def test_wmmr_weights_hand():
    z = logits_of(P_HAND, (0.2, 0.5, 0.3))
    w = W.wmmr_weights(z, torch.tensor([0, 0]), alpha=2.0)
    assert w.tolist() == pytest.approx([math.exp(-0.4), math.exp(0.6)])


def test_ewat_weights_hand():
    z = logits_of(P_HAND, (1 / 3, 1 / 3, 1 / 3))
    h = [-sum(p * math.log(p) for p in P_HAND), math.log(3)]
    assert W.ewat_weights(z, normalize=False).tolist() == pytest.approx(h)
    w = W.ewat_weights(z)
    assert w.tolist() == pytest.approx([2 * h[0] / sum(h), 2 * h[1] / sum(h)])
    assert w.mean().item() == pytest.approx(1.0)


def test_margin_reweighted_mail_and_wmmr_hand():
    m_tilde = 0.2 * 1.4 * 0.13 / (math.sqrt(0.38) * math.sqrt(0.13))
    z = logits_of(P_HAND)
    mail = W.mr_mail_weights(z, Y0, tau=2.0, beta=0.5, gamma=10.0, M=3.0)
    assert mail.item() == pytest.approx(3 / (1 + math.exp(10 * (m_tilde + 0.5))))
    wmmr = W.mr_wmmr_weights(z, Y0, tau=2.0, M=3.0)
    assert wmmr.item() == pytest.approx(3 * math.exp(-m_tilde))


def test_vir_weights_hand_and_ablations():
    nat = logits_of((0.6, 0.3, 0.1))
    adv = logits_of(P_HAND)
    s_v = 7.0 * math.exp(-10.0 * 0.6)
    s_d = 0.6 * math.log(0.6 / 0.5) + 0.3 * math.log(0.3 / 0.3) + 0.1 * math.log(0.1 / 0.2)
    args = dict(alpha=7.0, beta=0.007, gamma=10.0)
    assert W.vir_weights(nat, adv, Y0, **args).item() == pytest.approx(s_v * s_d + 0.007)
    assert W.vir_weights(nat, adv, Y0, **args, components="sv").item() == pytest.approx(s_v)
    assert W.vir_weights(nat, adv, Y0, **args, components="sd").item() == pytest.approx(s_d)
    with pytest.raises(UserError):
        W.vir_weights(nat, adv, Y0, **args, components="svsd")


def test_vir_discrepancy_score_is_detached():
    nat = torch.randn(4, 5, requires_grad=True)
    adv = torch.randn(4, 5, requires_grad=True)
    s_v, s_d = W.vir_scores(nat, adv, torch.tensor([0, 1, 2, 3]), alpha=7.0, gamma=10.0)
    assert not s_d.requires_grad  # paper vir eq. 6: S_d is a value
    assert s_v.requires_grad


def test_postprocess_weights():
    w = torch.tensor([1.0, 3.0], requires_grad=True)
    out = W.postprocess_weights(w, multiplier=3.0, normalize="sum_to_batch", detach=True)
    assert out.tolist() == pytest.approx([1.5, 4.5])
    assert not out.requires_grad
    kept = W.postprocess_weights(w, multiplier=2.0, normalize="none", detach=False)
    assert kept.tolist() == pytest.approx([2.0, 6.0])
    assert kept.requires_grad
    with pytest.raises(UserError):
        W.postprocess_weights(w, normalize="softmax")
