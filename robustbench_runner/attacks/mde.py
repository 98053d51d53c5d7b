"""MDE, the Margin Decomposition Ensemble (Ma et al. 2023, "Imbalanced gradients"):
APGD-CE, MD, MD-MT and FAB-T as a cascade; a point is non-robust if any of them fools it
(Ma et al. 2023). Each attack runs only on the points still robust, in that
order, with the official code's MDE settings: APGD-CE 100 iterations 1 restart (AutoAttack
code), MD and MD-MT as in :mod:`.md`, FAB-T 100 iterations 1 restart 9 targets
(AutoAttack code).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .apgd import APGD
from .base import Attack
from .fab import FAB
from .md import MD, MDMT
from .registry import register_attack


@torch.no_grad()
def cascade(attacks: Sequence[Attack], x: torch.Tensor, y: torch.Tensor, eps: float):
    """Run ``attacks`` in order, each on the points no earlier one fooled.

    Returns (adversarial x: the first fooling output per point, else x; predictions).
    """
    x = x.detach()
    x_out = x.clone()
    preds = y.clone()
    robust = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for attack in attacks:
        idx = robust.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        x_adv = attack.perturb(x[idx], y[idx], eps)
        pred = attack._predict(x_adv)
        fooled = pred != y[idx]
        hit = idx[fooled]
        x_out[hit], preds[hit] = x_adv[fooled], pred[fooled]
        robust[hit] = False
    return x_out, preds


@register_attack("mde")
class MDE(Attack):
    default_name = "MDE"

    def __init__(
        self,
        model,
        eps,
        name: str | None = None,
        seed: int = 0,
        apgd_n_iter: int = 100,
        md_steps: int = 50,
        md_change_point: int = 20,
        md_step_scale: float = 2.0,
        md_restarts: int = 1,
        n_target_classes: int = 9,
        fab_n_iter: int = 100,
        verbose: bool = False,
    ):
        super().__init__(model, eps, name=name, seed=seed)
        # knobs kept as attributes too: the engine fingerprints public attributes for resume
        self.apgd_n_iter, self.fab_n_iter = int(apgd_n_iter), int(fab_n_iter)
        self.md_steps, self.md_change_point = int(md_steps), int(md_change_point)
        self.md_step_scale, self.md_restarts = float(md_step_scale), int(md_restarts)
        self.n_target_classes = int(n_target_classes)
        md = dict(steps=md_steps, change_point=md_change_point, step_scale=md_step_scale,
                  restarts=md_restarts, seed=seed)
        self.components: list[Attack] = [
            APGD(model, eps, seed=seed, loss="ce", n_iter=apgd_n_iter, n_restarts=1, verbose=verbose),
            MD(model, eps, **md),
            MDMT(model, eps, n_target_classes=n_target_classes, **md),
            FAB(model, eps, seed=seed, targeted=True, n_restarts=1, n_iter=fab_n_iter,
                n_target_classes=n_target_classes, verbose=verbose),
        ]

    def reset_rng(self, device=None) -> None:
        super().reset_rng(device)
        for attack in getattr(self, "components", []):
            attack.reset_rng(device)

    def perturb(self, x, y, eps):
        return cascade(self.components, x, y, eps)[0]

    def predictions(self, x, y):
        return {eps: cascade(self.components, x, y, eps)[1] for eps in self.eps_list}
