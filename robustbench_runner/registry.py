"""One registration convention for every pluggable kind: a :class:`Registry` of names.

``MODELS`` (:mod:`.models.registry`, ``create_model(name, ...)``), ``ATTACKS``
(:mod:`.attacks.registry`, ``create_attack(name, model, ...)``) and ``SCHEMES``
(:mod:`.schemes.base`: every :class:`~.schemes.base.Scheme` subclass by its import path, so
the warm-up rules follow subclasses, :attr:`~.schemes.base.Scheme.warmup_rule`) are
registries; a decorator registers, a lookup of an unknown name is one
:class:`~.errors.UserError` listing the known ones. A registry never imports anything: what
it holds is what was imported (so a name read from a file can never choose an import).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> objects of one kind (``kind`` names it in messages)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated object as ``name`` (twice is an error)."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T, replace: bool = False) -> None:
        if name in self._items and not replace and self._items[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        """The object registered as ``name``; an unknown name is a :class:`UserError`."""
        if name not in self._items:
            raise UserError(f"unknown {self.kind} {name!r}", fix=f"use one of: {', '.join(self.names())}")
        return self._items[name]

    def find(self, name: str) -> T | None:
        """The object registered as ``name``, or None."""
        return self._items.get(name)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items


__all__ = ["Registry"]
