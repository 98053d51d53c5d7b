"""Paper samplerob table builders on synthetic run folders with the real file layout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustbench_runner.bundles import get as get_bundle
from robustbench_runner.errors import UserError
from robustbench_runner.papers.samplerob import tables as sr
from robustbench_runner.results import METRIC_COLUMNS
from robustbench_runner.tables.build import Context, build
from robustbench_runner.tables.collect import find_runs, load_metrics
from robustbench_runner.tables.spec import all_specs

SPEC_IDS = {f"samplerob/table{i}" for i in range(1, 11)} | {"samplerob/minmax"}


def write_run(
    root: Path, name: str, rows: list[dict], cfg: dict, done: bool = True, **ident
) -> Path:
    """A run folder: metrics.csv (METRIC_COLUMNS), run.json (the config record), DONE."""
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    base = {"run": name, "dataset": "cifar10", "model": "small_cnn", "scheme": "standard", "seed": 0, "batch_size": 32,
            "config_hash": "abc", "epoch": 3, "checkpoint": "epoch_003", "split": "test", "attack": "subset_eval", "eps": float("nan"), "n": 10}  # fmt: skip
    base.update(ident)
    pd.DataFrame([{**base, **r} for r in rows])[METRIC_COLUMNS].to_csv(
        d / "metrics.csv", index=False
    )
    (d / "run.json").write_text(json.dumps({"config_hash": "abc", "config": cfg}))
    if done:
        (d / "DONE").write_text("finished\n")
    return d


def context(root: Path) -> Context:
    runs = find_runs([root])
    return Context(metrics=load_metrics(runs), run_dirs=runs)


def spec(table_id: str):
    """A fresh spec object (builders append notes to it) from the bundle's table_specs/."""
    return all_specs(get_bundle("samplerob").table_dir)[table_id]


def nn_cfg(
    train_subset: str,
    epochs: int,
    scale: str = "smoke",
    stage: str | None = None,
    select_epochs: int | None = None,
) -> dict:
    sr_cfg = {"train_subset": train_subset}
    if stage:
        sr_cfg.update(stage=stage, select_epochs=select_epochs)
    return {"scale_name": scale, "train": {"epochs": epochs}, "samplerob": sr_cfg}


def test_every_samplerob_table_has_a_spec():
    assert set(all_specs(get_bundle("samplerob").table_dir)) == SPEC_IDS


def test_trim_follows_the_seeds_of_the_runs_and_mixed_scales():
    five, three = (pd.DataFrame({"seed": list(range(n)) * 2}) for n in (5, 3))
    assert sr.trim_and_expect({"trim_share": 0.4}, five) == (2, 5)
    assert sr.trim_and_expect({"trim_share": 0.4}, three) == (1, 3)
    assert sr.trim_and_expect({"trim_share": 0.4}, pd.DataFrame({"seed": range(25)})) == (10, 25)  # paper C.3
    assert sr.trim_and_expect({"trim": 0, "runs": 1}, five) == (0, 1)
    with pytest.raises(UserError, match="not one per scale"):
        sr.trim_and_expect({"trim": {"paper": 10, "smoke": 2}}, five)
    with pytest.raises(UserError, match="several size presets"):
        sr.scale_of(pd.DataFrame({"scale_name": ["paper", "smoke"]}))


# -- tables 2-4 ------------------------------------------------------------------------------------

LOSSES = [10.0, 1.0, 3.0, 2.0, 100.0]  # sorted 1 2 3 10 100: drop 2 each side -> 3
ACCS = [0.1, 0.5, 0.9, 0.7, 0.3]  # sorted .1 .3 .5 .7 .9 -> 0.5


def _small_cnn_runs(root: Path, train_subsets=("x", "x_L40"), seeds=5, epochs=None) -> None:
    epochs = epochs or {"x": 3, "x_L40": 2}
    for tr in train_subsets:
        for s in range(seeds):
            shift = 0.0 if tr == "x" else 1.0  # x_L40 has higher losses, lower accuracies
            rows = []
            for te in ("t", "t_L5"):
                rows += [
                    {"split": te, "metric": "loss", "value": LOSSES[s] + shift},
                    {"split": te, "metric": "loss_cw", "value": 2 * LOSSES[s] + shift},
                    {"split": te, "metric": "acc", "value": ACCS[s] - shift / 10},
                ]
            rows.append({"split": "test", "attack": "clean", "metric": "acc", "value": 0.5})
            e = epochs[tr]
            write_run(
                root,
                f"cifar10-small_cnn-standard-s{s}-{tr}",
                rows,
                nn_cfg(tr, e),
                seed=s,
                epoch=e,
                checkpoint=f"epoch_{e:03d}",
            )


