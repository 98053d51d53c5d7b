"""Denseness of the penultimate feature space (paper prs, appendix D, table 4).

    D(X, K) = (1 / (|X| K)) sum_{(x, y) in X} sum_{i in NN_K(x, X)} 1[y_i = y]

"Let the training dataset X and data pair (x_i, y_i) in X": the points x run over the
training set itself and NN_K(x, X) are their K nearest neighbours (Euclidean distance of
penultimate features f_{L-1}(x)) in that same training set. The appendix does not say
whether x counts as its own neighbour; if it did, every sample would contribute a free
match (at K = 10 a tenth of the score), so here a query that *is* a training sample
never counts itself: its own row is excluded by index (``exclude_self``), while other
training samples at distance 0 (duplicates) remain eligible neighbours. Among exactly tied
distances the choice of neighbours is arbitrary (``torch.topk``), as in any k-NN.

Distances are computed block by block (``||q||^2 - 2 q.t + ||t||^2`` on ``device``, in
``dtype``, float64 by default so the ranking is exact to ~1e-12 relative), keeping one
block of ``(rows, N_train)`` distances in memory; the K_max smallest are selected with
``torch.topk`` and every K of ``ks`` is read off one cumulative sum.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...analysis.features import FeatureExtraction
from ...errors import UserError

DEFAULT_KS: tuple[int, ...] = (10, 50, 100, 200, 300)  # paper prs, table 4


def denseness(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    query_features: torch.Tensor | None = None,
    query_labels: torch.Tensor | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    exclude_self: bool | None = None,
    block_bytes: int = 256 * 2**20,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> dict[int, float]:
    """D(X, K) for every K in ``ks``: the mean fraction of same-label samples among the K
    nearest training neighbours of each query.

    With no query (paper prs's setting) the queries are the training samples themselves and
    ``exclude_self`` defaults to True. With explicit queries it defaults to False; setting
    it True then declares that query row i is training row i (same length required).
    ``block_bytes`` bounds the memory of one block of distances.
    """
    if query_features is None:
        if query_labels is not None:
            raise ValueError("query_labels given without query_features")
        query_features, query_labels = train_features, train_labels
        exclude_self = True if exclude_self is None else exclude_self
    elif query_labels is None:
        raise ValueError("query_features given without query_labels")
    exclude_self = bool(exclude_self)

    train = torch.as_tensor(train_features).reshape(len(train_features), -1)
    query = torch.as_tensor(query_features).reshape(len(query_features), -1)
    y_train = torch.as_tensor(train_labels).reshape(-1)
    y_query = torch.as_tensor(query_labels).reshape(-1)
    if len(y_train) != len(train) or len(y_query) != len(query):
        raise ValueError("features and labels must have the same number of rows")
    if train.shape[1] != query.shape[1]:
        raise ValueError(f"feature widths differ: train {train.shape[1]}, query {query.shape[1]}")
    if exclude_self and len(query) != len(train):
        raise ValueError("exclude_self needs query row i to be training row i (same length)")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise UserError(
            f"neighbour counts must be positive integers, got {ks}", fix="e.g. ks=[10, 50]"
        )
    available = len(train) - int(exclude_self)
    k_max = ks[-1]
    if k_max > available:
        raise UserError(
            f"K = {k_max} exceeds the {available} training samples available as neighbours",
            fix="use smaller ks or more training samples",
        )
    if len(query) == 0:
        raise UserError("denseness of an empty query set is undefined", fix="pass samples")

    device = torch.device(device) if device is not None else train.device
    train = train.to(device, dtype)
    y_train = y_train.to(device)
    train_sq = (train * train).sum(dim=1)
    elem = torch.finfo(dtype).bits // 8
    rows = max(1, block_bytes // max(1, 2 * len(train) * elem))  # distances + one temporary

    same_counts = torch.zeros(k_max, dtype=torch.float64, device=device)
    for start in range(0, len(query), rows):
        q = query[start : start + rows].to(device, dtype)
        d2 = (q * q).sum(dim=1, keepdim=True) - 2.0 * (q @ train.T) + train_sq[None, :]
        if exclude_self:
            own = torch.arange(start, start + len(q), device=device)
            d2[torch.arange(len(q), device=device), own] = float("inf")
        nearest = d2.topk(k_max, dim=1, largest=False, sorted=True).indices
        same = y_train[nearest] == y_query[start : start + rows].to(device)[:, None]
        same_counts += same.to(torch.float64).sum(dim=0)
    cumulative = same_counts.cumsum(0).cpu()
    return {k: float(cumulative[k - 1] / (len(query) * k)) for k in ks}


def training_denseness(
    train: FeatureExtraction,
    ks: Sequence[int] = DEFAULT_KS,
    **options,
) -> dict[int, float]:
    """D(X_train, K) from a training-set :class:`FeatureExtraction` (features and labels)."""
    if train.features is None or train.labels is None:
        raise UserError(
            "denseness needs the penultimate features and labels of the training set",
            fix="extract the training ArraySplit with keep_features=True",
        )
    return denseness(train.features, train.labels, ks=ks, **options)
