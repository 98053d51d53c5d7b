"""Paper B (margin reweighting for IRAT, paper B) table and figure builders, and the run
filters paper E's builders share (``papers/vir/tables.py``).

- ``irat_pivot``: the declarative pivot (``tables/build.py``) after three steps the plain
  spec cannot say:
  * ``options.defaults``: keep a scheme's runs only at the paper's default values of its
    options (``{scheme: {config key: value}}``; a value may depend on the run's model
    and/or dataset: ``{resnet18: {cifar10: 2, cifar100: 3}}``). Paper B's main tables show
    Ours+* at tau 2 (3 for ResNet-18 CIFAR-100) with the similarity, not the ablation runs;
  * ``options.checkpoints: [last, best]``: rows for both checkpoints (irat/table7), in the
    row field ``model_checkpoint`` (Last / Best);
  * ``options.rows_only``: keep exactly these row tuples, in this order, empty where no run
    qualifies (hyper-parameter grids that are not a product, paper E tables 11, 12);
  * ``options.row_headers``: header of each row field (``cfg.scheme.tau`` -> ``tau``).
  Empty cells are explained in the table's note (``.md``): see ``tables/gaps.py``.
- ``irat_margins_scatter`` (irat/fig2): true-class probability vs margin (eq. 4) of each
  point, correct vs incorrect, from the runs' ``margins.csv`` (analysis ``margins``).
- ``irat_similarity_correlation`` (irat/fig4): similarity (eq. 11) vs incorrect rate
  (eq. 6) of each point and their Pearson r (eq. 23) per run, mean +- std over runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from ...analysis.margins import MARGINS_CSV, pearson_r
from ...errors import UserError
from ...tables.build import (
    Context,
    TableResult,
    aggregate,
    apply_where,
    pivot,
    select_checkpoint,
)
from ...tables.gaps import explain_gaps
from ...tables.registry import register_builder
from ...tables.spec import TableSpec

CKPT_FIELD = "model_checkpoint"
CKPT_LABELS = {"last": "Last", "best": "Best"}


# -- run filters (shared with vir.py) ---------------------------------------------------------


def with_config(metrics: pd.DataFrame, keys) -> pd.DataFrame:
    """``metrics`` with a ``cfg.<key>`` column for each dotted key (read from each run's
    ``config.yaml`` where rbr-tables did not load it already)."""
    missing = [k for k in dict.fromkeys(keys) if f"cfg.{k}" not in metrics.columns]
    if not missing or metrics.empty:
        return metrics
    values: dict[str, dict] = {}
    for run_dir in metrics.run_dir.unique():
        path = Path(run_dir) / "config.yaml"
        cfg = OmegaConf.load(path) if path.exists() else OmegaConf.create({})
        values[run_dir] = {k: _plain(OmegaConf.select(cfg, k, default=None)) for k in missing}
    out = metrics.copy()
    for k in missing:
        out[f"cfg.{k}"] = out.run_dir.map(lambda d, k=k: values[d][k])
    return out


def _plain(v):
    return OmegaConf.to_container(v) if OmegaConf.is_config(v) else v


def default_keys(defaults: Mapping) -> list[str]:
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


_NO_DEFAULT = object()


def _same(a, b) -> bool:
    if isinstance(b, bool) or isinstance(a, bool):
        return str(a) == str(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=1e-12))
    return str(a) == str(b)


def keep_defaults(metrics: pd.DataFrame, defaults: Mapping | None) -> pd.DataFrame:
    """Drop the rows of runs whose scheme appears in ``defaults`` with an option value that
    differs from the paper's default (rows of other schemes are kept)."""
    if not defaults or metrics.empty:
        return metrics
    metrics = with_config(metrics, default_keys(defaults))
    runs = metrics.drop_duplicates("run_dir")
    keep = set()
    for _, run in runs.iterrows():
        wanted = defaults.get(str(run["scheme"]))
        ok = True
        for key, value in (wanted or {}).items():
            expected = _expected(value, run["model"], run["dataset"])
            if expected is _NO_DEFAULT or not _same(run[f"cfg.{key}"], expected):
                ok = False
                break
        if ok:
            keep.add(run["run_dir"])
    return metrics[metrics.run_dir.isin(keep)]


