"""Paper auc (normalized AUC robustness, paper auc): table and figure builders on a synthetic
folder of runs (R, SD and every significance mark against scipy's Welch test), the
experiment configs at both scales, and the Makefile target's commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from rbr_testing import compose_cfg, reproduce_dry_run
from robustbench_runner.config import validate
from robustbench_runner.results import METRIC_COLUMNS
from robustbench_runner.run import CONF_DIR
from robustbench_runner.tables import build
from robustbench_runner.tables.build import Context
from robustbench_runner.tables.collect import find_runs, load_metrics
from robustbench_runner.tables.render import write_table
from robustbench_runner.tables.spec import load_spec, select_specs, spec_file

EPS = [0.0, 0.0125, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
SEEDS = [0, 1, 2, 3, 4]
EPOCHS = [1, 10]
MODELS = ["lenet", "resnet50"]
# (dataset, pretrained_on) -> decay of the accuracy curve per epoch; a faster decay gives a
# lower R. Chosen so that some comparisons are significant and others are not.
CONDITIONS = {
    ("mnist", None): {1: 1.0, 10: 0.8},
    ("cifar10", None): {1: 2.9, 10: 3.2},
    ("mnist", "cifar10"): {1: 1.02, 10: 0.5},
    ("cifar10", "mnist"): {1: 2.6, 10: 3.22},
    ("fusion_digit", None): {1: 2.0, 10: 2.0},
    ("fusion_object", None): {1: 2.02, 10: 3.0},
}
TABLES = {  # paper auc order: per architecture the six conditions
    ("lenet", "mnist", None): 1, ("lenet", "cifar10", None): 2, ("lenet", "mnist", "cifar10"): 3,
    ("lenet", "cifar10", "mnist"): 4, ("lenet", "fusion_digit", None): 5, ("lenet", "fusion_object", None): 6,
    ("resnet50", "mnist", None): 7, ("resnet50", "cifar10", None): 8, ("resnet50", "mnist", "cifar10"): 9,
    ("resnet50", "cifar10", "mnist"): 10, ("resnet50", "fusion_digit", None): 11, ("resnet50", "fusion_object", None): 12,
}  # fmt: skip


def curve(model, ds, pre, seed, epoch) -> tuple[float, list[float]]:
    """(clean accuracy, accuracy per eps) of one synthetic run."""
    decay = CONDITIONS[(ds, pre)][epoch] * (1.1 if model == "resnet50" else 1.0)
    f0 = 0.6 + 0.05 * seed / len(SEEDS) + (0.3 if ds == "mnist" else 0.0)
    jitter = 0.04 * np.sin(7 * seed + 3 * epoch + len(ds))
    return f0, [f0 * max(0.0, 1 - (decay + jitter) * e) for e in EPS]


def r_of(model, ds, pre, seed, epoch) -> float:
    f0, acc = curve(model, ds, pre, seed, epoch)
    return float(np.trapezoid(acc, EPS) / (f0 * (EPS[-1] - EPS[0])))


def write_run(root: Path, model, ds, pre, seed) -> None:
    name = f"{ds}-{model}-standard-s{seed}" + (f"-from_{pre}" if pre else "")
    d = root / name
    d.mkdir(parents=True)
    rows = []
    for e in EPOCHS:
        f0, acc = curve(model, ds, pre, seed, e)
        base = {"epoch": e, "checkpoint": f"epoch_{e:03d}", "split": "test", "n": 100}
        rows.append({**base, "attack": "clean", "eps": 0.0, "metric": "acc", "value": f0})
        rows += [{**base, "attack": "FGSM", "eps": eps, "metric": "acc", "value": a} for eps, a in zip(EPS, acc, strict=True)]
        rows.append({**base, "attack": "FGSM", "eps": float("nan"), "metric": "auc_norm", "value": r_of(model, ds, pre, seed, e)})
    df = pd.DataFrame(rows)
    for k, v in {"run": name, "dataset": ds, "model": model, "scheme": "standard", "seed": seed, "batch_size": 125, "config_hash": "synthetic"}.items():
        df[k] = v
    df[METRIC_COLUMNS].to_csv(d / "metrics.csv", index=False)
    info = {"config_hash": "synthetic", "config": {"scale_name": "paper", "tag": f"from_{pre}" if pre else ""}}
    if pre:
        info["parent"] = {"dataset": pre, "epoch": 300, "run": f"{pre}-{model}-standard-s{seed}"}
    (d / "run.json").write_text(json.dumps(info))
    (d / "DONE").write_text("finished\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("auc_runs")
    for model in MODELS:
        for ds, pre in CONDITIONS:
            for seed in SEEDS:
                write_run(root, model, ds, pre, seed)
    return root


@pytest.fixture(scope="module")
def ctx(runs) -> Context:
    run_dirs = find_runs([runs])
    return Context(metrics=load_metrics(run_dirs), run_dirs=run_dirs)


def spec_of(table_id: str):
    return load_spec(spec_file(table_id))


def expected_marks(model, ds, pre, epoch, spec) -> str:
    """The marks by scipy's Welch test (two-sided p < 0.05 and a higher mean)."""
    mine = [r_of(model, ds, pre, s, epoch) for s in SEEDS]
    out = ""
    for m in spec.options["marks"]:
        against = m["against"]
        other = [r_of(against.get("model", model), against["dataset"], against.get("pretrained_on"), s, epoch) for s in SEEDS]
        t = scipy.stats.ttest_ind(mine, other, equal_var=False)
        if t.pvalue < 0.05 and np.mean(mine) > np.mean(other):
            out += m["symbol"]
    return out


