"""Tests of the attack suite (robustbench_runner.attacks) on a tiny undefended MLP trained
for a few seconds on sklearn's 8x8 digits (inputs in [0, 1], shape (B, 1, 8, 8))."""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from pyautoattack import AutoAttack
from sklearn.datasets import load_digits
from torch import nn

from rbr_testing import REPO
from robustbench_runner.attacks import Attack, available_attacks, create_attack, eps_sweep
from robustbench_runner.attacks.blackbox import QueryModel
from robustbench_runner.attacks.losses import cw_loss, margin, wrong_class_max
from robustbench_runner.errors import UserError

CONF = REPO / "conf"
EPS = 0.15  # large enough that every attack fools some points of the undefended model

# Cheap settings per registered attack (the defaults are paper-scale).
FAST = {
    "fgsm": {},
    "pgd": {"steps": 10},
    "apgd": {"n_iter": 20},
    "apgd_t": {"n_iter": 10, "n_target_classes": 3},
    "fab": {"n_iter": 10, "n_target_classes": 3},
    "square": {"n_queries": 300},
    "autoattack": {},
    "fmn": {"steps": 30},
    "spsa": {"iterations": 10, "samples": 32},
    "md": {"steps": 20, "change_point": 8},
    "md_mt": {"steps": 20, "change_point": 8, "n_target_classes": 3},
    "mde": {"apgd_n_iter": 20, "md_steps": 20, "md_change_point": 8, "n_target_classes": 3, "fab_n_iter": 10},
}
POINTS = {"autoattack": 12}  # AutoAttack standard has no cheap settings: fewer points
RANDOMIZED = ["pgd", "apgd", "apgd_t", "square", "spsa", "md", "md_mt", "mde"]


# -- fixtures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).div(16).unsqueeze(1)
    return x, torch.tensor(data.target)


@pytest.fixture(scope="module")
def tiny(digits):
    """(model, x, y): an MLP 64-32-10 trained 150 Adam steps on 1200 digits, in eval mode,
    parameters frozen, and 32 clean-correct held-out points (what the engine passes)."""
    x, y = digits
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(150):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[:1200]), y[:1200]).backward()
            opt.step()
    model.eval().requires_grad_(False)
    xt, yt = x[1200:], y[1200:]
    with torch.no_grad():
        correct = model(xt).argmax(1) == yt
    assert correct.float().mean() > 0.85  # the fixture is a working classifier
    return model, xt[correct][:32], yt[correct][:32]


def robust_acc(pred: torch.Tensor, y: torch.Tensor) -> float:
    return (pred == y).float().mean().item()


# -- every registered attack -------------------------------------------------------------
def test_fast_settings_cover_every_registered_attack():
    assert sorted(FAST) == available_attacks()


@pytest.mark.parametrize("key", available_attacks())
def test_outputs_in_eps_ball_and_box_and_fool_some(tiny, key):
    model, x, y = tiny
    x, y = x[: POINTS.get(key)], y[: POINTS.get(key)]
    attack = create_attack(key, model, eps=EPS, **FAST[key])
    x_adv = attack.perturb(x, y, EPS)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert (x_adv - x).abs().max().item() <= EPS + 1e-6
    assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0
    preds = attack.predictions(x, y)
    assert list(preds) == [EPS] and preds[EPS].shape == y.shape
    assert robust_acc(preds[EPS], y) < 1.0  # the undefended model is fooled somewhere


