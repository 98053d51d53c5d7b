"""Sample robustness (paper samplerob): exact R against float64 brute force, subsets, trimmed mean."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import trim_mean

from robustbench_runner.errors import UserError
from robustbench_runner.papers.samplerob import sample_robustness as sr
from robustbench_runner.papers.samplerob.sample_robustness import (
    lipschitz_quotient,
    nearest_different,
    sample_robustness,
)
from robustbench_runner.papers.samplerob.subsets import (
    SAMPLEROB_SIZES,
    class_distribution,
    least_robust,
    load_subset,
    load_subsets,
    most_robust,
    onp_test_subsets,
    robustness_minmax,
    robustness_order,
    robustness_subsets,
    save_subsets,
    select_subsets,
    trimmed_mean,
)

# ------------------------------------------------------------------------------ brute force


def _flat64(X) -> np.ndarray:
    X = np.asarray(X)
    flat = X.reshape(len(X), -1).astype(np.float64)
    return flat / 255.0 if X.dtype == np.uint8 else flat


def brute_reach(X, labels):
    """Algorithm 2's loop in float64: nearest differently labelled sample (first on ties)."""
    X = _flat64(X)
    reach, index = np.empty(len(X)), np.empty(len(X), dtype=np.int64)
    for i in range(len(X)):
        best, best_j = math.inf, -1
        for j in range(len(X)):
            if labels[j] != labels[i]:
                d = np.sqrt(np.sum((X[i] - X[j]) * (X[i] - X[j])))
                if d < best:
                    best, best_j = d, j
        reach[i], index[i] = best, best_j
    return reach, index


def brute_quotient(X, targets, norm=2):
    """Algorithm 1's loop in float64 on the labels as given (first maximizer on ties)."""
    X = _flat64(X)
    y = np.asarray(targets, dtype=np.float64).reshape(len(X), -1)
    quotient, index = np.empty(len(X)), np.empty(len(X), dtype=np.int64)
    for i in range(len(X)):
        best, best_j = -1.0, -1
        for j in range(len(X)):
            if (y[j] != y[i]).any():
                diff = y[i] - y[j]
                g = np.sqrt(np.sum(diff * diff)) if norm == 2 else np.abs(diff).max()
                d = np.sqrt(np.sum((X[i] - X[j]) * (X[i] - X[j])))
                q = math.inf if d == 0 else g / d
                if q > best:
                    best, best_j = q, j
        quotient[i], index[i] = best, best_j
    return quotient, index


def naive_float32_nearest(X, labels):
    """Float32 expansion without re-check: the answer a plain GEMM search would give."""
    x = torch.from_numpy(_flat64(X).astype(np.float32))
    sq = (x * x).sum(1)
    s = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
    s[torch.from_numpy(labels[:, None] == labels[None, :])] = math.inf
    return s.argmin(dim=1).numpy()


def near_tie_groups(n_groups: int, dim: int, delta: float, seed: int):
    """Groups (query, near, far): label 0, 1, 1; near at distance 0.05, far at 0.05 (1 + delta).

    The far one comes first in index order so a wrong float32 pick is not rescued by ties.
    """
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for _ in range(n_groups):
        query = rng.uniform(0.2, 0.8, dim)
        u, v = rng.normal(size=dim), rng.normal(size=dim)
        u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
        rows += [query, query + 0.05 * (1 + delta) * v, query + 0.05 * u]
        labels += [0, 1, 1]
    return np.array(rows), np.array(labels)


# ------------------------------------------------------------------------------ classification


