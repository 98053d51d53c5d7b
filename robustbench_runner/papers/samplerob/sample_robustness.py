"""Sample robustness R(x) of paper samplerob ("Introducing sample robustness").

Definitions (paper samplerob, sections 3.2-3.4; robustbench_runner/papers/samplerob/README.md):

    Gamma(x) = {x~ in the same set : y(x~) != y(x)}               (differently labelled samples)
    reach             r(x) = min_{x~ in Gamma(x)} d(x, x~)                          (def. 3.2)
    Lipschitz quotient Q(x) = max_{x~ in Gamma(x)} ||y(x) - y(x~)|| / d(x, x~)       (def. 3.3)
    robustness        R(x) = ||y||_inf / (Q(x) + ||y||_inf),  ||y||_inf = max_x ||y(x)||   (3.4)

``d`` is the Euclidean distance between the flattened features as given (choice, robustbench_runner/papers/samplerob/README.md:
[0, 1]-scaled; ``uint8`` images are read as ``pixel / 255``). R is computed *within* one set:
the training set x and the test set t each get their own values (paper samplerob, section 4).

**Regression / general labels** (algorithm 1): labels are first divided by ``||y||_inf`` so that
``||y||_inf = 1`` (algorithm 1's requirement); then ``R = 1 / (Q + 1)``. By proposition A.2
this equals 3.4 for the unscaled labels, so R does not change when the labels are rescaled.
Vector labels use the Euclidean norm by default (``label_norm=2``, the norm paper samplerob puts on its
label spaces) or the max norm (``label_norm=inf``).

**Classification** (algorithm 2, proposition A.3): for a binary label map with values in
{0, e}, ||e|| = 1, every differently labelled pair has ``||y(x) - y(x~)|| = 1``, so the maximum
of 3.3 is attained at the nearest differently labelled sample, ``Q = 1 / r`` and
``R = r / (r + 1)``. Paper samplerob, section 4.2, applies this to CIFAR-10 through the per-class maps
y^k: x -> R (1 for class k, 0 otherwise, Euclidean norm on R); the map of x's own class has
Gamma(x) = all samples of other classes, hence R(x) = r(x) / (r(x) + 1) with r the distance to
the nearest sample of *any* other class, which is what algorithm 2 prints and what
robustbench_runner/papers/samplerob/README.md states. Reading the labels as one-hot vectors in R^K gives the same value under
the max norm (||e_a - e_b||_inf = 1), but under the Euclidean norm ||e_a - e_b||_2 = sqrt(2)
and 3.4 would give ``r / (r + sqrt 2)``. ``label_distance`` is that gap: 1 (default, paper samplerob's
algorithm 2) or ``sqrt(2)`` for the L2 one-hot reading; in general R = r / (r + label_distance).
Two identical inputs with different labels have r = 0 (Q = inf), hence R = 0; the paper's
open interval (0, 1) assumes distinct inputs. Identical inputs with the *same* label are not in
each other's Gamma and do not lower R.

**Exactness.** Distances are computed blockwise in float32 with the expansion
``||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b`` (one GEMM per block, on CPU or GPU), which is fast but
can reorder nearly tied neighbours. Every float32 value is therefore only used to *select
candidates*, and each candidate is recomputed in float64 as ``sqrt(sum((a - b)^2))`` from the
original features; the answer is the exact float64 minimum (maximum for Q) among candidates,
ties going to the smallest sample index. Candidates are chosen with a rigorous error bound, so
the float64 optimum is always among them:

* Features are centred (by the mean of the first rows; distances are translation invariant, so
  any centre works) and rounded once to float32:
  ``| ||a~ - b~|| - ||a - b|| | <= e1 = 3u (||a~|| + ||b~||)``, u = 2^-24.
* The float32 expansion value s satisfies ``|s - ||a~ - b~||^2| <= e2`` with
  ``e2 = 2 (gamma_D + 8u) (||a~||^2 + ||b~||^2) + 4 D 2^-126``: the dot product of a GEMM in any
  summation order (FMA or not) errs by at most ``gamma_D ||a~|| ||b~||``,
  gamma_D = D u / (1 - D u) (Higham, *Accuracy and Stability of Numerical Algorithms*, 3.1), the
  norms and the two additions add a few u, the factor 2 is a safety margin and the last term
  covers flushed subnormal products. TF32 / bf16 matmul is switched off while computing.
* Hence the true distance lies in ``[sqrt(max(s - e2, 0)) - e1, sqrt(s + e2) + e1]``. For the
  reach, a pair is discarded only when its lower bound exceeds an upper bound on the reach
  (the upper bound of the best float32 pair seen so far, or an exact float64 distance already
  recomputed), so it cannot be the nearest one. For Q, a pair is discarded only when its upper
  bound ``g / d_lo`` is below a lower bound ``g / d_hi`` (or an exact value) of another pair.
  The float64 re-check itself errs by at most ~D 2^-53 relative, far inside these margins (each
  bound keeps a slack of at least ~1e-7 relative), so it cannot reorder pairs the bounds separate.

Work is blocked (memory O(block^2 + N D), never O(N^2)) and uses the symmetry d(a, b) = d(b, a):
each unordered pair is computed once and feeds both of its samples. For classification, samples
are sorted by class, and each block of class c meets only the later classes, so same-label pairs
are never computed at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ...errors import UserError

__all__ = [
    "NearestDifferent",
    "PointwiseLipschitz",
    "lipschitz_quotient",
    "nearest_different",
    "robustness_from_quotient",
    "robustness_from_reach",
    "sample_robustness",
]

_U32 = 2.0**-24  # unit roundoff of float32
_MIN_NORMAL32 = 2.0**-126
# Bytes of working memory per element of a (block x block) tile; sized so the default
# tiles stay around 256 MB (the data themselves, N x D float32, come on top).
_TILE_BYTES = 256 * 2**20
_PENDING_CAP = 2_000_000  # candidate pairs held before they are re-checked in float64
_EXACT_CHUNK_BYTES = 64 * 2**20  # float64 rows gathered at once by the re-check


@dataclass(frozen=True)
class NearestDifferent:
    """Reach r(x) (paper samplerob, def. 3.2) and the sample that attains it, one row per sample.

    ``distance``: float64 exact Euclidean distance to the nearest differently labelled sample.
    ``index``: int64 index of that sample (the smallest index among exact ties).
    """

    distance: np.ndarray
    index: np.ndarray


@dataclass(frozen=True)
class PointwiseLipschitz:
    """Point-wise Lipschitz constant Q(x) (paper samplerob, def. 3.3) and its maximizer.

    ``quotient``: float64, ``inf`` where a sample with the same input has a different label.
    ``index``: int64 index of the maximizing sample (the smallest index among exact ties).
    """

    quotient: np.ndarray
    index: np.ndarray


def sample_robustness(
    X,
    y,
    task: str = "classification",
    *,
    label_distance: float = 1.0,
    label_norm: float = 2,
    block_size: int | None = None,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Sample robustness R(x) of every sample of ``(X, y)`` within that set (paper samplerob, 3.4).

    Args:
        X: features, ``(N, D)`` or ``(N, C, H, W)`` (flattened), float in [0, 1] or uint8
            (read as ``pixel / 255``); numpy array or tensor.
        y: ``task="classification"``: class labels ``(N,)`` (any values) or one-hot ``(N, K)``.
            ``task="regression"``: targets ``(N,)`` or ``(N, T)``.
        task: ``"classification"`` (algorithm 2) or ``"regression"`` (algorithm 1).
        label_distance: classification only: ``||y(x) - y(x~)||`` of a differently labelled pair
            when ``||y||_inf = 1``; 1 for paper samplerob's binary per-class label maps (algorithm 2),
            ``sqrt(2)`` for one-hot vectors under the Euclidean norm (see the module docstring).
        label_norm: regression only: norm of the label space for vector targets, 2 or ``inf``.
        block_size: rows (and columns) per distance tile; default sized to ~256 MB per tile.
        device: torch device for the distance tiles (``"cpu"``, ``"cuda"``); default CPU.

    Returns:
        float64 array of R in [0, 1), in the order of the samples.
    """
    if task == "classification":
        if not (label_distance > 0 and math.isfinite(label_distance)):
            raise UserError(
                f"label_distance must be a positive number, got {label_distance}",
                fix="use 1 (paper samplerob, algorithm 2) or sqrt(2) (one-hot labels, Euclidean norm)",
            )
        reach = nearest_different(X, y, block_size=block_size, device=device)
        return robustness_from_reach(reach.distance, label_distance)
    if task == "regression":
        targets = _as_targets(y, _num_rows(X))
        scale = _label_norms(targets, label_norm).max()
        # Algorithm 1 requires ||y||_inf = 1; by proposition A.2 this leaves R unchanged.
        lipschitz = lipschitz_quotient(
            X, targets / scale, label_norm=label_norm, block_size=block_size, device=device
        )
        return robustness_from_quotient(lipschitz.quotient)
    raise UserError(
        f"unknown task {task!r} for sample robustness",
        fix="use task='classification' (algorithm 2) or task='regression' (algorithm 1)",
    )


