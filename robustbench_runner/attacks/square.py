"""Square Attack (Andriushchenko et al. 2020), L-inf, from the official code
(``pyautoattack.square``): a query-based black-box attack.

The library receives a :class:`~.blackbox.QueryModel`, i.e. logits computed under
``torch.no_grad()``: it cannot take gradients. Defaults are AutoAttack "standard"'s
Square: 5000 queries, p_init 0.8, 1 restart, margin loss, no rescaled p schedule.
Its random draws go through the library's ``random_choice``/``random_int`` hooks to
per-point and per-restart generators (:mod:`.library_rng`), so results do not depend on
the batch.
"""

from __future__ import annotations

from ..errors import UserError
from .base import Attack
from .blackbox import QueryModel
from .library_rng import PointKeyedSquare
from .official import library_call
from .registry import register_attack


@register_attack("square")
class Square(Attack):
    black_box = True
    default_name = "Square"
    rng_tag = "square"

    def __init__(
        self,
        model,
        eps,
        name: str | None = None,
        seed: int = 0,
        n_queries: int = 5000,
        p_init: float = 0.8,
        n_restarts: int = 1,
        loss: str = "margin",
        resc_schedule: bool = False,
        verbose: bool = False,
    ):
        super().__init__(model, eps, name=name, seed=seed)
        if n_queries < 1 or n_restarts < 1:
            raise UserError(
                f"Square: n_queries and n_restarts must be >= 1, got {n_queries}, {n_restarts}",
                fix="use n_queries: 5000, n_restarts: 1",
            )
        if not 0 < p_init <= 1:
            raise UserError(f"Square: p_init must be in (0, 1], got {p_init}", fix="use p_init: 0.8")
        if loss not in ("margin", "ce"):
            raise UserError(f"Square: loss must be margin or ce, got {loss!r}", fix="use loss: margin")
        self.n_queries = int(n_queries)
        self.p_init = float(p_init)
        self.n_restarts = int(n_restarts)
        self.loss = loss
        self.resc_schedule = bool(resc_schedule)
        self.verbose = bool(verbose)

    def perturb(self, x, y, eps):
        if x.dim() != 4:
            raise UserError(
                f"Square needs image batches (B, C, H, W), got shape {tuple(x.shape)}",
                fix="drop Square from the suite for tabular data",
            )
        if eps == 0:
            return x.detach().clone()
        attack = PointKeyedSquare(
            QueryModel(self.model), norm="Linf", n_queries=self.n_queries, eps=eps,
            p_init=self.p_init, n_restarts=self.n_restarts, seed=self.seed, verbose=self.verbose,
            targeted=False, loss=self.loss, resc_schedule=self.resc_schedule, device=x.device,
        ).rbr_configure(self.seed, self.rng_tag)
        with library_call(self.verbose):
            return attack.perturb(x.detach(), y).detach()
