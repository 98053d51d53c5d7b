"""Learning-rate schedules built from torch's own schedulers (``optim.schedule``).

:func:`warmup_cosine`: a linear warm-up over ``warmup_epochs`` epochs from
``warmup_start_factor * lr`` to ``lr`` (``torch.optim.lr_scheduler.LinearLR``), then a cosine
decay to ``eta_min`` over the remaining epochs (``CosineAnnealingLR``, SGDR's
eta_t = eta_min + (lr - eta_min)(1 + cos(pi t / T)) / 2 with T = epochs - warmup_epochs,
Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", arXiv
1608.03983, eq. 5, without restarts), chained by ``SequentialLR``. rbr steps the schedule
once per epoch (:mod:`.train_run`), so epochs are the unit. ``conf/optim/sgd_cosine.yaml`` and
``adamw_cosine.yaml`` use it.
"""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR

from .errors import UserError


def warmup_cosine(
    optimizer: Optimizer,
    epochs: int,
    warmup_epochs: int = 0,
    warmup_start_factor: float = 0.01,
    eta_min: float = 0.0,
) -> LRScheduler:
    """Linear warm-up for ``warmup_epochs`` epochs, then cosine decay to ``eta_min`` at ``epochs``."""
    epochs, warmup = int(epochs), int(warmup_epochs)
    if warmup < 0 or warmup >= epochs:
        raise UserError(
            f"optim.schedule.warmup_epochs={warmup} must be >= 0 and below train.epochs={epochs}",
            fix=f"set optim.schedule.warmup_epochs to at most {max(epochs - 1, 0)}",
        )
    if not 0 < float(warmup_start_factor) <= 1:
        raise UserError(f"optim.schedule.warmup_start_factor={warmup_start_factor} must be in (0, 1]", fix="use e.g. 0.01")
    cosine = CosineAnnealingLR(optimizer, T_max=epochs - warmup, eta_min=float(eta_min))
    if warmup == 0:
        return cosine
    linear = LinearLR(optimizer, start_factor=float(warmup_start_factor), end_factor=1.0, total_iters=warmup)
    return SequentialLR(optimizer, [linear, cosine], milestones=[warmup])