@pytest.mark.parametrize("block_size", [None, 7, 64])
def test_classification_matches_brute_force(block_size):
    rng = np.random.default_rng(0)
    X = rng.random((240, 30)).astype(np.float32)
    labels = rng.integers(0, 4, 240)
    reach, index = brute_reach(X, labels)
    result = nearest_different(X, labels, block_size=block_size)
    np.testing.assert_allclose(result.distance, reach, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(result.index, index)
    R = sample_robustness(X, labels, block_size=block_size)
    np.testing.assert_allclose(R, reach / (reach + 1.0), rtol=1e-14)


def test_classification_near_ties_need_the_float64_recheck():
    X, labels = near_tie_groups(n_groups=60, dim=48, delta=1e-9, seed=1)
    reach, index = brute_reach(X, labels)
    queries = np.arange(0, len(X), 3)
    assert (index[queries] == queries + 2).all()  # the construction: "near" is nearest
    naive = naive_float32_nearest(X, labels)
    assert (naive[queries] != index[queries]).sum() >= 5  # float32 alone gets some wrong
    result = nearest_different(X, labels, block_size=16)
    np.testing.assert_array_equal(result.index, index)
    np.testing.assert_allclose(result.distance, reach, rtol=1e-15)


def test_exact_ties_go_to_the_smallest_index():
    # Dyadic coordinates make both distances exactly equal in float64.
    X = np.full((5, 8), 0.5)
    X[1, :4] += 0.25  # class 1, distance 0.5 from sample 0
    X[2, 4:] -= 0.25  # class 1, the same distance
    X[3] = 0.0
    X[4] = 1.0
    labels = np.array([0, 1, 1, 0, 1])
    reach, index = brute_reach(X, labels)
    result = nearest_different(X, labels)
    assert result.index[0] == 1 and index[0] == 1
    np.testing.assert_array_equal(result.index, index)
    np.testing.assert_allclose(result.distance, reach, rtol=1e-15)


def test_duplicates_with_different_labels_have_zero_robustness():
    rng = np.random.default_rng(2)
    X = rng.random((50, 12))
    X[10] = X[3]  # same input, different label -> r = 0
    X[20] = X[4]  # same input, same label -> not differently labelled
    labels = rng.integers(0, 3, 50)
    labels[3], labels[10] = 0, 2
    labels[20] = labels[4]
    R = sample_robustness(X, labels)
    reach, _ = brute_reach(X, labels)
    assert R[3] == 0.0 and R[10] == 0.0
    assert R[4] > 0 and R[20] > 0
    np.testing.assert_allclose(R, reach / (reach + 1), rtol=1e-14)


def test_images_uint8_and_one_hot_labels():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(60, 3, 4, 4), dtype=np.uint8)
    labels = rng.integers(0, 5, 60)
    one_hot = np.eye(5)[labels]
    reach, _ = brute_reach(images, labels)
    np.testing.assert_allclose(sample_robustness(images, one_hot), reach / (reach + 1), rtol=1e-14)
    half = (images / 255.0).astype(np.float16)  # float16 takes the float32 path exactly
    reach16, _ = brute_reach(half, labels)
    np.testing.assert_allclose(sample_robustness(half, labels), reach16 / (reach16 + 1), rtol=1e-14)
    as_float = torch.from_numpy(images).float() / 255.0  # float32 tensors work as well
    reach32, _ = brute_reach(as_float.numpy(), labels)
    np.testing.assert_allclose(
        sample_robustness(as_float, torch.from_numpy(labels)), reach32 / (reach32 + 1), rtol=1e-14
    )


def test_label_distance_matches_one_hot_norms():
    """R = r / (r + 1) is 3.4 for one-hot labels under the max norm; sqrt(2) under L2."""
    rng = np.random.default_rng(4)
    X = rng.random((80, 6))
    labels = rng.integers(0, 3, 80)
    one_hot = np.eye(3)[labels]
    R_paper = sample_robustness(X, labels)
    R_linf = sample_robustness(X, one_hot, task="regression", label_norm=np.inf)
    np.testing.assert_allclose(R_paper, R_linf, rtol=1e-13)
    R_l2 = sample_robustness(X, one_hot, task="regression", label_norm=2)
    np.testing.assert_allclose(
        sample_robustness(X, labels, label_distance=math.sqrt(2)), R_l2, rtol=1e-13
    )
    assert (R_l2 < R_paper).all()


