"""Training schemes: base losses, reweighted schemes, burn-in, GAIRAT's kappa, BN mode during
attack generation, and every ``conf/scheme/*.yaml``."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from rbr_testing import REPO, compose_cfg, make_model
from robustbench_runner.attacks.fgsm import FGSM
from robustbench_runner.attacks.pgd import PGD
from robustbench_runner.errors import UserError
from robustbench_runner.schemes import (
    EWAT,
    GAIRAT,
    MAILAT,
    MAILTRADES,
    PGDAT,
    TRADES,
    VIRAT,
    VIRTRADES,
    WMMR,
    MarginReweightMAIL,
    MarginReweightWMMR,
    Scheme,
    StepOutput,
    bn_mode,
)
from robustbench_runner.schemes import losses as L
from robustbench_runner.schemes import weights as W

CONF = REPO / "conf" / "scheme"

try:
    import robustbench_runner.config  # noqa: F401  (registers ${frac:a,b} and friends)
except ImportError:
    pass
if not OmegaConf.has_resolver("frac"):
    OmegaConf.register_new_resolver("frac", lambda a, b: float(a) / float(b))


def batch(seed: int = 1, n: int = 8):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def pgd(loss="ce", start="uniform", steps=3, eps=8 / 255, step_size=2 / 255, seed=0):
    return functools.partial(PGD, eps=eps, steps=steps, step_size=step_size, loss=loss, start=start, seed=seed)


def run(scheme: Scheme, model: nn.Module, x, y, epoch: int) -> StepOutput:
    scheme.bind(model)
    return scheme.step(model, x, y, epoch)


# ---------------------------------------------------------------- base losses --------------
def fixed_logits():
    g = torch.Generator().manual_seed(3)
    nat = torch.randn(6, 4, generator=g, dtype=torch.float64)
    adv = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    return nat, adv, y


def test_trades_loss_matches_transcription():
    nat, adv, y = fixed_logits()
    p, p_adv = nat.softmax(1), adv.softmax(1)
    ce = -p.log()[torch.arange(6), y]
    kl = (p * (p.log() - p_adv.log())).sum(1)
    assert L.trades_loss(nat, adv, y, beta=6.0).item() == pytest.approx((ce.mean() + 6.0 * kl.mean()).item())
    w = torch.linspace(0.5, 2.0, 6, dtype=torch.float64)
    # weights multiply the KL term only (MAIL-TRADES, VIR-TRADES)
    assert L.trades_loss(nat, adv, y, beta=6.0, w=w).item() == pytest.approx((ce.mean() + 6.0 * (w * kl).mean()).item())


def test_trades_kl_backpropagates_through_clean_distribution():
    nat, adv, y = fixed_logits()
    nat.requires_grad_(True)
    L.kl_terms(nat, adv).sum().backward()
    assert nat.grad.abs().sum() > 0


def official_mart(nat, adv, y, beta):
    """Transcription of YisenWang/MART mart.py (loss part)."""
    adv_probs = F.softmax(adv, dim=1)
    tmp1 = torch.argsort(adv_probs, dim=1)[:, -2:]
    new_y = torch.where(tmp1[:, -1] == y, tmp1[:, -2], tmp1[:, -1])
    loss_adv = F.cross_entropy(adv, y) + F.nll_loss(torch.log(1.0001 - adv_probs + 1e-12), new_y)
    nat_probs = F.softmax(nat, dim=1)
    true_probs = torch.gather(nat_probs, 1, (y.unsqueeze(1)).long()).squeeze()
    kl = nn.KLDivLoss(reduction="none")(torch.log(adv_probs + 1e-12), nat_probs)
    loss_robust = (1.0 / len(y)) * torch.sum(torch.sum(kl, dim=1) * (1.0000001 - true_probs))
    return loss_adv + float(beta) * loss_robust


def test_mart_loss_matches_official_code():
    nat, adv, y = fixed_logits()
    assert L.mart_loss(nat, adv, y, beta=5.0).item() == pytest.approx(official_mart(nat, adv, y, 5.0).item())
    # the MART paper's wording: CE(z', y) - log(1.0001 - max_{k != y} p'_k)
    p_adv = adv.softmax(1)
    wrong = p_adv.masked_fill(F.one_hot(y, 4).bool(), -1).max(1).values
    bce = F.cross_entropy(adv, y, reduction="none") - torch.log(1.0001 - wrong + 1e-12)
    assert L.mart_terms(nat, adv, y).boosted_ce.tolist() == pytest.approx(bce.tolist())


def test_mart_misclassification_factor_is_not_detached():
    nat, adv, y = fixed_logits()
    nat_a = nat.clone().requires_grad_(True)
    L.mart_loss(nat_a, adv, y, beta=5.0).backward()
    nat_b = nat.clone().requires_grad_(True)
    p_y = nat_b.softmax(1).gather(1, y[:, None]).squeeze(1).detach()
    kl = L.kl_terms(nat_b, adv)  # same value up to MART's 1e-12 in the log
    (L.mart_terms(nat_b, adv, y).boosted_ce.mean() + 5.0 * (kl * (1.0000001 - p_y)).mean()).backward()
    assert not torch.allclose(nat_a.grad, nat_b.grad)


def test_mart_weights_multiply_boosted_ce_only():
    nat, adv, y = fixed_logits()
    t = L.mart_terms(nat, adv, y)
    w = torch.linspace(0.0, 2.0, 6, dtype=torch.float64)
    expected = (w * t.boosted_ce).mean() + 5.0 * t.robust.mean()
    assert L.mart_loss(nat, adv, y, beta=5.0, w=w).item() == pytest.approx(expected.item())


# ------------------------------------------------- weights = 1 reduce to the base loss -----
REWEIGHTED_AT = [
    (MAILAT, {}),
    (WMMR, {}),
    (EWAT, {"normalize": "sum_to_batch"}),
    (MarginReweightMAIL, {"tau": 3.0}),
    (MarginReweightWMMR, {"similarity": False}),
    (GAIRAT, {"normalize": "sum_to_batch"}),
    (VIRAT, {}),
]


@pytest.mark.parametrize("bn", ["eval", "train"])
@pytest.mark.parametrize("cls,kw", REWEIGHTED_AT, ids=[c.__name__ for c, _ in REWEIGHTED_AT])
def test_burn_in_reduces_reweighted_at_to_pgd_at(cls, kw, bn):
    x, y = batch()
    model_a, model_b = make_model(), make_model()
    attack = pgd(start="normal" if bn == "eval" else "uniform")
    base = run(PGDAT(attack, attack_bn_mode=bn), model_a, x, y, epoch=5)
    rew = run(cls(attack, attack_bn_mode=bn, burn_in=5, multiplier=3.0, **kw), model_b, x, y, epoch=5)
    assert torch.equal(rew.logits, base.logits)
    assert rew.loss.item() == base.loss.item()
    assert torch.equal(rew.weights, torch.ones(8))
    assert base.weights is None
    # BN running statistics were updated identically (same forward passes in the same modes)
    assert torch.equal(model_a.bn.running_mean, model_b.bn.running_mean)


@pytest.mark.parametrize("cls", [MAILTRADES, VIRTRADES])
def test_burn_in_reduces_reweighted_trades_to_trades(cls):
    x, y = batch()
    attack = pgd(loss="kl", start="normal")
    base = run(TRADES(attack, beta=4.0), make_model(), x, y, epoch=1)
    rew = run(cls(attack, trades_beta=4.0, burn_in=1, multiplier=3.0), make_model(), x, y, epoch=1)
    assert rew.loss.item() == base.loss.item()
    assert torch.equal(rew.weights, torch.ones(8))


@pytest.mark.parametrize(
    "scheme",
    [
        MAILAT(pgd(start="normal"), gamma=0.0, multiplier=2.0),  # 2 * sigmoid(0) = 1
        WMMR(pgd(start="normal"), alpha=0.0),  # exp(0) = 1
        VIRAT(pgd(start="normal"), alpha=0.0, beta=1.0),  # 0 * S_d + 1 = 1
    ],
    ids=["mail", "wmmr", "vir_at"],
)
def test_unit_weights_after_burn_in_equal_pgd_at(scheme):
    x, y = batch()
    model_a, model_b = make_model(), make_model()
    base = run(PGDAT(pgd(start="normal"), attack_bn_mode="eval"), model_a, x, y, epoch=1)
    out = run(scheme, model_b, x, y, epoch=1)  # burn_in 0: the weight formula is active
    assert torch.equal(out.weights, torch.ones(8))
    assert out.loss.item() == base.loss.item()
    # VIR-AT's extra natural forward (eval mode, no grad) leaves the BN statistics alone
    assert torch.equal(model_a.bn.running_var, model_b.bn.running_var)


def test_unit_vir_weights_after_burn_in_equal_trades():
    x, y = batch()
    attack = pgd(loss="kl", start="normal")
    base = run(TRADES(attack, beta=5.0), make_model(), x, y, epoch=80)
    out = run(VIRTRADES(attack, trades_beta=5.0, alpha=0.0, beta=1.0, burn_in=75), make_model(), x, y, epoch=80)
    assert torch.equal(out.weights, torch.ones(8))
    assert out.loss.item() == base.loss.item()


# ------------------------------------------------------------------------ burn-in ----------
def test_burn_in_switches_after_configured_epoch():
    x, y = batch()
    scheme = MAILAT(pgd(start="normal"), burn_in=2, multiplier=3.0)
    during = run(scheme, make_model(), x, y, epoch=2)
    after = run(scheme, make_model(), x, y, epoch=3)
    assert torch.equal(during.weights, torch.ones(8))
    expected = W.mail_weights(after.logits.detach(), y, beta=0.5, gamma=10.0, M=3.0)
    assert torch.allclose(after.weights, expected)
    assert not torch.allclose(after.weights, torch.ones(8))
    assert after.loss.item() == pytest.approx((expected * F.cross_entropy(after.logits, y, reduction="none")).mean().item())


def _vir_at_expected(model, x, y, z):
    with torch.no_grad(), bn_mode(model, "eval"):
        nat = model(x)
    return W.vir_weights(nat, z, y, alpha=7.0, beta=0.007, gamma=10.0)


WIRED = [
    (lambda: MAILAT(pgd(), multiplier=3.0), lambda m, x, y, z: W.mail_weights(z, y, M=3.0)),
    (lambda: WMMR(pgd(), alpha=2.0), lambda m, x, y, z: W.wmmr_weights(z, y, alpha=2.0)),
    (lambda: EWAT(pgd(), normalize="sum_to_batch"), lambda m, x, y, z: W.ewat_weights(z)),
    (
        lambda: MarginReweightMAIL(pgd(), tau=3.0, multiplier=3.0),
        lambda m, x, y, z: W.mr_mail_weights(z, y, tau=3.0, M=3.0),
    ),
    (
        lambda: MarginReweightWMMR(pgd(), similarity=False, multiplier=3.0),
        lambda m, x, y, z: W.mr_wmmr_weights(z, y, similarity=False, M=3.0),
    ),
    (lambda: VIRAT(pgd()), _vir_at_expected),
]


@pytest.mark.parametrize("build,expected", WIRED, ids=["mail", "wmmr", "ewat", "mr_mail", "mr_wmmr", "vir_at"])
def test_scheme_uses_its_weight_formula_once(build, expected):
    x, y = batch()
    model = make_model()
    out = run(build(), model, x, y, epoch=1)
    want = expected(model, x, y, out.logits.detach())
    assert torch.allclose(out.weights, want, rtol=1e-5, atol=1e-7)
    ce = F.cross_entropy(out.logits, y, reduction="none")
    assert out.loss.item() == pytest.approx((want * ce).mean().item(), rel=1e-5)


def test_detach_switch():
    x, y = batch()
    model = make_model()
    adv_logits = model(x).detach().requires_grad_(True)
    for detach in (True, False):
        scheme = WMMR(pgd(), detach=detach)
        w = scheme.weights(1, model=model, x=x, y=y, adv_logits=adv_logits, nat_logits=None, aux=None)
        assert w.requires_grad is (not detach)


# ------------------------------------------------------------------------- GAIRAT ----------
def test_gairat_kappa_counts_correct_iterates():
    x, _ = batch(seed=5, n=16)
    model = make_model(seed=2)
    with torch.no_grad(), bn_mode(model, "eval"):
        y = model(x).argmax(1)  # labels = clean predictions, so kappa spreads over 0..K
    K = 4
    scheme = GAIRAT(pgd(steps=K, eps=0.2, step_size=0.05), attack_bn_mode="eval", normalize="sum_to_batch")
    scheme.bind(model)
    correct = []
    hook = model.register_forward_hook(lambda m, i, out: correct.append(out.argmax(1) == y))
    x_adv, kappa = scheme.adversarial(model, x, y)
    hook.remove()
    assert len(correct) == K  # one forward per iterate x_0..x_{K-1}
    assert torch.equal(kappa, torch.stack(correct).sum(0))
    assert kappa.min() == 0 and kappa.max() == K  # the check is not trivial
    # the path is PGD's: same last iterate as PGD.perturb with the same seed
    ref = PGD(model, eps=0.2, steps=K, step_size=0.05, seed=0)
    ref.use_stream()  # as every training attack
    with bn_mode(model, "eval"):
        assert torch.equal(x_adv, ref.perturb(x, y, 0.2))
    # and the weights used are the normalized GAIRAT weights of that kappa
    scheme.attack.reset_rng()  # replay the same random start
    out = scheme.step(model, x, y, epoch=1)
    assert torch.allclose(out.weights, W.gairat_weights(kappa, K=K, lam=-1.0))
    assert out.weights.sum().item() == pytest.approx(16.0)


def test_gairat_rejects_non_pgd_attack():
    with pytest.raises(UserError):
        GAIRAT(functools.partial(FGSM, eps=0.1)).bind(make_model())


# ----------------------------------------------------------------------- BN mode -----------
def test_bn_mode_restores_mode_on_error():
    model = make_model()
    with pytest.raises(RuntimeError):
        with bn_mode(model, "eval"):
            assert not model.training
            raise RuntimeError("boom")
    assert model.training


def scheme_configs():
    return sorted(CONF.glob("*.yaml"))


def load_scheme(path: Path, steps: int = 2, eps: float = 8 / 255):
    """A scheme config as Hydra composes it (the scheme files compose ``conf/attack/pgd.yaml``
    through their defaults list), with ``data.eps`` set (the training attack's eps
    interpolates the dataset's threat model)."""
    overrides = [f"scheme={path.stem}", f"data.eps={eps}"]
    if "attack" in compose_cfg([f"scheme={path.stem}"]).scheme:
        overrides.append(f"scheme.attack.steps={steps}")
    return compose_cfg(overrides).scheme


ATTACK_CONFIGS = [p for p in scheme_configs() if "attack" in compose_cfg([f"scheme={p.stem}"]).scheme]


@pytest.mark.parametrize("path", ATTACK_CONFIGS, ids=lambda p: p.stem)
def test_attack_runs_in_configured_bn_mode(path):
    cfg = load_scheme(path, steps=3)
    scheme = instantiate(cfg)
    model = make_model()
    modes = []
    model.register_forward_hook(lambda m, i, o: modes.append(m.training))
    x, y = batch()
    scheme.bind(model)
    scheme.step(model, x, y, epoch=1)
    n_attack = cfg.attack.steps + (1 if cfg.attack.loss == "kl" else 0)  # KL-PGD: one clean forward
    assert modes[:n_attack] == [cfg.attack_bn_mode == "train"] * n_attack
    assert modes[n_attack] is True  # the loss forward runs in train mode
    assert model.training


def test_every_scheme_config_is_listed():
    names = {p.stem for p in scheme_configs()}
    assert names >= {
        "standard", "pgd_at", "trades", "mart", "gairat", "mail", "mail_trades", "wmmr", "ewat",
        "mr_mail", "mr_wmmr", "vir_at", "vir_trades",
    }  # fmt: skip


@pytest.mark.parametrize("path", scheme_configs(), ids=lambda p: p.stem)
def test_scheme_config_instantiates_and_steps(path):
    cfg = load_scheme(path)
    if "burn_in" in cfg:
        cfg.burn_in = 0  # exercise the weight formula
    scheme = instantiate(cfg)
    assert isinstance(scheme, Scheme)
    # a variant file (gairat_warmup75: GAIRAT with paper irat's warm-up) keeps its method's name
    assert scheme.name == path.stem or path.stem.startswith(scheme.name + "_")
    model = make_model()
    scheme.bind(model)
    x, y = batch()
    out = scheme.step(model, x, y, epoch=1)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert out.logits.shape == (8, 10)
    assert (out.weights is None) == ("burn_in" not in cfg)
    if out.weights is not None:
        assert out.weights.shape == (8,) and torch.isfinite(out.weights).all()
    out.loss.backward()
    assert model.fc.weight.grad is not None and model.fc.weight.grad.abs().sum() > 0
    assert model.training


# -------------------------------------------------------------------- bad options ----------
@pytest.mark.parametrize(
    "build",
    [
        lambda: PGDAT(pgd(), attack_bn_mode="frozen"),
        lambda: MAILAT(pgd(), normalize="softmax"),
        lambda: MAILAT(pgd(), burn_in=-1),
        lambda: VIRAT(pgd(), components="sv+sd"),
        lambda: PGDAT({"eps": 0.1}),
    ],
    ids=["bn_mode", "normalize", "burn_in", "components", "attack_not_partial"],
)
def test_bad_options_raise_user_error(build):
    with pytest.raises(UserError):
        build()


def test_attack_is_built_on_bind():
    scheme = PGDAT(pgd())
    assert scheme.attack is None
    model = make_model()
    scheme.bind(model)
    assert isinstance(scheme.attack, PGD) and scheme.attack.model is model
    out = scheme.step(copy.deepcopy(model), *batch(), epoch=1)  # a new model rebinds
    assert scheme.attack.model is not model and torch.isfinite(out.loss)


def test_reseed_replays_attack_starts():
    x, y = batch()
    model = make_model()
    scheme = PGDAT(pgd(), attack_bn_mode="eval")
    scheme.reseed(7)  # before bind: applied when the attack is built
    scheme.bind(model)
    first = scheme.generate(model, x, y)
    second = scheme.generate(model, x, y)
    scheme.reseed(7)
    assert torch.equal(scheme.generate(model, x, y), first)
    assert not torch.equal(second, first)  # the stream advances between batches
    scheme.reseed(8)
    assert not torch.equal(scheme.generate(model, x, y), first)
