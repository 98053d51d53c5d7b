"""Robustness subsets L<n> / M<n>, their class make-up, and the trimmed mean of paper samplerob.

Paper samplerob, section 4.2: "The subscript defines the subset-size in thousands (number)
and whether they belong to the least- (L) or most (M) robust samples", e.g. x_L40 = the 40,000
least robust samples of the training set x. Samples are ranked by a stable sort on
(R, sample index), so ties are broken deterministically by the index; L<n> is the head of that
ranking and M<n> its tail. Consequently L25 is a subset of L40, M25 of M40, and L<a> and M<b>
are disjoint whenever a + b <= N.

Index files: one ``<name>.npy`` per subset (e.g. ``x_L40.npy``), a 1-d int64 array of sample
indices into the set the robustness was computed on, sorted ascending (dataset order, so
training on a subset keeps the original sample order). ``.npy`` is exact, small and loads without
parsing; a future ``data.subset=<path>`` option can read it with :func:`load_subset`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import UserError
from ...reading import load_npy

__all__ = [
    "SAMPLEROB_SIZES",
    "class_distribution",
    "least_robust",
    "load_subset",
    "load_subsets",
    "most_robust",
    "onp_test_subsets",
    "robustness_minmax",
    "robustness_order",
    "robustness_subsets",
    "save_subsets",
    "select_subsets",
    "trimmed_mean",
]

# Subset sizes in thousands used by paper samplerob: table 1 (CIFAR-10), table 10 (MNIST), tables 6-9
# and figure 3 (ONP training set). The ONP test subsets are halves and 500-sample tails
# instead (see onp_test_subsets).
SAMPLEROB_SIZES: dict[str, dict[str, tuple[int, ...]]] = {
    "cifar10": {"train": (40, 25), "test": (5, 2)},
    "mnist": {"train": (48, 30), "test": (5, 2)},
    "onp": {"train": (24, 2)},
}


def _robustness_values(R) -> np.ndarray:
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 1 or len(R) == 0:
        raise UserError(f"robustness must be a non-empty 1-d array, got shape {R.shape}")
    if np.isnan(R).any():
        raise UserError("robustness values contain NaN", fix="recompute R for this set")
    return R


def robustness_order(R) -> np.ndarray:
    """Sample indices from least to most robust; equal R are ordered by index (stable sort)."""
    return np.argsort(_robustness_values(R), kind="stable")


def _check_count(count: int, total: int, name: str) -> int:
    if int(count) != count or not 0 < count <= total:
        raise UserError(
            f"subset {name} asks for {count} samples but the set has {total}",
            fix="choose a size between 1 and the set size (or pass reference_total= to scale)",
        )
    return int(count)


def least_robust(R, count: int) -> np.ndarray:
    """Indices (ascending) of the ``count`` least robust samples (paper samplerob, L<n>)."""
    order = robustness_order(R)
    count = _check_count(count, len(order), f"L({count})")
    return np.sort(order[:count])


def most_robust(R, count: int) -> np.ndarray:
    """Indices (ascending) of the ``count`` most robust samples (paper samplerob, M<n>)."""
    order = robustness_order(R)
    count = _check_count(count, len(order), f"M({count})")
    return np.sort(order[len(order) - count :])


def select_subsets(R, requests: Mapping[str, tuple[str, int]]) -> dict[str, np.ndarray]:
    """Subsets by name from ``{name: ("L" or "M", count)}``; indices ascending."""
    order = robustness_order(R)
    subsets = {}
    for name, (kind, count) in requests.items():
        count = _check_count(count, len(order), name)
        if kind == "L":
            subsets[name] = np.sort(order[:count])
        elif kind == "M":
            subsets[name] = np.sort(order[len(order) - count :])
        else:
            raise UserError(f"subset {name}: kind must be 'L' or 'M', got {kind!r}")
    return subsets


def robustness_subsets(
    R,
    sizes: Sequence[int | float],
    *,
    prefix: str = "x",
    unit: int = 1000,
    reference_total: int | None = None,
) -> dict[str, np.ndarray]:
    """Paper samplerob's ``<prefix>_L<n>`` and ``<prefix>_M<n>`` subsets for each n in ``sizes``.

    Each subset holds ``n * unit`` samples (``unit=1000``: sizes in thousands as in the paper;
    ``unit=1``: sizes are counts). With ``reference_total`` (the size of the set the paper used,
    e.g. 50,000 for the CIFAR-10 training set) the counts are scaled to this set's size,
    ``round(n * unit * len(R) / reference_total)``, keeping the paper's names: the fractional form
    for small smoke datasets (x_L40 of a 1,000-sample set holds 800 samples).
    """
    total = len(_robustness_values(R))
    requests: dict[str, tuple[str, int]] = {}
    for size in sizes:
        count = size * unit
        if reference_total is not None:
            if reference_total <= 0:
                raise UserError(f"reference_total must be positive, got {reference_total}")
            count = round(count * total / reference_total)
        label = f"{size:g}"
        requests[f"{prefix}_L{label}"] = ("L", count)
        requests[f"{prefix}_M{label}"] = ("M", count)
    return select_subsets(R, requests)


def onp_test_subsets(R, *, prefix: str = "t", tail: int = 500) -> dict[str, np.ndarray]:
    """Paper samplerob, section 4.3, ONP test subsets: t_L / t_M, the least / most robust half
    (``N // 2`` samples each), and t_l / t_m, the ``tail`` (500) least / most robust samples."""
    half = len(_robustness_values(R)) // 2
    return select_subsets(
        R,
        {
            f"{prefix}_L": ("L", half),
            f"{prefix}_M": ("M", half),
            f"{prefix}_l": ("L", tail),
            f"{prefix}_m": ("M", tail),
        },
    )


def save_subsets(subsets: Mapping[str, np.ndarray], folder: str | Path) -> list[Path]:
    """Write each subset to ``<folder>/<name>.npy`` (1-d int64, ascending); returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, index in subsets.items():
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise UserError(f"subset name {name!r} cannot be a file name", fix="e.g. 'x_L40'")
        path = folder / f"{name}.npy"
        np.save(path, _validated_index(index, str(path)))
        paths.append(path)
    return paths


def load_subset(path: str | Path, n_total: int | None = None) -> np.ndarray:
    """Read one ``.npy`` index file; checks it is 1-d, integer, unique and in ``[0, n_total)``."""
    path = Path(path)
    if path.suffix != ".npy" or not path.is_file():
        raise UserError(
            f"subset file {path} does not exist or is not a .npy file",
            fix="point to a file written by save_subsets (e.g. subsets/x_L40.npy)",
        )
    return _validated_index(load_npy(path, what="subset file"), str(path), n_total)


def load_subsets(folder: str | Path, n_total: int | None = None) -> dict[str, np.ndarray]:
    """All ``*.npy`` subsets of a folder, by name (file stem), in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"subset folder {folder} does not exist", fix="run save_subsets first")
    return {p.stem: load_subset(p, n_total) for p in sorted(folder.glob("*.npy"))}