@pytest.mark.parametrize("key", RANDOMIZED)
def test_same_seed_same_output_other_seed_differs(tiny, key):
    model, x, y = tiny
    eps = 0.12
    runs = [create_attack(key, model, eps=eps, seed=s, **FAST[key]).perturb(x, y, eps) for s in (3, 3, 4)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


@pytest.mark.parametrize("key", ["fgsm", "fmn", "fab"])
def test_deterministic_attacks_repeat_exactly(tiny, key):
    model, x, y = tiny
    a, b = (create_attack(key, model, eps=0.08, **FAST[key]) for _ in range(2))
    assert torch.equal(a.perturb(x, y, 0.08), b.perturb(x, y, 0.08))


def test_eps_zero_leaves_inputs_alone(tiny):
    model, x, y = tiny
    for key in ("pgd", "md", "spsa", "apgd"):
        attack = create_attack(key, model, eps=0.0, **FAST[key])
        assert torch.equal(attack.perturb(x, y, 0.0), x)
        assert torch.equal(attack.predictions(x, y)[0.0], y)


# -- registry, sweeps, bad input ---------------------------------------------------------------
def test_unknown_attack_is_a_user_error(tiny):
    with pytest.raises(UserError, match="unknown attack 'pgdd'"):
        create_attack("pgdd", tiny[0], eps=0.1)


def test_bad_knobs_are_user_errors(tiny):
    model = tiny[0]
    with pytest.raises(UserError):
        create_attack("pgd", model, eps=0.1, loss="hinge")
    with pytest.raises(UserError, match="time"):
        create_attack("autoattack", model, eps=0.1, seed=None)
    with pytest.raises(UserError):
        create_attack("md", model, eps=0.1, steps=10, change_point=10)
    with pytest.raises(UserError):
        create_attack("fgsm", model, eps=[0.1, 0.2], eps_points=3)


def test_eps_points_sweep_ends_exactly_at_eps(tiny):
    eps = 8 / 255
    values = eps_sweep(eps, 11)
    assert len(values) == 11 and values[0] == 0.0 and values[-1] == eps
    assert np.allclose(np.diff(values), eps / 10)
    attack = create_attack("fgsm", tiny[0], eps=eps, eps_points=11)
    assert attack.eps_list == values


def test_fgsm_sweep_matches_one_fgsm_per_eps(tiny):
    model, x, y = tiny
    grid = [0.0, 0.05, 0.1, 0.2]
    sweep = create_attack("fgsm", model, eps=grid).predictions(x, y)
    for eps in grid:
        single = create_attack("fgsm", model, eps=eps)
        assert torch.equal(sweep[eps], single._predict(single.perturb(x, y, eps)))


# -- losses ----------------------------------------------------------------------------
def test_cw_margin_masks_true_class_with_minus_infinity():
    # All logits negative and the true class (0) not the largest: the right wrong-class
    # max is -0.5 (class 2); a 0-mask (logits * (1 - onehot)) would return 0.
    logits = torch.tensor([[-2.0, -3.0, -0.5], [-1.0, -4.0, -6.0]])
    y = torch.tensor([0, 0])
    zero_mask_max = (logits * (1 - nn.functional.one_hot(y, 3))).max(dim=1).values
    assert zero_mask_max.tolist() == [0.0, 0.0]  # what the wrong implementation would see
    assert wrong_class_max(logits, y).tolist() == [-0.5, -4.0]
    assert margin(logits, y).tolist() == [-1.5, 3.0]
    assert cw_loss(logits, y).tolist() == [-0.0, -3.0]  # -relu(z_y - max_{k!=y} z_k)
    assert cw_loss(logits, y, kappa=2.0).tolist() == [-0.5, -5.0]


# -- PGD ---------------------------------------------------------------------------------
def test_pgd_fools_at_least_as_often_as_fgsm(tiny):
    model, x, y = tiny
    eps = 0.08
    fgsm = robust_acc(create_attack("fgsm", model, eps=eps).predictions(x, y)[eps], y)
    pgd = robust_acc(create_attack("pgd", model, eps=eps, steps=20).predictions(x, y)[eps], y)
    assert pgd <= fgsm
    assert pgd < 1.0


@pytest.mark.parametrize(
    "knobs",
    [
        {"loss": "ce", "start": "uniform"},
        {"loss": "cw", "start": "uniform", "kappa": 50.0},
        {"loss": "dlr", "start": "normal"},
        {"loss": "ce", "start": "uniform", "restarts": 2, "steps": 5},
    ],
)
def test_pgd_best_iterate_never_beats_last_iterate(tiny, knobs):
    model, x, y = tiny
    eps = 0.08
    knobs = {"steps": 20, **knobs}
    last = create_attack("pgd", model, eps=eps, seed=5, **knobs).perturb(x, y, eps)
    with torch.no_grad():
        last_acc = robust_acc(model(last).argmax(1), y)
    best_acc = robust_acc(create_attack("pgd", model, eps=eps, seed=5, **knobs).predictions(x, y)[eps], y)
    assert best_acc <= last_acc
    assert (last - x).abs().max() <= eps + 1e-6


@pytest.mark.parametrize(
    ("compact_at", "clamp_start", "check_every"),
    [(0.0, True, None), (0.125, True, None), (0.125, True, 4), (0.5, True, 3), (1.0, True, None), (0.125, False, 4)],
)
def test_pgd_best_iterate_is_the_first_fooling_iterate_whatever_the_compaction(tiny, compact_at, clamp_start, check_every):
    """``compact_at`` and ``check_every`` change only when fooled points leave the working
    batch (and when the host looks), never the answer: each point's prediction is that of the
    first iterate of its own full-batch walk (same start) that fools it, else its label. With
    ``clamp_start: false`` the raw start is not judged, only the projected iterates after it."""
    model, x, y = tiny
    eps, steps = 0.08, 10
    ref_attack = create_attack("pgd", model, eps=eps, steps=steps, seed=3, clamp_start=clamp_start)
    xa = ref_attack._start(x, eps, y)
    expected, open_ = y.clone(), torch.ones_like(y, dtype=torch.bool)
    for step in range(steps + 1):
        with torch.no_grad():
            p = model(xa).argmax(1)
        new = open_ & (p != y) & (step > 0 or clamp_start)
        expected[new], open_ = p[new], open_ & ~new
        if step < steps:
            _, grad = ref_attack._loss_and_grad(xa, y, None)
            xa = torch.min(torch.max(xa + ref_attack.alpha(eps) * grad.sign(), x - eps), x + eps).clamp(0, 1)
    assert 0 < int((expected != y).sum()) < len(y)  # some points fall, some survive: compaction is exercised
    got = create_attack("pgd", model, eps=eps, steps=steps, seed=3, compact_at=compact_at, clamp_start=clamp_start,
                        check_every=check_every).predictions(x, y)[eps]  # fmt: skip
    assert torch.equal(got, expected)


@pytest.mark.parametrize("start", ["normal", "uniform"])
@pytest.mark.parametrize("clamp_start", [True, False])
def test_pgd_start_clamping_follows_the_official_loops(tiny, start, clamp_start):
    """``perturb`` is step for step the training loop of the official code it names:
    ``clamp_start: false`` is TRADES' ``trades.py`` / MAIL's ``at_loss.py`` (x + 0.001 randn,
    or MAIL's ``_pgd_whitebox`` x + U(-eps, eps), fed to the first gradient as it is, then
    step, project onto the ball, clip to [0, 1]); ``true`` is Madry et al. / GAIRAT's Madry
    branch (the start clipped first)."""
    model, x, y = tiny
    eps, alpha, steps = 0.1, 0.025, 5
    x = x.clone()
    x[..., 0, :] = 0.0  # a row of pixels at the border of [0, 1], where clipping the start changes it
    knobs = {"eps": eps, "steps": steps, "step_size": alpha, "start": start, "clamp_start": clamp_start, "seed": 4}
    raw = create_attack("pgd", model, **{**knobs, "clamp_start": False})._start(x, eps, y)  # the same draw
    assert (raw < 0).any()

    def official(x_adv):
        for _ in range(steps):
            x_adv = x_adv.detach().requires_grad_(True)
            with torch.enable_grad():
                loss = torch.nn.functional.cross_entropy(model(x_adv), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = x_adv.detach() + alpha * grad.sign()
            x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
        return x_adv

    want, other = official(raw.clamp(0.0, 1.0)), official(raw)
    if not clamp_start:
        want, other = other, want
    assert not torch.allclose(want, other, atol=1e-6, rtol=0)  # the two protocols differ here
    got = create_attack("pgd", model, **knobs).perturb(x, y, eps)
    assert torch.allclose(got, want, atol=1e-6, rtol=0)


def test_pgd_compact_at_outside_0_1_is_a_user_error(tiny):
    with pytest.raises(UserError, match="compact_at"):
        create_attack("pgd", tiny[0], eps=0.1, compact_at=1.5)


def test_pgd_predictions_record_the_fooling_label(tiny):
    model, x, y = tiny
    preds = create_attack("pgd", model, eps=0.2, steps=10).predictions(x, y)[0.2]
    fooled = preds != y
    assert fooled.any()
    assert (preds[fooled] != y[fooled]).all() and preds.max() < 10


# -- FMN -------------------------------------------------------------------------------
def test_fmn_matches_foolbox_reference(tiny):
    """Same robust accuracy as foolbox's LInfFMNAttack (same 100 steps, alpha 1 -> 0.01,
    gamma 0.05 -> 0.001) at every eps, up to one point of 32: float sums in a different
    order can move a norm sitting exactly at eps, and foolbox judges the perturbation
    clipped to eps while we use the norm criterion (docs/papers/README.md). Measured: 0
    disagreements and norms equal to 4e-8."""
    with warnings.catch_warnings():  # foolbox imports a deprecated scipy namespace
        warnings.simplefilter("ignore", DeprecationWarning)
        import foolbox as fb

    model, x, y = tiny
    grid = [0.03, 0.05, 0.08, 0.1, 0.15]
    _, _, success = fb.attacks.LInfFMNAttack(steps=100)(fb.PyTorchModel(model, bounds=(0, 1)), x, y, epsilons=grid)
    ours = create_attack("fmn", model, eps=grid, steps=100).predictions(x, y)
    for i, eps in enumerate(grid):
        assert abs(robust_acc(ours[eps], y) - (1 - success[i].float().mean().item())) <= 1 / 32 + 1e-9


def test_fmn_one_run_serves_every_eps(tiny):
    model, x, y = tiny
    grid = [0.02, 0.05, 0.1, 0.2]
    fmn = create_attack("fmn", model, eps=grid, steps=30)
    preds = fmn.predictions(x, y)
    accs = [robust_acc(preds[e], y) for e in grid]
    assert accs == sorted(accs, reverse=True) and accs[0] > accs[-1]
    result = fmn.minimum_norm(x, y)
    for eps in grid:  # robust at eps <=> best norm > eps (or none found)
        assert torch.equal(preds[eps] == y, ~(result.found & (result.norm <= eps)))
        assert torch.equal(fmn._predict(fmn.perturb(x, y, eps)) == y, preds[eps] == y)


# -- black-box attacks -------------------------------------------------------------------------
class ForwardOnly(nn.Module):
    """Wraps a model; raises if a forward pass runs with gradients enabled (so no gradient
    can ever flow back through the model)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.calls = 0

    def forward(self, x):
        if torch.is_grad_enabled() or x.requires_grad:
            raise AssertionError("a black-box attack ran the model with gradients enabled")
        self.calls += 1
        return self.model(x)


@pytest.mark.parametrize("key", ["spsa", "square"])
def test_black_box_attacks_only_query_outputs(tiny, key):
    model, x, y = tiny
    guarded = ForwardOnly(model)
    attack = create_attack(key, guarded, eps=EPS, **FAST[key])
    assert attack.black_box
    preds = attack.predictions(x, y)[EPS]
    assert guarded.calls > 0
    assert robust_acc(preds, y) < 1.0


def test_forward_only_guard_catches_gradients(tiny):
    guarded = ForwardOnly(tiny[0])
    with pytest.raises(AssertionError, match="gradients"):
        create_attack("pgd", guarded, eps=0.1, steps=2).predictions(tiny[1], tiny[2])


def test_spsa_gradient_estimate_matches_true_gradient(tiny):
    """On a linear model the margin is linear near x, so the SPSA estimate is unbiased:
    with 4000 directions in 64 dimensions its cosine with the true gradient is ~0.98."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        linear = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).requires_grad_(False)
    x, y = tiny[1][:4], tiny[2][:4]
    spsa = create_attack("spsa", linear, eps=0.1, samples=4000, batch_size=16000)
    estimate = spsa._gradient_estimate(QueryModel(linear), x, y, spsa.keys(x, y), 1)
    xg = x.clone().requires_grad_(True)
    (true,) = torch.autograd.grad(margin(linear(xg), y).sum(), xg)
    cos = nn.functional.cosine_similarity(estimate.flatten(1), true.flatten(1), dim=1)
    assert (cos > 0.95).all()


# -- official AutoAttack code ---------------------------------------------------------------------
def rng_snapshot():
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


def same_rng(a, b) -> bool:
    return torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


@pytest.mark.slow  # ~15 s; the prs suite (with AutoAttack) runs in the fast suite
def test_autoattack_wrapper_equals_library_and_keeps_rng(tiny, caplog):
    """Our AutoAttack is the library's ``run_standard_evaluation`` with its APGD, APGD-T and
    Square objects drawing per point (library_rng.install; that those change only the random
    source is tested in test_attack_randomness.py); the global RNG is restored, the library
    silenced."""
    from robustbench_runner.attacks import library_rng

    model, x, y = tiny
    x, y, eps = x[:16], y[:16], 0.08
    caplog.set_level("DEBUG", logger="auto-attack")
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    before = rng_snapshot()
    ours = create_attack("autoattack", model, eps=eps, seed=0).predictions(x, y)[eps]
    assert same_rng(before, rng_snapshot())
    assert not [r for r in caplog.records if r.name == "auto-attack"]  # silenced

    adversary = AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=0, device="cpu")
    library_rng.install(adversary, 0)
    _, direct = adversary.run_standard_evaluation(x, y, batch_size=len(x))
    assert not same_rng(before, rng_snapshot())  # the library does reseed the global RNG
    assert torch.equal(ours == y, direct == y)
    assert 0.0 < robust_acc(ours, y) < 1.0  # the comparison is not trivial


def test_apgd_wrapper_keeps_rng_and_draws_per_point(tiny):
    from pyautoattack.autopgd_base import APGDAttack

    model, x, y = tiny
    eps = 0.06
    before = rng_snapshot()
    ours = create_attack("apgd", model, eps=eps, seed=7, n_iter=20).perturb(x, y, eps)
    assert same_rng(before, rng_snapshot())
    assert (ours - x).abs().max() <= eps + 1e-6
    with torch.random.fork_rng():
        direct = APGDAttack(model, n_iter=20, norm="Linf", eps=eps, seed=7, loss="ce", device="cpu").perturb(x, y)
    assert not torch.equal(ours, direct)  # other starts than the library's batch-position draws


def test_mde_is_a_cascade_starting_with_apgd_ce(tiny):
    model, x, y = tiny
    eps = 0.06
    mde = create_attack("mde", model, eps=eps, **FAST["mde"]).predictions(x, y)[eps]
    apgd = create_attack("apgd", model, eps=eps, n_iter=20).predictions(x, y)[eps]
    assert not ((mde == y) & (apgd != y)).any()  # fooled by APGD-CE => fooled by MDE
    assert robust_acc(mde, y) <= robust_acc(apgd, y)


# -- MD schedule -------------------------------------------------------------------------
def test_md_step_schedule_is_the_official_cosine_schedule(tiny):
    md = create_attack("md", tiny[0], eps=0.1)  # 50 steps, change point 20, 2 eps
    assert md.step_size(1, 0.1) == pytest.approx(0.2)
    assert md.step_size(0, 0.1) == pytest.approx(0.2 * 0.5 * (1 + math.cos(-math.pi / 30)))
    assert md.step_size(20, 0.1) == pytest.approx(0.2 * 0.5 * (1 + math.cos(19 * math.pi / 30)))
    assert md.step_size(21, 0.1) == pytest.approx(0.2)  # annealing restarts in stage 2
    assert md.step_size(49, 0.1) == pytest.approx(0.2 * 0.5 * (1 + math.cos(28 * math.pi / 30)))
    logits = torch.tensor([[1.0, 3.0, 2.0]])
    y = torch.tensor([0])
    assert md.objective(logits, y, None, 0, 0).item() == 1.0  # step 0: z_y
    assert md.objective(logits, y, None, 5, 0).item() == -1.0  # stage 1, run 0: -z_y
    assert md.objective(logits, y, None, 5, 1).item() == 3.0  # stage 1, run 1: z_max
    assert md.objective(logits, y, None, 20, 1).item() == 2.0  # stage 2: z_max - z_y
    assert md.objective(logits, y, torch.tensor([2]), 20, 1).item() == 1.0  # MD-MT: z_t - z_y


# -- configs -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def resolvers():
    """The real resolvers come with robustbench_runner.config; register frac if absent."""
    try:
        import robustbench_runner.config  # noqa: F401
    except ImportError:
        if not OmegaConf.has_resolver("frac"):
            OmegaConf.register_new_resolver("frac", lambda a, b: float(a) / float(b))


@pytest.mark.parametrize("path", sorted((CONF / "attack").glob("*.yaml")), ids=lambda p: p.stem)
def test_each_attack_config_instantiates(tiny, resolvers, path):
    root = OmegaConf.merge({"data": {"eps": 0.1, "eps_grid": [0.0, 0.05, 0.1]}}, {"attack": OmegaConf.load(path)})
    attack = instantiate(root.attack)(model=tiny[0])
    assert isinstance(attack, Attack)
    assert attack.eps_list == [0.1]
    assert attack.name == root.attack.name


SUITES = {
    "default": {"FGSM": 3, "PGD-20": 1},
    "prs": {"FGSM": 11, "PGD-20": 1, "AA": 1},
    "irat": {"FGSM": 1, "PGD-100": 1, "CW-PGD": 1, "APGD-CE": 1, "AA": 1},
    "auc": {"FGSM": 9},
    "vir": {"FGSM": 1, "PGD-100": 1, "CW": 1, "FMN-100": 1, "AA": 1, "MDE": 1},
    "vir_blackbox": {"Square": 1, "SPSA": 1},
}


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_suites_compose_with_paper_labels(tiny, resolvers, suite):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(overrides=[f"+attacks={suite}", "+data.eps=0.0313", "+data.eps_grid=[0.0,0.01,0.0313]"])
    attacks = [instantiate(c)(model=tiny[0]) for c in cfg.attacks.values()]
    assert {a.name: len(a.eps_list) for a in attacks} == SUITES[suite]
    by_name = {a.name: a for a in attacks}
    if suite == "prs":
        # paper prs's PGD-20 step: alpha = 2/255 (its main text), not 2.5 * eps / steps
        assert by_name["FGSM"].eps_list[-1] == 0.0313 and by_name["PGD-20"].alpha(0.0313) == 2 / 255
        assert by_name["PGD-20"].iterate == "best"
    if suite == "vir":
        assert by_name["PGD-100"].step_size == 1 / 255 and by_name["CW"].steps == 20
        assert by_name["CW"].loss_name == "cw" and by_name["CW"].step_size == 1 / 255
        assert by_name["PGD-100"].iterate == by_name["CW"].iterate == "last"  # MAIL/GAIRAT eval code
        assert by_name["PGD-100"].clamp_start is by_name["CW"].clamp_start is False  # MAIL's _pgd_whitebox
    if suite == "irat":
        assert by_name["PGD-100"].iterate == by_name["CW-PGD"].iterate == "last"
        assert by_name["PGD-100"].clamp_start is by_name["CW-PGD"].clamp_start is False
    if suite == "prs":
        assert by_name["PGD-20"].clamp_start is True
    if suite == "auc":
        assert by_name["FGSM"].points == "all"
    if suite == "vir_blackbox":
        assert by_name["Square"].n_queries == 5000 and by_name["SPSA"].samples == 256
        assert by_name["SPSA"].pairs == 128  # 256 queries per estimate (original SPSA code)


def test_autoattack_smoke_knobs_reach_the_library_objects(tiny):
    from robustbench_runner.attacks.autoattack import AutoAttackStandard
    from robustbench_runner.attacks.official import library_call

    model = tiny[0]
    ours = AutoAttackStandard(model, 0.1, n_iter=3, n_target_classes=1, fab_n_iter=4, n_queries=20)
    with library_call():
        lib = AutoAttack(model, norm="Linf", eps=0.1, version="standard", seed=0, device="cpu")
    ours._shrink(lib)
    assert (lib.apgd.n_iter, lib.apgd_targeted.n_iter) == (3, 3)
    assert (lib.apgd_targeted.n_target_classes, lib.fab.n_target_classes) == (1, 1)
    assert (lib.fab.n_iter, lib.square.n_queries) == (4, 20)
    untouched = AutoAttackStandard(model, 0.1)
    with library_call():
        lib2 = AutoAttack(model, norm="Linf", eps=0.1, version="standard", seed=0, device="cpu")
    untouched._shrink(lib2)
    assert (lib2.apgd.n_iter, lib2.fab.n_iter, lib2.square.n_queries) == (100, 100, 5000)
    with pytest.raises(UserError, match="n_iter must be >= 1"):
        AutoAttackStandard(model, 0.1, n_iter=0)
