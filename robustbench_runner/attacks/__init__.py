"""Attacks: ``create_attack(name, model, **params)`` returns an :class:`Attack`, callable as
``(x, y) -> x_adv``; the evaluation engine calls ``attack.predictions(x, y)``.

Native (hot paths): FGSM (``fgsm.py``), PGD with CE/CW/DLR/KL losses (``pgd.py``), FMN
(``fmn.py``), SPSA (``spsa.py``), MD and MD-MT (``md.py``), MDE (``mde.py``).
Official AutoAttack code (``pyautoattack``) behind thin wrappers: APGD-CE/DLR and APGD-T
(``apgd.py``), FAB-T (``fab.py``), Square (``square.py``), AutoAttack (``autoattack.py``).
Importing this package registers every attack module below.
"""

from . import apgd, autoattack, fab, fgsm, fmn, md, mde, pgd, spsa, square  # noqa: F401  (register)
from .base import Attack, eps_sweep, project_linf
from .registry import available_attacks, create_attack, register_attack

__all__ = [
    "Attack",
    "available_attacks",
    "create_attack",
    "eps_sweep",
    "project_linf",
    "register_attack",
]
