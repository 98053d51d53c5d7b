"""How builders label, order and format what they write, and draw figures: one copy of each
helper for every builder (``tables/build.py`` and ``papers/<slug>/tables.py``).

- labels: ``spec.labels[field][value]`` -> the paper's label (:func:`label`);
- order: ``spec.order[field]`` lists the paper's order, unlisted values follow sorted
  (:func:`ordered`, :func:`listed_then_seen`, :func:`sort_rows`);
- numbers: ``""`` for a missing value, else fixed digits (:func:`num`), ``mean±std``
  (:func:`mean_std_text`);
- figures: matplotlib with the Agg backend (:func:`pyplot`), saved once (:func:`save`).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from .spec import TableSpec

# -- labels -----------------------------------------------------------------------------------


def label_value(spec: TableSpec, field: str, value):
    """The paper's label of ``value`` in ``field`` (keys compared as text), else ``value``."""
    for k, v in (spec.labels.get(field) or {}).items():
        if str(k) == str(value):
            return v
    return value


def label(spec: TableSpec, field: str, value) -> str:
    """:func:`label_value` as text."""
    return str(label_value(spec, field, value))


# -- order ------------------------------------------------------------------------------------


def order_key(spec: TableSpec, field: str):
    """Sort key: values listed in ``spec.order[field]`` first, in that order, then the rest."""
    wanted = [str(v) for v in spec.order.get(field, [])]

    def key(v):
        s = str(v)
        return (wanted.index(s), "") if s in wanted else (len(wanted), s)

    return key


def _sorted(values: list) -> list:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def ordered(values, spec: TableSpec, field: str) -> list:
    """Distinct ``values`` in the spec's paper order (unlisted values after, sorted)."""
    return sorted(_sorted(list(dict.fromkeys(values))), key=order_key(spec, field))


def listed_then_seen(spec: TableSpec, field: str, observed) -> list:
    """Every value ``spec.order[field]`` lists (seen or not), then the other observed ones
    sorted; the values as given (a pivot's row and column levels)."""
    wanted = list(spec.order.get(field, []))
    listed = {str(w) for w in wanted}
    rest = [v for v in observed if str(v) not in listed]
    return wanted + _sorted(rest)


def sort_rows(df: pd.DataFrame, spec: TableSpec, fields: list[str]) -> pd.DataFrame:
    """``df`` sorted by ``fields``, each in its paper order when the spec gives one (stable)."""
    if df.empty:
        return df
    keys = {f: df[f].map(order_key(spec, f)) if f in spec.order else df[f] for f in fields}
    order = pd.DataFrame(keys).apply(tuple, axis=1).sort_values(kind="stable").index
    return df.loc[order].reset_index(drop=True)


# -- numbers ----------------------------------------------------------------------------------


def num(value, digits: int) -> str:
    """``value`` with ``digits`` decimals; ``""`` for None, NaN or inf."""
    if value is None or not math.isfinite(float(value)):
        return ""
    return f"{value:.{digits}f}"


def mean_std_text(agg: dict, digits: int, with_std: bool = True) -> str:
    """An aggregate (``build.aggregate``: mean, std, n) as ``mean±std``; ``""`` without
    values; the std only when defined (two or more values) and ``with_std``."""
    if agg["n"] == 0 or np.isnan(agg["mean"]):
        return ""
    m = f"{agg['mean']:.{digits}f}"
    if with_std and not np.isnan(agg["std"]):
        return f"{m}±{agg['std']:.{digits}f}"
    return m


def wrapped(title: str, width: int = 55) -> str:
    """A figure title broken into lines of at most ``width`` characters."""
    return "\n".join(textwrap.wrap(title, width))


# -- figures ----------------------------------------------------------------------------------


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display; imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: str | Path, dpi: int = 120) -> None:
    """Lay out, write and close a figure."""
    import io

    from ..io import atomic_write_bytes

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    pyplot().close(fig)
    atomic_write_bytes(path, buf.getvalue())  # atomic, and recorded in the --out folder's manifest
