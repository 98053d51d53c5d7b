"""Evaluation protocol choices (issue 12 items 4, 5, 7, 9): each is a config value, and the
two settings give different results where they should and equal results where they should.

- ``iterate: best|last`` (PGD/CW-PGD, SPSA): on a 1-D model whose PGD walk crosses a fooling
  region and leaves it, best counts the point fooled and last does not; last equals the
  prediction on ``perturb``'s output and does not depend on which other points are attacked;
- ``points: robust|all`` (paper auc's FGSM sweep): on a 1-D model where FGSM turns a
  clean-misclassified image right at a large eps, ``all`` shows the rebound and ``robust``
  does not; f(0) is the same; on a model with no clean error they agree;
- SPSA ``samples_unit: queries|pairs``: the number of model queries per gradient estimate;
- ``clean-attacked``: clean accuracy on the attacked points, next to the unchanged ``clean``.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from rbr_testing import TINY, compose_cfg, run_inprocess
from robustbench_runner.attacks import create_attack
from robustbench_runner.attacks.base import POINTS
from robustbench_runner.errors import UserError
from robustbench_runner.evaluate import CLEAN, CLEAN_ATTACKED, attack_predictions, evaluate, predict


class Curve1D(nn.Module):
    """Two classes on a 1-D input x in [0, 1]: logits (0, g(x)); class 1 wins where g > 0."""

    def __init__(self, g):
        super().__init__()
        self.g = g
        self.dummy = nn.Parameter(torch.zeros(()))  # the engine finds the device from a parameter

    def forward(self, x):
        z1 = self.g(x[:, 0]) + 0 * self.dummy
        return torch.stack([torch.zeros_like(z1), z1], dim=1)


def bump(x):
    """Positive on (0.73, 0.97) only: a PGD walk 0.5 -> 0.8 -> 1.0 (step 0.3) enters the
    fooling region at its first step and leaves it at its second."""
    return 1 - ((x - 0.85) / 0.12) ** 2


def valley(x):
    """Negative on (0.28, 0.72): an image at 0.55 with label 1 is misclassified; FGSM at its
    true label moves it left (g' > 0 there), to 0.25 at eps 0.3, where g > 0: right again."""
    return 10 * (x - 0.5) ** 2 - 0.5


# -- item 4: which iterate counts ------------------------------------------------------------


def test_best_and_last_iterate_differ_where_the_walk_leaves_the_fooling_region():
    model = Curve1D(bump)
    x, y = torch.tensor([[0.5]]), torch.tensor([0])
    kw = dict(eps=0.5, steps=2, step_size=0.3, start="none")
    best = create_attack("pgd", model, iterate="best", **kw).predictions(x, y)[0.5]
    last = create_attack("pgd", model, iterate="last", **kw).predictions(x, y)[0.5]
    assert best.tolist() == [1]  # fooled at the intermediate iterate 0.8
    assert last.tolist() == [0]  # the final iterate 1.0 is classified right again
    # with one step more the walk comes back to 0.7 (outside the region): still equal to perturb
    for steps in (1, 2, 3):
        pgd = create_attack("pgd", model, iterate="last", **{**kw, "steps": steps})
        assert pgd.predictions(x, y)[0.5].tolist() == model(pgd.perturb(x, y, 0.5)).argmax(1).tolist()


@pytest.fixture(scope="module")
def digits_model():
    """A small linear-softmax model on 8x8 digits, trained for a few hundred steps."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data[:600] / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target[:600])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval(), x[:200], y[:200]


@pytest.mark.parametrize("loss", ["ce", "cw"])
def test_last_iterate_equals_perturb_with_restarts(digits_model, loss):
    model, x, y = digits_model
    pgd = create_attack("pgd", model, eps=0.15, steps=5, restarts=2, loss=loss, kappa=50.0, iterate="last", seed=3)
    preds = pgd.predictions(x, y)[0.15]
    pgd.reset_rng()
    ref = model(pgd.perturb(x, y, 0.15)).argmax(1)
    assert torch.equal(preds, ref)


def test_last_iterate_does_not_depend_on_which_points_are_attacked(digits_model):
    """The engine attacks only clean-correct points (and may attack survivors only): with
    ``last`` each point's answer is its own final iterate, whatever else is in the batch."""
    model, x, y = digits_model
    pgd = create_attack("pgd", model, eps=0.2, steps=10, step_size=0.05, start="none", iterate="last")
    full = pgd.predictions(x, y)[0.2]
    idx = torch.arange(0, len(x), 3)
    assert torch.equal(pgd.predictions(x[idx], y[idx])[0.2], full[idx])
    # through the engine: clean-misclassified points keep their clean prediction
    clean = predict(model, x)
    engine = attack_predictions(model, pgd, x, y, clean)[0.2]
    ok = clean == y
    assert torch.equal(engine[ok], full[ok]) and torch.equal(engine[~ok], clean[~ok])


def test_best_never_above_last_and_differs_on_a_trained_model(digits_model):
    model, x, y = digits_model
    kw = dict(eps=0.3, steps=10, step_size=0.1, seed=1)
    best = create_attack("pgd", model, iterate="best", **kw).predictions(x, y)[0.3]
    last = create_attack("pgd", model, iterate="last", **kw).predictions(x, y)[0.3]
    acc_best, acc_last = (best == y).float().mean().item(), (last == y).float().mean().item()
    assert acc_best <= acc_last
    # every point best leaves robust, last leaves robust too (same trajectories)
    assert bool(((best == y) <= (last == y)).all())


def test_iterate_is_validated():
    with pytest.raises(UserError, match="iterate"):
        create_attack("pgd", Curve1D(bump), eps=0.1, iterate="final")
    with pytest.raises(UserError, match="points"):
        create_attack("fgsm", Curve1D(bump), eps=0.1, points="every")
    assert POINTS == ("robust", "all")


# -- item 5: FGSM on every test image (paper auc) -------------------------------------------------


EPS_D = [0.0, 0.1, 0.2, 0.3]


def _fgsm_rows(model, x, y, points):
    df = evaluate(model, x, y, {"f": create_attack("fgsm", model, eps=EPS_D, points=points)}, worst_case=False)
    return df[df.attack == "FGSM"].set_index(["metric", "eps"])["value"]


def test_fgsm_all_points_shows_the_rebound_robust_does_not():
    model = Curve1D(valley)
    # 0.55 label 1: misclassified, FGSM turns it right at eps 0.3; 0.5 label 0: right, and
    # g'(0.5) = 0, so FGSM leaves it where it is
    x, y = torch.tensor([[0.55], [0.5]]), torch.tensor([1, 0])
    assert predict(model, x).tolist() == [0, 0]  # first wrong, second right
    robust, every = _fgsm_rows(model, x, y, "robust"), _fgsm_rows(model, x, y, "all")
    acc_r = [robust[("acc", e)] for e in EPS_D]
    acc_a = [every[("acc", e)] for e in EPS_D]
    assert acc_r[0] == acc_a[0] == 0.5  # f(0) = clean accuracy on the same points
    assert acc_r[-1] == 0.5 and acc_a[-1] == 1.0  # the rebound
    assert acc_a[-1] > acc_a[0]  # a curve above f(0): possible only with points: all
    r_robust = robust.xs("auc_norm", level="metric").iloc[0]
    r_all = every.xs("auc_norm", level="metric").iloc[0]
    assert r_all > r_robust


def test_fgsm_points_agree_without_clean_errors():
    model = Curve1D(valley)
    x, y = torch.tensor([[0.9], [0.05], [0.5]]), torch.tensor([1, 1, 0])
    assert torch.equal(predict(model, x), y)
    robust, every = _fgsm_rows(model, x, y, "robust"), _fgsm_rows(model, x, y, "all")
    pd.testing.assert_series_equal(robust, every)


def test_auc_experiments_use_points_all_and_other_papers_robust():
    d = compose_cfg(["experiment=auc/mnist"])
    assert d.attacks.fgsm.points == "all"
    for exp in ("experiment=prs/candidates", "experiment=irat/main", "experiment=vir/rn18_cifar10"):
        cfg = compose_cfg([exp])
        assert {a.get("points", "robust") for a in cfg.attacks.values() if a is not None} == {"robust"}, exp


# -- item 4/6 in the paper experiments -----------------------------------------------------------


def test_paper_experiments_show_their_iterate_and_step():
    b = compose_cfg(["experiment=irat/main"])
    assert b.attacks.pgd100.iterate == "last" and b.attacks.cw_pgd.iterate == "last"
    e = compose_cfg(["experiment=vir/rn18_cifar10"])
    assert e.attacks.pgd100.iterate == "last" and e.attacks.cw.iterate == "last"
    a = compose_cfg(["experiment=prs/candidates", "scale=paper"])
    assert a.attacks.pgd20.step_size == pytest.approx(2 / 255) and a.attacks.pgd20.iterate == "best"
    generic = compose_cfg([])
    assert generic.attacks.pgd20.iterate == "best" and generic.attacks.pgd20.step_size is None


# -- item 7: SPSA query counting -----------------------------------------------------------------


class Counting(nn.Module):
    """Counts the rows (model queries) it is called on."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.rows = inner, 0

    def forward(self, x):
        self.rows += len(x)
        return self.inner(x)


@pytest.mark.parametrize("unit, per_estimate", [("queries", 8), ("pairs", 16)])
def test_spsa_samples_unit_is_the_number_of_queries_per_estimate(digits_model, unit, per_estimate):
    model, x, y = digits_model
    counting = Counting(model)
    spsa = create_attack("spsa", counting, eps=1e-6, samples=8, samples_unit=unit, iterations=1, iterate="last")
    spsa.predictions(x[:5], y[:5])
    # start check (1 per point) + one estimate + the final prediction (1 per point)
    assert counting.rows == 5 * (1 + per_estimate + 1)
    assert spsa.pairs == per_estimate // 2


def test_spsa_vir_256_samples_are_256_queries():
    cfg = compose_cfg(["attacks=vir_blackbox", "data.eps=0.03"])
    spsa = create_attack("spsa", Curve1D(bump), eps=0.03, **{k: v for k, v in cfg.attacks.spsa.items()
                         if k in ("samples", "samples_unit", "iterations", "perturbation", "lr")})  # fmt: skip
    assert spsa.samples == 256 and spsa.samples_unit == "queries" and spsa.pairs == 128
    with pytest.raises(UserError, match="even"):
        create_attack("spsa", Curve1D(bump), eps=0.03, samples=255)


def test_spsa_best_stops_attacking_fooled_points_last_runs_them_all(digits_model):
    model, x, y = digits_model
    rows = {}
    for it in ("best", "last"):
        counting = Counting(model)
        spsa = create_attack("spsa", counting, eps=0.3, samples=8, iterations=5, lr=0.05, iterate=it)
        preds = spsa.predictions(x[:20], y[:20])[0.3]
        rows[it] = (counting.rows, (preds == y[:20]).float().mean().item())
    assert rows["best"][0] < rows["last"][0]  # fooled points leave the batch under best
    assert rows["last"][0] == 20 * (1 + 5 * 8 + 1)


# -- item 9: clean accuracy on the attacked points ---------------------------------------------------


def test_clean_accuracy_on_the_attacked_points_is_written(tmp_path):
    run = run_inprocess([*TINY, f"output_root={tmp_path}", "eval.grid=[2]", "attacks.fgsm_sweep.eps=[0.0,0.1]"])
    m = pd.read_csv(run / "metrics.csv")
    acc = m[(m.metric == "acc") & (m.checkpoint == "epoch_002")]
    full = acc[acc.attack == CLEAN]
    sub = acc[acc.attack == CLEAN_ATTACKED]
    assert len(full) == 1 and len(sub) == 1
    assert int(full.n.iloc[0]) == 80 and int(sub.n.iloc[0]) == 40  # data.limit_test / eval.n_eval
    # the same points as the attacks: FGSM at eps 0 is exactly clean accuracy on them
    fgsm0 = acc[(acc.attack == "FGSM") & (acc.eps == 0.0)]
    assert float(fgsm0.value.iloc[0]) == pytest.approx(float(sub.value.iloc[0]))
    pgd = acc[acc.attack.str.startswith("PGD")]
    assert len(pgd) and (pgd.value <= float(sub.value.iloc[0]) + 1e-12).all()


def test_prs_tables_clean_column_can_use_the_attacked_points():
    from robustbench_runner.papers.prs.tables import checkpoint_table

    base = {"run_dir": "r", "dataset": "mnist", "model": "cnn6", "seed": 907, "batch_size": 16, "epoch": 2,
            "checkpoint": "epoch_002", "split": "test", "metric": "acc", "eps": 0.0}  # fmt: skip
    df = pd.DataFrame([{**base, "attack": CLEAN, "value": 0.9, "n": 32}, {**base, "attack": CLEAN_ATTACKED, "value": 0.75, "n": 16}])
    assert checkpoint_table(df).test_acc.tolist() == [0.9]  # default: unchanged (whole split)
    assert checkpoint_table(df, {"clean": CLEAN_ATTACKED}).test_acc.tolist() == [0.75]


def test_summary_table_has_clean_on_the_attacked_points():
    from robustbench_runner.tables.spec import TABLE_DIR, load_spec

    spec = load_spec(TABLE_DIR / "summary.yaml")
    labels = {c.label: c.where for c in spec.columns}
    assert labels["Clean"]["attack"] == CLEAN  # the existing column is unchanged
    assert labels["Clean (attacked points)"] == {"attack": CLEAN_ATTACKED, "metric": "acc"}
