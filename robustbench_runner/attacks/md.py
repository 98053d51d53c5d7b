"""Margin Decomposition attacks MD and MD-MT (Ma et al. 2023, "Imbalanced gradients: a
subtle cause of overestimated adversarial robustness", Machine Learning), L-inf.

The margin loss z_max - z_y (z_max = max_{j != y} z_j, true class masked with -inf;
MD-MT: z_t for a target class t) is split into its two terms. Settings follow the
official code (github.com/HanxunH/MDAttack, ``attacks/MD.py`` and the MDE configuration
in ``attacks/attack_handler.py``); where paper and code differ, the code is followed. One run of K = ``steps`` sign-gradient steps from a uniform random start:

- step 0: ascend z_y (as the official code does);
- stage 1, steps 1 .. ``change_point`` - 1: ascend one term alone: -z_y in the first run
  of a pair, z_max (MD) / z_t (MD-MT) in the second;
- stage 2, steps ``change_point`` .. K - 1: ascend the full margin z_max - z_y (z_t - z_y);
- step size alpha_i = step_scale * eps * (1 + cos(pi * s / (K - change_point))) / 2 with
  s = i - 1 up to the change point and s = i - change_point - 1 after it: cosine
  annealing from 2 eps, restarted at the beginning of stage 2;
- after each step: projection onto the eps ball and [0, 1].

Defaults (the official MDE settings): K = 50, change point 20, initial step 2 eps,
``restarts`` = 1 pair of runs per restart (stage-1 term -z_y, then z_max / z_t); MD-MT
repeats this for the 9 most likely wrong classes at x, in decreasing order of z_j(x)
(the official loop also spends one pair on the top class itself, which for correctly
classified points is y and cannot fool them; we skip it).

Every iterate is checked (best iterate, as the official ``adv_check_and_update``); a point
is recorded at the first iterate that fools it (on the device, no host sync) and leaves the
working batch when the fooled points make up ``compact_at`` of it, checked on the host every
``check_every`` steps (speed only: the answer is the same; null: every step on a CPU, every 4
on an accelerator, where each check is a host sync). Deviation: the official start
x + U(-eps, eps) is not clipped to [0, 1]; ours is, so no query leaves the image domain.

Random starts are per point (:mod:`.randomness`): run ``run`` of restart r for target j
starts from a function of (seed, "md" or "md_mt", the point, j, r, run). The ascended
objective is computed in float32 with autocast off.
"""

from __future__ import annotations

import math

import torch

from .. import progress
from ..errors import UserError
from .base import Attack, check_interval, project_linf
from .losses import fp32_objective, true_class, wrong_class_max
from .official import target_count
from .registry import register_attack


