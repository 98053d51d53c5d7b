"""Row filters of the table core: ``where`` conditions, checkpoint selection, and the steps a
spec's ``defaults`` / ``checkpoints`` / ``rows_only`` / ``row_headers`` fields add around the
pivot (:func:`tables.build.pivot`; the fields are documented in ``tables/spec.py``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..results import RunFiles
from .result import TableResult
from .spec import CKPT_FIELD, CKPT_LABELS, TableSpec


def _match(series: pd.Series, cond) -> pd.Series:
    if isinstance(cond, dict):
        mask = pd.Series(True, index=series.index)
        if "min" in cond:
            mask &= series > cond["min"]
        if "max" in cond:
            mask &= series < cond["max"]
        if "in" in cond:
            return _match(series, list(cond["in"]))
        return mask
    if isinstance(cond, (list, tuple)):
        mask = pd.Series(False, index=series.index)
        for c in cond:
            mask |= _match(series, c)
        return mask
    if cond is None:
        return series.isna()
    if isinstance(cond, float) or (isinstance(cond, int) and not isinstance(cond, bool) and pd.api.types.is_float_dtype(series)):
        vals = pd.to_numeric(series, errors="coerce")
        return pd.Series(np.isclose(vals.to_numpy(dtype=float), float(cond), rtol=1e-9, atol=1e-12), index=series.index)
    return series.astype(str) == str(cond)


def apply_where(df: pd.DataFrame, where: dict) -> pd.DataFrame:
    for key, cond in (where or {}).items():
        if key not in df.columns:
            return df.iloc[0:0]
        df = df[_match(df[key], cond)]
    return df


def select_checkpoint(df: pd.DataFrame, which: str) -> pd.DataFrame:
    """``last``: each finished run's final grid checkpoint; ``best``: the ``best`` checkpoint;
    ``grid``: every grid checkpoint (``epoch_XXX``), so a ``select=`` run's ``best`` (which
    repeats one epoch) never doubles a per-epoch cell."""
    if which == "any" or df.empty:
        return df
    if which == "grid":
        return df[RunFiles.grid_rows(df.checkpoint)]
    if which == "best":
        return df[df.checkpoint == "best"]
    grid = df[RunFiles.grid_rows(df.checkpoint) & df.done.astype(bool)]
    if grid.empty:
        return grid
    last = grid.groupby("run_dir")["epoch"].transform("max")
    return grid[grid.epoch == last]


def same(a, b) -> bool:
    """Equal as table values: numbers with a tolerance, everything else as text."""
    if isinstance(b, bool) or isinstance(a, bool):
        return str(a) == str(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=1e-12))
    return str(a) == str(b)


# -- defaults ---------------------------------------------------------------------------------

_NO_DEFAULT = object()


def default_keys(defaults: Mapping | None) -> list[str]:
    """The dotted config keys a ``defaults`` field names."""
    return sorted({k for options in (defaults or {}).values() for k in options})


def _expected(value, model: str, dataset: str):
    """A default that may depend on the run's model and/or dataset (nested dicts)."""
    while isinstance(value, Mapping):
        if str(model) in value:
            value = value[str(model)]
        elif str(dataset) in value:
            value = value[str(dataset)]
        else:
            return _NO_DEFAULT
    return value


def keep_defaults(metrics: pd.DataFrame, defaults: Mapping | None) -> pd.DataFrame:
    """Drop the rows of runs whose scheme appears in ``defaults`` with an option value that
    differs from the paper's default (rows of other schemes are kept). ``metrics`` must
    hold a ``cfg.<key>`` column per key of :func:`default_keys`."""
    if not defaults or metrics.empty:
        return metrics
    runs = metrics.drop_duplicates("run_dir")
    keep = set()
    for _, run in runs.iterrows():
        wanted = defaults.get(str(run["scheme"]))
        ok = True
        for key, value in (wanted or {}).items():
            expected = _expected(value, run["model"], run["dataset"])
            if expected is _NO_DEFAULT or not same(run[f"cfg.{key}"], expected):
                ok = False
                break
        if ok:
            keep.add(run["run_dir"])
    return metrics[metrics.run_dir.isin(keep)]


