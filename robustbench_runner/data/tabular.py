"""Tabular regression sets: UCI Online News Popularity (paper samplerob) and scikit-learn's diabetes.

Both become float32 ``(N, D)`` features min-max scaled to [0, 1] and a float32 target in
[0, 1] (``task='regression'``, ``num_classes=1``, ``in_channels=D``, ``image_size=0``).

ONP (paper samplerob, Sec. 4.1 and 4.3; Fernandes et al. 2015): 39,644 Mashable articles, 61
columns: 2 non-predictive (``url``, ``timedelta``), 58 predictive attributes and the goal
``shares``. The CSV header has a space before every column name after the first; names are
stripped. Paper samplerob: "each sample x is an element of [0, 1]^58" and "the label map assigns a
normalised number of shares in [0, 1]" -- min-max over all 39,644 rows (so test rows stay
inside [0, 1] too). The pseudo-classification task: popular when shares >= 1400
(:func:`popular`, reading ``meta``). Random split 32,000 / 7,644 (seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..reading import load_numeric_csv
from .base import ArraySplit, DataBundle
from .missing import ensure_files, first_existing
from .splits import stratified_indices

ONP_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/00332/OnlineNewsPopularity.zip"
ONP_NON_PREDICTIVE = ("url", "timedelta")
ONP_TARGET = "shares"
ONP_POPULAR_SHARES = 1400  # Fernandes et al. 2015, paper samplerob Sec. 4.1


def minmax(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise ``(a - min) / (max - min)`` (0 for a constant column), with min and max."""
    lo, hi = a.min(axis=0), a.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (a - lo) / span, lo, hi


def split_rows(n: int, n_train: int | float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random (unstratified) split: ``n_train`` rows (a count, or a fraction < 1)."""
    n_tr = int(round(n_train * n)) if n_train < 1 else int(n_train)
    if not 0 < n_tr < n:
        raise UserError(f"data.n_train={n_train} leaves no train or no test rows out of {n}", fix="set data.n_train to a count in (0, N) or a fraction in (0, 1)")
    train, test = stratified_indices(np.zeros(n), n - n_tr, seed, stratify=False)
    return train, test


def tabular_bundle(name: str, x: np.ndarray, y: np.ndarray, train_idx, test_idx, meta: dict) -> DataBundle:
    xt = torch.from_numpy(x.astype(np.float32))
    yt = torch.from_numpy(y.astype(np.float32))
    return DataBundle(
        name=name,
        train=ArraySplit(xt[train_idx], yt[train_idx]),
        test=ArraySplit(xt[test_idx], yt[test_idx]),
        num_classes=1,
        in_channels=x.shape[1],
        image_size=0,
        task="regression",
        meta=meta,
    )


def onp_csv_candidates(root: Path) -> list[Path]:
    return [root / "OnlineNewsPopularity" / "OnlineNewsPopularity.csv", root / "OnlineNewsPopularity.csv"]


def load_onp(root: str | Path = "data", download: bool = False, n_train: int | float = 32_000, split_seed: int = 0) -> DataBundle:
    """UCI Online News Popularity as a [0, 1] regression set (module docstring)."""
    root = Path(root)

    def fetch():
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(ONP_URL, download_root=str(root))

    paths = ensure_files(
        "onp", root, lambda: {"csv": first_existing(onp_csv_candidates(root))},
        [" or ".join(str(p) for p in onp_csv_candidates(root))], download=download, fetch=fetch,
    )  # fmt: skip
    df = load_numeric_csv(
        paths["csv"], required=(*ONP_NON_PREDICTIVE, ONP_TARGET), text_columns=("url",),
        what="onp", fix="use the UCI OnlineNewsPopularity.csv",
    )  # fmt: skip
    features = df.drop(columns=[*ONP_NON_PREDICTIVE, ONP_TARGET])
    x, x_min, x_max = minmax(features.to_numpy(dtype=np.float64))
    shares = df[ONP_TARGET].to_numpy(dtype=np.float64)
    y, s_min, s_max = minmax(shares[:, None])
    s_min, s_max = float(s_min[0]), float(s_max[0])
    train_idx, test_idx = split_rows(len(df), n_train, split_seed)
    span = s_max - s_min if s_max > s_min else 1.0
    meta = {
        "feature_names": list(features.columns),
        "feature_min": x_min.tolist(),
        "feature_max": x_max.tolist(),
        "target": ONP_TARGET,
        "target_min": s_min,
        "target_max": s_max,
        "popular_shares": ONP_POPULAR_SHARES,
        # float32 of the normalized threshold, computed like the targets: monotone rounding
        # keeps shares >= 1400  <=>  y >= this value.
        "popular_threshold": float(np.float32((ONP_POPULAR_SHARES - s_min) / span)),
        "source": str(paths["csv"]),
    }
    return tabular_bundle("onp", x, y[:, 0], train_idx, test_idx, meta)


def popular(y: torch.Tensor, meta: dict) -> torch.Tensor:
    """Paper samplerob's pseudo-classification label from normalized shares: 1 when the article has
    >= 1400 shares (``y >= meta['popular_threshold']``), else 0 (works on any subset)."""
    return (y >= meta["popular_threshold"]).long()


def shares(y: torch.Tensor, meta: dict) -> torch.Tensor:
    """Raw share counts from normalized targets (float64, exact up to float32 rounding)."""
    return y.double() * (meta["target_max"] - meta["target_min"]) + meta["target_min"]


def load_diabetes(test_size: float = 0.2, split_seed: int = 0, root=None, download: bool = False) -> DataBundle:
    """scikit-learn's diabetes regression set (442 patients x 10 baseline variables; target: a
    disease-progression score one year later). The unscaled features (``scaled=False``) and the
    target are min-max scaled to [0, 1] over all rows; seeded random split with ``test_size``
    (0.2: 354 / 88, *choice*: the common 80/20 hold-out). ``root``/``download`` are accepted
    for a uniform interface (the data ship with scikit-learn)."""
    from sklearn.datasets import load_diabetes as _sk_load_diabetes

    bunch = _sk_load_diabetes(scaled=False)
    x, x_min, x_max = minmax(np.asarray(bunch.data, dtype=np.float64))
    y, t_min, t_max = minmax(np.asarray(bunch.target, dtype=np.float64)[:, None])
    n = len(y)
    train_idx, test_idx = split_rows(n, 1.0 - float(test_size), split_seed)
    meta = {
        "feature_names": list(bunch.feature_names),
        "feature_min": x_min.tolist(),
        "feature_max": x_max.tolist(),
        "target_min": float(t_min[0]),
        "target_max": float(t_max[0]),
    }
    return tabular_bundle("diabetes", x, y[:, 0], train_idx, test_idx, meta)
