"""rbr-run composes and runs for every sensible dataset x model pair: each dataset with CNN-6
(MLP for the tabular set) on files written in the real on-disk formats, and each model on
CIFAR-shaped data."""

from __future__ import annotations

import pytest

from rbr_testing import compose_cfg, run_inprocess
from robustbench_runner.data.standin import write_standin
from robustbench_runner.errors import UserError
from robustbench_runner.io import read_csv
from robustbench_runner.models import available_models

QUICK = ["train.epochs=1", "eval.grid=[1]", "train.batch_size=16", "eval.n_eval=8", "attacks.pgd20.steps=1",
         "progress=false", "data.limit_train=32", "data.limit_test=16"]  # fmt: skip


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_standin(tmp_path_factory.mktemp("data"))


IMAGE_SETS = ["digits", "mnist", "fmnist", "cifar10", "cifar100", "svhn", "tinyimagenet"]


@pytest.mark.parametrize("dataset", IMAGE_SETS + ["fusion_digit", "fusion_object", "gaussian_mixture"])
def test_each_dataset_trains_and_is_attacked(dataset, data_root, tmp_path):
    over = [f"dataset={dataset.split('_')[0] if dataset.startswith('fusion') else dataset}", f"data.root={data_root}", f"output_root={tmp_path}", *QUICK]
    if dataset.startswith("fusion"):
        over.append(f"data.task={dataset.split('_')[1]}")
    if dataset == "gaussian_mixture":
        over += ["model=mlp"]
    run = run_inprocess(over)
    m = read_csv(run / "metrics.csv")
    assert (run / "DONE").exists()
    assert {"clean", "FGSM"} <= set(m.attack)
    assert m[m.metric == "acc"].value.between(0, 1).all()


HEAVY = {"wrn34_10", "wrn28_10", "resnet50"}  # ~9-10 s each even on 16 images: in the slow suite (tests/models builds each fast)


@pytest.mark.parametrize(
    "model",
    [pytest.param(m, marks=pytest.mark.slow) if m in HEAVY else m for m in available_models() if m != "mlp"],
)
def test_each_model_on_cifar_shaped_data(model, data_root, tmp_path):
    run = run_inprocess([f"model={model}", "dataset=cifar10", f"data.root={data_root}", f"output_root={tmp_path}", *QUICK,
                         "data.limit_train=16", "eval.n_eval=4"])  # fmt: skip
    summary = read_csv(run / "model_summary.csv")
    assert summary.loc[summary.layer == "TOTAL", "params"].item() > 0
    assert (run / "DONE").exists()


def test_regression_sets_are_refused_with_a_fix(tmp_path):
    with pytest.raises(UserError, match="regression set.*fix: use it through the samplerob studies"):
        run_inprocess(["dataset=diabetes", "model=mlp", f"output_root={tmp_path}", *QUICK])


def test_fusion_composes_with_both_tasks():
    assert compose_cfg(["dataset=fusion", "data.task=object"]).data.task == "object"