def test_small_candidate_buffer_gives_the_same_answer(monkeypatch):
    rng = np.random.default_rng(5)
    X = rng.random((150, 10))
    labels = rng.integers(0, 3, 150)
    y = rng.random(150)
    expected_r = nearest_different(X, labels, block_size=32)
    expected_q = lipschitz_quotient(X, y, block_size=32)
    monkeypatch.setattr(sr, "_PENDING_CAP", 3)  # re-check in float64 after almost every tile
    got_r = nearest_different(X, labels, block_size=32)
    got_q = lipschitz_quotient(X, y, block_size=32)
    np.testing.assert_array_equal(got_r.distance, expected_r.distance)
    np.testing.assert_array_equal(got_r.index, expected_r.index)
    np.testing.assert_array_equal(got_q.quotient, expected_q.quotient)
    np.testing.assert_array_equal(got_q.index, expected_q.index)


# ------------------------------------------------------------------------------ regression


@pytest.mark.parametrize("block_size", [None, 9])
def test_regression_matches_brute_force(block_size):
    rng = np.random.default_rng(6)
    X = rng.random((200, 15)).astype(np.float32)
    y = rng.random(200) * 7.0
    y[:20] = y[20:40]  # equal labels are not "differently labelled"
    quotient, index = brute_quotient(X, y)
    result = lipschitz_quotient(X, y, block_size=block_size)
    np.testing.assert_allclose(result.quotient, quotient, rtol=1e-14)
    np.testing.assert_array_equal(result.index, index)
    # Algorithm 1 on labels scaled to ||y||_inf = 1, i.e. 3.4 on the raw labels.
    scale = np.abs(y).max()
    np.testing.assert_allclose(
        sample_robustness(X, y, task="regression", block_size=block_size),
        scale / (quotient + scale),
        rtol=1e-13,
    )


def test_regression_vector_labels_and_duplicates():
    rng = np.random.default_rng(7)
    X = rng.random((90, 5))
    y = rng.random((90, 3))
    X[5] = X[6]  # duplicate input, different label -> Q = inf, R = 0
    for norm in (2, np.inf):
        quotient, index = brute_quotient(X, y, norm=norm)
        result = lipschitz_quotient(X, y, label_norm=norm)
        np.testing.assert_allclose(result.quotient, quotient, rtol=1e-14)
        np.testing.assert_array_equal(result.index, index)
    R = sample_robustness(X, y, task="regression")
    assert R[5] == 0.0 and R[6] == 0.0 and (np.delete(R, [5, 6]) > 0).all()


def test_regression_near_ties_need_the_float64_recheck():
    # Same geometry as the classification case: equal label gaps, distances 0.05 vs 0.05(1+1e-9),
    # so the larger quotient belongs to the nearer sample.
    X, labels = near_tie_groups(n_groups=60, dim=48, delta=1e-9, seed=8)
    y = labels.astype(np.float64)
    quotient, index = brute_quotient(X, y)
    queries = np.arange(0, len(X), 3)
    assert (index[queries] == queries + 2).all()
    result = lipschitz_quotient(X, y, block_size=16)
    np.testing.assert_array_equal(result.index, index)
    np.testing.assert_allclose(result.quotient, quotient, rtol=1e-15)


def test_regression_robustness_is_invariant_to_label_rescaling():
    """Paper samplerob, proposition A.2: R does not change when y is multiplied by a != 0."""
    rng = np.random.default_rng(9)
    X = rng.random((120, 8))
    y = rng.random(120)
    R = sample_robustness(X, y, task="regression")
    for a in (3.7, -0.25, 1e6):
        np.testing.assert_allclose(sample_robustness(X, a * y, task="regression"), R, rtol=1e-12)
    # Without the scaling, 1 / (Q + 1) would change with the label scale.
    q = lipschitz_quotient(X, 10.0 * y).quotient
    assert not np.allclose(1.0 / (q + 1.0), R)