def robustness_from_reach(reach: np.ndarray, label_distance: float = 1.0) -> np.ndarray:
    """R = r / (r + label_distance): paper samplerob, proposition A.3 / algorithm 2 (label_distance 1)."""
    reach = np.asarray(reach, dtype=np.float64)
    return reach / (reach + label_distance)


def robustness_from_quotient(quotient: np.ndarray) -> np.ndarray:
    """R = 1 / (Q + 1), labels scaled to ||y||_inf = 1 (paper samplerob, algorithm 1); Q = inf gives 0."""
    quotient = np.asarray(quotient, dtype=np.float64)
    return 1.0 / (quotient + 1.0)


def nearest_different(
    X, labels, *, block_size: int | None = None, device: str | torch.device | None = None
) -> NearestDifferent:
    """Reach r(x) (paper samplerob, def. 3.2): exact distance to the nearest differently labelled sample.

    See the module docstring for the blocked float32 search and its float64 guarantee.
    """
    features = _Features(X)
    codes = _class_codes(labels, features.n)
    order = np.argsort(codes, kind="stable")
    offsets = np.searchsorted(codes[order], np.arange(codes.max() + 2))
    dev = _device(device)
    block = block_size or _default_block(bytes_per_element=16)
    _check_block(block)
    with _ieee_float32_matmul():
        tiles = _Float32Tiles(features, order, dev)
        search = _NearestSearch(tiles, features, order)
        for c in range(len(offsets) - 2):
            row_end, col_start = int(offsets[c + 1]), int(offsets[c + 1])
            for a in range(int(offsets[c]), row_end, block):
                b = min(a + block, row_end)
                for p in range(col_start, features.n, block):
                    search.tile(a, b, p, min(p + block, features.n))
        distance, index = search.finish()
    out_distance = np.empty(features.n)
    out_index = np.empty(features.n, dtype=np.int64)
    out_distance[order] = distance
    out_index[order] = index
    return NearestDifferent(out_distance, out_index)


