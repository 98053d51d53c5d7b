"""What paper samplerob fixes about its data (sub)sets, per dataset it uses.

- CIFAR-10 (section 4.2, table 1): x = 50,000 training images, t = 10,000 test images;
  training subsets x_L40, x_M40, x_L25, x_M25, test subsets t_L5, t_M5, t_L2, t_M2 (sizes in
  thousands, L = least, M = most robust).
- MNIST (appendix F, table 10): 60,000 / 10,000; x_L48, x_M48, x_L30, x_M30 and t_L5 ... t_M2.
- ONP (section 4.3): random split 32,000 / 7,644; x_L24, x_M24 (and x_L2, x_M2 of figure 3);
  t_L / t_M the least / most robust half of t, t_l / t_m the 500 least / most robust.

On a set of another size (smoke scale: stand-in data) the counts are scaled by
``n / paper size`` and the names kept (``robustness_subsets(..., reference_total=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import UserError
from .subsets import SAMPLEROB_SIZES


@dataclass(frozen=True)
class SubsetScheme:
    """The subsets paper samplerob defines for one dataset.

    ``train_sizes`` / ``test_sizes``: L/M sizes in thousands (``test_sizes`` empty for ONP,
    whose test subsets are halves and tails); ``train_total`` / ``test_total``: the paper's set
    sizes (reference for scaling); ``onp_tail``: the size of t_l / t_m (ONP only);
    ``train_subsets``: the training (sub)sets the paper trains on, in table column order;
    ``test_subsets``: the test (sub)sets it evaluates on, in table row order.
    """

    name: str
    train_sizes: tuple[int, ...]
    test_sizes: tuple[int, ...]
    train_total: int
    test_total: int
    train_subsets: tuple[str, ...]
    test_subsets: tuple[str, ...]
    onp_tail: int | None = None


SCHEMES: dict[str, SubsetScheme] = {
    "cifar10": SubsetScheme(
        "cifar10", SAMPLEROB_SIZES["cifar10"]["train"], SAMPLEROB_SIZES["cifar10"]["test"], 50_000, 10_000,
        ("x", "x_L40", "x_M40", "x_L25", "x_M25"), ("t", "t_L5", "t_M5", "t_L2", "t_M2"),
    ),
    "mnist": SubsetScheme(
        "mnist", SAMPLEROB_SIZES["mnist"]["train"], SAMPLEROB_SIZES["mnist"]["test"], 60_000, 10_000,
        ("x", "x_L48", "x_M48", "x_L30", "x_M30"), ("t", "t_L5", "t_M5", "t_L2", "t_M2"),
    ),
    "onp": SubsetScheme(
        "onp", SAMPLEROB_SIZES["onp"]["train"], (), 32_000, 7_644,
        ("x", "x_L24", "x_M24"), ("t", "t_L", "t_M", "t_l", "t_m"), onp_tail=500,
    ),
}  # fmt: skip


def scheme(name: str) -> SubsetScheme:
    """The subset scheme paper samplerob uses for ``name`` (cifar10, mnist, onp)."""
    if name not in SCHEMES:
        raise UserError(
            f"paper samplerob defines no subsets for {name!r}", fix=f"use --like one of {sorted(SCHEMES)}"
        )
    return SCHEMES[name]
