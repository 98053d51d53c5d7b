"""The binary Gaussian mixture of paper vir, appendix A, Definition A.1 (eq. 11):

    y ~ uniform{-1, +1},  mu = (eta, ..., eta) in R^d,
    x | y=+1 ~ N(+mu, sigma_+^2 I),   x | y=-1 ~ N(-mu, sigma_-^2 I),   sigma_- : sigma_+ = 1 : K,

with K > 1, so class +1 (the larger spread) is the intrinsically more vulnerable class
(Theorem 1 there, after Xu et al. 2021). Here sigma_- = ``sigma`` and sigma_+ = ``K * sigma``
(the appendix calls them "variances" but states the 1:K ratio of the sigmas, as Xu et al. do;
we read sigma as a standard deviation). Label index 0 is y = -1, label index 1 is y = +1.
Class balance: ``balance='random'`` draws y uniformly per sample (the definition);
``'exact'`` gives n/2 of each (shuffled).

Generated, no files. Train and test come from independent streams of ``seed``.

Pixel-space convention. Attacks clamp to [0, 1] (docs/papers/README.md, "Conventions"), but these
points live in R^d. ``storage='unit'`` (default) stores the affine image
``u = 0.5 + x / (2 h)`` with ``h = half_width``: one scale for every coordinate, so
distances, the L-inf ball and the Bayes decision boundary are preserved up to the factor
1/(2h); an attack of radius ``eps_u`` in u-space is one of radius ``eps_raw = 2 h eps_u`` in
x-space (the config sets ``eps: ${div:${.eps_raw},${mul:2,${.half_width}}}``). A model
sees raw x again through its normalization buffers: ``model.mean=0.5``,
``model.std=1/(2h)`` (``(u - 0.5) / (1/(2h)) = x``), recorded in ``meta['model_normalization']``.
``h`` must exceed every |x_i| (the clamp would otherwise cut real data): the loader raises
when a sample falls outside; the default ``h = range_sds * K * sigma`` (8 sigma_+) makes that
an event of probability ~1e-15 per coordinate. ``storage='raw'`` keeps x itself (not in
[0, 1]): only for analyses that never clamp (e.g. the linear classifier of eq. 12); the
repository's attacks clamp, so do not attack raw storage.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .base import ArraySplit, DataBundle


def sample_mixture(n: int, d: int, eta: float, sigma: float, K: float, rng: np.random.Generator, balance: str) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws of eq. 11: (x float64 (n, d), label index int64 (n,), 1 for y=+1)."""
    if balance == "random":
        y = rng.integers(0, 2, size=n)
    elif balance == "exact":
        y = rng.permutation(np.arange(n) % 2)
    else:
        raise UserError(f"data.balance={balance!r} is not a balance", fix="use data.balance=random or data.balance=exact")
    sign = np.where(y == 1, 1.0, -1.0)[:, None]
    std = np.where(y == 1, K * sigma, sigma)[:, None]
    x = sign * eta + std * rng.standard_normal((n, d))
    return x, y.astype(np.int64)


def load_gaussian_mixture(
    n_train: int = 10_000,
    n_test: int = 2_000,
    d: int = 10,
    eta: float = 0.2,
    sigma: float = 1.0,
    K: float = 2.0,
    seed: int = 0,
    balance: str = "random",
    storage: str = "unit",
    half_width: float | None = None,
    range_sds: float = 8.0,
    eps_raw: float | None = None,
    root=None,
    download: bool = False,
) -> DataBundle:
    """Draw the mixture (module docstring); tabular ``(N, d)`` float32. ``half_width`` None ->
    ``range_sds * K * sigma``. ``eps_raw`` (the attack radius in x units) is recorded in
    ``meta`` only; the attack eps is the config's ``eps`` (u units). ``root``/``download``
    are accepted for a uniform interface (nothing is read)."""
    if not (K > 1):
        raise UserError(f"data.K={K} must be > 1 (paper vir, Def. A.1: sigma_- : sigma_+ = 1 : K, K > 1)", fix="set data.K to a number > 1")
    if sigma <= 0 or d < 1 or n_train < 1 or n_test < 1:
        raise UserError(f"gaussian_mixture needs sigma > 0, d >= 1, n_train/n_test >= 1 (got sigma={sigma}, d={d}, n={n_train}/{n_test})", fix="fix data.sigma, data.d, data.n_train, data.n_test")
    if storage not in ("unit", "raw"):
        raise UserError(f"data.storage={storage!r} is not a storage", fix="use data.storage=unit (attackable) or raw")
    h = float(half_width) if half_width is not None else float(range_sds) * K * sigma
    streams = np.random.SeedSequence(int(seed)).spawn(2)
    raw = {}
    for name, n, ss in (("train", n_train, streams[0]), ("test", n_test, streams[1])):
        raw[name] = sample_mixture(int(n), int(d), float(eta), float(sigma), float(K), np.random.default_rng(ss), balance)
    splits = {}
    for name, (x, y) in raw.items():
        if storage == "unit":
            worst = float(np.abs(x).max())
            if worst >= h:
                raise UserError(
                    f"gaussian_mixture: a {name} sample has |x| = {worst:.3f} >= half_width {h:.3f}, so it cannot be mapped into [0, 1]",
                    fix="raise data.half_width (or data.range_sds)",
                )
            x = 0.5 + x / (2.0 * h)
        splits[name] = ArraySplit(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y))
    meta = {
        "definition": "paper vir appendix A, Def. A.1 (eq. 11)",
        "mu": [float(eta)] * int(d),
        "sigma_minus": float(sigma),
        "sigma_plus": float(K * sigma),
        "storage": storage,
    }
    if storage == "unit":
        meta.update({
            "half_width": h,
            "affine": {"u": "0.5 + x / (2 * half_width)", "scale": 1.0 / (2.0 * h), "offset": 0.5},
            "model_normalization": {"mean": 0.5, "std": 1.0 / (2.0 * h)},
        })  # fmt: skip
        if eps_raw is not None:
            meta["eps_raw"] = float(eps_raw)
            meta["eps_unit"] = float(eps_raw) / (2.0 * h)
    return DataBundle(
        name="gaussian_mixture",
        train=splits["train"],
        test=splits["test"],
        num_classes=2,
        in_channels=int(d),
        image_size=0,
        class_names=["-1", "+1"],
        meta=meta,
    )


def to_raw(u: torch.Tensor, half_width: float) -> torch.Tensor:
    """Invert the storage map: ``x = (u - 0.5) * 2 h``."""
    return (u - 0.5) * (2.0 * half_width)
