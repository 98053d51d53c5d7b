"""Custom table builders by name, registered with one decorator, :func:`builder`.

A table spec's ``builder:`` is config, so a lookup never imports a module the spec names: it
imports only the ``tables`` modules of the package (``tables.custom``) and of the attached
paper bundles (robustbench_runner/bundles.py), and only on a miss: first the bundle whose slug
starts the spec's id (``rbr-tables --table irat`` imports only paper irat's builders), then
every bundle. Importing a module runs its ``@builder`` decorators. This module imports none of
the builder modules at import time, so ``tables.build`` can use it and the builder modules can
import ``tables.build`` without an import cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..errors import UserError

Builder = Callable[[Any, Any], Any]  # (TableSpec, Context) -> TableResult
_REGISTERED: dict[str, Builder] = {}
#: the package's own builder modules (besides the bundles' ``tables.py``)
CORE_MODULES = ("robustbench_runner.tables.custom",)


def builder(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register the function as the table builder ``name`` (what a spec's
    ``builder:`` names). A name registered twice by different functions is an error."""

    def deco(fn: Builder) -> Builder:
        old = _REGISTERED.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (
            fn.__module__,
            fn.__qualname__,
        ):
            raise UserError(f"table builder {name!r} is defined twice: {old.__module__}.{old.__qualname__} and {fn.__module__}.{fn.__qualname__}",
                            fix="give one of them another name")  # fmt: skip
        _REGISTERED[name] = fn
        return fn

    return deco


def _import_all(first: str | None = None) -> None:
    from ..bundles import bundles

    for module in CORE_MODULES:
        importlib.import_module(module)
    found = bundles()
    order = ([found[first]] if first in found else []) + [b for s, b in found.items() if s != first]
    for b in order:
        b.import_tables()
        if first is not None and first in found and b.slug == first:
            return  # the spec's own bundle was enough to try first; the caller asks again


def registered() -> dict[str, Builder]:
    """Every builder of the package and of every attached bundle, by name (imports them all)."""
    _import_all()
    return dict(_REGISTERED)


def get_builder(name: str, table_id: str = "?") -> Builder:
    """The builder called ``name`` (imports the spec's bundle's builders first, then all);
    an unknown name is one :class:`UserError` listing the known ones."""
    if name not in _REGISTERED:
        _import_all(first=table_id.split("/")[0])
    if name not in _REGISTERED:
        _import_all()
    if name not in _REGISTERED:
        raise UserError(f"table {table_id}: unknown builder {name!r}",
                        fix=f"use one of {sorted(_REGISTERED)}, or define it with @builder({name!r}) in the tables.py of an attached bundle")  # fmt: skip
    return _REGISTERED[name]