def lipschitz_quotient(
    X,
    targets,
    *,
    label_norm: float = 2,
    block_size: int | None = None,
    device: str | torch.device | None = None,
) -> PointwiseLipschitz:
    """Point-wise Lipschitz constant Q(x) of the labels as given (paper samplerob, def. 3.3).

    ``targets`` ``(N,)`` or ``(N, T)``; "differently labelled" means not exactly equal. Scale the
    targets to ``||y||_inf = 1`` first for algorithm 1 (``sample_robustness`` does).
    """
    features = _Features(X)
    y = _as_targets(targets, features.n)
    _label_norms(y, label_norm)  # validates the norm
    dev = _device(device)
    block = block_size or _default_block(bytes_per_element=8 * (12 + y.shape[1]))
    _check_block(block)
    order = np.arange(features.n)
    with _ieee_float32_matmul():
        tiles = _Float32Tiles(features, order, dev)
        search = _QuotientSearch(tiles, features, y, label_norm)
        for a in range(0, features.n, block):
            b = min(a + block, features.n)
            for p in range(a, features.n, block):
                search.tile(a, b, p, min(p + block, features.n))
        quotient, index = search.finish()
    return PointwiseLipschitz(quotient, index)


# ----------------------------------------------------------------------------------------------
# input handling


