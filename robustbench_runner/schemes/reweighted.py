"""Instance-reweighted adversarial training: the weight policy shared by every reweighted
scheme and the two base losses it multiplies (robustbench_runner/papers/irat/README.md, robustbench_runner/papers/vir/README.md).

- Burn-in: epochs are 1-based; weights are 1 for ``epoch <= burn_in`` (``burn_in: 75``
  means reweighting from epoch 76). The weights are not even computed during burn-in.
- Post-processing (:func:`~.weights.postprocess_weights`): ``normalize`` (``none`` |
  ``sum_to_batch``), then the multiplier M, then ``detach`` (``true``: no gradient through
  the weights, as the official MAIL code's ``weight_assign(...).detach()``; ``false``: the
  gradient flows through w, as the official WMMR code).
- :class:`ReweightedAT`: mean_i(w_i * CE(f(x'_i), y_i)) (MAIL-AT, WMMR, GAIRAT, EWAT,
  margin reweighting, VIR-AT).
- :class:`ReweightedTRADES`: mean CE(f(x), y) + beta * mean_i(w_i * KL_i) (MAIL-TRADES,
  VIR-TRADES with beta = 1/lambda).

A subclass implements :meth:`ReweightedScheme.raw_weights` (the formula of its paper, from
``weights.py``) and, when it needs more than the attack's output (GAIRAT's kappa),
:meth:`ReweightedScheme.adversarial`.
"""

from __future__ import annotations

import torch

from ..errors import UserError
from .adversarial import AdversarialScheme
from .base import StepOutput
from .losses import ce_terms, trades_loss, weighted_mean
from .trades import check_forward_order, trades_forwards
from .weights import check_normalize, postprocess_weights


class ReweightedScheme(AdversarialScheme):
    """Base of the reweighted schemes: the weight policy.

    Args:
        attack, attack_bn_mode, name: see :class:`~.adversarial.AdversarialScheme`.
        burn_in: number of initial epochs trained with w = 1.
        multiplier: M, multiplies the weights (the MAIL code and paper irat's algorithm 1 use 3).
        normalize: ``none`` | ``sum_to_batch`` (rescale to mean 1, as GAIRAT, EWAT).
        detach: stop gradients through the weights.
    """

    default_name = "reweighted"

    def __init__(
        self,
        attack,
        attack_bn_mode: str = "eval",
        burn_in: int = 0,
        multiplier: float = 1.0,
        normalize: str = "none",
        detach: bool = True,
        name: str | None = None,
    ):
        super().__init__(attack, attack_bn_mode=attack_bn_mode, name=name)
        if int(burn_in) != burn_in or burn_in < 0:
            raise UserError(
                f"scheme {self.name!r}: burn_in must be a whole number of epochs >= 0, got {burn_in!r}",
                fix="set scheme.burn_in to e.g. 0 or 75",
            )
        self.burn_in = int(burn_in)
        self.multiplier = float(multiplier)
        self.normalize = check_normalize(normalize)
        self.detach = bool(detach)

    def reweighting(self, epoch: int) -> bool:
        """True once the burn-in is over (1-based epochs)."""
        return epoch > self.burn_in

    def adversarial(self, model, x, y) -> tuple[torch.Tensor, object]:
        """x' and anything the weights need from the attack (None here)."""
        return self.generate(model, x, y), None

    def raw_weights(
        self,
        *,
        model: torch.nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        adv_logits: torch.Tensor,
        nat_logits: torch.Tensor | None,
        aux: object,
    ) -> torch.Tensor:
        """The paper's weight formula, before :func:`postprocess_weights`."""
        raise NotImplementedError(f"{type(self).__name__} must implement raw_weights()")

    def weights(self, epoch: int, **batch) -> torch.Tensor:
        """Per-sample weights actually used: ones during burn-in, else the post-processed
        formula."""
        y = batch["y"]
        if not self.reweighting(epoch):
            return torch.ones(y.shape[0], device=y.device)
        w = self.raw_weights(**batch)
        return postprocess_weights(w, multiplier=self.multiplier, normalize=self.normalize, detach=self.detach)


class ReweightedAT(ReweightedScheme):
    """Weighted adversarial CE: mean_i(w_i * CE(f(x'_i), y_i))."""

    def step(self, model, x, y, epoch):
        x_adv, aux = self.adversarial(model, x, y)
        adv_logits = model(x_adv)
        w = self.weights(epoch, model=model, x=x, y=y, adv_logits=adv_logits, nat_logits=None, aux=aux)
        loss = weighted_mean(ce_terms(adv_logits, y), w)
        return StepOutput(loss, adv_logits, w.detach())


class ReweightedTRADES(ReweightedScheme):
    """Weighted TRADES: mean CE(f(x), y) + beta * mean_i(w_i * KL(p(x_i) || p(x'_i))).

    Args:
        beta: TRADES trade-off (paper vir's 1/lambda).
        forward_order: ``nat_adv`` (default: the official MAIL code's ``mail_loss``, method
            ``trades``: one natural forward, then the adversarial one) | ``nat_adv_nat``
            (the official TRADES code: a second natural forward for the KL term), see
            :mod:`~.trades`. The weights see the first natural forward.
    """

    def __init__(self, attack, beta: float = 6.0, forward_order: str = "nat_adv", **kwargs):
        super().__init__(attack, **kwargs)
        self.beta = float(beta)
        self.forward_order = check_forward_order(forward_order, self.name)

    def step(self, model, x, y, epoch):
        x_adv, aux = self.adversarial(model, x, y)
        nat_logits, adv_logits, kl_nat_logits = trades_forwards(model, x, x_adv, self.forward_order)
        w = self.weights(epoch, model=model, x=x, y=y, adv_logits=adv_logits, nat_logits=nat_logits, aux=aux)
        loss = trades_loss(nat_logits, adv_logits, y, beta=self.beta, w=w, kl_nat_logits=kl_nat_logits)
        return StepOutput(loss, adv_logits, w.detach())
