"""Paper irat (margin reweighting for IRAT, robustbench_runner/papers/irat/README.md) figure builders, and the
run filter paper vir's builders share (``papers/vir/tables.py``). Its tables (irat/table1-8)
are plain pivots (``table_specs/table*.yaml``: ``defaults``, ``checkpoints``,
``row_headers``, ``gaps_note``; ``tables/spec.py``).

- ``irat_margins_scatter`` (irat/fig2): true-class probability vs margin (eq. 4) of each
  point, correct vs incorrect, from the runs' ``margins.csv`` (analysis ``margins``).
- ``irat_similarity_correlation`` (irat/fig4): similarity (eq. 11) vs incorrect rate
  (eq. 6) of each point and their Pearson r (eq. 23) per run, mean +- std over runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...tables.build import Context, TableResult, aggregate, apply_where, select_checkpoint
from ...tables.filters import keep_defaults
from ...tables.format import mean_std_text, pyplot, save, wrapped
from ...tables.registry import builder
from ...tables.runs import with_config
from ...tables.spec import TableSpec
from .margins import MARGINS_CSV, pearson_r

# -- run filter (shared with papers/vir/tables.py) ------------------------------------------


def run_table(ctx: Context, spec: TableSpec) -> pd.DataFrame:
    """One row per collected run (identity columns, ``run_dir``, ``done`` and the ``cfg.*``
    keys the spec names), filtered by ``spec.where`` on run-level fields and by
    ``spec.defaults``."""
    m = ctx.metrics
    if m.empty:
        return pd.DataFrame(columns=["run", "dataset", "model", "scheme", "seed", "run_dir", "done"])
    m = with_config(m, spec.config_keys())
    m = keep_defaults(m, spec.defaults)
    runs = m.drop_duplicates("run_dir")
    run_keys = {k: v for k, v in spec.where.items() if k in ("run", "dataset", "model", "scheme", "seed") or k.startswith("cfg.")}
    return apply_where(runs, run_keys).reset_index(drop=True)


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


def _mean_std_text(values, digits: int) -> str:
    return mean_std_text(aggregate(np.asarray(values, dtype=float), "mean_std"), digits)


@builder("irat_margins_scatter")
def irat_margins_scatter(spec: TableSpec, ctx: Context) -> TableResult:
    """irat/fig2 (paper irat fig. 2): each point's true-class probability p_y and margin
    m = p_y - max_{k != y} p_k (eq. 4, sign of robustbench_runner/papers/irat/README.md), correct vs incorrect.

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
        plt = pyplot()

        fig, ax = plt.subplots(figsize=(4.5, 4))
        for outcome, color in (("correct", "tab:blue"), ("incorrect", "tab:orange")):
            sel = table[table.outcome == outcome]
            ax.scatter(sel.p_y, sel.margin, s=4, alpha=0.5, color=color, label=outcome)
        ax.set_xlabel("true-class probability $p_y$")
        ax.set_ylabel("margin $p_y - \\max_{k \\neq y} p_k$ (eq. 4)")
        ax.set_title(wrapped(spec.title or spec.id), fontsize=8)
        ax.legend(fontsize=8)
        save(fig, path, dpi=120)

    return TableResult(table.reset_index(drop=True), pretty, _sources(runs, "points", spec.expect), figure)


@builder("irat_similarity_correlation")
def irat_similarity_correlation(spec: TableSpec, ctx: Context) -> TableResult:
    """irat/fig4 (paper irat fig. 4, App. D): similarity c (eq. 11) vs incorrect rate pbar
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
        plt = pyplot()

        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(table.incorrect_rate, table.similarity, s=4, alpha=0.5)
        ax.set_xlabel("incorrect rate $1 - p_y$ (eq. 6)")
        ax.set_ylabel("similarity $c$ (eq. 11)")
        r_text = _mean_std_text(r_values, spec.digits) or "n/a"
        ax.set_title(f"{wrapped(spec.title or spec.id)}\nPearson r = {r_text}", fontsize=8)
        save(fig, path, dpi=120)

    return TableResult(table, pretty, _sources(runs, "Pearson r", spec.expect), figure)