# ------------------------------------------------------------------------------ input handling


def test_bad_inputs_raise_user_errors():
    X = np.random.default_rng(0).random((10, 3))
    with pytest.raises(UserError, match="two different labels"):
        sample_robustness(X, np.zeros(10))
    with pytest.raises(UserError, match="two different labels"):
        sample_robustness(X, np.ones(10), task="regression")
    with pytest.raises(UserError, match="unknown task"):
        sample_robustness(X, np.arange(10) % 2, task="ranking")
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(UserError, match="NaN"):
        sample_robustness(bad, np.arange(10) % 2)
    with pytest.raises(UserError, match="expected 10 labels"):
        sample_robustness(X, np.arange(9) % 2)
    with pytest.raises(UserError, match="label_norm"):
        sample_robustness(X, np.arange(10.0), task="regression", label_norm=1)


def test_matmul_precision_settings_are_restored():
    matmul = torch.backends.mkldnn.matmul
    if not hasattr(matmul, "fp32_precision"):
        pytest.skip("this torch has no per-backend fp32_precision setting")
    before = matmul.fp32_precision
    try:
        matmul.fp32_precision = "tf32"
        X = np.random.default_rng(0).random((30, 4))
        sample_robustness(X, np.arange(30) % 3)
        assert matmul.fp32_precision == "tf32"
    finally:
        matmul.fp32_precision = before


@pytest.mark.gpu
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    rng = np.random.default_rng(10)
    X = rng.random((3000, 200)).astype(np.float32)
    labels = rng.integers(0, 10, 3000)
    y = rng.random(3000)
    np.testing.assert_array_equal(
        sample_robustness(X, labels, device="cuda"), sample_robustness(X, labels)
    )
    np.testing.assert_array_equal(
        sample_robustness(X, y, task="regression", device="cuda"),
        sample_robustness(X, y, task="regression"),
    )


# ------------------------------------------------------------------------------ subsets


def test_subsets_sizes_nesting_and_disjointness():
    rng = np.random.default_rng(11)
    R = rng.random(5000).round(2)  # many exact ties
    subsets = robustness_subsets(R, (4, 2.5), prefix="x")
    assert list(subsets) == ["x_L4", "x_M4", "x_L2.5", "x_M2.5"]
    assert [len(v) for v in subsets.values()] == [4000, 4000, 2500, 2500]
    assert set(subsets["x_L2.5"]) <= set(subsets["x_L4"])
    assert set(subsets["x_M2.5"]) <= set(subsets["x_M4"])
    assert not set(subsets["x_L2.5"]) & set(subsets["x_M2.5"])
    L, M = subsets["x_L2.5"], subsets["x_M2.5"]
    assert R[L].max() <= R[M].min()
    assert (np.diff(L) > 0).all()  # dataset order
    # ties at the boundary go to the smaller index for L (stable sort by R, then index)
    order = robustness_order(R)
    np.testing.assert_array_equal(order, np.lexsort((np.arange(5000), R)))
    boundary = R[order[2499]]
    tied = np.flatnonzero(R == boundary)
    in_L = np.isin(tied, L)
    assert in_L.any() and not in_L.all()
    assert tied[in_L].max() < tied[~in_L].min()


