"""One builder for every declared table: filter metrics rows, select the checkpoint, pivot
into (row labels x column labels) cells, aggregate over runs, label and order like the
paper. Tables that are not such a pivot name a custom ``builder`` (``tables/registry.py``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from .filters import (
    absent_as_text,
    apply_where,
    checkpoint_rows,
    fill_rows,
    keep_defaults,
    only_rows,
    rename_rows,
    select_checkpoint,
)
from .format import label_value, listed_then_seen, mean_std_text
from .gaps import explain_gaps
from .registry import get_builder
from .result import TableResult
from .runs import RunSet, differing_keys, load_runs, with_config
from .spec import CKPT_FIELD, CKPT_LABELS, DERIVED_KEYS, TableSpec

__all__ = ["Context", "TableResult", "aggregate", "apply_where", "build", "pivot", "select_checkpoint"]

COL = "__column__"


@dataclass
class Context:
    """What builders read: every metrics row of the collected runs, the run folders, and the
    runs themselves (:mod:`tables.runs`; loaded from ``run_dirs`` when not given)."""

    metrics: pd.DataFrame
    run_dirs: list[Path]
    runs: RunSet | None = None

    def csv(self, name: str) -> pd.DataFrame:
        from .collect import load_csv_from_runs

        return load_csv_from_runs(self.run_dirs, name)

    def run_set(self) -> RunSet:
        if self.runs is None:
            self.runs = load_runs(self.run_dirs)
        return self.runs


# -- aggregation ------------------------------------------------------------------------------


def aggregate(values: np.ndarray, how: str, trim: int = 0) -> dict:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = len(v)
    if n == 0:
        return {"mean": np.nan, "std": np.nan, "n": 0}
    if how == "mean_std":
        return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if n > 1 else np.nan, "n": n}
    if how == "trimmed_mean":
        s = np.sort(v)
        kept = s[trim : n - trim] if n > 2 * trim else np.array([])
        return {"mean": float(kept.mean()) if len(kept) else np.nan, "std": np.nan, "n": n}
    if how == "count":
        return {"mean": float(n), "std": np.nan, "n": n}
    return {"mean": float({"first": v[0], "min": v.min(), "max": v.max()}[how]), "std": np.nan, "n": n}


def pivot(spec: TableSpec, metrics: pd.DataFrame, runs: RunSet | None = None) -> TableResult:
    """The declarative table. With ``runs``, a cell pools only seed replicates: runs whose
    configs differ in other keys than ``spec.seed_keys`` / ``spec.pooled`` are split into
    separate rows or refused (``spec.mixed``; :func:`pool_check`). The spec's ``defaults``,
    ``checkpoints``, ``rows_only``, ``row_headers`` and ``gaps_note`` steps (``spec.py``)
    run around the pivot."""
    if not (spec.defaults or spec.checkpoints or spec.rows_only or spec.row_headers or spec.gaps_note):
        return _pivot(spec, metrics, runs)
    if not metrics.empty:
        metrics = with_config(metrics, spec.config_keys(), runs)
        metrics = keep_defaults(metrics, spec.defaults)
        metrics = absent_as_text(metrics, [f for f in spec.rows if f.startswith("cfg.")])
    run_spec = spec
    if spec.checkpoints:
        metrics = checkpoint_rows(metrics, spec)
        order = dict(spec.order)
        order.setdefault(CKPT_FIELD, [CKPT_LABELS.get(str(c), str(c)) for c in spec.checkpoints])
        run_spec = dataclasses.replace(spec, checkpoint="any", order=order)
    if spec.rows_only:
        metrics = only_rows(metrics, spec.rows, spec.rows_only)
        run_spec = dataclasses.replace(run_spec, order={k: v for k, v in run_spec.order.items() if k not in spec.rows})
    result = _pivot(run_spec, metrics, runs)
    if spec.rows_only:
        result = fill_rows(result, run_spec, spec.rows_only)
    result = rename_rows(result, spec.row_headers)
    if spec.gaps_note:
        explain_gaps(spec, result)
    return result


def _pivot(spec: TableSpec, metrics: pd.DataFrame, runs: RunSet | None = None, observed: tuple[str, ...] = ()) -> TableResult:
    """:func:`pivot` without the steps around it. ``observed``: row fields (the ``cfg.<key>``
    fields a split adds) whose values are not crossed with the others: each combination of
    the other row fields gets the values its runs have (:func:`_row_index`)."""
    df = apply_where(metrics, spec.where) if not metrics.empty else metrics
    df = select_checkpoint(df, spec.checkpoint) if not df.empty else df
    for f in spec.rows + spec.column_by:
        if not df.empty and f not in df.columns:
            raise UserError(f"table {spec.id}: unknown field {f!r}", fix="use a metrics.csv column or cfg.<dotted config key>")
    if spec.columns:
        parts = []
        for c in spec.columns:
            part = apply_where(df, c.where) if not df.empty else df
            parts.append(part.assign(**{COL: c.label}))
        long = pd.concat(parts, ignore_index=True) if parts else df
        col_levels = [c.label for c in spec.columns]
    elif spec.column_by:
        long = df.assign(**{COL: df[spec.column_by].astype(str).agg(" ".join, axis=1)}) if not df.empty else df.assign(**{COL: []})
        col_levels = listed_then_seen(spec, COL, list(dict.fromkeys(long[COL])) if not long.empty else []) if len(spec.column_by) > 1 else [
            str(v) for v in listed_then_seen(spec, spec.column_by[0], list(dict.fromkeys(df[spec.column_by[0]])) if not df.empty else [])
        ]
    else:
        long = df.assign(**{COL: "value"})
        col_levels = ["value"]

    # one value per run per cell, else the spec is ambiguous
    keys = spec.rows + [COL]
    if not long.empty:
        per_run = long.groupby(keys + ["run_dir"], dropna=False)["value"]
        counts = per_run.size()
        if (counts > 1).any():
            bad = counts[counts > 1].index[0]
            rows = long.set_index(keys + ["run_dir"]).loc[[bad]].reset_index()
            differ = [c for c in ("checkpoint", "split", "attack", "eps", "metric") if c in rows and rows[c].nunique(dropna=False) > 1]
            what = "; ".join(f"they differ in {c} ({', '.join(map(str, dict.fromkeys(rows[c])))})" for c in differ)
            origin = f"the spec of table {spec.id} (rbr-tables --list; your own with --specs <folder>)"
            raise UserError(
                f"table {spec.id}: {int(counts.max())} values per run in cell {tuple(str(v) for v in bad[:-1])} of run {bad[-1]}"
                + (f": {what}" if what else ""),
                fix=(f"add a where filter on {differ[0]} to {origin} (e.g. where: {{{differ[0]}: {rows[differ[0]].iloc[0]}}}) or make it a row field"
                     if differ else f"narrow the where filters of {origin}")
                + "; or point rbr-tables at a folder whose runs the table fits (e.g. one sweep)",
            )  # fmt: skip
        per_run = per_run.first().reset_index()
    else:
        per_run = pd.DataFrame(columns=keys + ["run_dir", "value"])
    if runs is not None and len(per_run):
        split = pool_check(spec, per_run, keys, runs)
        if split:
            return _split_pivot(spec, metrics, runs, split)

    row_index = _row_index(spec, per_run, observed)
    records, pretty_records, source_records = [], [], []
    cells = cell_positions(per_run, keys)
    values = per_run["value"].to_numpy(dtype=float) if len(per_run) else np.array([], dtype=float)
    run_dirs = per_run["run_dir"].to_numpy(dtype=object) if len(per_run) else np.array([], dtype=object)
    for row in row_index:
        row = row if isinstance(row, tuple) else (row,)
        rec = {f: label_value(spec, f, v) for f, v in zip(spec.rows, row, strict=True)}
        prec = dict(rec)
        any_value = False
        for col in col_levels:
            pos = cells.get((*map(str, row), str(col)), [])
            agg = aggregate(values[pos] * spec.scale, spec.aggregate, spec.trim)
            label = label_value(spec, COL, col) if not spec.column_by else label_value(spec, spec.column_by[0], col) if len(spec.column_by) == 1 else col
            label = str(label)
            if spec.aggregate == "mean_std":
                rec[f"{label} mean"] = agg["mean"]
                rec[f"{label} std"] = agg["std"]
            else:
                rec[label] = agg["mean"]
            prec[label] = mean_std_text(agg, spec.digits, with_std=spec.aggregate == "mean_std")
            any_value |= agg["n"] > 0
            missing = max(spec.expect - agg["n"], 0) if spec.expect else None
            source_records.append({**{f: v for f, v in zip(spec.rows, row, strict=True)}, "column": label, "n": agg["n"], "missing": missing, "runs": ";".join(sorted(run_dirs[pos]))})
        if any_value or spec.order or not spec.rows:
            records.append(rec)
            pretty_records.append(prec)
    return TableResult(pd.DataFrame(records), pd.DataFrame(pretty_records), pd.DataFrame(source_records))


def _row_index(spec: TableSpec, per_run: pd.DataFrame, observed: tuple[str, ...]) -> list:
    """The table's row keys: the product of every row field's levels (listed, then seen:
    a declared row with no runs is a gap the sources show), except for the ``observed``
    fields, whose values come per combination of the others from the runs that have it (a
    split by several config keys would otherwise cross every value of each, e.g. 52 cells
    among 276,480); a combination no run has gets ``None`` there."""
    if not spec.rows:
        return [()]
    levels = {f: listed_then_seen(spec, f, list(dict.fromkeys(per_run[f])) if len(per_run) else []) for f in spec.rows}
    crossed = [f for f in spec.rows if f not in observed]
    if len(crossed) == len(spec.rows):
        return list(pd.MultiIndex.from_product([levels[f] for f in spec.rows], names=spec.rows))
    seen: dict[tuple, list[tuple]] = {}
    for rec in per_run[spec.rows].itertuples(index=False, name=None) if len(per_run) else []:
        row = dict(zip(spec.rows, rec, strict=True))
        extras = seen.setdefault(tuple(str(row[f]) for f in crossed), [])
        extra = tuple(row[f] for f in observed)
        if extra not in extras:
            extras.append(extra)
    out = []
    for base in pd.MultiIndex.from_product([levels[f] for f in crossed], names=crossed) if crossed else [()]:
        base = base if isinstance(base, tuple) else (base,)
        for extra in seen.get(tuple(map(str, base)), [(None,) * len(observed)]):
            values = dict(zip(crossed, base, strict=True)) | dict(zip(observed, extra, strict=True))
            out.append(tuple(values[f] for f in spec.rows))
    return out


def cell_positions(df: pd.DataFrame, keys: list[str]) -> dict[tuple, np.ndarray]:
    """The row positions of ``df`` per cell, by the cell's ``keys`` values as text, in row
    order: ``df.iloc[cells[(str(v1), ...)]]`` is ``df`` filtered by ``df[k].astype(str) ==
    str(v)`` for each key, in one pass (filtering per cell was quadratic in the runs). A
    missing value matches no text, as with the filter."""
    if df.empty:
        return {}
    text = [df[k].astype(str).rename(k) for k in keys]
    groups = df.groupby(text, sort=False, dropna=False).indices
    return {(k if isinstance(k, tuple) else (k,)): v for k, v in groups.items()}


def pool_check(spec: TableSpec, per_run: pd.DataFrame, keys: list[str], runs: RunSet) -> list[str]:
    """The config keys that separate the runs pooled in some cell (empty: every cell pools
    seed replicates only). Keys under ``spec.seed_keys``, ``spec.pooled`` and the derived
    names (:data:`spec.DERIVED_KEYS`) do not count; runs without a config record (``run.json``) are
    not compared. ``spec.mixed: refuse`` raises instead of returning keys."""
    ignore = tuple(spec.seed_keys) + tuple(spec.pooled) + DERIVED_KEYS
    by_dir = runs.by_dir()
    variants = {d: by_dir[d].variant(ignore) if d in by_dir else None for d in per_run["run_dir"].unique()}
    variant = per_run["run_dir"].map(variants)
    counts = per_run.assign(__variant__=variant).groupby(keys, dropna=False)["__variant__"].nunique()
    mixed = counts[counts > 1]
    if mixed.empty:
        return []
    found: list[str] = []
    cells = cell_positions(per_run, keys)
    seen: dict[frozenset, list[str]] = {}  # differing keys by the set of variants compared
    for cell in mixed.index:
        cell = cell if isinstance(cell, tuple) else (cell,)
        sel = per_run.iloc[cells.get(tuple(map(str, cell)), [])]
        # one run per variant: runs of one variant have the same config outside ``ignore``
        reps: dict = {}
        for d in dict.fromkeys(sel["run_dir"]):
            if d in by_dir:
                reps.setdefault(variants[d], by_dir[d])
        key = frozenset(reps)
        if key not in seen:
            seen[key] = differing_keys(list(reps.values()), ignore)
        found += [k for k in seen[key] if k not in found]
    if spec.mixed == "refuse":
        cell = mixed.index[0]
        raise UserError(
            f"table {spec.id}: cell {cell} would pool runs whose configs differ in {', '.join(found)} (only {', '.join(spec.seed_keys)} may differ between the runs of a cell)",
            fix="add cfg.<key> to the spec's rows or where to separate them, or list the key under pooled: to pool on purpose",
        )
    return found


#: the longest container value a row label shows whole (a whole ``select`` node is ~300 characters)
MAX_SHOWN = 60


def _compact(text: str) -> str:
    """A container's JSON as a row label: whole up to :data:`MAX_SHOWN` characters, else its
    start and a hash of the whole (two different values never share a label)."""
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[: MAX_SHOWN - 14]}…#{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _split_pivot(spec: TableSpec, metrics: pd.DataFrame, runs: RunSet, split: list[str]) -> TableResult:
    """:func:`pivot` with one more row field ``cfg.<key>`` per key in ``split``."""
    by_dir = runs.by_dir()

    def shown(d: str, key: str):
        v = by_dir[d].value(key) if d in by_dir else None
        return _compact(json.dumps(v, sort_keys=True)) if isinstance(v, (list, dict)) else "None" if v is None else v

    extra = [f"cfg.{k}" for k in split if f"cfg.{k}" not in spec.rows]
    metrics = metrics.copy()
    dirs = metrics["run_dir"].unique()
    for k in split:
        metrics[f"cfg.{k}"] = metrics["run_dir"].map({d: shown(d, k) for d in dirs})
    result = _pivot(dataclasses.replace(spec, rows=spec.rows + extra, mixed="refuse"), metrics, runs, observed=tuple(extra))
    spec.add_note(f"Runs that differ in {', '.join(split)} (not only in {', '.join(spec.seed_keys)}) are in separate rows: they are not seed replicates.")
    return result


# -- custom builders (tables/registry.py) ----------------------------------------------------


def build(spec: TableSpec, ctx: Context) -> TableResult:
    if spec.builder:
        return get_builder(spec.builder, spec.id)(spec, ctx)
    return pivot(spec, ctx.metrics, ctx.run_set())
