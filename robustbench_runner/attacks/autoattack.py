"""AutoAttack (Croce & Hein 2020) through the official code (``pyautoattack.AutoAttack``).

``version: standard`` runs APGD-CE, APGD-T (9 targets), FAB-T (9 targets) and Square
(5000 queries) as a cascade, each attack on the points still robust. The wrapper passes
a fixed integer seed (the library would time-seed on ``None``), restores the caller's
global RNG state afterwards and silences the library unless ``verbose``.

:meth:`AutoAttackStandard.predictions` returns the labels ``run_standard_evaluation``
itself computed on its adversarial outputs, so robust flags are exactly the library's.

The random draws of its APGD, APGD-T and Square objects are per point
(:func:`.library_rng.install`): a point's result does not depend on the batch it is in.
FAB-T (one restart in ``standard``) draws nothing; ``version: plus`` runs untargeted FAB
with 5 restarts, whose random restarts keep the library's per-call seeding (batch-dependent).

No state file is passed (``state_path=None``): resuming from one is broken in
pyautoattack 0.2.0 (``EvaluationState`` writes its attack set with ``str()``, so
``from_disk`` never matches it and raises; the resume branch also leaves ``y_adv``
unset). Resumability lives in the evaluation engine (one result row per checkpoint).

Smoke-scale knobs (``null`` = the version's own settings, the only values for paper
numbers): ``n_iter`` (APGD-CE and APGD-T iterations), ``n_target_classes`` (APGD-T and
FAB-T), ``fab_n_iter`` and ``n_queries`` (Square). They set the attributes of the library's
attack objects after ``AutoAttack`` built them, so the cascade itself is unchanged.
"""

from __future__ import annotations

import torch
from pyautoattack import AutoAttack

from .. import progress
from ..errors import UserError
from . import library_rng
from .base import Attack
from .official import library_call
from .registry import register_attack

VERSIONS = ("standard", "plus", "rand")


@register_attack("autoattack")
class AutoAttackStandard(Attack):
    """AutoAttack; ``batch_size`` is the library's internal batch (None: the whole batch
    the caller passes)."""

    default_name = "AA"

    def __init__(
        self,
        model,
        eps,
        name: str | None = None,
        seed: int = 0,
        version: str = "standard",
        batch_size: int | None = None,
        verbose: bool = False,
        n_iter: int | None = None,
        n_target_classes: int | None = None,
        fab_n_iter: int | None = None,
        n_queries: int | None = None,
    ):
        super().__init__(model, eps, name=name, seed=seed)
        for key, value in (("n_iter", n_iter), ("n_target_classes", n_target_classes),
                           ("fab_n_iter", fab_n_iter), ("n_queries", n_queries)):
            if value is not None and int(value) < 1:
                raise UserError(f"AutoAttack {key} must be >= 1 or null, got {value}", fix=f"use {key}: null (the version's value)")
        # public attributes: the engine fingerprints them for resume files
        self.n_iter, self.n_target_classes = n_iter, n_target_classes
        self.fab_n_iter, self.n_queries = fab_n_iter, n_queries
        if version not in VERSIONS:
            raise UserError(
                f"AutoAttack version must be one of {VERSIONS}, got {version!r}", fix="use version: standard"
            )
        if batch_size is not None and batch_size < 1:
            raise UserError(f"AutoAttack batch_size must be >= 1, got {batch_size}", fix="use null (whole batch)")
        self.version = version
        self.batch_size = batch_size
        self.verbose = bool(verbose)

    def run(self, x: torch.Tensor, y: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``run_standard_evaluation`` on (x, y) at ``eps``: (adversarial x, predicted labels)."""
        if eps == 0:  # the ball is {x}
            return x.detach().clone(), self._predict(x)
        with library_call(self.verbose):  # the constructor already logs
            adversary = AutoAttack(
                self.model, norm="Linf", eps=eps, version=self.version, seed=self.seed, device=x.device
            )
            adversary.verbose = self.verbose or progress.log_lines()  # its lines feed progress.note
            library_rng.install(adversary, self.seed)
            self._shrink(adversary)
            x_adv, y_adv = adversary.run_standard_evaluation(
                x.detach(), y, batch_size=self.batch_size or len(x)
            )
        return x_adv.detach(), y_adv

    def _shrink(self, adversary: AutoAttack) -> None:
        """Apply the smoke-scale knobs that are set (None keeps the version's value)."""
        if self.n_iter is not None:
            adversary.apgd.n_iter = adversary.apgd_targeted.n_iter = int(self.n_iter)
        if self.n_target_classes is not None:
            adversary.apgd_targeted.n_target_classes = adversary.fab.n_target_classes = int(self.n_target_classes)
        if self.fab_n_iter is not None:
            adversary.fab.n_iter = int(self.fab_n_iter)
        if self.n_queries is not None:
            adversary.square.n_queries = int(self.n_queries)

    def perturb(self, x, y, eps):
        return self.run(x, y, eps)[0]

    def predictions(self, x, y):
        return {eps: self.run(x, y, eps)[1] for eps in self.eps_list}
