"""SPSA attack (Uesato et al. 2018, "Adversarial risk and the dangers of evaluating against
weak attacks"), L-inf, black-box.

Minimizes the margin f(x') = z_y - max_{j != y} z_j (true class masked with -inf) with
Adam on the perturbation, using a simultaneous-perturbation gradient estimate:

    g = (1 / P) sum_{s=1..P} (f(x' + c v_s) - f(x' - c v_s)) / (2 c) * v_s,   v_s ~ Rademacher

over P antithetic pairs (each direction evaluated at +-c, c = ``perturbation``). How
``samples`` counts is ``samples_unit``:

- ``queries`` (default): ``samples`` is the number of model queries per estimate, P =
  samples / 2 pairs (samples must be even). This is the original SPSA code (cleverhans
  TF ``SPSAAdam``: ``num_samples // 2  # Since we mirror +/- delta later``; its
  ``spsa_samples`` is "the number of evaluated inputs for each update");
- ``pairs``: P = ``samples`` pairs, 2 * samples queries per estimate (the cleverhans
  PyTorch port and advertorch's ``nb_sample`` count this way).

Paper vir (Vulnerability-aware instance reweighting) runs SPSA "with 100 iterations,
perturbation size 0.001, learning rate 0.01, and 256 samples for each gradient
estimation", citing Uesato et al.: 256 model queries per estimate (128 pairs) under
``queries``. After each Adam step the perturbation is projected onto the eps ball and
[0, 1]; the start is uniform in the eps ball (cleverhans).

``iterate``: ``best`` (default) checks every iterate and stops attacking a point at the
first iterate that fools it (cleverhans with ``early_stop_loss_threshold=0``, which its
docstring says "guarantees that if a successful attack is found, it is returned");
``last`` runs every point for all iterations and counts the final iterate (cleverhans'
default ``early_stop_loss_threshold=None``).

Black-box: the model is only reached through a :class:`~.blackbox.QueryModel` (forward
under ``torch.no_grad()``); no gradient is ever taken. The queries of many points are
stacked into forward batches of up to ``batch_size`` rows. Adam is elementwise, so one
Adam state over the batch equals one optimizer per point.
"""

from __future__ import annotations

import torch

from ..errors import UserError
from .base import ITERATES, Attack, check_choice, project_linf
from .blackbox import QueryModel
from .losses import margin
from .registry import register_attack

#: how ``samples`` is counted (see the module docstring)
SAMPLE_UNITS = ("queries", "pairs")


