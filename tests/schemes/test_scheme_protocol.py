"""Training protocols of papers irat and vir (issue "Paper-faithful protocols", items 1, 2, 3, 8):

- the training attack's BN mode and start are one block (``conf/train_attack``) shared by
  every scheme of a paper's comparison, and VIR-AT with unit weights is PGD-AT step for step;
- weight detaching is one key, one value for WMMR and Ours+WMMR in paper irat;
- MAIL-TRADES defaults are the official MAIL code's;
- TRADES runs its forwards in the official order (BN running statistics end on a clean batch).

Everything runs on a tiny conv+BN net on CPU in seconds.
"""

from __future__ import annotations

import functools

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from rbr_testing import REPO, compose_cfg, make_model
from robustbench_runner.attacks.pgd import PGD
from robustbench_runner.build import build_scheme
from robustbench_runner.errors import UserError
from robustbench_runner.schemes import (
    MAILTRADES,
    PGDAT,
    TRADES,
    VIRAT,
    VIRTRADES,
    WMMR,
    MarginReweightWMMR,
    bn_mode,
)
from robustbench_runner.schemes.trades import FORWARD_ORDERS

CONF = REPO / "robustbench_runner" / "papers"  # each paper bundle's conf/experiment/<paper>/


def batches(n_batches: int = 4, n: int = 8, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))
        for _ in range(n_batches)
    ]


def pgd(loss="ce", start="normal", steps=3, eps=8 / 255, seed=0):
    return functools.partial(
        PGD, eps=eps, steps=steps, step_size=eps / 4, loss=loss, start=start, seed=seed
    )


def train(scheme, model, data, epoch: int = 1) -> nn.Module:
    """SGD (momentum, weight decay: MAIL's train.py optimizer) over ``data``, one step per
    batch, the attack reseeded once as the trainer does at the start of an epoch."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=3.5e-3)
    scheme.reseed(123)
    scheme.bind(model)
    for x, y in data:
        opt.zero_grad()
        scheme.step(model, x, y, epoch).loss.backward()
        opt.step()
    return model


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = state(a), state(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def experiment_scheme(paper: str, block: str, scheme: str, *extra: str):
    """The scheme config of one job of a paper's experiment (``--cfg job``), training attack
    shrunk to 3 steps."""
    cfg = compose_cfg(
        [f"experiment={paper}/{block}", f"+experiment/{paper}/scheme={scheme}", "scale=smoke",
         "scheme.attack.steps=3", *extra]
    )  # fmt: skip
    return cfg.scheme


def paper_schemes(paper: str) -> list[str]:
    return sorted(p.stem for p in (CONF / paper / "conf" / "experiment" / paper / "scheme").glob("*.yaml"))


BLOCK = {"irat": "main", "vir": "rn18_cifar10"}


# ------------------------------------------- item 1: one training-attack protocol ----------
@pytest.mark.parametrize("paper", ["irat", "vir"])
def test_every_scheme_of_a_paper_crafts_its_training_attack_the_same_way(paper):
    """Papers irat and vir: the MAIL protocol (eval-mode BN, x + 0.001 randn) for every row, the
    AT/WMMR/EWAT/GAIRAT rows included; train_attack=madry switches every row at once."""
    every = paper_schemes(paper)
    some = [every[0], "mail", "wmmr" if paper == "irat" else "mart"]  # compositions cost ~1 s each
    for train_attack, names, want in [
        (None, every, ("eval", "normal", False)),
        ("madry", some, ("train", "uniform", True)),
    ]:
        extra = [f"train_attack={train_attack}"] if train_attack else []
        seen = {}
        for name in names:
            s = experiment_scheme(paper, BLOCK[paper], name, *extra)
            a = s.attack
            seen[name] = (
                s.attack_bn_mode,
                a.start,
                a.clamp_start,
                a.eps,
                a.steps,
                a.step_size,
                a.restarts,
                a["_target_"],
            )
        assert {v[:3] for v in seen.values()} == {want}, seen
        assert len({v[3:] for v in seen.values()}) == 1, seen  # same PGD-10, eps, step


def test_generic_defaults_keep_their_own_protocol():
    """Without an experiment, pgd_at stays Madry-style and mail stays MAIL-style."""
    pgd_at, mail = compose_cfg(["scheme=pgd_at"]).scheme, compose_cfg(["scheme=mail"]).scheme
    assert (pgd_at.attack_bn_mode, pgd_at.attack.start, pgd_at.attack.clamp_start) == ("train", "uniform", True)
    assert (mail.attack_bn_mode, mail.attack.start, mail.attack.normal_std, mail.attack.clamp_start) == (
        "eval",
        "normal",
        0.001,
        False,  # at_loss.py / mail_loss.py: the first gradient at the raw x + 0.001 randn
    )
    forced = compose_cfg(["scheme=pgd_at", "train_attack=mail"]).scheme
    assert (forced.attack_bn_mode, forced.attack.start, forced.attack.clamp_start) == ("eval", "normal", False)


def test_vir_at_with_unit_weights_is_pgd_at_step_for_step():
    """Paper vir's AT row and VIR-AT with w = 1 (alpha 0, beta 1: S_v * S_d + beta = 1, the
    weight formula active from epoch 1) give bitwise the same parameters and BN statistics
    after several SGD steps, both built from the vir experiment's configs."""
    at = instantiate(experiment_scheme("vir", "rn18_cifar10", "at"))
    vir = instantiate(
        experiment_scheme(
            "vir",
            "rn18_cifar10",
            "vir_at",
            "scheme.alpha=0.0",
            "scheme.beta=1.0",
            "scheme.burn_in=0",
        )
    )
    assert isinstance(at, PGDAT) and isinstance(vir, VIRAT)
    data = batches(n_batches=5)
    a, b = train(at, make_model(), data), train(vir, make_model(), data)
    assert same_state(a, b)
    # ... and the check has teeth: real VIR weights move the parameters elsewhere
    vir_real = instantiate(experiment_scheme("vir", "rn18_cifar10", "vir_at", "scheme.burn_in=0"))
    assert not same_state(a, train(vir_real, make_model(), data))