@pytest.mark.parametrize(("key", "number"), list(TABLES.items()), ids=[f"table{n}" for n in TABLES.values()])
def test_robustness_tables_mean_sd_and_marks(ctx, key, number):
    model, ds, pre = key
    spec = spec_of(f"auc/table{number}")
    assert spec.options["group"] == {"dataset": ds, "model": model, "pretrained_on": pre}
    res = build(spec, ctx)
    assert list(res.table.columns) == ["epoch", "R mean", "R std", "marks", "n"]
    assert list(res.pretty.columns) == ["Epoch", "Mean Robustness", "SD"]
    assert list(res.table.epoch) == EPOCHS
    for e, r in zip(EPOCHS, res.table.itertuples(), strict=True):
        values = [r_of(model, ds, pre, s, e) for s in SEEDS]
        assert r._2 == pytest.approx(np.mean(values)) and r._3 == pytest.approx(np.std(values, ddof=1))
        assert r.marks == expected_marks(model, ds, pre, e, spec)
        assert r.n == len(SEEDS)
    assert res.pretty["Mean Robustness"].iloc[0].endswith(res.table.marks.iloc[0])


def test_some_marks_are_set_and_some_are_not(ctx):
    """The synthetic conditions exercise both outcomes of several comparisons."""
    marks = {n: list(build(spec_of(f"auc/table{n}"), ctx).table.marks) for n in (1, 3, 4, 5)}
    assert "★" in marks[1][0] and "‡" in marks[1][0]  # MNIST above CIFAR-10 and Fusion digit
    assert "◇" not in marks[1][0] and "◇" in marks[3][1]  # pretrained MNIST only higher at epoch 10
    assert "◇" in marks[4][0] and "◇" not in marks[4][1]  # pretraining helps CIFAR-10 at epoch 1 only
    assert marks[5] == ["", "†"]  # digit vs object task: tie at epoch 1, digit higher at 10


def test_mark_not_tested_with_fewer_than_two_runs(tmp_path):
    write_run(tmp_path, "lenet", "mnist", None, 0)
    write_run(tmp_path, "lenet", "mnist", None, 1)
    write_run(tmp_path, "lenet", "cifar10", None, 0)  # one CIFAR-10 run only
    run_dirs = find_runs([tmp_path])
    res = build(spec_of("auc/table1"), Context(metrics=load_metrics(run_dirs), run_dirs=run_dirs))
    assert list(res.table.marks) == ["", ""]
    assert "not tested (2 vs 1 runs)" in res.sources.note.iloc[0]


