"""``rbr-tables``: declarative table specs (``conf/table/``) built from runs' metrics.csv."""

from .build import Context, TableResult, build, pivot
from .registry import register_builder
from .spec import TableSpec, all_specs, load_spec, select_specs, spec_from_dict

__all__ = [
    "Context",
    "TableResult",
    "TableSpec",
    "all_specs",
    "build",
    "load_spec",
    "pivot",
    "register_builder",
    "select_specs",
    "spec_from_dict",
]