def absent_as_text(metrics: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """A config key a run does not have (e.g. ``scheme.components`` of plain AT) becomes the
    row value ``"None"`` (labels/order can name it), instead of a NaN group key."""
    if not fields:
        return metrics
    out = metrics.copy()
    for f in fields:
        if f in out.columns:
            out[f] = out[f].map(lambda v: "None" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
    return out


# -- checkpoints: one row block per checkpoint ------------------------------------------------


def checkpoint_rows(metrics: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """The rows of each checkpoint of ``spec.checkpoints`` (after ``spec.where``), labelled
    in the row field :data:`spec.CKPT_FIELD` (``Last`` / ``Best``)."""
    filtered = apply_where(metrics, spec.where) if not metrics.empty else metrics
    parts = [select_checkpoint(filtered, str(c)).assign(**{CKPT_FIELD: CKPT_LABELS.get(str(c), str(c))}) for c in spec.checkpoints]
    return pd.concat(parts, ignore_index=True) if parts else metrics


# -- rows_only: exactly these rows, in this order ---------------------------------------------


def _row_matches(frame: pd.DataFrame, fields: list[str], wanted) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for f, v in zip(fields, wanted, strict=True):
        mask &= frame[f].map(lambda x, v=v: same(x, v))
    return mask


def only_rows(metrics: pd.DataFrame, fields: list[str], rows_only) -> pd.DataFrame:
    """The metrics rows whose row fields equal one of the ``rows_only`` tuples."""
    if metrics.empty:
        return metrics
    for f in fields:
        if f not in metrics.columns:
            return metrics.iloc[0:0]
    mask = pd.Series(False, index=metrics.index)
    for wanted in rows_only:
        mask |= _row_matches(metrics, fields, list(wanted))
    return metrics[mask]


def fill_rows(result: TableResult, spec: TableSpec, rows_only) -> TableResult:
    """Rows exactly as listed: missing ones are added empty (sources say n 0). A listed row
    that the pivot split (runs differing in more than the seeds, ``mixed: split``) keeps
    all its rows."""
    fields = spec.rows
    labels = [c.label for c in spec.columns]
    value_cols = [f"{c} {s}" for c in labels for s in ("mean", "std")] if spec.aggregate == "mean_std" else labels
    tables, pretties, sources = [], [], []
    for wanted in rows_only:
        wanted = list(wanted)
        t = result.table[_row_matches(result.table, fields, wanted)] if len(result.table) else result.table
        if len(t):
            tables.append(t)
            pretties.append(result.pretty[_row_matches(result.pretty, fields, wanted)])
            sources.append(result.sources[_row_matches(result.sources, fields, wanted)])
            continue
        key = dict(zip(fields, wanted, strict=True))
        tables.append(pd.DataFrame([{**key, **{c: np.nan for c in value_cols}}]))
        pretties.append(pd.DataFrame([{**key, **{c: "" for c in labels}}]))
        missing = spec.expect if spec.expect else None
        sources.append(pd.DataFrame([{**key, "column": c, "n": 0, "missing": missing, "runs": ""} for c in labels]))
    cat = lambda frames: pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()  # noqa: E731
    return TableResult(cat(tables), cat(pretties), cat(sources), result.figure)


def rename_rows(result: TableResult, headers: Mapping) -> TableResult:
    """Row-field columns renamed to their ``row_headers`` (``cfg.scheme.tau`` -> ``τ``)."""
    if not headers:
        return result
    ren = {str(k): str(v) for k, v in headers.items()}
    return TableResult(result.table.rename(columns=ren), result.pretty.rename(columns=ren), result.sources.rename(columns=ren), result.figure)