def test_mark_not_testable_when_no_group_varies(tmp_path):
    # constant predictors (smoke ResNet50): R = 1 in every run, Welch's t is 0/0
    for ds in ("mnist", "cifar10"):
        for seed in (0, 1):
            d = tmp_path / f"{ds}-lenet-standard-s{seed}"
            d.mkdir()
            base = {"run": d.name, "dataset": ds, "model": "lenet", "scheme": "standard", "seed": seed, "batch_size": 16, "config_hash": "x",
                    "epoch": 1, "checkpoint": "epoch_001", "split": "test", "attack": "FGSM", "eps": float("nan"), "n": 16}  # fmt: skip
            pd.DataFrame([{**base, "metric": "auc_norm", "value": 1.0}])[METRIC_COLUMNS].to_csv(d / "metrics.csv", index=False)
            (d / "run.json").write_text("{}")
            (d / "DONE").write_text("finished\n")
    run_dirs = find_runs([tmp_path])
    res = build(spec_of("auc/table1"), Context(metrics=load_metrics(run_dirs), run_dirs=run_dirs))
    assert list(res.table["R mean"]) == [1.0] and list(res.table["R std"]) == [0.0] and list(res.table.marks) == [""]
    assert "★ vs LeNet, CIFAR-10: not testable, R does not vary within either group (n=2 vs 2)" in res.sources.note.iloc[0]


def test_pretrained_runs_are_told_apart_by_their_parent(ctx):
    scratch = build(spec_of("auc/table1"), ctx).table
    pretrained = build(spec_of("auc/table3"), ctx).table
    assert scratch["R mean"].iloc[1] != pytest.approx(pretrained["R mean"].iloc[1])


def test_table_ids_and_order_follow_the_paper():
    specs = {s.id: s for s in select_specs(["auc"])}
    assert set(specs) == {f"auc/table{i}" for i in range(1, 19)} | {f"auc/fig{i}" for i in range(4, 8)}
    order = [(specs[f"auc/table{i}"].options["group"]["model"], specs[f"auc/table{i}"].options["group"]["dataset"], specs[f"auc/table{i}"].options["group"]["pretrained_on"]) for i in range(1, 19)]
    conditions = [("mnist", None), ("cifar10", None), ("mnist", "cifar10"), ("cifar10", "mnist"), ("fusion_digit", None), ("fusion_object", None)]
    assert order == [(m, d, p) for m in ("lenet", "resnet50", "fcnet") for d, p in conditions]
    symbols = {m["symbol"] for i in range(1, 19) for m in specs[f"auc/table{i}"].options["marks"]}
    assert symbols == {"★", "●", "◇", "†", "‡"}


@pytest.mark.parametrize("fig", ["auc/fig4", "auc/fig5", "auc/fig6", "auc/fig7"])
def test_curve_figures_write_csv_and_png(ctx, tmp_path, fig):
    spec = spec_of(fig)
    res = build(spec, ctx)
    paths = write_table(spec, res, tmp_path)
    png = tmp_path / f"{spec.file_stem}.png"
    assert png in paths and png.stat().st_size > 1000
    assert set(res.table.kind) == set(spec.options["kinds"])


def test_curves_normalized_and_raw_values(ctx):
    res = build(spec_of("auc/fig6"), ctx)
    t = res.table
    sel = t[(t.panel == "CIFAR-10") & (t.model == "lenet") & (t.epoch == 10) & (t.eps == 0.1)].set_index("kind")
    raw = [curve("lenet", "cifar10", None, s, 10)[1][4] for s in SEEDS]
    norm = [curve("lenet", "cifar10", None, s, 10)[1][4] / curve("lenet", "cifar10", None, s, 10)[0] for s in SEEDS]
    assert sel.loc["raw", "mean"] == pytest.approx(np.mean(raw)) and sel.loc["raw", "std"] == pytest.approx(np.std(raw, ddof=1))
    assert sel.loc["normalized", "mean"] == pytest.approx(np.mean(norm))
    assert (t[(t.kind == "normalized") & (t.eps == 0.0)]["mean"] == 1.0).all()
    assert sel.loc["raw", "n"] == len(SEEDS)


