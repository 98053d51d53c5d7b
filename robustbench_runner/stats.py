"""Statistics shared by the table builders (papers prs and auc; mean +- std everywhere).

- :func:`ols_slope`: paper prs appendix E, tables 5 and 6: slope of the
  regression line of a property on the PRS ratio and the two-sided p-value of that slope,
  "computed by statsmodel package" (OLS with an intercept).
- :func:`welch_ttest` / :func:`significance_mark`: paper auc (section 4 and
  appendix A.4): "statistically significant using a Welch's t-test with significance
  level alpha = 0.05"; the table marks denote a *higher* robustness of one group.
- :func:`mean_std`: the "mean +- std" / "SD" cells of every paper. No paper says which
  ddof its standard deviation used; the default is the sample standard deviation
  (ddof=1, as pandas), a parameter.

The trimmed mean of paper samplerob lives in :mod:`robustbench_runner.papers.samplerob.subsets`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import statsmodels.api as sm
from statsmodels.stats.weightstats import ttest_ind

from .errors import UserError


class OLSSlope(NamedTuple):
    slope: float
    p_value: float  # two-sided, H0: slope = 0
    stderr: float
    n: int


class WelchResult(NamedTuple):
    t: float
    p: float


def _finite_vector(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.isfinite(arr).all():
        raise UserError(
            f"{name} contains NaN or infinite values",
            fix="drop the runs with missing metrics before aggregating",
        )
    return arr


def ols_slope(x: Sequence[float], y: Sequence[float]) -> OLSSlope:
    """OLS fit y = a + b x (statsmodels); returns (b, two-sided p-value of b, se(b), n).

    Paper prs, appendix E (tables 5, 6): one fit per (architecture, dataset) of a property
    (FGSM score, PGD accuracy, sparsity, IR, CS) on the PRS ratio of the candidates.
    """
    xs, ys = _finite_vector(x, "x"), _finite_vector(y, "y")
    if len(xs) != len(ys):
        raise ValueError(f"x has {len(xs)} values but y has {len(ys)}")
    if len(xs) < 3:
        raise UserError(
            f"a regression slope with a p-value needs at least 3 points, got {len(xs)}",
            fix="select more candidates (check the accuracy thresholds and epoch grid)",
        )
    if np.ptp(xs) == 0:
        raise UserError(
            "all x values are equal, so the regression slope is undefined",
            fix="select candidates that differ in the regressor",
        )
    fit = sm.OLS(ys, sm.add_constant(xs, has_constant="add")).fit()
    return OLSSlope(float(fit.params[1]), float(fit.pvalues[1]), float(fit.bse[1]), len(xs))


def welch_ttest(
    a: Sequence[float], b: Sequence[float], alternative: str = "two-sided"
) -> WelchResult:
    """Welch's unequal-variance t-test of mean(a) vs mean(b) (statsmodels ``ttest_ind``
    with ``usevar='unequal'``); ``alternative`` as in statsmodels: 'two-sided', 'larger'
    (mean(a) > mean(b)), 'smaller'. When both samples are constant p is NaN."""
    xa, xb = _finite_vector(a, "a"), _finite_vector(b, "b")
    if len(xa) < 2 or len(xb) < 2:
        raise UserError(
            f"Welch's t-test needs at least 2 values per group, got {len(xa)} and {len(xb)}",
            fix="aggregate over more seeds",
        )
    if alternative not in ("two-sided", "larger", "smaller"):
        raise ValueError(f"alternative must be two-sided, larger or smaller, got {alternative!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        t, p, _df = ttest_ind(xa, xb, alternative=alternative, usevar="unequal")
    return WelchResult(float(t), float(p))


def significance_mark(
    a: Sequence[float],
    b: Sequence[float],
    alpha: float = 0.05,
    mark: str = "*",
    direction: str = "higher",
    sided: str = "two-sided",
) -> str:
    """``mark`` when group ``a`` differs significantly from ``b`` in ``direction``, else "".

    Paper auc's marks read "statistically significantly higher robustness for A vs B", so
    the default is: Welch's two-sided p < alpha *and* mean(a) > mean(b). The paper does
    not say whether its test was one-sided; ``sided='one-sided'`` uses the one-sided
    p-value instead (statsmodels ``alternative='larger'``/``'smaller'``).
    ``direction``: 'higher' (a > b), 'lower' (a < b) or 'either' (two-sided only).
    A NaN p-value (both groups constant) never gets a mark.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if direction not in ("higher", "lower", "either"):
        raise ValueError(f"direction must be higher, lower or either, got {direction!r}")
    if sided not in ("two-sided", "one-sided"):
        raise ValueError(f"sided must be two-sided or one-sided, got {sided!r}")
    if direction == "either" and sided == "one-sided":
        raise ValueError("a one-sided test needs direction 'higher' or 'lower'")
    if sided == "one-sided":
        alternative = "larger" if direction == "higher" else "smaller"
    else:
        alternative = "two-sided"
    _t, p = welch_ttest(a, b, alternative=alternative)
    if not p < alpha:  # also False for NaN
        return ""
    diff = float(
        np.mean(np.asarray(a, dtype=np.float64)) - np.mean(np.asarray(b, dtype=np.float64))
    )
    wanted = {"higher": diff > 0, "lower": diff < 0, "either": True}[direction]
    return mark if wanted else ""


def mean_std(values: Sequence[float], ddof: int = 1) -> tuple[float, float]:
    """Mean and standard deviation (``ddof=1``: sample std; the papers do not say which).

    A single value has mean = that value and std NaN with ddof=1 (undefined), 0 with ddof=0.
    """
    arr = _finite_vector(values, "values")
    if len(arr) == 0:
        raise UserError("cannot average an empty set of values", fix="check the run filter")
    if ddof < 0:
        raise ValueError(f"ddof must be non-negative, got {ddof}")
    std = float(np.std(arr, ddof=ddof)) if len(arr) > ddof else float("nan")
    return float(np.mean(arr)), std