def run_table(ctx: Context, spec: TableSpec) -> pd.DataFrame:
    """One row per collected run (identity columns, ``run_dir``, ``done`` and the ``cfg.*``
    keys the spec names), filtered by ``spec.where`` on run-level fields and by
    ``options.defaults``."""
    m = ctx.metrics
    if m.empty:
        return pd.DataFrame(columns=["run", "dataset", "model", "scheme", "seed", "run_dir", "done"])
    m = with_config(m, spec.config_keys())
    m = keep_defaults(m, spec.options.get("defaults"))
    runs = m.drop_duplicates("run_dir")
    run_keys = {k: v for k, v in spec.where.items() if k in ("run", "dataset", "model", "scheme", "seed") or k.startswith("cfg.")}
    return apply_where(runs, run_keys).reset_index(drop=True)


# -- irat_pivot -----------------------------------------------------------------------------------


def filtered_pivot(spec: TableSpec, ctx: Context) -> TableResult:
    """The pivot of ``tables/build.py`` after the ``options`` steps of the module docstring."""
    opts = spec.options
    metrics = ctx.metrics
    if not metrics.empty:
        metrics = with_config(metrics, spec.config_keys())
        metrics = keep_defaults(metrics, opts.get("defaults"))
        metrics = _absent_as_text(metrics, [f for f in spec.rows if f.startswith("cfg.")])
    run_spec = spec
    checkpoints = opts.get("checkpoints")
    if checkpoints:
        if CKPT_FIELD not in spec.rows:
            raise UserError(f"table {spec.id}: options.checkpoints needs the row field {CKPT_FIELD}",
                            fix=f"add {CKPT_FIELD} to rows")  # fmt: skip
        filtered = apply_where(metrics, spec.where) if not metrics.empty else metrics
        parts = [select_checkpoint(filtered, str(c)).assign(**{CKPT_FIELD: CKPT_LABELS.get(str(c), str(c))}) for c in checkpoints]
        metrics = pd.concat(parts, ignore_index=True) if parts else metrics
        order = dict(spec.order)
        order.setdefault(CKPT_FIELD, [CKPT_LABELS.get(str(c), str(c)) for c in checkpoints])
        run_spec = dataclasses.replace(spec, checkpoint="any", order=order)
    rows_only = opts.get("rows_only")
    if rows_only:
        metrics = _only_rows(metrics, spec.rows, rows_only)
        run_spec = dataclasses.replace(run_spec, order={k: v for k, v in run_spec.order.items() if k not in spec.rows})
    result = pivot(run_spec, metrics)
    if rows_only:
        result = _fill_rows(result, run_spec, rows_only)
    result = _rename_rows(result, opts.get("row_headers") or {})
    explain_gaps(spec, result)
    return result


