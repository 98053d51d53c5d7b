"""Per-point random draws for the official AutoAttack code (pyautoattack 0.2.0, Croce & Hein
2020), through the hooks the library offers; the algorithms are the library's, unchanged.

The library reseeds the global RNG with ``seed`` at each ``perturb`` and then draws for the
whole batch it was given, so a point's start depends on its position in the batch and on
the batch size. The subclasses here move those draws to the per-point generators of
:mod:`.randomness` where the official code allows it:

- **APGD, APGD-T** (``autopgd_base``): ``attack_single_run(x, y, x_init)`` takes a start. We
  pass the library's own L-inf start, ``x + eps * normalize(2u - 1)`` with its ``normalize``,
  with u ~ U[0, 1) drawn per point from (seed, ``apgd``/``apgd_t``, the point, run); ``run``
  counts the single runs of one ``perturb`` (the restarts of APGD; the (target class,
  restart) pairs of APGD-T, in the library's order). Nothing else in these attacks is random.
- **Square** (``square.py``): it draws through two methods, ``random_choice`` and
  ``random_int``. The initial vertical stripes (``random_choice([n, c, 1, w])``, one set per
  point) are drawn per point from (seed, ``square``, the point, restart); the square's size
  position and colours of each iteration, which the official code shares between all the
  points of a batch, come from one generator of (seed, ``square``, restart), the same for
  every batch.

Where the official code does not allow it, the library's own seeding stays (the global RNG
reseeded with ``seed`` per call, restored afterwards by :func:`.official.library_call`), so
the result depends on the batch:

- FAB's random restarts (every restart after the first: ``use_rand_start=(counter > 0)``,
  drawn inline in ``attack_single_run``). FAB-T in AutoAttack ``standard`` and in MDE has one
  restart, hence no random draw; ``fab`` with ``n_restarts`` > 1 and AutoAttack ``plus``
  (untargeted FAB, 5 restarts) are batch-dependent;
- AutoAttack ``rand`` (EOT over a randomized defense: the model's own randomness);
- APGD's ``use_largereps`` schedule and the L1/L2 starts (neither is used here: L-inf only).
"""

from __future__ import annotations

import torch
from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted
from pyautoattack.square import SquareAttack

from .randomness import PointRandom, point_keys, stream_seed


class _PointKeyed:
    """What the keyed subclasses share: the attack's seed and tag, and per-point uniforms."""

    rbr_seed: int = 0
    rbr_tag: str = "library"
    rbr_run: int = 0

    def rbr_configure(self, seed: int, tag: str):
        """Use per-point draws of (``seed``, ``tag``); returns self."""
        self.rbr_seed, self.rbr_tag, self.rbr_run = int(seed), str(tag), 0
        return self

    def rbr_point_uniform(self, x: torch.Tensor, y: torch.Tensor, *counters: int, row_shape=None) -> torch.Tensor:
        """U[0, 1) rows, one per point of (x, y), from (seed, tag, the point, counters), on
        x's device (the one place the random source is chosen: tests replace it)."""
        shape = tuple(x.shape[1:]) if row_shape is None else tuple(row_shape)
        rows = PointRandom(self.rbr_seed, self.rbr_tag, pin=x.device.type == "cuda").uniform(point_keys(x, y), shape, *counters)
        return rows.to(x.device, non_blocking=True)


class _KeyedStart(_PointKeyed):
    """APGD / APGD-T: the L-inf start of each single run drawn per point."""

    def perturb(self, *args, **kwargs):
        self.rbr_run = 0
        return super().perturb(*args, **kwargs)

    def attack_single_run(self, x, y, x_init=None):
        if x_init is None and self.norm == "Linf":
            t = 2 * self.rbr_point_uniform(x, y, self.rbr_run) - 1
            x_init = x + self.eps * torch.ones_like(x).detach() * self.normalize(t)  # the library's start
        self.rbr_run += 1
        return super().attack_single_run(x, y, x_init=x_init)


class PointKeyedAPGD(_KeyedStart, APGDAttack):
    """``APGDAttack`` with per-point starts (module docstring)."""


class PointKeyedAPGDT(_KeyedStart, APGDAttack_targeted):
    """``APGDAttack_targeted`` with per-point starts (module docstring)."""


class PointKeyedSquare(_PointKeyed, SquareAttack):
    """``SquareAttack`` with per-point initial stripes and batch-independent squares."""

    rbr_points: tuple[torch.Tensor, torch.Tensor] | None = None
    rbr_shared: torch.Generator | None = None

    def perturb(self, x, y=None):
        self.rbr_run = 0
        return super().perturb(x, y)

    def rbr_shared_generator(self, restart: int) -> torch.Generator | None:
        """The generator of the draws the official code shares between the points of a batch
        (square size position and colours), one per restart (None: the global RNG)."""
        return torch.Generator().manual_seed(stream_seed(self.rbr_seed, self.rbr_tag + ":shared", 0, restart))

    def attack_single_run(self, x, y):
        self.rbr_points, self.rbr_shared = (x, y), self.rbr_shared_generator(self.rbr_run)
        self.rbr_run += 1
        try:
            return super().attack_single_run(x, y)
        finally:
            self.rbr_points, self.rbr_shared = None, None

    def random_choice(self, shape):
        points = self.rbr_points
        if points is not None and len(shape) == 4 and shape[0] == len(points[0]):  # one draw per point
            t = 2 * self.rbr_point_uniform(points[0], points[1], self.rbr_run - 1, row_shape=shape[1:]) - 1
        else:
            t = (2 * torch.rand(shape, generator=self.rbr_shared) - 1).to(self.device)
        return torch.sign(t)

    def random_int(self, low=0, high=1, shape=(1,)):
        t = low + (high - low) * torch.rand(list(shape), generator=self.rbr_shared)
        return t.long().to(self.device)


#: AutoAttack's attack objects that get per-point draws: attribute -> (class, tag); the tags
#: are the standalone wrappers' (a stage of AutoAttack starts a point where the standalone
#: attack with the same seed does)
AUTOATTACK_KEYED = {"apgd": (PointKeyedAPGD, "apgd"), "apgd_targeted": (PointKeyedAPGDT, "apgd_t"), "square": (PointKeyedSquare, "square")}


def install(adversary, seed: int) -> None:
    """Give the attack objects an ``AutoAttack`` built (with their settings untouched) the
    per-point draws above: each becomes an instance of its keyed subclass."""
    for attr, (cls, tag) in AUTOATTACK_KEYED.items():
        obj = getattr(adversary, attr)
        obj.__class__ = cls
        obj.rbr_configure(seed, tag)
