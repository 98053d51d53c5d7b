"""Attack registry: ``create_attack(name, model, **params)`` -> callable ``(x, y) -> x_adv``."""

from __future__ import annotations

from ..errors import UserError
from .base import Attack

_ATTACKS: dict[str, type[Attack]] = {}


def register_attack(name: str):
    def deco(cls):
        if name in _ATTACKS:
            raise ValueError(f"attack {name!r} registered twice")
        _ATTACKS[name] = cls
        return cls

    return deco


def available_attacks() -> list[str]:
    return sorted(_ATTACKS)


def create_attack(name: str, model, **params) -> Attack:
    """Build a registered attack bound to ``model``; the result is callable as ``(x, y) -> x_adv``."""
    if name not in _ATTACKS:
        raise UserError(f"unknown attack {name!r}", fix=f"use one of: {', '.join(available_attacks())}")
    return _ATTACKS[name](model, **params)