def _absent_as_text(metrics: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """A config key a run does not have (e.g. ``scheme.components`` of plain AT) becomes the
    row value ``"None"`` (labels/order can name it), instead of a NaN group key."""
    if not fields:
        return metrics
    out = metrics.copy()
    for f in fields:
        if f in out.columns:
            out[f] = out[f].map(lambda v: "None" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
    return out


def _row_matches(frame: pd.DataFrame, fields: list[str], wanted) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for f, v in zip(fields, wanted, strict=True):
        mask &= frame[f].map(lambda x, v=v: _same(x, v))
    return mask


def _only_rows(metrics: pd.DataFrame, fields: list[str], rows_only) -> pd.DataFrame:
    if metrics.empty:
        return metrics
    for f in fields:
        if f not in metrics.columns:
            return metrics.iloc[0:0]
    mask = pd.Series(False, index=metrics.index)
    for wanted in rows_only:
        mask |= _row_matches(metrics, fields, list(wanted))
    return metrics[mask]


def _fill_rows(result: TableResult, spec: TableSpec, rows_only) -> TableResult:
    """Rows exactly as listed: missing ones are added empty (sources say n 0)."""
    fields = spec.rows
    labels = [c.label for c in spec.columns]
    value_cols = [f"{c} {s}" for c in labels for s in ("mean", "std")] if spec.aggregate == "mean_std" else labels
    tables, pretties, sources = [], [], []
    for wanted in rows_only:
        wanted = list(wanted)
        t = result.table[_row_matches(result.table, fields, wanted)] if len(result.table) else result.table
        if len(t):
            tables.append(t.iloc[:1])
            pretties.append(result.pretty[_row_matches(result.pretty, fields, wanted)].iloc[:1])
            sources.append(result.sources[_row_matches(result.sources, fields, wanted)])
            continue
        key = dict(zip(fields, wanted, strict=True))
        tables.append(pd.DataFrame([{**key, **{c: np.nan for c in value_cols}}]))
        pretties.append(pd.DataFrame([{**key, **{c: "" for c in labels}}]))
        missing = spec.expect if spec.expect else None
        sources.append(pd.DataFrame([{**key, "column": c, "n": 0, "missing": missing, "runs": ""} for c in labels]))
    cat = lambda frames: pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()  # noqa: E731
    return TableResult(cat(tables), cat(pretties), cat(sources), result.figure)


def _rename_rows(result: TableResult, headers: Mapping) -> TableResult:
    if not headers:
        return result
    ren = {str(k): str(v) for k, v in headers.items()}
    return TableResult(result.table.rename(columns=ren), result.pretty.rename(columns=ren), result.sources.rename(columns=ren), result.figure)


@register_builder("irat_pivot")
def irat_pivot(spec: TableSpec, ctx: Context) -> TableResult:
    """irat/table1-8: :func:`filtered_pivot` (paper-default filter, last + best rows)."""
    return filtered_pivot(spec, ctx)


# -- margins.csv figures (irat/fig2, irat/fig4) --------------------------------------------------


def margins_points(spec: TableSpec, ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-point rows of ``margins.csv`` of the qualifying runs at the spec's checkpoint and
    ``options.inputs``, the runs used). ``options.seeds``: ``first`` (the lowest seed, one
    model as the paper's figure) or ``all``."""
    opts = spec.options
    runs = run_table(ctx, spec)
    points = ctx.csv(MARGINS_CSV) if len(runs) else pd.DataFrame()
    if points.empty:
        return pd.DataFrame(), runs.iloc[0:0]
    points = points[points.run_dir.isin(set(runs.run_dir))]
    points = points[points.inputs.astype(str) == str(opts.get("inputs", "natural"))]
    if "split" in opts:
        points = points[points.split.astype(str) == str(opts["split"])]
    points = points.merge(runs[["run_dir", "run", "seed", "done"]], on="run_dir", how="inner")
    points = select_checkpoint(points, spec.checkpoint)
    if points.empty:
        return points, runs.iloc[0:0]
    if str(opts.get("seeds", "first")) == "first":
        points = points[points.seed == points.seed.min()]
    used = runs[runs.run_dir.isin(set(points.run_dir))]
    return points.reset_index(drop=True), used


def _sources(runs: pd.DataFrame, column: str, expect: int | None) -> pd.DataFrame:
    n = len(runs)
    return pd.DataFrame([{"column": column, "n": n, "missing": max(expect - n, 0) if expect else None,
                          "runs": ";".join(sorted(runs.run_dir))}])  # fmt: skip


def _wrapped(title: str, width: int = 55) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(title, width))


def _mean_std_text(values, digits: int) -> str:
    agg = aggregate(np.asarray(values, dtype=float), "mean_std")
    if agg["n"] == 0:
        return ""
    return f"{agg['mean']:.{digits}f}" + (f"±{agg['std']:.{digits}f}" if not np.isnan(agg["std"]) else "")


@register_builder("irat_margins_scatter")
def irat_margins_scatter(spec: TableSpec, ctx: Context) -> TableResult:
    """irat/fig2 (paper B fig. 2): each point's true-class probability p_y and margin
    m = p_y - max_{k != y} p_k (eq. 4, sign of docs/papers/irat.md), correct vs incorrect.

    table: the scatter data (run, seed, index, outcome, p_y, margin); pretty: per outcome,
    the number of points and mean±std of p_y and m."""
    points, runs = margins_points(spec, ctx)
    cols = ["run", "seed", "index", "outcome", "p_y", "margin"]
    if points.empty:
        table = pd.DataFrame(columns=cols)
    else:
        table = points.assign(outcome=np.where(points.correct.astype(str) == "True", "correct", "incorrect"))[cols]
    pretty = pd.DataFrame([
        {"outcome": o, "points": int((table.outcome == o).sum()),
         "p_y": _mean_std_text(table.p_y[table.outcome == o], spec.digits),
         "margin": _mean_std_text(table.margin[table.outcome == o], spec.digits)}
        for o in ("correct", "incorrect")
    ])  # fmt: skip
    if len(table):
        spec.add_note(*[f"No {o} points among the {len(table)} plotted." for o in ("correct", "incorrect")
                         if not (table.outcome == o).any()])  # fmt: skip
    else:
        spec.add_note("No points: no run with margins.csv matches this figure's settings.")

    def figure(path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 4))
        for outcome, color in (("correct", "tab:blue"), ("incorrect", "tab:orange")):
            sel = table[table.outcome == outcome]
            ax.scatter(sel.p_y, sel.margin, s=4, alpha=0.5, color=color, label=outcome)
        ax.set_xlabel("true-class probability $p_y$")
        ax.set_ylabel("margin $p_y - \\max_{k \\neq y} p_k$ (eq. 4)")
        ax.set_title(_wrapped(spec.title or spec.id), fontsize=8)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    return TableResult(table.reset_index(drop=True), pretty, _sources(runs, "points", spec.expect), figure)


@register_builder("irat_similarity_correlation")
def irat_similarity_correlation(spec: TableSpec, ctx: Context) -> TableResult:
    """irat/fig4 (paper B fig. 4, App. D): similarity c (eq. 11) vs incorrect rate pbar
    (eq. 6) per point, and the Pearson r (eq. 23) per run.

    table: the scatter data (run, seed, index, incorrect_rate, similarity); pretty: r per
    run and their mean±std."""
    points, runs = margins_points(spec, ctx)
    cols = ["run", "seed", "index", "incorrect_rate", "similarity"]
    table = points[cols].reset_index(drop=True) if not points.empty else pd.DataFrame(columns=cols)
    per_run = [
        {"run": run, "points": len(g), "Pearson r": pearson_r(g.similarity, g.incorrect_rate)}
        for run, g in (table.groupby("run", sort=True) if len(table) else [])
    ]
    r_values = [r["Pearson r"] for r in per_run]
    if not per_run:
        spec.add_note("No points: no run with margins.csv matches this figure's settings.")
    elif len(per_run) < 2:
        paper = f" (the figure's spec expects {spec.expect})" if spec.expect else ""
        spec.add_note(f"std empty: one run{paper}.")
    pretty = pd.DataFrame(
        [{"run": r["run"], "points": r["points"], "Pearson r": f"{r['Pearson r']:.{spec.digits}f}"} for r in per_run]
        + [{"run": "mean ± std", "points": int(sum(r["points"] for r in per_run)), "Pearson r": _mean_std_text(r_values, spec.digits)}],
        columns=["run", "points", "Pearson r"],
    )

    def figure(path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(table.incorrect_rate, table.similarity, s=4, alpha=0.5)
        ax.set_xlabel("incorrect rate $1 - p_y$ (eq. 6)")
        ax.set_ylabel("similarity $c$ (eq. 11)")
        r_text = _mean_std_text(r_values, spec.digits) or "n/a"
        ax.set_title(f"{_wrapped(spec.title or spec.id)}\nPearson r = {r_text}", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    return TableResult(table, pretty, _sources(runs, "Pearson r", spec.expect), figure)