class _MarginDecomposition(Attack):
    """Shared loop of MD and MD-MT; subclasses say which runs to do and which wrong-class
    term (z_max or z_t) to use."""

    def __init__(
        self,
        model,
        eps,
        name: str | None = None,
        seed: int = 0,
        steps: int = 50,
        change_point: int = 20,
        step_scale: float = 2.0,
        restarts: int = 1,
        compact_at: float = 0.125,
        check_every: int | None = None,
    ):
        super().__init__(model, eps, name=name, seed=seed)
        if not 1 <= change_point < steps:
            raise UserError(
                f"{self.name}: need 1 <= change_point < steps, got change_point {change_point}, steps {steps}",
                fix="use steps: 50, change_point: 20 (official MDE settings)",
            )
        if restarts < 1 or step_scale <= 0:
            raise UserError(
                f"{self.name}: restarts must be >= 1 and step_scale > 0, got {restarts}, {step_scale}",
                fix="use restarts: 1, step_scale: 2.0",
            )
        if not 0 <= compact_at <= 1 or (check_every is not None and int(check_every) < 1):
            raise UserError(
                f"{self.name}: need 0 <= compact_at <= 1 and check_every >= 1 or null, got {compact_at}, {check_every}",
                fix="use compact_at: 0.125, check_every: null",
            )
        self.steps = int(steps)
        self.change_point = int(change_point)
        self.step_scale = float(step_scale)
        self.restarts = int(restarts)
        self.compact_at = float(compact_at)
        self.check_every = None if check_every is None else int(check_every)

    # -- schedule ---------------------------------------------------------------------
    def step_size(self, i: int, eps: float) -> float:
        """alpha_i of the official code (cosine annealing, restarted after the change point)."""
        s = i - self.change_point - 1 if i > self.change_point else i - 1
        return self.step_scale * eps * 0.5 * (1 + math.cos(math.pi * s / (self.steps - self.change_point)))

    def objective(self, logits, y, target, i: int, run: int) -> torch.Tensor:
        """Per-sample quantity ascended at step i of a run (run 0: stage-1 term -z_y;
        run 1: stage-1 term z_max / z_t)."""
        z_y = true_class(logits, y)
        if i == 0:
            return z_y
        z_other = wrong_class_max(logits, y) if target is None else true_class(logits, target)
        if i < self.change_point:
            return z_other if run == 1 else -z_y
        return z_other - z_y

    def runs(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor | None]:
        """Target class per run (None: untargeted), in order; each entry is one pair."""
        raise NotImplementedError

    # -- one run ----------------------------------------------------------------------
    def _run(self, x0, y0, t0, eps: float, run: int, keys, counters: tuple[int, ...]):
        """One K-step run on (x0, y0): (fooled mask, x at first fooling iterate, prediction).

        The working batch keeps fooled points (their steps are wasted, never counted) until
        they make up ``compact_at`` of it; the host looks every ``check_every`` steps."""
        noise = self.draw("uniform", x0, keys, *counters) * 2 - 1
        xa = project_linf(x0 + eps * noise, x0, eps)
        fooled = torch.zeros(len(x0), dtype=torch.bool, device=x0.device)
        x_fool = x0.clone()
        p_fool = y0.clone()
        pos, xc, ya, ta = torch.arange(len(x0), device=x0.device), x0, y0, t0  # the working batch
        live = torch.ones(len(x0), dtype=torch.bool, device=x0.device)
        every = check_interval(self.check_every, x0.device)
        for i in range(self.steps + 1):
            progress.within(i / (self.steps + 1))  # an ETA within one long batch
            if i < self.steps:
                xa_grad = xa.detach().requires_grad_(True)
                with torch.enable_grad():
                    logits = self.model(xa_grad)
                    ascent = fp32_objective(self.objective, logits, ya, ta, i, run).sum()
                    (grad,) = torch.autograd.grad(ascent, xa_grad)
                logits = logits.detach()
            else:
                logits = self.model(xa)
            pred = logits.argmax(dim=1)
            hit = live & (pred != ya)
            # record at the first fooling iterate, on the device (gather, where, scatter)
            fooled[pos] = fooled[pos] | hit
            x_fool[pos] = torch.where(hit.view(-1, *[1] * (xa.dim() - 1)), xa, x_fool[pos])
            p_fool[pos] = torch.where(hit, pred, p_fool[pos])
            live = live & ~hit
            if i == self.steps:
                break
            xa = project_linf(xa + self.step_size(i, eps) * grad.sign(), xc, eps)
            if (i + 1) % every == 0:  # the host looks: stop, or compact
                dead = len(live) - int(live.sum())
                if dead == len(live):
                    break
                if dead and dead >= self.compact_at * len(live):
                    keep = live.nonzero().squeeze(1)
                    pos, xc, ya, xa, live = pos[keep], xc[keep], ya[keep], xa[keep], live[keep]
                    ta = None if ta is None else ta[keep]
        return fooled, x_fool, p_fool

    @torch.no_grad()
    def attack(self, x: torch.Tensor, y: torch.Tensor, eps: float):
        """All runs on the points still robust: (x at first fooling iterate or x, prediction)."""
        x = x.detach()
        x_out, preds = x.clone(), y.clone()
        if eps == 0:
            return x_out, self._predict(x)
        robust = torch.ones(len(x), dtype=torch.bool, device=x.device)
        keys = self.keys(x, y)
        for j, target in enumerate(self.runs(x, y)):
            for restart in range(self.restarts):
                for run in (0, 1):
                    idx = robust.nonzero().squeeze(1)
                    if idx.numel() == 0:
                        return x_out, preds
                    t0 = None if target is None else target[idx]
                    sub_keys = None if keys is None else keys[idx.cpu()]
                    fooled, x_fool, p_fool = self._run(x[idx], y[idx], t0, eps, run, sub_keys, (j, restart, run))
                    hit = idx[fooled]
                    x_out[hit], preds[hit] = x_fool[fooled], p_fool[fooled]
                    robust[hit] = False
        return x_out, preds

    def perturb(self, x, y, eps):
        return self.attack(x, y, eps)[0]

    def predictions(self, x, y):
        return {eps: self.attack(x, y, eps)[1] for eps in self.eps_list}


@register_attack("md")
class MD(_MarginDecomposition):
    """MD: untargeted margin decomposition (z_max - z_y)."""

    default_name = "MD"
    rng_tag = "md"

    def runs(self, x, y):
        return [None]


@register_attack("md_mt")
class MDMT(_MarginDecomposition):
    """MD-MT: multi-targeted margin decomposition (z_t - z_y for the most likely wrong
    classes t at the clean input)."""

    default_name = "MD-MT"
    rng_tag = "md_mt"

    def __init__(self, model, eps, name=None, seed=0, steps=50, change_point=20, step_scale=2.0,
                 restarts=1, n_target_classes: int = 9, compact_at: float = 0.125, check_every: int | None = None):
        super().__init__(model, eps, name=name, seed=seed, steps=steps, change_point=change_point,
                         step_scale=step_scale, restarts=restarts, compact_at=compact_at, check_every=check_every)
        self.n_target_classes = int(n_target_classes)

    def runs(self, x, y):
        logits = self.model(x)
        count = target_count(self.n_target_classes, logits.shape[1], self.name)
        wrong = logits.masked_fill(torch.nn.functional.one_hot(y, logits.shape[1]).bool(), float("-inf"))
        ranked = wrong.argsort(dim=1, descending=True)
        return [ranked[:, j] for j in range(count)]
