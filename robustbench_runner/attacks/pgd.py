"""PGD-K under L-inf (Madry et al. 2018) with the losses and starts the papers use.

x_{t+1} = Proj_{B(x, eps) ∩ [0,1]}(x_t + alpha * sign(grad_x L(f(x_t), y)))

- ``loss``: ``ce`` | ``cw`` (margin, ``kappa``) | ``dlr`` | ``kl`` (TRADES) - attacks/losses.py;
- ``start``: ``uniform`` U(-eps, eps) | ``normal`` x + ``normal_std`` * N(0, 1) (the training
  attacks of TRADES, MART and MAIL; the two are not interchangeable) | ``none``;
- ``clamp_start``: whether the start is projected onto the ball and [0, 1] before the first
  gradient. ``true``: Madry et al. 2018, Rice et al. 2020 and GAIRAT's ``GA_PGD`` with a
  uniform start; ``false``: the first gradient is taken at the raw start, as in TRADES'
  ``trades.py``, MART, MAIL's ``at_loss.py``/``mail_loss.py`` (training) and MAIL's
  ``_pgd_whitebox`` (evaluation), and GAIRAT's ``GA_PGD`` with the normal start; every
  step is projected either way. With ``false`` a raw start is no valid adversarial input,
  so ``iterate: best`` judges the iterates after the first step only;
- ``restarts``: independent random starts; a point counts as fooled if any restart fools it;
- ``step_size``: alpha; null = 2.5 * eps / steps (Madry et al. 2018), so the walk can cross
  the ball; paper suites set their paper's step (e.g. 2/255, 0.003, 1/255).

Two ways to run it:
- :meth:`perturb` returns the last iterate for every point (what training uses; with
  restarts, the first restart whose last iterate fools the point);
- :meth:`predictions` (evaluation), by ``iterate``:
  ``best`` checks every iterate, keeps the first one that fools a point (never raises
  robust accuracy) and stops attacking that point, so each step only costs the points
  still robust; ``last`` runs every point through all ``steps`` and counts only the final
  iterate of each restart (the ``_pgd_whitebox`` evaluation of the MAIL and TRADES code,
  GAIRAT's ``eval_robust``): a point fooled at an intermediate iterate may recover. Either
  way each restart draws its start for every point exactly as :meth:`perturb` does, so
  with the same seed every point follows its :meth:`perturb` trajectory: ``last`` equals
  the prediction on :meth:`perturb`'s output point for point, and ``best`` is never above
  it (tested). Points already fooled by an earlier restart are not attacked again; that
  does not change either answer (fooled by any restart = fooled).
- ``compact_at`` (speed only, not the answer): the share of fooled points in the working
  batch at which ``best`` drops them from it (:meth:`_best_at`);
- ``check_every`` (speed only, not the answer): ``best`` records fooled points on the device
  at every step and reads the count of live points on the host only every ``check_every``
  steps (to stop early or compact), so a GPU is not drained by a host sync at every step;
  null: every step on a CPU (no sync to save; fooled points leave sooner), every
  :data:`~.base.ACCELERATOR_CHECK_EVERY` steps on other devices.

Random starts are per point (``randomness``, :mod:`.randomness`): restart r of a point
starts from a function of (seed, "pgd", the point, r), whatever batch it is in and on any
device; training attacks draw from one sequential CPU stream instead. The loss is
computed in float32 with autocast off (:func:`.losses.fp32_objective`).
"""

from __future__ import annotations

import torch

from .. import progress
from ..errors import UserError
from .base import ITERATES, Attack, check_choice, check_interval, project_linf
from .losses import LOSSES, fp32_objective
from .registry import register_attack

STARTS = ("uniform", "normal", "none")


