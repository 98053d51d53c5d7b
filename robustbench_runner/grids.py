"""Checkpoint grids that follow ``train.epochs``: ``${every_and_last:2,${train.epochs}}``.

The default ``eval.grid`` must hold only epochs a run trains (``config.validate`` refuses an
epoch past ``train.epochs``), so it is derived from ``train.epochs`` instead of listed:
every ``k``-th epoch and the last one. ``rbr-run train.epochs=1`` then attacks epoch 1, and
``train.epochs=8`` keeps the grid [2, 4, 6, 8] it always had (the same config hash). Paper
experiments spell their grids out (the papers' checkpoint epochs), so nothing here
changes them.
"""

from __future__ import annotations

from .errors import UserError


def every_and_last(every, epochs) -> list[int]:
    """``[every, 2*every, ...] + [epochs]`` (no duplicates): the epochs ``1..epochs`` that are
    multiples of ``every``, and always the last epoch."""
    try:
        k, n = int(every), int(epochs)
    except (TypeError, ValueError) as e:
        raise UserError(
            f"every_and_last:{every},{epochs} needs two integers",
            fix="write eval.grid='${every_and_last:<k>,${train.epochs}}' or list the epochs, e.g. eval.grid=[5,10]",
        ) from e
    if k < 1:
        raise UserError(f"every_and_last:{every},... needs a step >= 1", fix="use e.g. eval.grid='${every_and_last:2,${train.epochs}}'")
    if n < 1:
        return []  # config.validate reports train.epochs itself
    grid = list(range(k, n + 1, k))
    if not grid or grid[-1] != n:
        grid.append(n)
    return grid