# -- experiment configs and the Makefile ------------------------------------------------------

AUC_EXPERIMENTS = ["mnist", "cifar10", "fusion_digit", "fusion_object", "cifar10_to_mnist", "mnist_to_cifar10"]


@pytest.mark.parametrize("scale", ["smoke", "paper"])
@pytest.mark.parametrize("name", AUC_EXPERIMENTS)
def test_experiments_compose_and_validate(name, scale):
    cfg = compose_cfg([f"experiment=auc/{name}", "model=resnet50", f"scale={scale}"])
    validate(cfg)
    r = OmegaConf.to_container(cfg, resolve=True)
    assert r["optim"]["optimizer"]["lr"] == 0.1 and r["optim"]["name"] == "sgd_half"
    assert r["train"]["epochs"] == (125 if scale == "paper" else 2)
    assert r["eval"]["grid"] == ([1, 10, 25, 50, 100, 125] if scale == "paper" else [1, 2])
    assert r["train"]["batch_size"] == (125 if scale == "paper" else 16)
    assert r["attacks"]["fgsm"]["eps"] == EPS and r["init_seed"] == r["seed"]
    assert r["optim"]["schedule"]["milestones"] == [62 if scale == "paper" else 1]
    if name.startswith("fusion"):
        assert r["data"]["name"] == name and r["data"]["task"] == name.split("_")[1]
    if name in ("mnist", "cifar10_to_mnist"):
        assert r["data"]["channels"] == 3 and r["data"]["image_size"] == 32
    if name.endswith("_to_mnist") or name.endswith("_to_cifar10"):
        source = name.split("_to_")[0]
        assert r["init_from"].endswith(f"/{source}-resnet50-standard-s0") and r["tag"] == f"from_{source}"
        assert r["name"].endswith(f"-from_{source}")


@pytest.mark.parametrize("model", ["lenet", "fcnet"])
def test_lenet_and_fcnet_settings(model):
    r = OmegaConf.to_container(compose_cfg(["experiment=auc/cifar10", f"model={model}", "scale=paper"]), resolve=True)
    assert (r["optim"]["optimizer"]["lr"], r["train"]["epochs"], r["eval"]["grid"]) == (0.01, 300, [1, 10, 25, 50, 150, 300])
    assert r["optim"]["optimizer"]["momentum"] == 0.9 and r["optim"]["optimizer"]["weight_decay"] == 5e-4


def test_seed_sweep_per_scale():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for scale, seeds in (("paper", ",".join(str(i) for i in range(20))), ("smoke", "0,1")):
            cfg = compose("config", overrides=["experiment=auc/mnist", f"scale={scale}"], return_hydra_config=True)
            assert OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True) == {"seed": seeds}


def test_make_target_commands():
    lines = [ln for ln in reproduce_dry_run("auc", scale="paper", data="/data") if "rbr-" in ln]
    # one experiment per rbr-run (a swept `experiment=` would drop its seed sweep), the
    # pretrained conditions after the runs they start from
    for line, name in zip(lines, AUC_EXPERIMENTS, strict=False):
        assert line.endswith(f"experiment=auc/{name} model=lenet,fcnet,resnet50") and "sweep_name=auc_paper" in line
    assert len(lines) == len(AUC_EXPERIMENTS) + 1
    assert lines[-1].endswith("--table auc --out outputs/tables/auc")


@pytest.mark.parametrize("model", ["lenet", "fcnet", "resnet50"])
def test_smoke_sizes_per_architecture(model):
    smoke = OmegaConf.to_container(compose_cfg(["experiment=auc/fusion_digit", f"model={model}", "scale=smoke"]), resolve=True)
    paper = OmegaConf.to_container(compose_cfg(["experiment=auc/fusion_digit", f"model={model}", "scale=paper"]), resolve=True)
    want = (32, 16, 16) if model == "resnet50" else (64, 32, 32)
    assert (smoke["data"]["limit_train"], smoke["data"]["limit_test"], smoke["eval"]["n_eval"]) == want
    assert (paper["data"]["limit_train"], paper["data"]["limit_test"], paper["eval"]["n_eval"]) == (None, None, None)
