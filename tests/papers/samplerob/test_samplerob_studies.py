"""Paper samplerob studies: prepare (R, subsets, class distributions), the scikit-learn
models, ResNet-56's best-epoch selection, the subset_eval analysis and the Keras optimizers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from rbr_testing import REPO  # noqa: E402
from robustbench_runner.analysis.checkpoint import AnalysisContext
from robustbench_runner.data import load_dataset
from robustbench_runner.data.base import ArraySplit, DataBundle
from robustbench_runner.errors import UserError
from robustbench_runner.papers.samplerob import neighbors
from robustbench_runner.papers.samplerob.cli import int_list
from robustbench_runner.papers.samplerob.keras_optim import KerasKernelL2Adam, KerasRMSprop
from robustbench_runner.papers.samplerob.prepare import compose_data_config, prepare
from robustbench_runner.papers.samplerob.sample_robustness import sample_robustness
from robustbench_runner.papers.samplerob.select_best import select_best
from robustbench_runner.papers.samplerob.subset_eval import (
    SubsetEval,
    balanced_class_weights,
    subset_rows,
)
from robustbench_runner.papers.samplerob.subsets import load_subset

DIGITS = ["dataset=digits", "data.image_size=8"]


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> Path:
    """One digits study (cifar10 names, 64-d features) and one diabetes study (onp names)."""
    out = tmp_path_factory.mktemp("sweep")
    prepare(out, DIGITS, ["cifar10"])
    prepare(out, ["dataset=diabetes"], ["onp"])
    return out


# -- prepare ------------------------------------------------------------------------------------


def test_prepare_writes_r_within_each_set_and_scaled_paper_subsets(studies):
    d = studies / "digits-robustness"
    bundle = load_dataset(compose_data_config(DIGITS, "smoke"))
    nx, nt = len(bundle.train), len(bundle.test)
    rob = pd.read_csv(d / "robustness.csv")
    R_x = rob[rob.set == "x"].sort_values("index").R.to_numpy()
    np.testing.assert_allclose(
        R_x, sample_robustness(bundle.train.x, bundle.train.y), rtol=0, atol=1e-12
    )
    sets = json.loads((d / "subsets" / "sets.json").read_text())
    assert sets["sizes"] == {"x": nx, "t": nt}
    low, high = load_subset(d / "subsets" / "x_L40.npy"), load_subset(d / "subsets" / "x_M25.npy")
    assert len(low) == round(40_000 * nx / 50_000) and len(high) == round(25_000 * nx / 50_000)
    assert len(load_subset(d / "subsets" / "t_L2.npy")) == round(2_000 * nt / 10_000)
    order = np.argsort(R_x, kind="stable")
    assert set(low) == set(order[: len(low)])  # the least robust
    assert set(high) == set(order[-len(high) :])  # the most robust
    assert np.array_equal(load_subset(d / "subsets" / "x.npy"), np.arange(nx))
    metrics = pd.read_csv(d / "metrics.csv")
    row = metrics[(metrics.split == "x") & (metrics.metric == "min")]
    assert row.value.iloc[0] == pytest.approx(R_x.min())
    dist = pd.read_csv(d / "class_distribution.csv")
    part = dist[(dist.subset == "x_L40") & (dist["class"] != "total")]
    assert part["count"].sum() == len(low)
    assert (dist[(dist.subset == "x") & (dist["class"] == "total")]["count"] == nx).all()


def test_prepare_regression_uses_onp_halves_tails_and_a_median_threshold(studies):
    d = studies / "diabetes-robustness"
    sets = json.loads((d / "subsets" / "sets.json").read_text())
    nt = sets["sizes"]["t"]
    assert sets["counts"]["t_L"] == nt // 2 and sets["counts"]["t_l"] == max(
        1, round(500 * nt / 7644)
    )
    bundle = load_dataset(compose_data_config(["dataset=diabetes"], "smoke"))
    assert sets["popular_threshold"] == pytest.approx(
        float(np.median(bundle.train.y.double().numpy()))
    )
    assert not (d / "class_distribution.csv").exists()


def test_prepare_again_is_a_no_op_and_another_config_is_refused(studies):
    d = studies / "diabetes-robustness"
    before = (d / "robustness.csv").stat().st_mtime_ns
    prepare(studies, ["dataset=diabetes"], ["onp"])
    assert (d / "robustness.csv").stat().st_mtime_ns == before
    with pytest.raises(UserError, match="different config"):
        prepare(studies, ["dataset=diabetes"], ["onp"], below=0.5)


def test_prepare_rejects_unknown_schemes_and_datasets(tmp_path):
    with pytest.raises(UserError, match="no subsets"):
        prepare(tmp_path, DIGITS, ["svhn"])
    with pytest.raises(UserError, match="cannot compose"):
        prepare(tmp_path, ["dataset=nosuchset"], ["cifar10"])


# -- scikit-learn models ---------------------------------------------------------------------------


def test_paper_loss_is_one_minus_ss_res_over_ss_tot():
    y, p = np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.5, 1.0, 2.0, 2.0])
    assert neighbors.paper_loss(y, p) == pytest.approx(1 - (0.25 + 1.0) / 5.0)


def test_knn_regressor_cell_matches_scikit_learn_directly(studies, tmp_path):
    from sklearn.neighbors import KNeighborsRegressor

    study = studies / "diabetes-robustness"
    neighbors.knn(
        study, tmp_path, [1, 3], ["distance"], train_subsets=["x_L24"], test_subsets=["t", "t_M"]
    )
    run = tmp_path / "diabetes-knn_regressor-distance-s0-x_L24"
    assert (run / "DONE").exists()
    m = pd.read_csv(run / "metrics.csv")
    assert set(m.checkpoint) == {"k01", "k03"} and set(m.epoch) == {1, 3}
    s = neighbors.Study.load(study)
    tr, te = s.subset("x_L24"), s.subset("t_M")
    X, y, T, yt = s.features("train"), s.targets("train"), s.features("test"), s.targets("test")
    pred = KNeighborsRegressor(n_neighbors=3, weights="distance").fit(X[tr], y[tr]).predict(T[te])
    thr = s.info["popular_threshold"]
    cell = m[(m.checkpoint == "k03") & (m.split == "t_M")].set_index("metric").value
    assert cell["loss"] == pytest.approx(neighbors.paper_loss(yt[te], pred))
    assert cell["acc"] == pytest.approx(np.mean((pred >= thr) == (yt[te] >= thr)))


def test_knn_classifier_on_an_image_study(studies, tmp_path):
    neighbors.knn(
        studies / "digits-robustness", tmp_path, [1], ["uniform"], train_subsets=["x", "x_M25"]
    )
    m = pd.read_csv(tmp_path / "digits-knn_classifier-uniform-s0-x" / "metrics.csv")
    assert set(m.split) == {"t", "t_L5", "t_M5", "t_L2", "t_M2"} and set(m.metric) == {"acc"}
    assert m.value.between(0, 1).all() and m.set_index("split").value["t"] > 0.5


def test_forest_prefix_equals_a_forest_of_that_many_trees():
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    X, y = rng.random((60, 3)), rng.random(60)
    T = rng.random((20, 3))
    big = RandomForestRegressor(n_estimators=4, criterion="absolute_error", random_state=7).fit(
        X, y
    )
    prefix = neighbors.forest_prefix_predictions(big, T)
    for k in (1, 3):
        small = RandomForestRegressor(
            n_estimators=k, criterion="absolute_error", random_state=7
        ).fit(X, y)
        np.testing.assert_allclose(prefix[k - 1], small.predict(T), rtol=0, atol=1e-12)


def test_random_forest_runs_one_folder_per_seed(studies, tmp_path):
    from sklearn.ensemble import RandomForestRegressor

    study = studies / "diabetes-robustness"
    neighbors.random_forest(
        study, tmp_path, [1, 2], ["mse"], [0, 1], train_subsets=["x"], test_subsets=["t"]
    )
    m = pd.read_csv(tmp_path / "diabetes-random_forest-squared_error-s1-x" / "metrics.csv")
    assert len(m) == 2 * 2  # trees x (loss, acc)
    s = neighbors.Study.load(study)
    pred = (
        RandomForestRegressor(n_estimators=2, random_state=1)
        .fit(s.features("train"), s.targets("train"))
        .predict(s.features("test"))
    )
    assert m[(m.epoch == 2) & (m.metric == "loss")].value.iloc[0] == pytest.approx(
        neighbors.paper_loss(s.targets("test"), pred)
    )
    with pytest.raises(UserError, match="regressor"):
        neighbors.random_forest(studies / "digits-robustness", tmp_path, [1])


def test_int_list_parses_ranges_and_lists():
    assert int_list("1-3,7") == [1, 2, 3, 7]
    assert int_list("0") == [0]
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        int_list("3-1")


def test_cli_is_the_rbr_samplerob_script_and_runs_as_a_module(tmp_path):
    """pyproject's ``rbr-samplerob`` names cli.main; ``python -m robustbench_runner.papers.samplerob``
    parses the same commands and reports a user error in one line with status 2."""
    import subprocess
    import sys

    import tomllib

    from robustbench_runner.papers.samplerob import cli

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, func = scripts["rbr-samplerob"].split(":")
    assert (module, func) == (cli.__name__, "main") and callable(cli.main)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    helped = subprocess.run([sys.executable, "-m", "robustbench_runner.papers.samplerob", "--help"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert helped.returncode == 0, helped.stderr
    assert all(c in helped.stdout for c in ("prepare", "neighbors", "select-best"))
    bad = subprocess.run([sys.executable, "-m", "robustbench_runner.papers.samplerob", "select-best", str(tmp_path / "none")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("rbr-samplerob: error: "), bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr


# -- ResNet-56 best epoch --------------------------------------------------------------------------


def _select_run(root: Path, name: str, losses: list[float], done: bool = True) -> Path:
    d = root / name
    (d / "ckpt").mkdir(parents=True)
    (d / "config.yaml").write_text(OmegaConf.to_yaml({"samplerob": {"stage": "select"}}))
    rows = [
        {
            "checkpoint": f"epoch_{e:03d}",
            "epoch": e,
            "split": "t",
            "attack": "subset_eval",
            "metric": "loss",
            "value": v,
        }
        for e, v in enumerate(losses, 1)
    ]
    rows.append(
        {
            "checkpoint": "epoch_001",
            "epoch": 1,
            "split": "t",
            "attack": "subset_eval",
            "metric": "acc",
            "value": 0.0,
        }
    )
    pd.DataFrame(rows).to_csv(d / "metrics.csv", index=False)
    for e in range(1, len(losses) + 1):
        (d / "ckpt" / f"epoch_{e:03d}.pt").write_bytes(f"weights of epoch {e}".encode())
    if done:
        (d / "DONE").write_text("finished\n")
    return d


def test_select_best_places_the_earliest_lowest_loss_epoch(tmp_path):
    run = _select_run(tmp_path, "r", [0.9, 0.5, 0.5, 0.7])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.yaml").write_text(
        OmegaConf.to_yaml({"samplerob": {"stage": "finetune"}})
    )
    assert select_best(tmp_path) == [run / "ckpt" / "best_t_loss.pt"]
    assert (run / "ckpt" / "best_t_loss.pt").read_bytes() == b"weights of epoch 2"
    assert json.loads((run / "ckpt" / "best_t_loss.json").read_text())["epoch"] == 2
    select_best(tmp_path)  # idempotent
    assert (run / "ckpt" / "best_t_loss.pt").read_bytes() == b"weights of epoch 2"


def test_select_best_refuses_unfinished_runs(tmp_path):
    _select_run(tmp_path, "r", [0.9], done=False)
    with pytest.raises(UserError, match="not finished"):
        select_best(tmp_path)


# -- subset_eval -----------------------------------------------------------------------------------


def test_balanced_weights_and_subset_rows_by_hand():
    labels = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(balanced_class_weights(labels), [2 / 3, 2 / 3, 2 / 3, 2.0])
    rows = {
        r["metric"]: r["value"]
        for r in subset_rows("t_L5", np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 0, 1, 1]), labels)
    }
    assert rows["loss"] == pytest.approx(2.5)
    assert rows["loss_cw"] == pytest.approx((2.0 + 4.0) / 2)  # mean over classes of class means
    assert rows["acc"] == pytest.approx(0.75)


def _bundle(n: int = 7, task: str = "classification") -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 2, 2, generator=g)
    y = (
        torch.tensor([0, 1, 2, 0, 1, 2, 2])[:n]
        if task == "classification"
        else torch.rand(n, generator=g)
    )
    split = ArraySplit(x, y)
    return DataBundle(
        "toy", train=split, test=split, num_classes=3, in_channels=1, image_size=2, task=task
    )


def test_subset_eval_matches_cross_entropy_on_each_index_file(tmp_path):
    np.save(tmp_path / "t.npy", np.arange(7))
    np.save(tmp_path / "t_L5.npy", np.array([1, 2, 6]))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    bundle = _bundle()
    ctx = AnalysisContext(
        model, bundle, torch.device("cpu"), OmegaConf.create({}), "epoch_001", 1, batch_size=3
    )
    rows = SubsetEval(folder=str(tmp_path)).rows(ctx)
    got = {(r["split"], r["metric"]): r["value"] for r in rows}
    assert {s for s, _ in got} == {"t", "t_L5"}
    with torch.no_grad():
        logits = model(bundle.test.x)
    idx = torch.tensor([1, 2, 6])
    ce = nn.functional.cross_entropy(logits[idx].double(), bundle.test.y[idx], reduction="none")
    assert got[("t_L5", "loss")] == pytest.approx(float(ce.mean()))
    assert got[("t_L5", "loss_cw")] == pytest.approx(
        float((ce[0] + (ce[1] + ce[2]) / 2) / 2)
    )  # class 1 and class 2 weigh equally
    assert got[("t_L5", "acc")] == pytest.approx(
        float((logits[idx].argmax(1) == bundle.test.y[idx]).double().mean())
    )
    assert got[("t", "loss_cw")] != pytest.approx(
        got[("t", "loss")]
    )  # t of the toy set is imbalanced


def test_subset_eval_refuses_a_limited_split_and_regression(tmp_path):
    np.save(tmp_path / "t.npy", np.arange(7))
    (tmp_path / "sets.json").write_text(json.dumps({"sizes": {"x": 7, "t": 10}}))
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    ctx = AnalysisContext(
        model, _bundle(), torch.device("cpu"), OmegaConf.create({}), "epoch_001", 1
    )
    with pytest.raises(UserError, match="limit_test"):
        SubsetEval(folder=str(tmp_path)).rows(ctx)
    ctx = AnalysisContext(
        model, _bundle(task="regression"), torch.device("cpu"), OmegaConf.create({}), "epoch_001", 1
    )
    with pytest.raises(UserError, match="regression"):
        SubsetEval(folder=str(tmp_path)).rows(ctx)
    with pytest.raises(UserError, match="folder"):
        SubsetEval(folder=None)


# -- Keras optimizers ------------------------------------------------------------------------------


def test_keras_rmsprop_decays_the_rate_per_update():
    lr, rho, eps, decay = 0.1, 0.9, 1e-7, 0.5
    p = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = KerasRMSprop([p], lr=lr, rho=rho, eps=eps, decay=decay)
    w, a = 1.0, 0.0
    for t, g in enumerate([0.3, -0.2, 0.5]):
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        a = rho * a + (1 - rho) * g * g
        w -= lr / (1 + decay * t) * g / (np.sqrt(a) + eps)
        assert float(p.detach()) == pytest.approx(w, rel=1e-12)
    state = opt.state_dict()
    fresh = KerasRMSprop([p], lr=lr, rho=rho, eps=eps, decay=decay)
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["keras_iterations"] == 3


def test_kernel_l2_adam_equals_adam_on_the_loss_with_conv_kernel_l2():
    torch.manual_seed(0)
    net_a = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 2 * 2, 3)
    ).double()
    net_b = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 2 * 2, 3)
    ).double()
    net_b.load_state_dict(net_a.state_dict())
    x, y = torch.rand(5, 1, 4, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1])
    opt_a = KerasKernelL2Adam(net_a.parameters(), lr=1e-2, kernel_l2=0.05)
    opt_b = torch.optim.Adam(net_b.parameters(), lr=1e-2, eps=1e-7)
    for _ in range(3):
        for net, opt, l2 in ((net_a, opt_a, 0.0), (net_b, opt_b, 0.05)):
            loss = nn.functional.cross_entropy(net(x), y) + l2 * net[0].weight.pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-10, atol=1e-12)
    assert [g["weight_decay"] for g in opt_a.param_groups] == [pytest.approx(0.1), 0.0]
