"""Attack registry: ``create_attack(name, model, **params)`` -> callable ``(x, y) -> x_adv``."""

from __future__ import annotations

from ..registry import Registry
from .base import Attack

#: the attack classes by name (:class:`~robustbench_runner.registry.Registry`)
ATTACKS: Registry[type[Attack]] = Registry("attack")


def register_attack(name: str):
    """Decorator registering an attack class as ``name``."""
    return ATTACKS.register(name)


def available_attacks() -> list[str]:
    return ATTACKS.names()


def create_attack(name: str, model, **params) -> Attack:
    """Build a registered attack bound to ``model``; the result is callable as ``(x, y) -> x_adv``."""
    return ATTACKS.get(name)(model, **params)