def test_table2_trimmed_mean_of_the_middle_run_with_epoch_row(tmp_path):
    _small_cnn_runs(tmp_path)
    s = spec("samplerob/table2")
    res = build(s, context(tmp_path))
    t = res.table.set_index(sr.ROW_LABEL)
    assert t.loc["t", "x loss"] == pytest.approx(3.0)
    assert t.loc["t", "x acc"] == pytest.approx(0.5)
    assert t.loc["t_L5", "x_L40 loss"] == pytest.approx(4.0)
    assert t.loc["t_L5", "x_L40 acc"] == pytest.approx(0.4)
    assert t.loc["t", "x n"] == 5
    assert math.isnan(t.loc["t_M5", "x loss"])  # no runs: empty, never 0
    pretty = res.pretty.set_index(sr.ROW_LABEL)
    assert pretty.loc["Epochs", "x"] == "3" and pretty.loc["Epochs", "x_L40"] == "2"
    assert pretty.loc["t", "x"] == "**3.0000** \\ **0.5000**"  # best LOSS and ACC of the row
    assert pretty.loc["t", "x_L40"] == "4.0000 \\ 0.4000"
    assert pretty.loc["t_M5", "x"] == ""
    src = res.sources.set_index([sr.ROW_LABEL, "column"])
    assert src.loc[("t", "x"), "missing"] == 0
    assert src.loc[("t_M5", "x"), "missing"] == 5
    assert "trimmed mean of the middle 1 of 5 runs (LOSS and ACC trimmed separately)" in s.note


def test_table2_leaves_cells_with_too_few_runs_empty(tmp_path):
    """5 seeds in the table's runs: trim 2 at each end, 5 expected; x_L40 has only 4 runs."""
    _small_cnn_runs(tmp_path, train_subsets=("x",), seeds=5)
    _small_cnn_runs(tmp_path, train_subsets=("x_L40",), seeds=4)
    res = build(spec("samplerob/table2"), context(tmp_path))
    t = res.table.set_index(sr.ROW_LABEL)
    assert t.loc["t", "x loss"] == pytest.approx(3.0)
    assert math.isnan(t.loc["t", "x_L40 loss"]) and t.loc["t", "x_L40 n"] == 4
    assert res.sources.set_index([sr.ROW_LABEL, "column"]).loc[("t", "x_L40"), "missing"] == 1