def _validated_index(index, where: str, n_total: int | None = None) -> np.ndarray:
    index = np.asarray(index)
    if index.ndim != 1 or index.dtype.kind not in "iu":
        raise UserError(
            f"{where}: a subset must be a 1-d integer array, got {index.dtype} {index.shape}"
        )
    index = np.sort(index.astype(np.int64))
    if len(index) and (index[0] < 0 or (n_total is not None and index[-1] >= n_total)):
        upper = "the set size" if n_total is None else n_total
        raise UserError(f"{where}: indices must lie in [0, {upper}), got {index[0]}..{index[-1]}")
    if (np.diff(index) == 0).any():
        raise UserError(f"{where}: a subset lists some samples twice")
    return index


def class_distribution(
    labels,
    subsets: Mapping[str, np.ndarray],
    *,
    set_name: str = "x",
    class_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Samples per class of the full set and of each subset (paper samplerob, tables 1 and 10).

    Rows: one per class plus ``"total"``. Columns (MultiIndex): ``(set_name, "count")``, then for
    each subset ``(name, "count")`` and ``(name, "pct")``, the percentage of that class's samples
    in the full set (``"total"``: percentage of the whole set), e.g. 4332 and 86.64 for
    x_L40 / "airplane" in table 1 (printed there as "4332 (87%)").
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise UserError(f"labels must be 1-d, got shape {labels.shape}")
    classes, codes = np.unique(labels, return_inverse=True)
    if class_names is not None:
        if classes.dtype.kind not in "iu" or classes[0] < 0 or classes[-1] >= len(class_names):
            raise UserError(
                "class_names must cover every integer class label",
                fix="pass one name per class index",
            )
        row_names = [str(class_names[c]) for c in classes] + ["total"]
    else:
        row_names = [str(c) for c in classes] + ["total"]
    full = np.bincount(codes, minlength=len(classes))
    columns = {(set_name, "count"): np.append(full, full.sum())}
    for name, index in subsets.items():
        index = _validated_index(index, f"subset {name}", len(labels))
        counts = np.bincount(codes[index], minlength=len(classes))
        counts = np.append(counts, counts.sum())
        columns[(name, "count")] = counts
        columns[(name, "pct")] = 100.0 * counts / columns[(set_name, "count")]
    frame = pd.DataFrame(columns, index=pd.Index(row_names, name="class"))
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["set", "stat"])
    return frame


def robustness_minmax(robustness_by_set: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Minimum and maximum sample robustness per set (paper samplerob, appendix E.1), with the sample
    that attains each (smallest index among ties) and the set size."""
    rows = {}
    for name, R in robustness_by_set.items():
        R = _robustness_values(R)
        rows[name] = {
            "n": len(R),
            "min": float(R.min()),
            "argmin": int(np.argmin(R)),
            "max": float(R.max()),
            "argmax": int(np.argmax(R)),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("set")


def trimmed_mean(values, drop_each_side: int = 10) -> float:
    """Mean after sorting and dropping the ``drop_each_side`` highest and lowest values.

    Paper samplerob, C.3 (docs/papers/README.md): 25 runs, drop the 10 highest and 10 lowest, average the
    middle 5; for 25 values this equals ``scipy.stats.trim_mean(values, 0.4)``.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if int(drop_each_side) != drop_each_side or drop_each_side < 0:
        raise UserError(f"drop_each_side must be a non-negative integer, got {drop_each_side}")
    drop = int(drop_each_side)
    if len(values) <= 2 * drop:
        raise UserError(
            f"cannot drop {drop} values from each side of {len(values)} values",
            fix=f"collect at least {2 * drop + 1} runs (paper samplerob: 25 runs, drop 10)",
        )
    if np.isnan(values).any():
        raise UserError("trimmed mean of values containing NaN", fix="drop failed runs first")
    return float(np.sort(values)[drop : len(values) - drop].mean())
