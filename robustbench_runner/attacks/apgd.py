"""APGD-CE / APGD-DLR and APGD-T (Croce & Hein 2020, "Reliable evaluation of adversarial
robustness with an ensemble of diverse parameter-free attacks"), from the official code
(``pyautoattack.autopgd_base``), L-inf.

Thin wrappers: each call builds the library attack with the config's settings and a fixed
seed, runs it inside :func:`~.official.library_call` (global RNG restored, output
silenced) and returns its adversarial examples. Defaults are those AutoAttack "standard"
uses: 100 iterations, 1 restart, rho 0.75; APGD-T aims at the 9 most likely wrong classes.
The library's random starts are drawn per point (:mod:`.library_rng`: the library's start
formula through its ``x_init`` hook), so results do not depend on the batch.
"""

from __future__ import annotations

from ..errors import UserError
from .base import Attack
from .library_rng import PointKeyedAPGD, PointKeyedAPGDT
from .official import library_call, num_classes, target_count
from .registry import register_attack

APGD_LOSSES = {"ce": "APGD-CE", "dlr": "APGD-DLR"}


def _check_common(name: str, n_iter: int, n_restarts: int, rho: float, eot_iter: int) -> None:
    if n_iter < 1 or n_restarts < 1 or eot_iter < 1:
        raise UserError(
            f"{name}: n_iter, n_restarts and eot_iter must be >= 1, got {n_iter}, {n_restarts}, {eot_iter}",
            fix="use n_iter: 100, n_restarts: 1, eot_iter: 1 (AutoAttack standard)",
        )
    if not 0 < rho < 1:
        raise UserError(f"{name}: rho must be in (0, 1), got {rho}", fix="use rho: 0.75")


@register_attack("apgd")
class APGD(Attack):
    """Untargeted APGD; ``loss`` ce (APGD-CE) or dlr (APGD-DLR)."""

    default_name = "APGD-CE"
    rng_tag = "apgd"

    def __init__(
        self,
        model,
        eps,
        name: str | None = None,
        seed: int = 0,
        loss: str = "ce",
        n_iter: int = 100,
        n_restarts: int = 1,
        rho: float = 0.75,
        eot_iter: int = 1,
        verbose: bool = False,
    ):
        if loss not in APGD_LOSSES:
            raise UserError(f"APGD loss must be one of {sorted(APGD_LOSSES)}, got {loss!r}", fix="use loss: ce")
        super().__init__(model, eps, name=name or APGD_LOSSES[loss], seed=seed)
        _check_common(self.name, n_iter, n_restarts, rho, eot_iter)
        self.loss = loss
        self.n_iter = int(n_iter)
        self.n_restarts = int(n_restarts)
        self.rho = float(rho)
        self.eot_iter = int(eot_iter)
        self.verbose = bool(verbose)

    def perturb(self, x, y, eps):
        if eps == 0:
            return x.detach().clone()
        attack = PointKeyedAPGD(
            self.model, n_iter=self.n_iter, norm="Linf", n_restarts=self.n_restarts, eps=eps,
            seed=self.seed, loss=self.loss, eot_iter=self.eot_iter, rho=self.rho,
            verbose=self.verbose, device=x.device,
        ).rbr_configure(self.seed, self.rng_tag)
        with library_call(self.verbose):
            return attack.perturb(x.detach(), y).detach()


@register_attack("apgd_t")
class APGDT(Attack):
    """Targeted APGD on the targeted DLR loss, one run per target class."""

    default_name = "APGD-T"
    rng_tag = "apgd_t"

    def __init__(
        self,
        model,
        eps,
        name: str | None = None,
        seed: int = 0,
        n_iter: int = 100,
        n_restarts: int = 1,
        n_target_classes: int = 9,
        rho: float = 0.75,
        eot_iter: int = 1,
        verbose: bool = False,
    ):
        super().__init__(model, eps, name=name, seed=seed)
        _check_common(self.name, n_iter, n_restarts, rho, eot_iter)
        self.n_iter = int(n_iter)
        self.n_restarts = int(n_restarts)
        self.n_target_classes = int(n_target_classes)
        self.rho = float(rho)
        self.eot_iter = int(eot_iter)
        self.verbose = bool(verbose)

    def perturb(self, x, y, eps):
        if eps == 0:
            return x.detach().clone()
        classes = num_classes(self.model, x)
        if classes < 4:
            raise UserError(
                f"{self.name} needs at least 4 classes (targeted DLR loss), the model has {classes}",
                fix="drop APGD-T from the suite for this dataset",
            )
        attack = PointKeyedAPGDT(
            self.model, n_iter=self.n_iter, norm="Linf", n_restarts=self.n_restarts, eps=eps,
            seed=self.seed, eot_iter=self.eot_iter, rho=self.rho,
            n_target_classes=target_count(self.n_target_classes, classes, self.name),
            verbose=self.verbose, device=x.device,
        ).rbr_configure(self.seed, self.rng_tag)
        with library_call(self.verbose):
            return attack.perturb(x.detach(), y).detach()