def test_table2_trims_ten_each_side_at_paper_scale(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.permutation(np.arange(25, dtype=float))
    for s, v in enumerate(values):
        write_run(tmp_path, f"r{s}", [{"split": "t", "metric": "loss", "value": v}, {"split": "t", "metric": "acc", "value": v / 100}],
                  nn_cfg("x", 85, scale="paper"), seed=s, epoch=85, checkpoint="epoch_085")  # fmt: skip
    t = build(spec("samplerob/table2"), context(tmp_path)).table.set_index(sr.ROW_LABEL)
    assert t.loc["t", "x loss"] == pytest.approx(12.0)  # mean of 10..14
    assert t.loc["t", "x acc"] == pytest.approx(0.12)


def test_table3_reads_the_class_balanced_loss(tmp_path):
    _small_cnn_runs(tmp_path)
    t = build(spec("samplerob/table3"), context(tmp_path)).table.set_index(sr.ROW_LABEL)
    assert t.loc["t", "x loss"] == pytest.approx(6.0)  # middle of 2 * LOSSES
    assert t.loc["t", "x acc"] == pytest.approx(0.5)


def test_table4_uses_the_second_step_and_labels_epochs_e_plus_1(tmp_path):
    for s, v in enumerate([5.0, 1.0, 3.0]):
        rows = [
            {"split": "t", "metric": "loss", "value": v},
            {"split": "t", "metric": "acc", "value": v / 10},
        ]
        write_run(
            tmp_path,
            f"ft{s}",
            rows,
            nn_cfg("x_M40", 1, stage="finetune", select_epochs=15),
            model="resnet56",
            seed=s,
            epoch=1,
            checkpoint="epoch_001",
        )
        # first-step rows must not count
        write_run(
            tmp_path,
            f"sel{s}",
            [{"split": "t", "metric": "loss", "value": 99.0}],
            nn_cfg("x_M40", 15, stage="select", select_epochs=15),
            model="resnet56",
            seed=s,
            epoch=15,
            checkpoint="epoch_015",
        )
    res = build(spec("samplerob/table4"), context(tmp_path))
    assert res.table.set_index(sr.ROW_LABEL).loc["t", "x_M40 loss"] == pytest.approx(3.0)
    assert res.pretty.set_index(sr.ROW_LABEL).loc["Epochs", "x_M40"] == "15+1"


def test_table5_is_the_k1_accuracy_of_the_knn_classifier(tmp_path):
    rows = [{"split": "t", "metric": "acc", "value": 0.35, "epoch": 1, "checkpoint": "k01"},
            {"split": "t", "metric": "acc", "value": 0.99, "epoch": 2, "checkpoint": "k02"},
            {"split": "t_M2", "metric": "acc", "value": 0.43, "epoch": 1, "checkpoint": "k01"}]  # fmt: skip
    write_run(
        tmp_path,
        "cifar10-knn_classifier-uniform-s0-x_M25",
        rows,
        {"scale_name": "paper", "samplerob": {"train_subset": "x_M25"}},
        model="knn_classifier",
        scheme="uniform",
    )
    write_run(
        tmp_path,
        "cifar10-knn_classifier-distance-s0-x_M25",
        [{**r, "value": 0.0} for r in rows],
        {"scale_name": "paper", "samplerob": {"train_subset": "x_M25"}},
        model="knn_classifier",
        scheme="distance",
    )
    res = build(spec("samplerob/table5"), context(tmp_path))
    t = res.table.set_index(sr.ROW_LABEL)
    assert t.loc["t", "x_M25 acc"] == pytest.approx(0.35)
    assert t.loc["t_M2", "x_M25 acc"] == pytest.approx(0.43)
    assert "Epochs" not in set(res.pretty[sr.ROW_LABEL])


# -- tables 6-9 ----------------------------------------------------------------------------------


def _knn_runs(root: Path) -> None:
    # ACC on t over K = 1, 2, 3: 0.5, 0.7, 0.7 -> K* = 2 (ties: the smaller K)
    acc = {
        ("t", 1): 0.5,
        ("t", 2): 0.7,
        ("t", 3): 0.7,
        ("t_L", 1): 0.9,
        ("t_L", 2): 0.6,
        ("t_L", 3): 0.8,
    }
    for w in ("uniform", "distance"):
        rows = []
        for (te, k), a in acc.items():
            bonus = 0.0 if w == "uniform" else 0.01
            rows.append(
                {
                    "split": te,
                    "metric": "acc",
                    "value": a + bonus,
                    "epoch": k,
                    "checkpoint": f"k{k:02d}",
                }
            )
            rows.append(
                {
                    "split": te,
                    "metric": "loss",
                    "value": -0.1 * k,
                    "epoch": k,
                    "checkpoint": f"k{k:02d}",
                }
            )
        write_run(
            root,
            f"onp-knn_regressor-{w}-s0-x",
            rows,
            {"scale_name": "paper", "samplerob": {"train_subset": "x"}},
            dataset="onp",
            model="knn_regressor",
            scheme=w,
        )


def test_table6_reports_every_subset_at_the_k_best_on_t(tmp_path):
    _knn_runs(tmp_path)
    res = build(spec("samplerob/table6"), context(tmp_path))
    pretty = res.pretty.set_index(sr.ROW_LABEL)
    assert pretty.loc["K", "uni x"] == "2" and pretty.loc["K", "dist x"] == "2"
    t = res.table.set_index(sr.ROW_LABEL)
    assert t.loc["t_L", "uni x acc"] == pytest.approx(0.6)  # at K = 2, not t_L's own best
    assert t.loc["t_L", "uni x loss"] == pytest.approx(-0.2)
    assert t.loc["t_L", "dist x acc"] == pytest.approx(0.61)
    assert pretty.loc["t", "uni x"] == "**-0.2000** \\ **0.7000**"


def test_table7_reports_each_subsets_own_best_k(tmp_path):
    _knn_runs(tmp_path)
    res = build(spec("samplerob/table7"), context(tmp_path))
    t = res.table.set_index(sr.ROW_LABEL)
    assert t.loc["t_L", "uni x K"] == 1 and t.loc["t_L", "uni x acc"] == pytest.approx(0.9)
    assert t.loc["t", "uni x K"] == 2
    assert res.pretty.set_index(sr.ROW_LABEL).loc["t_L", "uni x"].endswith("(1)")


def test_table8_trims_forest_seeds_before_choosing_the_tree_count(tmp_path):
    # per seed ACC on t for trees 1 and 2; trimmed means (middle 1 of 5): 0.6 and 0.55
    acc = {1: [0.9, 0.6, 0.1, 0.65, 0.5], 2: [0.55, 0.99, 0.0, 0.54, 0.56]}
    for s in range(5):
        rows = []
        for trees, values in acc.items():
            rows.append(
                {
                    "split": "t",
                    "metric": "acc",
                    "value": values[s],
                    "epoch": trees,
                    "checkpoint": f"trees{trees:02d}",
                }
            )
            rows.append(
                {
                    "split": "t",
                    "metric": "loss",
                    "value": float(s),
                    "epoch": trees,
                    "checkpoint": f"trees{trees:02d}",
                }
            )
        write_run(tmp_path, f"onp-random_forest-absolute_error-s{s}-x_L24", rows, {"scale_name": "smoke", "samplerob": {"train_subset": "x_L24"}},
                  dataset="onp", model="random_forest", scheme="absolute_error", seed=s)  # fmt: skip
    res = build(spec("samplerob/table8"), context(tmp_path))
    assert res.pretty.set_index(sr.ROW_LABEL).loc["Trees", "MAE x_L24"] == "1"
    t = res.table.set_index(sr.ROW_LABEL)
    assert t.loc["t", "MAE x_L24 acc"] == pytest.approx(0.6)
    assert t.loc["t", "MAE x_L24 loss"] == pytest.approx(2.0)
    assert res.figure is not None
    res.figure(tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 1000


# -- table 1 / 10 and E.1 ----------------------------------------------------------------------------


def _study(root: Path, dataset="cifar10") -> Path:
    d = root / f"{dataset}-robustness"
    (d / "subsets").mkdir(parents=True)
    dist = pd.DataFrame([
        {"dataset": dataset, "set": "x", "subset": "x", "class": "automobile", "count": 4, "pct": 100.0},
        {"dataset": dataset, "set": "x", "subset": "x", "class": "total", "count": 4, "pct": 100.0},
        {"dataset": dataset, "set": "x", "subset": "x_L40", "class": "automobile", "count": 3, "pct": 75.0},
        {"dataset": dataset, "set": "x", "subset": "x_L40", "class": "total", "count": 3, "pct": 75.0},
    ])  # fmt: skip
    dist.to_csv(d / "class_distribution.csv", index=False)
    rob = pd.DataFrame(
        {
            "dataset": dataset,
            "set": ["x"] * 4 + ["t"] * 2,
            "index": [0, 1, 2, 3, 0, 1],
            "label": [1, 1, 1, 1, 1, 1],
            "R": [0.3, 0.5, 0.7, 0.9, 0.4, 0.8],
        }
    )
    rob.to_csv(d / "robustness.csv", index=False)
    sets = {"like": ["cifar10"], "sizes": {"x": 4, "t": 2}, "counts": {"x": 4, "x_L40": 3}}
    (d / "subsets" / "sets.json").write_text(json.dumps(sets))
    rows = []
    for s, r in (("x", rob.R[:4]), ("t", rob.R[4:])):
        rows += [
            {"split": s, "metric": m, "value": v, "n": len(r)}
            for m, v in (("min", r.min()), ("max", r.max()), ("count_below_0.65", (r < 0.65).sum()))
        ]
    write_run(
        root,
        d.name,
        [{**r, "attack": "sample_robustness"} for r in rows],
        {"scale_name": "smoke"},
        dataset=dataset,
        checkpoint="data",
        epoch=-1,
        model="none",
        scheme="sample_robustness",
    )
    return d


def test_table1_counts_with_percentages_and_paper_labels(tmp_path):
    _study(tmp_path)
    s = spec("samplerob/table1")
    res = build(s, context(tmp_path))
    pretty = res.pretty.set_index("class")
    assert pretty.loc["auto", "x"] == "4"
    assert pretty.loc["auto", "x_L40"] == "3 (75%)"
    assert pretty.loc["Σ", "x_L40"] == "3"
    assert pretty.loc["auto", "t_L5"] == ""  # not in the study
    assert res.table.set_index("class").loc["auto", "x_L40 pct"] == pytest.approx(75.0)
    assert "scaled" in s.note and "x_L40 holds 3 samples" in s.note
    res.figure(tmp_path / "t1.png")
    assert (tmp_path / "t1.png").exists()


def test_minmax_lists_min_max_and_count_below(tmp_path):
    _study(tmp_path)
    res = build(spec("samplerob/minmax"), context(tmp_path))
    t = res.table.set_index(["dataset", "set"])
    assert t.loc[("cifar10", "x"), "min"] == pytest.approx(0.3)
    assert t.loc[("cifar10", "t"), "max"] == pytest.approx(0.8)
    assert res.pretty.set_index(["dataset", "set"]).loc[("cifar10", "x"), "R < 0.65"] == "2 (50.0%)"
    res.figure(tmp_path / "mm.png")
    assert (tmp_path / "mm.png").stat().st_size > 1000
