"""Shared statistics against direct formulas and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from robustbench_runner.errors import UserError
from robustbench_runner.stats import mean_std, ols_slope, significance_mark, welch_ttest


def test_ols_slope_matches_textbook_formula():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.1, 0.9, size=23)
    y = -0.4 * x + 0.8 + rng.normal(scale=0.1, size=23)
    n = len(x)
    slope = np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1)
    intercept = y.mean() - slope * x.mean()
    resid = y - (intercept + slope * x)
    se = math.sqrt(np.sum(resid**2) / (n - 2) / np.sum((x - x.mean()) ** 2))
    p = 2 * scipy.stats.t.sf(abs(slope / se), n - 2)
    got = ols_slope(x, y)
    assert got.slope == pytest.approx(slope, rel=1e-10)
    assert got.stderr == pytest.approx(se, rel=1e-10)
    assert got.p_value == pytest.approx(p, rel=1e-8)
    assert got.n == n
    b, pv, s, m = got  # plain tuple unpacking works
    assert (b, pv, s, m) == tuple(got)


def test_ols_slope_exact_line_and_no_relation():
    x = np.arange(10.0)
    res = ols_slope(x, 3.0 * x - 1.0 + 1e-9 * np.sin(x))
    assert res.slope == pytest.approx(3.0) and res.p_value < 1e-20
    flat = ols_slope(x, np.array([1.0, -1.0] * 5))
    assert flat.p_value > 0.5


def test_ols_slope_rejects_bad_input():
    with pytest.raises(UserError, match="at least 3"):
        ols_slope([0.1, 0.2], [1.0, 2.0])
    with pytest.raises(UserError, match="equal"):
        ols_slope([0.5, 0.5, 0.5], [1.0, 2.0, 3.0])
    with pytest.raises(UserError, match="NaN"):
        ols_slope([0.1, 0.2, float("nan")], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="values"):
        ols_slope([0.1, 0.2, 0.3], [1.0, 2.0])


@pytest.mark.parametrize(
    "alternative, scipy_alt",
    [("two-sided", "two-sided"), ("larger", "greater"), ("smaller", "less")],
)
def test_welch_matches_scipy(alternative, scipy_alt):
    rng = np.random.default_rng(2)
    a = rng.normal(0.5, 0.02, size=20)
    b = rng.normal(0.49, 0.06, size=13)
    ref = scipy.stats.ttest_ind(a, b, equal_var=False, alternative=scipy_alt)
    t, p = welch_ttest(a, b, alternative=alternative)
    assert t == pytest.approx(ref.statistic, rel=1e-10)
    assert p == pytest.approx(ref.pvalue, rel=1e-8)
    # Welch differs from the pooled-variance test on unequal variances and sizes.
    pooled = scipy.stats.ttest_ind(a, b, equal_var=True, alternative=scipy_alt)
    assert abs(pooled.pvalue - p) > 1e-4


def test_welch_needs_two_values_per_group():
    with pytest.raises(UserError, match="at least 2"):
        welch_ttest([1.0], [1.0, 2.0])


def test_significance_mark():
    base = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    high = base + 10
    assert significance_mark(high, base) == "*"
    assert significance_mark(base, high) == ""  # significant, but lower
    assert significance_mark(base, high, direction="lower", mark="\u2605") == "\u2605"
    assert significance_mark(base, high, direction="either") == "*"
    assert significance_mark(base + 0.1, base) == ""
    # Equal variances 2.5, n = 5: t = shift, df = 8; shift 2 -> two-sided p 0.08, one-sided 0.04.
    shifted = base + 2.0
    p_two = welch_ttest(shifted, base).p
    assert 0.05 < p_two < 0.1
    assert significance_mark(shifted, base) == ""
    assert significance_mark(shifted, base, sided="one-sided") == "*"
    assert significance_mark(shifted, base, alpha=0.1) == "*"
    assert significance_mark([1.0, 1.0], [0.0, 0.0]) == ""  # no variance: no test, no mark
    with pytest.raises(ValueError, match="one-sided"):
        significance_mark(shifted, base, direction="either", sided="one-sided")


def test_mean_std():
    m, s = mean_std([1.0, 2.0, 3.0, 4.0])
    assert m == pytest.approx(2.5)
    assert s == pytest.approx(math.sqrt(5 / 3))
    assert mean_std([1.0, 2.0, 3.0, 4.0], ddof=0)[1] == pytest.approx(math.sqrt(1.25))
    m1, s1 = mean_std([0.7])
    assert m1 == 0.7 and math.isnan(s1)
    assert mean_std([0.7], ddof=0) == (0.7, 0.0)
    with pytest.raises(UserError, match="empty"):
        mean_std([])
