"""The attack interface every evaluation and training attack implements.

Conventions:
- inputs ``x`` in [0, 1], shape ``(B, ...)``; labels ``y`` int64 ``(B,)``;
- L-inf threat model, ``eps`` in pixel units; outputs clamped to [0, 1] and to the eps ball;
- the caller puts the model in the right mode (eval for evaluation) and makes parameters
  not require grad during evaluation; attacks only take gradients w.r.t. the input;
- randomness never comes from the global RNG, so evaluation neither depends on nor
  disturbs the training RNG stream. ``randomness`` says where it comes from
  (:mod:`.randomness`): ``per-point-v1`` (evaluation, the default) - every random number
  drawn for a point (its start, SPSA's directions...) is a function of (``seed``, attack,
  the point, which draw), drawn on a CPU generator and moved to the device, so results do
  not depend on the batch a point is in, on out-of-memory retries or on the device's
  generator; ``stream`` (training attacks, set by the schemes) - one sequential CPU
  generator, ``self.generator``, reseeded by :meth:`reset_rng`. The wrappers of the
  official AutoAttack code follow the same rule through the library's own hooks
  (:mod:`.library_rng`; where the library draws inline, it seeds the global RNG itself and
  the wrappers restore the caller's state afterwards).

An attack may carry several eps values (a sweep, e.g. FGSM at 9 eps): ``eps_list``.
The evaluation engine calls :meth:`predictions`, which returns, per eps, the model's
predicted class on the attack's output for every point; a prediction != y means the point
was fooled. Two protocol choices are attack attributes, set from the attack's config:

- ``points`` (:data:`POINTS`): ``robust`` (default) - the engine passes only clean-correct
  points (a clean-misclassified point is non-robust and keeps its clean prediction);
  ``all`` - every point is attacked and the model's prediction on the attack's output is
  counted, so a clean-misclassified image that the perturbation turns right counts as
  right (Kunhardt, Deza & Poggio, "The effects of image distribution and task on
  adversarial robustness", FGSM accuracy-vs-eps curves and their R, eq. 1);
- ``iterate`` (:data:`ITERATES`, iterative attacks PGD/CW-PGD and SPSA): ``best`` (default)
  - a point counts as fooled at the first iterate that fools it, so robust accuracy is
  never raised by later iterates (the AutoAttack-style protocol); ``last`` - only the
  final iterate of each restart counts, as in the evaluation scripts of MAIL (Liu et al.
  2021), TRADES (Zhang et al. 2019) and GAIRAT (Zhang et al. 2021), and as the original
  SPSA code without early stopping (Uesato et al. 2018). With ``last`` a point fooled at an
  intermediate iterate may recover.

MD/MD-MT keep the best iterate (the official MDAttack code's ``adv_check_and_update``);
the minimum-norm FMN serves every eps of its list from one run (fooled at eps iff its
best norm is <= eps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import UserError
from .randomness import PER_POINT, RANDOMNESS, STREAM, PointRandom, point_keys, unpack_signs

#: which points an attack is run on (see the module docstring)
POINTS = ("robust", "all")
#: which iterate of an iterative attack counts (see the module docstring)
ITERATES = ("best", "last")


class Attack:
    """Base class. Subclasses implement :meth:`perturb` and may override :meth:`predictions`.

    Args:
        model: the network, ``x in [0,1] -> logits``.
        eps: a float, or a list of floats for an eps sweep.
        name: the label used in result tables and CSV rows (e.g. ``"PGD-20"``).
        seed: seed of this attack's private generator.
        eps_points: when given, ``eps`` is the largest value of a sweep and the attack
            evaluates ``eps_points`` evenly spaced values from 0 to ``eps`` (both included;
            the last one is ``eps`` exactly). Lets a config write a sweep as
            ``eps: ${data.eps}`` + ``eps_points: 11`` without arithmetic resolvers.
        points: ``robust`` (attack clean-correct points only) or ``all`` (attack every
            point and count the prediction on its output); see :data:`POINTS`.
    """

    #: True for query attacks that may only use model outputs (Square, SPSA).
    black_box: bool = False
    #: Default label; configs set a paper label through ``name``.
    default_name: str = "attack"
    #: Names this attack's per-point random streams (:mod:`.randomness`): attacks with the
    #: same tag and seed give a point the same start.
    rng_tag: str = "attack"

    def __init__(
        self,
        model: nn.Module,
        eps: float | Sequence[float],
        name: str | None = None,
        seed: int = 0,
        eps_points: int | None = None,
        points: str = "robust",
    ):
        self.model = model
        self.eps_list: list[float] = (
            _as_eps_list(eps) if eps_points is None else eps_sweep(eps, eps_points)
        )
        self.name = name or self.default_name
        if seed is None or isinstance(seed, bool):
            raise UserError(
                f"attack {self.name}: seed must be an integer, got {seed!r}",
                fix="set the attack's seed to an integer (a null seed would mean time-seeded)",
            )
        self.seed = int(seed)
        self.points = check_choice(points, POINTS, f"attack {self.name}: points")
        self.randomness = PER_POINT
        self.generator: torch.Generator | None = None
        self.reset_rng()

    # -- randomness -----------------------------------------------------------------
    def reset_rng(self, device: torch.device | str | None = None) -> None:
        """Re-create the private sequential generator (``stream`` randomness). It is always a
        CPU generator, whatever ``device`` (kept for callers): draws are moved to the data's
        device, so they are the same numbers on every device."""
        self.generator = torch.Generator()
        self.generator.manual_seed(self.seed)

    def _gen(self, device: torch.device | None = None) -> torch.Generator:
        if self.generator is None:
            self.reset_rng()
        assert self.generator is not None
        return self.generator

    def use_stream(self) -> None:
        """Draw from one sequential CPU stream (training attacks; see the module docstring)."""
        self.randomness = STREAM

    def keys(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """The points' keys for per-point draws (:func:`.randomness.point_keys`); None with
        ``stream`` randomness (no key is needed)."""
        check_choice(self.randomness, RANDOMNESS, f"attack {self.name}: randomness")
        return None if self.randomness == STREAM else point_keys(x, y)

    def draw(self, kind: str, like: torch.Tensor, keys: torch.Tensor | None, *counters: int, row_shape=None) -> torch.Tensor:
        """Random rows for the points of ``like`` (one per row), on its device and dtype:
        ``uniform`` U[0, 1), ``normal`` N(0, 1) or ``sign`` (Rademacher ±1); ``row_shape``
        defaults to ``like``'s rows. Per point: a function of (seed, tag, key, ``counters``);
        ``stream``: the next numbers of the sequential generator (one draw of the whole
        batch, as the training code always drew)."""
        shape = tuple(like.shape[1:]) if row_shape is None else tuple(row_shape)
        n = len(like)
        if self.randomness == STREAM:
            gen = self._gen()
            if kind == "uniform":
                out = torch.rand((n, *shape), generator=gen, dtype=like.dtype)
            elif kind == "normal":
                out = torch.randn((n, *shape), generator=gen, dtype=like.dtype)
            else:
                out = torch.randint(0, 2, (n, *shape), generator=gen).to(like.dtype).mul_(2).sub_(1)
            return out.to(like.device)
        assert keys is not None and len(keys) == n, "per-point draws need one key per row"
        rng = PointRandom(self.seed, self.rng_tag, pin=like.device.type == "cuda")
        if kind == "sign":
            size = math.prod(shape)
            packed = rng.sign_bits(keys, size, *counters).to(like.device, non_blocking=True)
            return unpack_signs(packed, size, like.dtype).view(n, *shape)
        rows = rng.uniform(keys, shape, *counters) if kind == "uniform" else rng.normal(keys, shape, *counters)
        return rows.to(like.device, non_blocking=True).to(like.dtype)

    # -- the interface ------------------------------------------------------------------
    @property
    def eps(self) -> float:
        """The single eps of a non-sweep attack."""
        if len(self.eps_list) != 1:
            raise ValueError(f"{self.name} sweeps {len(self.eps_list)} eps values; call perturb(x, y, eps)")
        return self.eps_list[0]

    def perturb(self, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
        """Return adversarial examples for one eps (within the eps ball and [0, 1])."""
        raise NotImplementedError(f"{type(self).__name__} must implement perturb()")

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.perturb(x, y, self.eps)

    @torch.no_grad()
    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).argmax(dim=1)

    def predictions(self, x: torch.Tensor, y: torch.Tensor) -> dict[float, torch.Tensor]:
        """Predicted class on the attack's output, per eps. Default: one perturb per eps."""
        return {eps: self._predict(self.perturb(x, y, eps)) for eps in self.eps_list}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, eps={self.eps_list})"


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``choices``, else a :class:`UserError` naming them."""
    if value not in choices:
        raise UserError(f"{what} must be one of {'|'.join(choices)}, got {value!r}", fix=f"use {what.rsplit(' ', 1)[-1]}: {choices[0]}")
    return str(value)


def _as_eps_list(eps: float | Sequence[float]) -> list[float]:
    if isinstance(eps, (int, float)):
        values = [float(eps)]
    else:
        values = [float(e) for e in eps]
    if not values:
        raise ValueError("eps list is empty")
    for e in values:
        if not e >= 0:
            raise ValueError(f"eps must be >= 0, got {e}")
    return values


def eps_sweep(eps_max: float | Sequence[float], points: int) -> list[float]:
    """``points`` evenly spaced eps values from 0 to ``eps_max`` (both ends exact)."""
    if not isinstance(eps_max, (int, float)):
        raise UserError(
            f"eps_points needs a single eps (the top of the sweep), got {eps_max!r}",
            fix="give eps as one number, or drop eps_points and list the eps values",
        )
    if int(points) < 2:
        raise UserError(f"eps_points must be >= 2, got {points}", fix="use e.g. eps_points: 11")
    n = int(points)
    top = float(eps_max)
    values = [top * i / (n - 1) for i in range(n - 1)] + [top]
    return _as_eps_list(values)


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Project onto the L-inf ball of radius eps around x, then onto [0, 1]."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)


def is_out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is an out-of-memory error of the device (CUDA's, or another backend's
    RuntimeError saying so)."""
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


#: steps between two host reads of an iterative attack's live points on an accelerator (each
#: read waits for the device); on a CPU there is nothing to wait for: every step
ACCELERATOR_CHECK_EVERY = 4


def check_interval(check_every: int | None, device: torch.device) -> int:
    """``check_every`` of an iterative attack, or its default for ``device`` (None)."""
    if check_every is not None:
        return int(check_every)
    return 1 if device.type == "cpu" else ACCELERATOR_CHECK_EVERY
