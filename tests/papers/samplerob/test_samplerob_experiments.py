"""Paper samplerob experiment configs compose at both scales, carry the paper's values,
and a small-CNN run evaluates every test subset through the subset_eval analysis."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from rbr_testing import compose_cfg, run_inprocess
from robustbench_runner.config import validate
from robustbench_runner.papers.samplerob.prepare import prepare
from robustbench_runner.papers.samplerob.select_best import select_best

EXPERIMENTS = ["small_cnn", "resnet56_select", "resnet56"]


@pytest.mark.parametrize("scale", ["smoke", "paper"])
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_validates(name, scale):
    cfg = compose_cfg(
        [f"experiment=samplerob/{name}", f"scale={scale}", "samplerob.train_subset=x_L25"]
    )
    validate(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["data"]["subset"].endswith("cifar10-robustness/subsets/x_L25.npy")
    assert resolved["attacks"] == {}
    assert resolved["analysis"]["subset_eval"]["folder"].endswith("cifar10-robustness/subsets")
    assert resolved["data"]["limit_test"] is None  # test index files address the full split
    assert resolved["train"]["batch_size"] == 32  # appendix C.1


def test_paper_values_of_the_small_cnn():
    cfg = OmegaConf.to_container(
        compose_cfg(
            ["experiment=samplerob/small_cnn", "scale=paper", "samplerob.train_subset=x_L25"]
        ),
        resolve=True,
    )
    assert cfg["train"]["epochs"] == 75 and cfg["eval"]["grid"] == [75]  # table 2 epochs row
    opt = cfg["optim"]["optimizer"]
    assert opt["_target_"].endswith("KerasRMSprop") and opt["lr"] == 1e-4 and opt["decay"] == 1e-6
    assert cfg["data"]["limit_train"] is None and cfg["tag"] == "x_L25"


def test_resnet56_two_steps_chain_through_the_best_checkpoint():
    first = OmegaConf.to_container(
        compose_cfg(
            [
                "experiment=samplerob/resnet56_select",
                "scale=paper",
                "samplerob.train_subset=x",
                "seed=4",
            ]
        ),
        resolve=True,
    )
    second = OmegaConf.to_container(
        compose_cfg(
            ["experiment=samplerob/resnet56", "scale=paper", "samplerob.train_subset=x", "seed=4"]
        ),
        resolve=True,
    )
    assert first["train"]["epochs"] == 20 and first["eval"]["grid"] == list(range(1, 21))
    assert (
        first["optim"]["optimizer"]["lr"] == 1e-3
        and first["optim"]["optimizer"]["kernel_l2"] == 1e-4
    )
    assert second["train"]["epochs"] == 1 and second["optim"]["optimizer"]["lr"] == 1e-4
    assert second["init_from"] == f"outputs/sweeps/sweep/{first['run_name']}/ckpt/best_t_loss.pt"
    assert second["samplerob"]["select_epochs"] == 20 and second["samplerob"]["stage"] == "finetune"


@pytest.fixture(scope="module")
def digits_study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("out")
    prepare(root / "sweeps" / "s", ["dataset=digits", "data.image_size=12"], ["cifar10"])
    return root


def _overrides(root: Path, experiment: str, subset: str) -> list[str]:
    return [f"experiment=samplerob/{experiment}", "scale=smoke", "dataset=digits", "data.image_size=12", f"output_root={root}",
            "sweep_name=s", f"samplerob.train_subset={subset}", "data.limit_train=64", "progress=false", "eval.batch_size=500"]  # fmt: skip


def test_small_cnn_run_writes_subset_rows_consistent_with_clean_accuracy(digits_study):
    run = run_inprocess(_overrides(digits_study, "small_cnn", "x_M25"))
    m = pd.read_csv(run / "metrics.csv")
    rows = m[m.attack == "subset_eval"]
    assert set(rows.split) == {"t", "t_L5", "t_M5", "t_L2", "t_M2"}
    assert set(rows.metric) == {"loss", "loss_cw", "acc"}
    clean = m[(m.attack == "clean") & (m.split == "test")].value.iloc[0]
    assert rows[(rows.split == "t") & (rows.metric == "acc")].value.iloc[0] == pytest.approx(clean)
    assert (m.epoch == 2).all()  # smoke epochs of x_M25


@pytest.mark.slow
def test_resnet56_select_then_finetune(digits_study):
    first = run_inprocess(
        [*_overrides(digits_study, "resnet56_select", "x"), "data.limit_train=32"]
    )
    assert (first / "ckpt" / "epoch_002.pt").exists()
    # the runs of the first step are found under the sweep folder
    target = digits_study / "sweeps" / "s" / first.name
    first.rename(target)
    select_best(digits_study / "sweeps" / "s")
    second = run_inprocess([*_overrides(digits_study, "resnet56", "x"), "data.limit_train=32"])
    m = pd.read_csv(second / "metrics.csv")
    assert set(m[m.attack == "subset_eval"].split) == {"t", "t_L5", "t_M5", "t_L2", "t_M2"}
    import json

    assert json.loads((second / "run.json").read_text())["parent"]["run"] == target.name