@register_attack("pgd")
class PGD(Attack):
    default_name = "PGD"
    rng_tag = "pgd"

    def __init__(
        self,
        model,
        eps,
        steps: int = 20,
        step_size: float | None = None,
        loss: str = "ce",
        kappa: float = 0.0,
        start: str = "uniform",
        normal_std: float = 0.001,
        restarts: int = 1,
        name: str | None = None,
        seed: int = 0,
        eps_points: int | None = None,
        iterate: str = "best",
        points: str = "robust",
        compact_at: float = 0.125,
        clamp_start: bool = True,
        check_every: int | None = None,
    ):
        super().__init__(model, eps, name=name or f"PGD-{steps}", seed=seed, eps_points=eps_points, points=points)
        self.iterate = check_choice(iterate, ITERATES, f"attack {self.name}: iterate")
        _require(steps >= 1, f"PGD steps must be >= 1, got {steps}", "use e.g. steps: 20")
        _require(loss in LOSSES, f"PGD loss must be one of {sorted(LOSSES)}, got {loss!r}", "use loss: ce")
        _require(start in STARTS, f"PGD start must be one of {STARTS}, got {start!r}", "use start: uniform")
        _require(restarts >= 1, f"PGD restarts must be >= 1, got {restarts}", "use restarts: 1")
        _require(
            step_size is None or step_size > 0,
            f"PGD step_size must be > 0, got {step_size}",
            "use a positive step or null (2.5 * eps / steps)",
        )
        self.steps = int(steps)
        self.step_size = None if step_size is None else float(step_size)
        self.loss_name = loss
        self.loss_fn = LOSSES[loss]
        self.kappa = float(kappa)
        self.start = start
        self.normal_std = float(normal_std)
        self.restarts = int(restarts)
        _require(0 <= compact_at <= 1, f"PGD compact_at must be in [0, 1], got {compact_at}", "use compact_at: 0.125")
        self.compact_at = float(compact_at)
        self.clamp_start = bool(clamp_start)
        _require(check_every is None or int(check_every) >= 1, f"PGD check_every must be >= 1 or null, got {check_every}", "use check_every: null")
        self.check_every = None if check_every is None else int(check_every)

    def alpha(self, eps: float) -> float:
        """Step size; when not given, 2.5 * eps / steps (Madry et al. 2018)."""
        return self.step_size if self.step_size is not None else 2.5 * eps / self.steps

    # -- pieces ---------------------------------------------------------------------------
    def _start(self, x: torch.Tensor, eps: float, y: torch.Tensor | None = None, restart: int = 0, keys=None) -> torch.Tensor:
        """The start of ``restart`` for every point of ``x`` (per point: from (seed, the
        point, restart), which needs ``y`` or precomputed ``keys``)."""
        if self.start == "none" or eps == 0:
            return x.clone()
        if keys is None and self.randomness != "stream":
            if y is None:
                raise ValueError("PGD._start needs the labels y for per-point random starts")
            keys = self.keys(x, y)
        if self.start == "uniform":
            noise = self.draw("uniform", x, keys, restart) * 2 - 1
            start = x + eps * noise
        else:
            noise = self.draw("normal", x, keys, restart)
            start = x + self.normal_std * noise
        return project_linf(start, x, eps) if self.clamp_start else start

    def _starts_of(self, x, y, idx, eps, restart, keys):
        """The starts of restart ``restart`` for the points ``idx`` of the batch: per point, drawn
        for those points only; with a stream, drawn for every point as :meth:`perturb` does
        (so each point follows its :meth:`perturb` trajectory) and then indexed."""
        if self.randomness == "stream":
            return self._start(x, eps, y, restart)[idx]
        return self._start(x[idx], eps, y[idx], restart, None if keys is None else keys[idx.cpu()])

    def _clean_logits(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.loss_name != "kl":
            return None
        with torch.no_grad():
            return self.model(x)

    def _loss_and_grad(self, x_adv, y, clean_logits):
        x_adv = x_adv.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model(x_adv)
            loss = fp32_objective(self.loss_fn, logits, y, kappa=self.kappa, clean_logits=clean_logits)
            (grad,) = torch.autograd.grad(loss.sum(), x_adv)
        return logits.detach(), grad

    # -- training path: last iterate --------------------------------------------------------
    def perturb(self, x, y, eps):
        x = x.detach()
        clean_logits = self._clean_logits(x)
        alpha = self.alpha(eps)
        best = None
        keys = self.keys(x, y) if self.restarts > 1 and self.start != "none" else None
        for restart in range(self.restarts):
            x_adv = self._start(x, eps, y, restart, keys)
            for _ in range(self.steps):
                _, grad = self._loss_and_grad(x_adv, y, clean_logits)
                x_adv = project_linf(x_adv + alpha * grad.sign(), x, eps)
            if self.restarts == 1:
                return x_adv.detach()
            # keep, per point, the first restart whose last iterate fools the model
            if best is None:
                best, done = x_adv, self._predict(x_adv) != y
            else:
                take = ~done & (self._predict(x_adv) != y)
                best = torch.where(take.view(-1, *[1] * (x.dim() - 1)), x_adv, best)
                done |= take
        return best.detach()

    # -- evaluation path: best iterate (shrinking active set) or last iterate -----------------
    @torch.no_grad()
    def predictions(self, x, y):
        at = self._best_at if self.iterate == "best" else self._last_at
        out = {}
        for eps in self.eps_list:
            out[eps] = self._predict(x) if eps == 0 else at(x.detach(), y, eps)  # eps 0: the ball is {x}
        return out

    def _last_at(self, x, y, eps):
        """Per restart, every point still unfooled runs all steps; its final iterate counts."""
        preds = self._predict(x)  # replaced below for every point a restart runs
        todo = torch.ones_like(y, dtype=torch.bool)  # not fooled by an earlier restart
        alpha = self.alpha(eps)
        keys = self.keys(x, y)
        for restart in range(self.restarts):
            idx = todo.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            x0, y0 = x[idx], y[idx]
            clean_logits = self._clean_logits(x0)
            x_adv = self._starts_of(x, y, idx, eps, restart, keys)
            for _step in range(self.steps):
                _, grad = self._loss_and_grad(x_adv, y0, clean_logits)
                x_adv = project_linf(x_adv + alpha * grad.sign(), x0, eps)
            p = self._predict(x_adv)
            preds[idx] = p
            todo[idx[p != y0]] = False
        return preds

    def _best_at(self, x, y, eps):
        """Best iterate with a shrinking working batch.

        A point fooled at a step is recorded then, on the device (no host sync); it stays in
        the working batch (its later steps are wasted work that changes nothing) until the
        fooled points make up ``compact_at`` of the batch, then the batch is compacted.
        Whether to stop or compact is read on the host every ``check_every`` steps only.
        Compacting at every step (``compact_at: 0``) gathers and scatters the whole batch
        each time some point falls and gives a new batch shape almost every step (each one
        a new kernel plan for oneDNN/cuDNN, a recompile for ``torch.compile``): on a robust
        model, where few points fall per step, that costs more than the wasted rows save."""
        preds = y.clone()  # clean-correct points: prediction = y until fooled
        robust = torch.ones_like(y, dtype=torch.bool)
        alpha = self.alpha(eps)
        keys = self.keys(x, y)
        every = check_interval(self.check_every, x.device)
        for restart in range(self.restarts):
            idx = robust.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            pos, x0, ya = idx, x[idx], y[idx]  # the working batch: global positions, clean points, labels
            cl = self._clean_logits(x0)
            xa = self._starts_of(x, y, idx, eps, restart, keys)
            live = torch.ones_like(ya, dtype=torch.bool)  # not fooled yet
            for step in range(self.steps + 1):
                progress.within((restart * self.steps + step) / (self.restarts * self.steps))  # ETA within one batch
                if step < self.steps:
                    logits, grad = self._loss_and_grad(xa, ya, cl)
                else:
                    logits = self.model(xa)
                if step > 0 or self.clamp_start:  # a raw (unprojected) start is not a valid input
                    p = logits.argmax(dim=1)
                    fooled = live & (p != ya)
                    preds[pos] = torch.where(fooled, p, preds[pos])  # gather/scatter: no host sync
                    robust[pos] = robust[pos] & ~fooled
                    live = live & ~fooled
                if step == self.steps:
                    break
                xa = project_linf(xa + alpha * grad.sign(), x0, eps)
                if (step + 1) % every == 0:  # the host looks: stop, or compact
                    dead = len(live) - int(live.sum())
                    if dead == len(live):
                        break
                    if dead and dead >= self.compact_at * len(live):
                        keep = live.nonzero().squeeze(1)
                        pos, x0, ya, xa, live = pos[keep], x0[keep], ya[keep], xa[keep], live[keep]
                        cl = cl[keep] if cl is not None else None
        return preds


def _require(condition: bool, message: str, fix: str) -> None:
    if not condition:
        raise UserError(message, fix=fix)