def test_vir_at_with_unit_weights_differs_from_madry_pgd_at():
    """With the generic (Madry-style) pgd_at, VIR-AT at w = 1 is NOT PGD-AT: the reason the
    paper vir experiments put every row on one protocol."""
    data = batches()
    madry = instantiate(
        compose_cfg(["scheme=pgd_at", "data.eps=0.0313725", "scheme.attack.steps=3"]).scheme
    )
    vir = VIRAT(pgd(), alpha=0.0, beta=1.0, burn_in=0)
    assert not same_state(train(madry, make_model(), data), train(vir, make_model(), data))


def test_train_attack_on_a_scheme_without_attack_is_a_user_error():
    cfg = compose_cfg(["scheme=standard", "train_attack=mail"]).scheme
    with pytest.raises(UserError, match="no training attack"):
        build_scheme(cfg)
    assert instantiate(compose_cfg(["scheme=standard"]).scheme).name == "standard"


def test_bn_mode_and_start_each_change_training():
    data = batches()
    runs = {
        (bn, start): train(PGDAT(pgd(start=start), attack_bn_mode=bn), make_model(), data)
        for bn, start in [("eval", "normal"), ("train", "normal"), ("eval", "uniform")]
    }
    mail = runs[("eval", "normal")]
    assert not same_state(mail, runs[("train", "normal")])
    assert not same_state(mail, runs[("eval", "uniform")])
    # train-mode attacks update the BN running statistics once per attack forward
    fresh = make_model()
    n_before = fresh.bn.num_batches_tracked.item()
    assert mail.bn.num_batches_tracked.item() - n_before == len(data)  # the loss forward only
    assert runs[("train", "normal")].bn.num_batches_tracked.item() - n_before == len(data) * (3 + 1)


# ---------------------------------------------------------- item 2: weight detaching -------
def _param_grads(scheme, epoch):
    model = make_model()
    x, y = batches(n_batches=1)[0]
    scheme.bind(model)
    scheme.reseed(5)
    out = scheme.step(model, x, y, epoch)
    out.loss.backward()
    return out.loss.detach(), torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize(
    "build",
    [
        lambda d: WMMR(pgd(), detach=d, burn_in=1),
        lambda d: MarginReweightWMMR(pgd(), detach=d, burn_in=1, multiplier=3.0),
    ],
    ids=["wmmr", "mr_wmmr"],
)
def test_detach_changes_gradients_only_once_weights_are_active(build):
    loss_on, grad_on = _param_grads(build(True), epoch=2)
    loss_off, grad_off = _param_grads(build(False), epoch=2)
    assert torch.equal(loss_on, loss_off)  # same weights, same loss value
    assert not torch.allclose(grad_on, grad_off)  # the gradient through exp(-alpha m) differs
    # during burn-in the weights are 1 and detaching has nothing to act on
    _, burn_on = _param_grads(build(True), epoch=1)
    _, burn_off = _param_grads(build(False), epoch=1)
    assert torch.equal(burn_on, burn_off)


def test_irat_detaches_wmmr_and_ours_wmmr_alike():
    got = {
        name: experiment_scheme("irat", "main", name).get("detach")
        for name in paper_schemes("irat")
    }
    assert {k for k, v in got.items() if v is not None} == {
        "wmmr",
        "ours_wmmr",
        "mail",
        "ours_mail",
        "ewat",
        "gairat",
    }
    assert {v for v in got.values() if v is not None} == {True}, got
    flipped = {
        n: experiment_scheme("irat", "main", n, "irat_detach_weights=false").detach
        for n in ("wmmr", "ours_wmmr")
    }
    assert set(flipped.values()) == {False}
    # the generic configs keep each method's own code: WMMR's code does not detach
    assert compose_cfg(["scheme=wmmr"]).scheme.detach is False
    assert compose_cfg(["scheme=mr_wmmr"]).scheme.detach is True