class _Features:
    """The user's features as an ``(N, D)`` numpy view, read as float64 rows on demand."""

    def __init__(self, X):
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        X = np.asarray(X)
        if X.ndim < 2 or X.shape[0] < 2:
            raise UserError(
                f"features must be (N, D) or (N, C, H, W) with N >= 2, got shape {X.shape}",
                fix="pass one row per sample",
            )
        if X.dtype == np.uint8:
            self.pixel_scale = 255.0
        elif X.dtype.kind == "f":
            self.pixel_scale = None
        else:
            raise UserError(
                f"features must be float or uint8, got {X.dtype}",
                fix="convert the features to float in [0, 1]",
            )
        self.flat = X.reshape(X.shape[0], -1)
        self.n, self.d = self.flat.shape
        if self.d * _U32 >= 0.5:
            raise UserError(
                f"{self.d} features are too many for the float32 error bound",
                fix="reduce the feature dimension below 8 million",
            )

    def rows(self, index) -> np.ndarray:
        """Float64 rows (``pixel / 255`` for uint8)."""
        rows = self.flat[index].astype(np.float64)
        if self.pixel_scale is not None:
            rows /= self.pixel_scale
        return rows

    def distances(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Exact float64 Euclidean distances between rows ``i[k]`` and ``j[k]``."""
        out = np.empty(len(i))
        step = max(1, _EXACT_CHUNK_BYTES // (16 * self.d))
        for s in range(0, len(i), step):
            diff = self.rows(i[s : s + step]) - self.rows(j[s : s + step])
            out[s : s + step] = np.sqrt(np.sum(diff * diff, axis=1))
        return out


def _num_rows(X) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def _class_codes(labels, n: int) -> np.ndarray:
    """Integer class codes 0..K-1 from labels ``(N,)`` or one-hot ``(N, K)``."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim == 2:
        is_one_hot = np.isin(labels, (0, 1)).all() and (labels.sum(axis=1) == 1).all()
        if not is_one_hot:
            raise UserError(
                "2-d classification labels must be one-hot rows",
                fix="pass class indices (N,) or one-hot (N, K); use task='regression' otherwise",
            )
        labels = labels.argmax(axis=1)
    if labels.ndim != 1 or len(labels) != n:
        raise UserError(
            f"expected {n} labels, got shape {labels.shape}", fix="pass one label per sample"
        )
    _, codes = np.unique(labels, return_inverse=True)
    if codes.max() < 1:
        raise UserError(
            "sample robustness needs at least two different labels in the set (paper samplerob, 3.1)",
            fix="compute it on a set that holds more than one class",
        )
    return codes.reshape(-1)


def _as_targets(targets, n: int) -> np.ndarray:
    """Float64 targets ``(N, T)``; at least two distinct values (paper samplerob, 3.1)."""
    if isinstance(targets, torch.Tensor):
        targets = targets.detach().cpu().numpy()
    y = np.asarray(targets, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or len(y) != n:
        raise UserError(
            f"expected {n} targets (N,) or (N, T), got shape {np.shape(targets)}",
            fix="pass one target per sample",
        )
    if not np.isfinite(y).all():
        raise UserError("targets contain NaN or inf", fix="drop or impute those samples")
    if len(np.unique(y, axis=0)) < 2:
        raise UserError(
            "sample robustness needs at least two different labels in the set (paper samplerob, 3.1)",
            fix="compute it on a set whose targets are not all equal",
        )
    return y


def _label_norms(y: np.ndarray, label_norm: float) -> np.ndarray:
    if label_norm == 2:
        return np.sqrt(np.sum(y * y, axis=1))
    if label_norm == np.inf:
        return np.abs(y).max(axis=1)
    raise UserError(
        f"label_norm must be 2 or inf, got {label_norm!r}",
        fix="use label_norm=2 (Euclidean, paper samplerob) or label_norm=float('inf')",
    )


def _device(device) -> torch.device:
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "device 'cuda' was requested but CUDA is not available", fix="use device='cpu'"
        )
    return dev


def _default_block(bytes_per_element: int) -> int:
    side = int(math.sqrt(_TILE_BYTES / bytes_per_element))
    return max(256, min(4096, side // 256 * 256))


def _check_block(block: int) -> None:
    if not (isinstance(block, int) and block >= 1):
        raise UserError(f"block_size must be a positive integer, got {block!r}", fix="e.g. 2048")


@contextmanager
def _ieee_float32_matmul() -> Iterator[None]:
    """Plain IEEE float32 GEMMs (no TF32 / bf16), which the error bound assumes; restored after."""
    backends = [
        getattr(getattr(torch.backends, name, None), "matmul", None) for name in ("cuda", "mkldnn")
    ]
    backends = [b for b in backends if b is not None and hasattr(b, "fp32_precision")]
    if backends:  # torch >= 2.9: per-backend precision API
        saved = [b.fp32_precision for b in backends]
        for b in backends:
            b.fp32_precision = "ieee"
        try:
            yield
        finally:
            for b, value in zip(backends, saved, strict=True):
                b.fp32_precision = value
        return
    saved_precision = torch.get_float32_matmul_precision()
    saved_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved_precision)
        torch.backends.cuda.matmul.allow_tf32 = saved_tf32


# ----------------------------------------------------------------------------------------------
# float32 tiles with error bounds


class _Float32Tiles:
    """Centred float32 features (rows in ``order``) on the device, and the error bound terms.

    For rows i, j the float32 expansion value s_ij obeys ``|s_ij - d~_ij^2| <= e2_i + e2_j`` and
    ``|d~_ij - d_ij| <= e1_i + e1_j`` (module docstring), where d is the exact distance.
    """

    def __init__(self, features: _Features, order: np.ndarray, device: torch.device):
        n, d = features.n, features.d
        step = max(1, _EXACT_CHUNK_BYTES // (8 * d))
        self.x = torch.empty((n, d), dtype=torch.float32, device=device)
        sq = np.empty(n)
        # Any centre c works (distances are translation invariant); what the bound needs is that
        # each centred value is x - c rounded once to float32 (error <= u |x - c|).
        flat = features.flat
        if flat.dtype in (np.float32, np.float16):  # every value is a float32 number
            centre = flat[: min(n, 4096)].astype(np.float32).mean(axis=0, dtype=np.float32)
            for s in range(0, n, step):
                block = flat[order[s : s + step]].astype(np.float32, copy=False)
                block -= centre
                sq[s : s + step] = _squared_norms64(block)
                self.x[s : s + step] = torch.from_numpy(block)
        else:  # float64 or uint8 / 255: centre in float64, then one rounding to float32
            centre64 = features.rows(slice(0, min(n, 4096))).mean(axis=0)
            for s in range(0, n, step):
                block = (features.rows(order[s : s + step]) - centre64).astype(np.float32)
                sq[s : s + step] = _squared_norms64(block)
                self.x[s : s + step] = torch.from_numpy(block)
        if not np.isfinite(sq).all():  # a NaN / inf anywhere makes its row's sum non-finite
            raise UserError(
                "features contain NaN or inf (or values beyond the float32 range)",
                fix="clean the data first",
            )
        self.sq64 = torch.from_numpy(sq).to(device)  # ||a~||^2 in float64
        self.sq32 = self.sq64.float()
        gamma = d * _U32 / (1.0 - d * _U32)
        self.e2 = (2.0 * (gamma + 8.0 * _U32)) * self.sq64 + 2.0 * d * _MIN_NORMAL32
        self.e1 = (3.0 * _U32) * self.sq64.sqrt()

    def squared(self, a: int, b: int, p: int, q: int) -> torch.Tensor:
        """float32 s = ||a||^2 + ||b||^2 - 2 a.b for rows a:b against rows p:q."""
        s = torch.addmm(self.sq32[a:b, None], self.x[a:b], self.x[p:q].T, beta=1.0, alpha=-2.0)
        return s.add_(self.sq32[None, p:q])


def _squared_norms64(block: np.ndarray) -> np.ndarray:
    """Row sums of squares of float32 values, accumulated in float64 (products are exact)."""
    return np.einsum("ij,ij->i", block, block, dtype=np.float64)


class _Candidates:
    """Pairs (owner, other, bound value) waiting for the float64 re-check."""

    def __init__(self):
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.size = 0

    def add(self, owner: torch.Tensor, other: torch.Tensor, value: torch.Tensor) -> None:
        if len(owner):
            self.parts.append((owner, other, value))
            self.size += len(owner)

    def take(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        if not self.parts:
            return None
        owner, other, value = (torch.cat(t) for t in zip(*self.parts, strict=True))
        self.parts, self.size = [], 0
        return owner, other, value


def _add_candidates(
    pending: _Candidates,
    values: torch.Tensor,
    line_best: torch.Tensor,
    limit: torch.Tensor,
    a: int,
    p: int,
    *,
    along_rows: bool,
    below: bool = False,
) -> None:
    """Queue the pairs of a tile (rows a.., columns p..) whose value passes the limit of their
    owner: the row (``along_rows``) or the column. Passing means ``<= limit`` when ``below``,
    else ``>= limit``. ``line_best`` (the min / max of each owner's line in the tile) lets the
    scan skip owners with no passing pair; when most owners pass, the whole tile is scanned.
    """
    passes = line_best <= limit if below else line_best >= limit
    lines = torch.nonzero(passes).squeeze(1)
    if len(lines) == 0:
        return
    whole = 2 * len(lines) > len(limit)
    if along_rows:
        part = values if whole else values[lines]
        bound = (limit if whole else limit[lines])[:, None]
    else:
        part = values if whole else values[:, lines]
        bound = (limit if whole else limit[lines])[None, :]
    i, j = torch.nonzero(part <= bound if below else part >= bound, as_tuple=True)
    if along_rows:
        pending.add((i if whole else lines[i]) + a, j + p, part[i, j])
    else:
        pending.add((j if whole else lines[j]) + p, i + a, part[i, j])


def _first_per_owner(owner: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Positions of the first entry of each owner after sorting by (owner, *keys)."""
    order = np.lexsort(tuple(reversed(keys)) + (owner,))
    sorted_owner = owner[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_owner[1:] != sorted_owner[:-1]
    return order[first]


class _NearestSearch:
    """Running float32 minima, candidate pairs and exact float64 reaches (rows in sorted order)."""

    def __init__(self, tiles: _Float32Tiles, features: _Features, order: np.ndarray):
        self.tiles, self.features, self.order = tiles, features, order
        n, device = features.n, tiles.x.device
        # Per-row bounds valid against any partner: e2_i + e2_j <= e2_i + max_k e2_k (same for e1).
        self.e2 = tiles.e2 + tiles.e2.max()
        self.e1 = tiles.e1 + tiles.e1.max()
        self.s_min = torch.full((n,), math.inf, dtype=torch.float32, device=device)
        self.exact = torch.full((n,), math.inf, dtype=torch.float64, device=device)
        self.exact_index = np.full(n, -1, dtype=np.int64)  # original sample index
        self.pending = _Candidates()

    def threshold(self, rows) -> torch.Tensor:
        """float32 s above which a pair cannot be the nearest one for these rows.

        Upper bound on the reach: U = min(sqrt(s_min + e2) + e1, exact so far). A pair with
        sqrt(max(s - e2, 0)) - e1 > U is farther than some pair, i.e. s > (U + e1)^2 + e2.
        """
        e1, e2 = self.e1[rows], self.e2[rows]
        upper = torch.sqrt(self.s_min[rows].double().clamp_min(0.0) + e2) + e1
        upper = torch.minimum(upper, self.exact[rows])
        limit = (upper + e1).square() + e2
        return (limit * (1.0 + 1e-6)).float()  # rounds up; covers the float64 -> float32 cast

    def tile(self, a: int, b: int, p: int, q: int) -> None:
        s = self.tiles.squared(a, b, p, q)
        row_min, col_min = s.amin(dim=1), s.amin(dim=0)
        torch.minimum(self.s_min[a:b], row_min, out=self.s_min[a:b])
        torch.minimum(self.s_min[p:q], col_min, out=self.s_min[p:q])
        limit = self.threshold(slice(a, b))
        _add_candidates(self.pending, s, row_min, limit, a, p, along_rows=True, below=True)
        limit = self.threshold(slice(p, q))
        _add_candidates(self.pending, s, col_min, limit, a, p, along_rows=False, below=True)
        if self.pending.size > _PENDING_CAP:
            self.recheck()

    def recheck(self) -> None:
        """Recompute pending candidates in float64 and keep the nearest per row."""
        taken = self.pending.take()
        if taken is None:
            return
        owner, other, s = taken
        keep = s <= self.threshold(owner)
        owner, other = owner[keep].cpu().numpy(), other[keep].cpu().numpy()
        owner_id, other_id = self.order[owner], self.order[other]
        distance = self.features.distances(owner_id, other_id)
        best = _first_per_owner(owner, distance, other_id)
        owner, distance, other_id = owner[best], distance[best], other_id[best]
        current = self.exact[torch.from_numpy(owner).to(self.exact.device)].cpu().numpy()
        current_id = self.exact_index[owner]
        better = (distance < current) | ((distance == current) & (other_id < current_id))
        owner, distance, other_id = owner[better], distance[better], other_id[better]
        self.exact_index[owner] = other_id
        self.exact[torch.from_numpy(owner).to(self.exact.device)] = torch.from_numpy(distance).to(
            self.exact.device
        )

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        self.recheck()
        if (self.exact_index < 0).any():
            raise RuntimeError("internal error: a sample got no nearest differently labelled one")
        return self.exact.cpu().numpy(), self.exact_index.copy()


class _QuotientSearch:
    """Running bounds on Q, candidate pairs and exact float64 quotients (rows in input order)."""

    def __init__(
        self, tiles: _Float32Tiles, features: _Features, targets: np.ndarray, label_norm: float
    ):
        self.tiles, self.features, self.label_norm = tiles, features, label_norm
        self.targets = targets
        n, device = features.n, tiles.x.device
        self.y = torch.from_numpy(targets).to(device)
        # One bound for every pair (e2_i + e2_j <= 2 max e2): scalar arithmetic on the tiles.
        self.e2, self.e1 = 2.0 * tiles.e2.max().item(), 2.0 * tiles.e1.max().item()
        self.lower = torch.zeros(n, dtype=torch.float64, device=device)  # lower bound on Q
        self.exact_index = np.full(n, -1, dtype=np.int64)
        self.exact = np.full(n, -1.0)  # exact Q of exact_index
        self.pending = _Candidates()

    def _gaps(self, a: int, b: int, p: int, q: int) -> torch.Tensor:
        diff = self.y[a:b, None, :] - self.y[None, p:q, :]
        if diff.shape[-1] == 1:
            return diff[..., 0].abs()
        if self.label_norm == 2:
            return diff.square().sum(dim=-1).sqrt()
        return diff.abs().amax(dim=-1)

    def tile(self, a: int, b: int, p: int, q: int) -> None:
        s = self.tiles.squared(a, b, p, q).double()
        d_high = (s.clamp_min(0.0) + self.e2).sqrt_().add_(self.e1)
        d_low = s.sub_(self.e2).clamp_min_(0.0).sqrt_().sub_(self.e1).clamp_min_(0.0)
        gap = self._gaps(a, b, p, q)
        gap.masked_fill_(gap == 0, -1.0)  # same label: negative quotients never pass
        q_low = gap / d_high
        q_high = gap.div_(d_low)  # g / 0 = inf: a possible duplicate input
        del s, d_high, d_low
        lower = self.lower[a:b]
        torch.maximum(lower, q_low.amax(dim=1), out=lower)
        _add_candidates(self.pending, q_high, q_high.amax(dim=1), lower, a, p, along_rows=True)
        if p != a:  # off-diagonal tile: the transposed pairs belong to rows p:q
            lower = self.lower[p:q]
            torch.maximum(lower, q_low.amax(dim=0), out=lower)
            _add_candidates(self.pending, q_high, q_high.amax(dim=0), lower, a, p, along_rows=False)
        if self.pending.size > _PENDING_CAP:
            self.recheck()

    def recheck(self) -> None:
        """Recompute pending candidates in float64 and keep the largest quotient per row."""
        taken = self.pending.take()
        if taken is None:
            return
        owner, other, q_high = taken
        keep = q_high >= self.lower[owner]
        owner, other = owner[keep].cpu().numpy(), other[keep].cpu().numpy()
        diff = self.targets[owner] - self.targets[other]
        gap = np.sqrt(np.sum(diff * diff, axis=1)) if self.label_norm == 2 else np.abs(diff).max(1)
        distance = self.features.distances(owner, other)
        with np.errstate(divide="ignore"):
            quotient = np.where(distance > 0, gap / np.where(distance > 0, distance, 1.0), np.inf)
        best = _first_per_owner(owner, -quotient, other)
        owner, quotient, other = owner[best], quotient[best], other[best]
        current, current_id = self.exact[owner], self.exact_index[owner]
        better = (quotient > current) | ((quotient == current) & (other < current_id))
        owner, quotient, other = owner[better], quotient[better], other[better]
        self.exact[owner], self.exact_index[owner] = quotient, other
        rows = torch.from_numpy(owner).to(self.lower.device)
        self.lower[rows] = torch.maximum(
            self.lower[rows], torch.from_numpy(quotient).to(self.lower.device)
        )

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        self.recheck()
        if (self.exact_index < 0).any():
            raise RuntimeError("internal error: a sample got no differently labelled partner")
        return self.exact.copy(), self.exact_index.copy()
