"""Generated and packaged sets: the Gaussian mixture of paper vir appendix A (moments per
class, class balance, the affine map into [0, 1] and its eps), and scikit-learn's diabetes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import robustbench_runner.config  # noqa: F401  (resolvers)
from rbr_testing import REPO, compose_cfg
from robustbench_runner.data import load_dataset
from robustbench_runner.data.gaussian_mixture import load_gaussian_mixture, to_raw
from robustbench_runner.data.tabular import load_diabetes
from robustbench_runner.errors import UserError

CONF_DIR = REPO / "conf" / "dataset"


def test_gaussian_mixture_moments_per_class():
    d, eta, sigma, K, n = 8, 0.3, 0.5, 3.0, 40_000
    b = load_gaussian_mixture(n_train=n, n_test=100, d=d, eta=eta, sigma=sigma, K=K, seed=1)
    h = b.meta["half_width"]
    x = to_raw(b.train.x.double(), h)
    y = b.train.y
    assert b.train.x.shape == (n, d) and b.train.x.dtype == torch.float32 and b.in_channels == d and b.image_size == 0
    assert 0 < b.train.x.min() and b.train.x.max() < 1
    assert abs(float((y == 1).double().mean()) - 0.5) < 4 * 0.5 / n**0.5  # y ~ uniform{-1, +1}
    for label, mean, std in ((0, -eta, sigma), (1, eta, K * sigma)):
        xc = x[y == label]
        m = len(xc)
        tol_mean = 5 * std / m**0.5
        assert torch.allclose(xc.mean(0), torch.full((d,), mean, dtype=torch.float64), atol=tol_mean)
        assert torch.allclose(xc.std(0), torch.full((d,), std, dtype=torch.float64), rtol=0.03)
        off_diag = torch.corrcoef(xc.T) - torch.eye(d, dtype=torch.float64)
        assert off_diag.abs().max() < 0.05  # isotropic: sigma^2 I


def test_gaussian_mixture_seeded_exact_balance_and_errors():
    a = load_gaussian_mixture(n_train=100, n_test=50, seed=3)
    b = load_gaussian_mixture(n_train=100, n_test=50, seed=3)
    c = load_gaussian_mixture(n_train=100, n_test=50, seed=4)
    assert torch.equal(a.train.x, b.train.x) and not torch.equal(a.train.x, c.train.x)
    assert not torch.equal(a.train.x[:50], a.test.x)  # independent streams
    exact = load_gaussian_mixture(n_train=100, n_test=50, balance="exact")
    assert torch.bincount(exact.train.y).tolist() == [50, 50]
    with pytest.raises(UserError, match="K"):
        load_gaussian_mixture(K=1.0)
    with pytest.raises(UserError, match="half_width"):
        load_gaussian_mixture(n_train=1000, half_width=0.5)  # samples outside [-h, h]


def test_gaussian_mixture_raw_storage_is_the_unmapped_data():
    unit = load_gaussian_mixture(n_train=200, n_test=10, seed=2)
    raw = load_gaussian_mixture(n_train=200, n_test=10, seed=2, storage="raw")
    assert torch.allclose(to_raw(unit.train.x.double(), unit.meta["half_width"]).float(), raw.train.x, atol=1e-4)
    assert raw.train.x.min() < 0  # not in [0, 1]: the reason unit storage is the default


def test_gaussian_mixture_config_eps_and_model_normalization_undo_the_map():
    cfg = compose_cfg(["dataset=gaussian_mixture"]).data  # the file + conf/dataset/_base.yaml
    h = float(cfg.half_width)
    assert h == pytest.approx(cfg.range_sds * cfg.K * cfg.sigma)
    assert float(cfg.eps) == pytest.approx(cfg.eps_raw / (2 * h))
    b = load_dataset(cfg)
    norm = b.meta["model_normalization"]
    u = b.test.x
    raw = (u - norm["mean"]) / norm["std"]  # what a model with these buffers sees
    raw_ref = load_gaussian_mixture(n_train=cfg.n_train, n_test=cfg.n_test, storage="raw").test.x
    assert torch.allclose(raw, raw_ref, atol=1e-4)
    # an L-inf step of eps in u-space is a step of eps_raw in x-space
    step = ((u + float(cfg.eps) - norm["mean"]) / norm["std"]) - raw
    assert torch.allclose(step, torch.full_like(step, cfg.eps_raw), atol=1e-4)
    assert b.meta["eps_unit"] == pytest.approx(float(cfg.eps))


def test_diabetes_scaled_and_split():
    b = load_diabetes()
    assert (len(b.train), len(b.test)) == (354, 88) and b.in_channels == 10 and b.task == "regression"
    x = torch.cat([b.train.x, b.test.x])
    y = torch.cat([b.train.y, b.test.y])
    assert x.dtype == y.dtype == torch.float32
    assert torch.allclose(x.min(0).values, torch.zeros(10)) and torch.allclose(x.max(0).values, torch.ones(10))
    assert y.min() == 0 and y.max() == 1
    from sklearn.datasets import load_diabetes as sk

    target = np.sort(sk(scaled=False).target)
    recovered = np.sort(y.double().numpy() * (b.meta["target_max"] - b.meta["target_min"]) + b.meta["target_min"])
    assert np.allclose(recovered, target, atol=1e-3)
    other = load_diabetes(split_seed=1)
    assert not torch.equal(other.test.y, b.test.y)
