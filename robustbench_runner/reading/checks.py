"""Content checks: what was read agrees with what the config declares.

Each check raises :class:`.files.BadFile` naming the file the values came from, so a corrupt
label file or index list ends the command with one line, never a clean-looking accuracy (a
test label of 10 in a 10-class set would simply never be predicted) or a raw ``IndexError``
deep in the training loop (a training label of -1 indexes the loss out of bounds).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from .files import BadFile

PathLike = str | os.PathLike


def _np(values) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def check_labels(labels, num_classes: int, path: PathLike, *, what: str | None = None, fix: str | None = None) -> np.ndarray:
    """Class labels: integers within ``[0, num_classes)``. Returns them as int64."""
    y = _np(labels)
    if y.dtype.kind not in "iub":
        if y.dtype.kind == "f" and y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise BadFile(path, f"holds labels of type {y.dtype}, not integer class indices", fix=fix, what=what)
    y = y.astype(np.int64, copy=False).reshape(-1)
    if y.size:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            bad = y[(y < 0) | (y >= num_classes)]
            raise BadFile(
                path,
                f"holds {bad.size} label(s) outside [0, {num_classes}) (e.g. {int(bad[0])}; range found {lo}..{hi}) "
                f"for a {num_classes}-class dataset",
                fix=fix or "replace it with an intact copy of the official file (or set the dataset's number of classes to match)",
                what=what,
            )
    return y


def check_counts(n_inputs: int, n_labels: int, path: PathLike, *, what: str | None = None, fix: str | None = None) -> None:
    """As many labels as inputs."""
    if int(n_inputs) != int(n_labels):
        raise BadFile(path, f"holds {n_inputs} inputs but {n_labels} labels", fix=fix, what=what)


def check_shape(array, expected: Sequence[int | None], path: PathLike, *, name: str = "array", what: str | None = None, fix: str | None = None) -> None:
    """``array.shape`` matches ``expected`` (``None`` = any size along that axis)."""
    shape = tuple(int(s) for s in getattr(array, "shape", ()))
    want = tuple(expected)
    if len(shape) != len(want) or any(w is not None and s != int(w) for s, w in zip(shape, want, strict=True)):
        pretty = "(" + ", ".join("N" if w is None else str(w) for w in want) + ")"
        raise BadFile(path, f"holds {name} of shape {shape}, expected {pretty}", fix=fix, what=what)


def check_indices(values, n: int, path: PathLike, *, what: str | None = "subset index file", fix: str | None = None) -> np.ndarray:
    """An index list selecting rows of an ``n``-row split: non-empty, integers (no fractions),
    unique, within ``[0, n)``. Returns them as int64."""
    idx = _np(values).reshape(-1)
    fix = fix or "give one distinct integer row index in [0, N) per line (or an integer .npy array)"
    if idx.size == 0:
        raise BadFile(path, "holds no indices (an empty subset trains and evaluates nothing)", fix=fix, what=what)
    if idx.dtype.kind == "f":
        if not np.all(np.isfinite(idx)) or not np.all(idx == np.round(idx)):
            raise BadFile(path, "holds non-integer indices (e.g. a fraction or NaN)", fix=fix, what=what)
        raise BadFile(path, f"holds indices of float type {idx.dtype}, not integers", fix=fix, what=what)
    if idx.dtype.kind not in "iu":
        raise BadFile(path, f"holds {idx.dtype} values, not integer indices", fix=fix, what=what)
    idx = idx.astype(np.int64)
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= n:
        raise BadFile(path, f"holds indices outside [0, {n}) (range found {lo}..{hi})", fix=fix, what=what)
    uniq, counts = np.unique(idx, return_counts=True)
    if uniq.size != idx.size:
        dup = int(uniq[counts > 1][0])
        raise BadFile(path, f"holds {idx.size - uniq.size} duplicate index(es) (e.g. {dup})", fix=fix, what=what)
    return idx


def check_bundle(bundle, sources: PathLike | Mapping[str, PathLike], *, what: str | None = None, fix: str | None = None) -> None:
    """A loaded dataset agrees with itself: per split, as many inputs as labels, non-empty
    train/test, and (classification) labels within ``[0, num_classes)``; the same input shape
    in every split. ``sources`` names the file (or ``{split: file}``) each split came from."""

    def source(split: str) -> PathLike:
        if isinstance(sources, Mapping):
            return sources.get(split, next(iter(sources.values())))
        return sources

    shape = None
    for split in ("train", "val", "test"):
        s = getattr(bundle, split, None)
        if s is None:
            continue
        check_counts(len(s.x), len(s.y), source(split), what=what, fix=fix)
        if split != "val" and len(s.y) == 0:
            raise BadFile(source(split), f"holds no {split} samples", fix=fix, what=what)
        if getattr(bundle, "task", "classification") == "classification":
            check_labels(s.y, int(bundle.num_classes), source(split), what=what, fix=fix)
        if shape is None:
            shape = tuple(s.x.shape[1:])
        elif tuple(s.x.shape[1:]) != shape:
            raise BadFile(source(split), f"holds {split} inputs of shape {tuple(s.x.shape[1:])}, other splits {shape}", fix=fix, what=what)