def test_subset_counts_fractional_form_and_onp():
    R = np.linspace(0, 1, 1000)
    subsets = robustness_subsets(R, SAMPLEROB_SIZES["cifar10"]["train"], reference_total=50_000)
    assert {k: len(v) for k, v in subsets.items()} == {
        "x_L40": 800,
        "x_M40": 800,
        "x_L25": 500,
        "x_M25": 500,
    }
    np.testing.assert_array_equal(subsets["x_L25"], np.arange(500))
    np.testing.assert_array_equal(subsets["x_M25"], np.arange(500, 1000))
    counts = robustness_subsets(R, (30, 7), unit=1, prefix="t")
    assert len(counts["t_L30"]) == 30 and len(counts["t_M7"]) == 7
    np.testing.assert_array_equal(least_robust(R, 3), [0, 1, 2])
    np.testing.assert_array_equal(most_robust(R, 2), [998, 999])
    onp = onp_test_subsets(R, tail=100)
    assert {k: len(v) for k, v in onp.items()} == {"t_L": 500, "t_M": 500, "t_l": 100, "t_m": 100}
    with pytest.raises(UserError, match="asks for 2000"):
        robustness_subsets(R, (2,))
    with pytest.raises(UserError, match="kind"):
        select_subsets(R, {"odd": ("X", 3)})


def test_save_and_load_subsets(tmp_path):
    R = np.random.default_rng(12).random(300)
    subsets = robustness_subsets(R, (100, 50), unit=1)
    paths = save_subsets(subsets, tmp_path / "subsets")
    assert sorted(p.name for p in paths) == ["x_L100.npy", "x_L50.npy", "x_M100.npy", "x_M50.npy"]
    loaded = load_subsets(tmp_path / "subsets", n_total=300)
    assert loaded.keys() == subsets.keys()
    for name in subsets:
        np.testing.assert_array_equal(loaded[name], subsets[name])
        assert loaded[name].dtype == np.int64
    with pytest.raises(UserError, match="must lie in"):
        load_subset(tmp_path / "subsets" / "x_M100.npy", n_total=250)
    np.save(tmp_path / "twice.npy", np.array([1, 2, 2]))
    with pytest.raises(UserError, match="twice"):
        load_subset(tmp_path / "twice.npy")
    with pytest.raises(UserError, match="does not exist"):
        load_subset(tmp_path / "missing.npy")


def test_class_distribution_counts_and_percentages():
    labels = np.array([0] * 10 + [1] * 10 + [2] * 5)
    subsets = {"x_L1": np.array([0, 1, 2, 10, 20]), "x_M1": np.arange(10, 20)}
    table = class_distribution(labels, subsets, class_names=["plane", "car", "bird"])
    assert list(table.index) == ["plane", "car", "bird", "total"]
    assert table[("x", "count")].tolist() == [10, 10, 5, 25]
    assert table[("x_L1", "count")].tolist() == [3, 1, 1, 5]
    np.testing.assert_allclose(table[("x_L1", "pct")], [30.0, 10.0, 20.0, 20.0])
    assert table[("x_M1", "count")].tolist() == [0, 10, 0, 10]
    np.testing.assert_allclose(table[("x_M1", "pct")], [0.0, 100.0, 0.0, 40.0])
    with pytest.raises(UserError, match="class_names"):
        class_distribution(labels, subsets, class_names=["plane", "car"])


def test_robustness_minmax():
    table = robustness_minmax({"x": np.array([0.5, 0.2, 0.9, 0.2]), "t": np.array([0.4, 0.8])})
    assert isinstance(table, pd.DataFrame)
    assert table.loc["x", "min"] == 0.2 and table.loc["x", "argmin"] == 1
    assert table.loc["x", "max"] == 0.9 and table.loc["x", "argmax"] == 2
    assert table.loc["t", "n"] == 2 and table.loc["t", "max"] == 0.8


def test_trimmed_mean_matches_scipy_for_25_runs():
    rng = np.random.default_rng(13)
    for _ in range(20):
        values = rng.normal(size=25)
        expected = np.sort(values)[10:15].mean()
        assert trimmed_mean(values, 10) == pytest.approx(expected, rel=1e-15)
        assert trimmed_mean(values, 10) == pytest.approx(trim_mean(values, 0.4), rel=1e-15)
    assert trimmed_mean([5.0, 1.0, 100.0, 2.0, 3.0], 1) == pytest.approx(10 / 3)
    with pytest.raises(UserError, match="at least 21"):
        trimmed_mean(np.arange(20.0), 10)
