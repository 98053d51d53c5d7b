"""Attacks: ``create_attack(name, model, **params)`` returns a callable ``(x, y) -> x_adv``.

Native (hot paths): FGSM (``fgsm.py``), PGD with CE/CW/DLR/KL losses (``pgd.py``).
Importing this package registers every attack module below.
"""

from . import fgsm, pgd  # noqa: F401  (register)
from .base import Attack, project_linf
from .registry import available_attacks, create_attack, register_attack

__all__ = ["Attack", "available_attacks", "create_attack", "project_linf", "register_attack"]
