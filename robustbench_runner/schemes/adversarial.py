"""Adversarial-training base: the inner-maximization attack and the BN mode used while
generating it.

A scheme receives its training attack as a partial (``_partial_: true``: the scheme configs
compose ``conf/attack/pgd.yaml`` as ``scheme.attack``) that still needs the model, and builds
it in :meth:`bind`. The training-attack protocol is two config values:

- ``attack_bn_mode``: the model mode while the attack runs: ``eval`` (the official TRADES,
  MART, MAIL and GAIRAT code call ``model.eval()`` before crafting x') or ``train``
  (Madry/Rice-style PGD-AT, WMMR: batch statistics, and BN running statistics updated by the
  attack's forward passes). The model's previous mode is restored afterwards.
- ``attack.start``: ``normal`` (x + 0.001 N(0, I): TRADES, MART, MAIL code) or ``uniform``
  (U(-eps, eps): Madry et al. 2018, GAIRAT code).

``conf/train_attack/{mail,madry}.yaml`` sets both for every scheme of a comparison at once
(papers irat and vir use ``mail``: ``robustbench_runner/papers/irat/conf/experiment/irat/main.yaml``, ``vir/common.yaml``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..attacks.base import Attack
from ..errors import UserError
from .base import AT_KEYS, PLAIN_AT, Scheme, StepOutput, WarmupRule
from .losses import ce_terms

BN_MODES = ("eval", "train")

AttackFactory = Callable[[nn.Module], Attack]


@contextmanager
def bn_mode(model: nn.Module, mode: str) -> Iterator[None]:
    """Run the block with the model in ``mode`` (``eval`` | ``train``), then restore the
    mode it had (also on error)."""
    if mode not in BN_MODES:
        raise UserError(f"unknown attack_bn_mode {mode!r}", fix=f"use one of: {', '.join(BN_MODES)}")
    was_training = model.training
    model.train(mode == "train")
    try:
        yield
    finally:
        model.train(was_training)


class AdversarialScheme(Scheme):
    """Base of the schemes that train on attack outputs.

    Args:
        attack: a callable ``model -> Attack`` (e.g. ``functools.partial(PGD, eps=8/255,
            steps=10, ...)``, what Hydra builds from a ``_partial_: true`` attack config).
        attack_bn_mode: ``eval`` | ``train``, the model mode while the attack runs.
        name: label used in run names and CSV columns.
    """

    default_name = "adversarial"

    def __init__(self, attack: AttackFactory, attack_bn_mode: str = "eval", name: str | None = None):
        super().__init__(name=name)
        if not callable(attack):
            raise UserError(
                f"scheme {self.name!r}: attack must be an attack config with _partial_: true, got {attack!r}",
                fix="give scheme.attack a _target_ (e.g. robustbench_runner.attacks.pgd.PGD) and _partial_: true",
            )
        if attack_bn_mode not in BN_MODES:
            raise UserError(
                f"scheme {self.name!r}: unknown attack_bn_mode {attack_bn_mode!r}",
                fix=f"use one of: {', '.join(BN_MODES)}",
            )
        self.attack_factory = attack
        self.attack_bn_mode = attack_bn_mode
        self.attack: Attack | None = None
        self._seed: int | None = None  # set by reseed(); None = the attack config's seed

    def bind(self, model: nn.Module) -> None:
        """Build the training attack on ``model``."""
        attack = self.attack_factory(model)
        if not isinstance(attack, Attack):
            raise UserError(
                f"scheme {self.name!r}: attack config built {type(attack).__name__}, not an Attack",
                fix="point scheme.attack._target_ at an attack class such as robustbench_runner.attacks.pgd.PGD",
            )
        if len(attack.eps_list) != 1:
            raise UserError(
                f"scheme {self.name!r}: the training attack must have one eps, got {attack.eps_list}",
                fix="set scheme.attack.eps to a single value",
            )
        # Training attacks draw from one sequential CPU stream, reseeded per epoch (reseed):
        # the batches are fixed by (seed, epoch), and the same draws land on any device.
        attack.use_stream()
        self.attack = attack
        if self._seed is not None:
            self.reseed(self._seed)

    def reseed(self, seed: int) -> None:
        """Restart the training attack's private random stream (random starts) from ``seed``.

        The attack draws its starts from its own generator, seeded once from the attack
        config when built; a trainer that wants the starts of an epoch to depend only on
        (run seed, epoch) - so a redone epoch sees the same starts - calls this at the start
        of each epoch. Applied on :meth:`bind` when called before it."""
        self._seed = int(seed)
        if self.attack is not None:
            self.attack.seed = self._seed
            self.attack.reset_rng()

    def _bound_attack(self, model: nn.Module) -> Attack:
        if self.attack is None or self.attack.model is not model:
            self.bind(model)
        assert self.attack is not None
        return self.attack

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Adversarial examples x' (the attack's last iterate), generated in ``attack_bn_mode``."""
        attack = self._bound_attack(model)
        with bn_mode(model, self.attack_bn_mode):
            return attack.perturb(x, y, attack.eps).detach()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, attack={self.attack_factory!r}, attack_bn_mode={self.attack_bn_mode!r})"


class PGDAT(AdversarialScheme):
    """pgd_at (Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial
    Attacks", ICLR 2018, eq. 2.1): mean CE(f(x'), y) on the attack's output (PGD, CE loss;
    uniform start and train-mode BN in ``conf/scheme/pgd_at.yaml``, the MAIL protocol in
    papers irat and vir)."""

    warmup_rule = WarmupRule(PLAIN_AT, AT_KEYS)

    default_name = "pgd_at"

    def step(self, model, x, y, epoch):
        x_adv = self.generate(model, x, y)
        adv_logits = model(x_adv)
        return StepOutput(ce_terms(adv_logits, y).mean(), adv_logits)
