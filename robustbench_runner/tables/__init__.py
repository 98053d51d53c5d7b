"""``rbr-tables``: declarative table specs (``table_specs/`` of the package and of each paper
bundle, :mod:`.spec`) built from runs' metrics.csv."""

from .build import Context, TableResult, build, pivot
from .registry import builder
from .spec import TableSpec, all_specs, load_spec, select_specs, spec_from_dict

__all__ = [
    "Context",
    "TableResult",
    "TableSpec",
    "all_specs",
    "build",
    "load_spec",
    "pivot",
    "builder",
    "select_specs",
    "spec_from_dict",
]