@register_attack("spsa")
class SPSA(Attack):
    black_box = True
    default_name = "SPSA"

    def __init__(
        self,
        model,
        eps,
        name: str | None = None,
        seed: int = 0,
        iterations: int = 100,
        perturbation: float = 0.001,
        lr: float = 0.01,
        samples: int = 256,
        adam_betas: tuple[float, float] = (0.9, 0.999),
        adam_eps: float = 1e-8,
        random_start: bool = True,
        batch_size: int = 4096,
        samples_unit: str = "queries",
        iterate: str = "best",
        points: str = "robust",
    ):
        super().__init__(model, eps, name=name, seed=seed, points=points)
        self.samples_unit = check_choice(samples_unit, SAMPLE_UNITS, f"attack {self.name}: samples_unit")
        self.iterate = check_choice(iterate, ITERATES, f"attack {self.name}: iterate")
        if samples_unit == "queries" and samples % 2:
            raise UserError(
                f"SPSA: samples counts queries (samples_unit: queries) and must be even (+-c pairs), got {samples}",
                fix="use an even samples, e.g. 256 (paper vir), or samples_unit: pairs",
            )
        if iterations < 1 or samples < 1 or batch_size < 1:
            raise UserError(
                f"SPSA: iterations, samples and batch_size must be >= 1, got {iterations}, {samples}, {batch_size}",
                fix="use iterations: 100, samples: 256 (paper vir)",
            )
        if perturbation <= 0 or lr <= 0:
            raise UserError(
                f"SPSA: perturbation and lr must be > 0, got {perturbation}, {lr}",
                fix="use perturbation: 0.001, lr: 0.01 (paper vir)",
            )
        self.iterations = int(iterations)
        self.perturbation = float(perturbation)
        self.lr = float(lr)
        self.samples = int(samples)
        self.adam_betas = (float(adam_betas[0]), float(adam_betas[1]))
        self.adam_eps = float(adam_eps)
        self.random_start = bool(random_start)
        self.batch_size = int(batch_size)

    @property
    def pairs(self) -> int:
        """Antithetic pairs per gradient estimate (queries per estimate = 2 * pairs)."""
        return self.samples // 2 if self.samples_unit == "queries" else self.samples

    # -- pieces -------------------------------------------------------------------------
    def _gradient_estimate(self, query: QueryModel, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """SPSA estimate of grad f at each row of ``x_adv``, chunked over points so that one
        forward pass holds at most ``batch_size`` rows."""
        gen = self._gen(x_adv.device)
        pairs = self.pairs
        per_chunk = max(1, self.batch_size // (2 * pairs))
        grads = []
        for xc, yc in zip(x_adv.split(per_chunk), y.split(per_chunk), strict=True):
            m = len(xc)
            shape = (m, pairs, *xc.shape[1:])
            v = torch.randint(0, 2, shape, generator=gen, device=xc.device).to(xc.dtype).mul_(2).sub_(1)
            c = self.perturbation
            probes = torch.cat([xc[:, None] + c * v, xc[:, None] - c * v], dim=1)  # (m, 2P, ...)
            labels = yc.repeat_interleave(2 * pairs)
            f = margin(query(probes.flatten(0, 1)), labels).view(m, 2, pairs)
            slope = (f[:, 0] - f[:, 1]) / (2 * c)  # (m, P)
            grads.append((slope.view(m, pairs, *[1] * (xc.dim() - 1)) * v).mean(dim=1))
        return torch.cat(grads)

    @torch.no_grad()
    def attack(self, x: torch.Tensor, y: torch.Tensor, eps: float):
        """``best``: (x at the first fooling iterate, else the last iterate; prediction there);
        ``last``: (the last iterate; prediction there) for every point."""
        query = QueryModel(self.model, batch_size=self.batch_size)
        x = x.detach()
        if eps == 0:
            return x.clone(), query(x).argmax(dim=1)
        if self.random_start:
            noise = torch.rand(x.shape, generator=self._gen(x.device), device=x.device, dtype=x.dtype)
            x_adv = project_linf(x + eps * (noise * 2 - 1), x, eps)
        else:
            x_adv = x.clone()
        last = self.iterate == "last"
        preds = query(x_adv).argmax(dim=1)
        # positions still attacked: the unfooled ones (best), or all of them (last)
        active = torch.arange(len(y), device=y.device) if last else (preds == y).nonzero().squeeze(1)
        m1 = torch.zeros_like(x)
        m2 = torch.zeros_like(x)
        b1, b2 = self.adam_betas
        for t in range(1, self.iterations + 1):
            if active.numel() == 0:
                break
            xa, ya = x_adv[active], y[active]
            g = self._gradient_estimate(query, xa, ya)
            # Adam (Kingma & Ba 2015), minimizing the margin; torch.optim.Adam's update
            m1[active] = b1 * m1[active] + (1 - b1) * g
            m2[active] = b2 * m2[active] + (1 - b2) * g * g
            m_hat = m1[active] / (1 - b1**t)
            v_hat = m2[active] / (1 - b2**t)
            xa = project_linf(xa - self.lr * m_hat / (v_hat.sqrt() + self.adam_eps), x[active], eps)
            x_adv[active] = xa
            if last:
                continue
            pred = query(xa).argmax(dim=1)
            fooled = pred != ya
            preds[active[fooled]] = pred[fooled]
            active = active[~fooled]
        if last:
            preds = query(x_adv).argmax(dim=1)
        return x_adv, preds

    def perturb(self, x, y, eps):
        return self.attack(x, y, eps)[0]

    def predictions(self, x, y):
        return {eps: self.attack(x, y, eps)[1] for eps in self.eps_list}
