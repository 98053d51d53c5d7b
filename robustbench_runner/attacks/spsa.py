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
stacked into forward batches of up to ``batch_size`` rows; on out-of-memory that query
batch is halved and the estimate redone (:meth:`SPSA._estimate`). Adam is elementwise, so
one Adam state over the batch equals one optimizer per point.

Randomness is per point (:mod:`.randomness`): the start of a point and its directions
v_s at iteration t are functions of (seed, "spsa", the point, t), so neither the batch, nor
``batch_size``, nor an out-of-memory retry, nor the device changes them. The directions are
drawn on the CPU as packed bits (1/32 of the bytes of float signs cross to a GPU).

Precision: finite differences at c = 0.001 need full float32: the attack runs with TF32 off
for matmuls and cuDNN convolutions (:func:`.precision.full_fp32`, restored afterwards; a
CPU emulation of TF32 rounding cut the cosine between the estimate and the true gradient
from 0.20 to ~0.07 on CNN-6) and its margin is computed in float32 with autocast off.

The host reads which points are fooled after every iteration (one device-to-host copy of a
bool per point): the next iteration draws the directions of the points still attacked on
the CPU, and one iteration is 2P forward rows per point, so the check costs nothing by
comparison, while checking less often would spend 2P queries per fooled point per
iteration skipped.
"""

from __future__ import annotations

import sys

import torch

from ..errors import UserError
from .base import ITERATES, Attack, check_choice, is_out_of_memory, project_linf
from .blackbox import QueryModel
from .losses import fp32_objective, margin
from .precision import full_fp32
from .registry import register_attack

#: how ``samples`` is counted (see the module docstring)
SAMPLE_UNITS = ("queries", "pairs")


@register_attack("spsa")
class SPSA(Attack):
    black_box = True
    default_name = "SPSA"
    rng_tag = "spsa"

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
        self._rows = self.batch_size  # rows per forward pass now (halved on out-of-memory)

    @property
    def pairs(self) -> int:
        """Antithetic pairs per gradient estimate (queries per estimate = 2 * pairs)."""
        return self.samples // 2 if self.samples_unit == "queries" else self.samples

    # -- pieces -------------------------------------------------------------------------
    def _gradient_estimate(self, query: QueryModel, x_adv: torch.Tensor, y: torch.Tensor, keys=None, t: int = 1) -> torch.Tensor:
        """SPSA estimate of grad f at each row of ``x_adv`` (iteration ``t``; ``keys``: the
        points' keys for per-point directions), chunked over points so that one forward pass
        holds at most ``batch_size`` rows."""
        pairs = self.pairs
        per_chunk = max(1, self._rows // (2 * pairs))
        query.batch_size = self._rows
        grads = []
        for start in range(0, len(x_adv), per_chunk):
            xc, yc = x_adv[start : start + per_chunk], y[start : start + per_chunk]
            kc = None if keys is None else keys[start : start + per_chunk]
            m = len(xc)
            v = self.draw("sign", xc, kc, 1, t, row_shape=(pairs, *xc.shape[1:]))  # (m, P, ...)
            c = self.perturbation
            probes = torch.cat([xc[:, None] + c * v, xc[:, None] - c * v], dim=1)  # (m, 2P, ...)
            labels = yc.repeat_interleave(2 * pairs)
            f = fp32_objective(margin, query(probes.flatten(0, 1)), labels).view(m, 2, pairs)
            slope = (f[:, 0] - f[:, 1]) / (2 * c)  # (m, P)
            grads.append((slope.view(m, pairs, *[1] * (xc.dim() - 1)).to(v.dtype) * v).mean(dim=1))
        return torch.cat(grads)

    def _estimate(self, query: QueryModel, x_adv, y, keys, t: int) -> torch.Tensor:
        """:meth:`_gradient_estimate`; on out-of-memory, halve the rows of one forward pass
        (``batch_size`` at first; kept halved for the rest of this attack object's life) and
        redo it: the per-point directions make the retry exact. With ``stream`` randomness
        the generator is rewound to where the estimate started."""
        while True:
            state = self._gen().get_state() if keys is None else None
            try:
                return self._gradient_estimate(query, x_adv, y, keys, t)
            except RuntimeError as e:
                if not is_out_of_memory(e) or self._rows == 1:
                    raise
                if state is not None:
                    self._gen().set_state(state)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                print(f"[rbr] {self.name}: out of memory with {self._rows} query rows per forward pass; "
                      f"retrying with {max(1, self._rows // 2)}", file=sys.stderr, flush=True)  # fmt: skip
                self._rows = max(1, self._rows // 2)

    @torch.no_grad()
    def attack(self, x: torch.Tensor, y: torch.Tensor, eps: float):
        """``best``: (x at the first fooling iterate, else the last iterate; prediction there);
        ``last``: (the last iterate; prediction there) for every point. Runs with TF32 off."""
        with full_fp32():
            return self._attack(x, y, eps)

    def _attack(self, x: torch.Tensor, y: torch.Tensor, eps: float):
        query = QueryModel(self.model, batch_size=self._rows)
        x = x.detach()
        if eps == 0:
            return x.clone(), query(x).argmax(dim=1)
        keys = self.keys(x, y)
        if self.random_start:
            noise = self.draw("uniform", x, keys, 0)
            x_adv = project_linf(x + eps * (noise * 2 - 1), x, eps)
        else:
            x_adv = x.clone()
        last = self.iterate == "last"
        preds = query(x_adv).argmax(dim=1)
        # positions still attacked (on the host: their directions are drawn there): the
        # unfooled ones (best), or all of them (last)
        active = torch.arange(len(y)) if last else (preds == y).cpu().nonzero().squeeze(1)
        m1 = torch.zeros_like(x)
        m2 = torch.zeros_like(x)
        b1, b2 = self.adam_betas
        for t in range(1, self.iterations + 1):
            if active.numel() == 0:
                break
            at = active.to(x.device)
            xa, ya = x_adv[at], y[at]
            g = self._estimate(query, xa, ya, None if keys is None else keys[active], t)
            # Adam (Kingma & Ba 2015), minimizing the margin; torch.optim.Adam's update
            m1[at] = b1 * m1[at] + (1 - b1) * g
            m2[at] = b2 * m2[at] + (1 - b2) * g * g
            m_hat = m1[at] / (1 - b1**t)
            v_hat = m2[at] / (1 - b2**t)
            xa = project_linf(xa - self.lr * m_hat / (v_hat.sqrt() + self.adam_eps), x[at], eps)
            x_adv[at] = xa
            if last:
                continue
            pred = query(xa).argmax(dim=1)
            fooled = pred != ya
            preds[at] = torch.where(fooled, pred, preds[at])
            active = active[~fooled.cpu()]  # the one host read of the iteration
        if last:
            preds = query(x_adv).argmax(dim=1)
        return x_adv, preds

    def perturb(self, x, y, eps):
        return self.attack(x, y, eps)[0]

    def predictions(self, x, y):
        return {eps: self.attack(x, y, eps)[1] for eps in self.eps_list}
