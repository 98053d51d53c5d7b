"""Custom table builders by name: which module defines each one, from a fixed list.

A table spec's ``builder:`` is config, so it may only name a builder of :data:`BUILDERS`;
a spec can never make ``rbr-tables`` import an arbitrary module. The module that defines a
builder is imported on the first lookup of one of its names (``rbr-tables --table irat``
imports only paper irat's builders); importing it runs its ``@register_builder`` decorators.
This module imports none of the builder modules at import time, so ``tables.build`` can
use it and the builder modules can import ``tables.build`` without an import cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..errors import UserError

MODULES = (
    "robustbench_runner.tables.custom",
    "robustbench_runner.papers.prs.tables",
    "robustbench_runner.papers.irat.tables",
    "robustbench_runner.papers.samplerob.tables",
    "robustbench_runner.papers.auc.tables",
    "robustbench_runner.papers.vir.tables",
)
_CUSTOM, _PRS, _IRAT, _SAMPLEROB, _AUC, _VIR = MODULES

BUILDERS: dict[str, str] = {
    "model_layers": _CUSTOM,
    **{name: _PRS for name in ("prs_candidates", "prs_candidate_accuracy", "prs_denseness", "prs_regression", "prs_attack_table",
                               "prs_appendix_auc", "prs_fig16", "prs_fig17", "prs_fig18", "prs_fig19")},  # fmt: skip
    **{name: _IRAT for name in ("irat_margins_scatter", "irat_similarity_correlation")},
    **{name: _SAMPLEROB for name in ("samplerob_class_distribution", "samplerob_minmax", "samplerob_matrix", "samplerob_hyper")},
    **{name: _AUC for name in ("auc_robustness", "auc_curves")},
    **{name: _VIR for name in ("vir_class_accuracy", "vir_class_weights")},
}

Builder = Callable[[Any, Any], Any]  # (TableSpec, Context) -> TableResult
_REGISTERED: dict[str, Builder] = {}


def register_builder(name: str) -> Callable[[Builder], Builder]:
    """Decorator of a builder function; ``name`` must be listed in :data:`BUILDERS` under
    the decorated function's module (so that a lookup imports the right module)."""

    def deco(fn: Builder) -> Builder:
        if BUILDERS.get(name) != fn.__module__:
            raise UserError(f"builder {name!r} ({fn.__module__}) is not listed in tables/registry.py BUILDERS under its module",
                            fix=f"add {name!r}: {fn.__module__!r} to BUILDERS")  # fmt: skip
        _REGISTERED[name] = fn
        return fn

    return deco


def get_builder(name: str, table_id: str = "?") -> Builder:
    """The builder called ``name``, importing its module on first use; an unknown name is
    one :class:`UserError` listing the known ones."""
    module = BUILDERS.get(name)
    if module is None:
        raise UserError(f"table {table_id}: unknown builder {name!r}", fix=f"use one of {sorted(BUILDERS)}")
    if name not in _REGISTERED:
        importlib.import_module(module)
    if name not in _REGISTERED:
        raise UserError(f"table {table_id}: builder {name!r} is listed under {module}, which does not define it",
                        fix="register it there with @register_builder or fix tables/registry.py BUILDERS")  # fmt: skip
    return _REGISTERED[name]