# ----------------------------------------------------- item 3: MAIL-TRADES defaults --------
def official_mail_weight(logit, target, bias, slope):
    """Transcription of MAIL's mail_loss.py PM + weight_assign (10 classes, CPU)."""
    eye = torch.eye(10)
    probs_gt = (logit.softmax(1) * eye[target]).sum(1).detach()
    top2 = logit.softmax(1).topk(2, largest=True)
    gt_in_top2 = (top2[1] == target.view(-1, 1)).float().sum(1) == 1
    probs_2nd = torch.where(gt_in_top2, top2[0].sum(1) - probs_gt, top2[0][:, 0]).detach()
    return ((probs_2nd - probs_gt + bias) * slope).sigmoid().detach() * 3


def test_mail_trades_defaults_are_the_official_code():
    cfg = compose_cfg(["scheme=mail_trades", "data.eps=0.0313725", "scheme.attack.steps=2"]).scheme
    scheme = instantiate(cfg)
    assert isinstance(scheme, MAILTRADES)
    assert scheme.beta == 5.0  # train.py --beta 5.0 (TRADES trade-off)
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(64, 10, generator=g) * 3, torch.randint(0, 10, (64,), generator=g)
    ours = scheme.raw_weights(adv_logits=logits, y=y) * scheme.multiplier
    assert torch.allclose(
        ours, official_mail_weight(logits, y, bias=0.0, slope=2.0), atol=1e-6
    )  # README values
    # the old defaults (bias -0.5, slope 10: MAIL-AT's) are a different weighting
    assert not torch.allclose(
        ours, official_mail_weight(logits, y, bias=-0.5, slope=10.0), atol=1e-3
    )
    # and MAIL-AT's config matches the README's mail_at line
    mail = instantiate(compose_cfg(["scheme=mail", "data.eps=0.0313725"]).scheme)
    assert torch.allclose(
        mail.raw_weights(adv_logits=logits, y=y) * 3,
        official_mail_weight(logits, y, -0.5, 10.0),
        atol=1e-6,
    )


# ------------------------------------------------------- item 8: TRADES forward order ------
def official_trades_bn(model, x, y, attack_factory):
    """BN side of github.com/yaodongyu/TRADES trades.py: model.eval(), craft x', model.train(),
    then model(x_natural) [CE], model(x_adv), model(x_natural) [KL target]."""
    attack = attack_factory(model)
    attack.use_stream()  # a training attack: one sequential CPU stream (as the scheme's)
    attack.seed = 123
    attack.reset_rng()
    with bn_mode(model, "eval"):
        x_adv = attack.perturb(x, y, attack.eps)
    model.train()
    with torch.no_grad():
        model(x), model(x_adv), model(x)
    return model


@pytest.mark.parametrize("cls", [TRADES, VIRTRADES, MAILTRADES])
def test_trades_forward_order_sets_bn_running_statistics(cls):
    x, y = batches(n_batches=1)[0]
    attack = pgd(loss="kl")
    ref = official_trades_bn(make_model(), x, y, attack)
    out, models = {}, {}
    for order in FORWARD_ORDERS:
        scheme = cls(attack, forward_order=order, **({"burn_in": 0} if cls is not TRADES else {}))
        models[order] = make_model()
        scheme.bind(models[order])
        scheme.reseed(123)
        out[order] = scheme.step(models[order], x, y, epoch=1)
    official, short = models["nat_adv_nat"], models["nat_adv"]
    assert torch.equal(official.bn.running_mean, ref.bn.running_mean)
    assert torch.equal(official.bn.running_var, ref.bn.running_var)
    assert not torch.allclose(short.bn.running_mean, ref.bn.running_mean)
    assert official.bn.num_batches_tracked.item() == short.bn.num_batches_tracked.item() + 1
    # the loss itself is the same number: in train mode both natural forwards are identical
    assert torch.allclose(out["nat_adv_nat"].loss, out["nat_adv"].loss, rtol=1e-6)


def test_trades_order_defaults():
    assert (
        compose_cfg(["scheme=trades"]).scheme.forward_order == "nat_adv_nat"
    )  # official TRADES code
    assert (
        compose_cfg(["scheme=mail_trades"]).scheme.forward_order == "nat_adv"
    )  # official MAIL code
    # paper vir: TRADES and VIR-TRADES on one order (the MAIL code's TRADES branch)
    orders = {
        s: experiment_scheme("vir", "rn18_cifar10", s).forward_order
        for s in ("trades", "vir_trades")
    }
    assert set(orders.values()) == {"nat_adv"}
    flipped = {
        s: experiment_scheme(
            "vir", "rn18_cifar10", s, "vir_trades_forward_order=nat_adv_nat"
        ).forward_order
        for s in ("trades", "vir_trades")
    }
    assert set(flipped.values()) == {"nat_adv_nat"}


def test_unknown_forward_order_is_a_user_error():
    with pytest.raises(UserError):
        TRADES(pgd(loss="kl"), forward_order="adv_nat")
    with pytest.raises(UserError):
        VIRTRADES(pgd(loss="kl"), forward_order="nat")
