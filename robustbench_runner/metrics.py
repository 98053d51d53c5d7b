"""Scalar robustness metrics computed from accuracy-vs-eps curves: paper auc's normalized AUC
R (Kunhardt, Deza & Poggio, eq. 1) and relative change C (eq. 3), paper prs's raw AUC."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _curve(eps: Sequence[float], acc: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(eps, dtype=np.float64)
    f = np.asarray(acc, dtype=np.float64)
    if e.ndim != 1 or e.shape != f.shape or len(e) < 2:
        raise ValueError("need matching 1-d eps and accuracy arrays with at least 2 points")
    order = np.argsort(e, kind="stable")
    e, f = e[order], f[order]
    if np.any(np.diff(e) <= 0):
        raise ValueError(f"eps values must be distinct, got {e.tolist()}")
    return e, f


def raw_auc(eps: Sequence[float], acc: Sequence[float]) -> float:
    """Raw AUC (paper prs appendix, "FGSM robust score"): trapezoid integral of accuracy over
    [e0, e1] divided by (e1 - e0), i.e. the mean accuracy over the interval."""
    e, f = _curve(eps, acc)
    return float(np.trapezoid(f, e) / (e[-1] - e[0]))


def normalized_auc(eps: Sequence[float], acc: Sequence[float]) -> float:
    """Normalized AUC robustness R (paper auc, eq. 1):

        R = 1 / (f(e0) (e1 - e0)) * integral_{e0}^{e1} f(e) de

    with the integral by the trapezoid rule over the eps grid and f the accuracy.
    R = 1 means accuracy is flat over the interval; R -> 0 means every perturbed point is
    misclassified. Requires f(e0) > 0 (NaN otherwise: R is undefined)."""
    e, f = _curve(eps, acc)
    if f[0] <= 0:
        return float("nan")
    return float(np.trapezoid(f, e) / (f[0] * (e[-1] - e[0])))


def relative_change(acc_e: float, acc_e0: float) -> float:
    """C = (f(e) - f(e0)) / f(e0) (paper auc, eq. 3)."""
    return (acc_e - acc_e0) / acc_e0 if acc_e0 > 0 else float("nan")
