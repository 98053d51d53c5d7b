"""Paper prs (PRS ratio; the appendix of arXiv 2207.03400) tables and figures.

Specs: ``table_specs/*.yaml`` (``builder:`` names below). Every builder reads the runs of
``make reproduce-prs`` from ``ctx.metrics`` and picks its own population with the spec's
``where`` (metrics columns or ``cfg.<key>``) and ``options.match`` (``{column: regex}``, a
full match; ``cfg.<key>`` columns are read from each run's ``config.yaml``). The candidate
sweep is ``match: {cfg.tag: 'bs\\d+'}`` (experiment ``prs/candidates``).

Candidates (paper prs, appendix A): a grid checkpoint whose clean test accuracy lies inside
its dataset's open interval (MNIST acc > 98 %, F-MNIST 90 % < acc < 93 %, CIFAR-10
72 % < acc < 78 %). The thresholds live in one place, ``options.thresholds`` of
``prs/table2`` (the other specs point at it with ``options.candidates: prs/table2``).
Options may be written per size preset, ``{paper: ..., smoke: ...}``: the builders read
``scale_name`` from the runs' configs and pick the matching value (smoke runs on stand-in
data reach no paper threshold, so the smoke thresholds are looser and the tables say so).

Per-checkpoint properties (robustbench_runner/papers/prs/README.md, "PRS analysis"): PRS ratio, IR, sparsity, CS
(analysis ``prs``), D(X, K) (``denseness``), the FGSM robust score = raw AUC of the FGSM
sweep 0..eps (``auc_raw`` of attack ``FGSM``), FGSM accuracy at the dataset eps (the
sweep's last point), PGD-20 accuracy at the dataset eps, clean test accuracy.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import UserError
from ...results import RunFiles
from ...stats import ols_slope
from ...tables.build import Context, TableResult, apply_where, pivot, select_checkpoint
from ...tables.format import label, num, ordered, pyplot, save, sort_rows
from ...tables.registry import builder
from ...tables.runs import run_info, with_config
from ...tables.spec import ColumnSpec, TableSpec, select_specs

IDENTITY = ["run_dir", "dataset", "model", "seed", "batch_size", "epoch", "checkpoint"]

# -- run configs, size presets, populations --------------------------------------------------


def runs_scale(df: pd.DataFrame, ctx: Context | None = None) -> str:
    """``smoke`` or ``paper`` (any other preset), read from the runs' ``scale_name``; when
    ``df`` holds no run, from every run of ``ctx`` (so that an empty table still names the
    rows of its own scale), else ``paper``."""
    if df.empty and ctx is not None and not ctx.metrics.empty:
        df = ctx.metrics
    if df.empty:
        return "paper"
    names = {("smoke" if str(s) == "smoke" else "paper") for s in with_config(df, ["scale_name"])["cfg.scale_name"].unique()}
    if len(names) > 1:
        raise UserError(
            "the runs mix scale=smoke and paper-scale runs, so one table cannot describe them",
            fix="build the tables from one sweep folder (outputs/sweeps/prs_<scale>...)",
        )
    return names.pop()


def by_scale(value, scale: str):
    """``{paper: a, smoke: b}`` -> the value of ``scale``; anything else is returned as is."""
    if isinstance(value, dict) and value and set(value) <= {"paper", "smoke"}:
        if scale not in value:
            raise UserError(f"option {value} has no value for scale {scale}", fix=f"add a `{scale}:` entry")
        return value[scale]
    return value


def population(spec: TableSpec, ctx: Context) -> pd.DataFrame:
    """Metrics rows of the runs the spec describes: ``where`` then ``options.match``."""
    df = ctx.metrics
    if df.empty:
        return df
    df = apply_where(df, spec.where)
    match = dict(spec.options.get("match") or {})
    df = with_config(df, [k[4:] for k in match if k.startswith("cfg.")])
    for col, pattern in match.items():
        if col not in df.columns:
            return df.iloc[0:0]
        df = df[df[col].astype(str).str.fullmatch(str(pattern))]
    return df


def note_single_runs(spec: TableSpec, table: pd.DataFrame, why: str) -> None:
    """Say why the std columns are empty when every value aggregates one run (std needs
    two): ``why`` names the population (e.g. the smoke sweep's single seed)."""
    std = [c for c in table.columns if str(c) == "std" or str(c).endswith(" std")]
    if table.empty or not std or not table[std].isna().all().all():
        return
    spec.add_note(f"std is empty: every value is a single run ({why}).")


# -- per-checkpoint properties ----------------------------------------------------------------


def attack_labels(opts: dict) -> dict:
    return {"fgsm": str(opts.get("fgsm", "FGSM")), "pgd": str(opts.get("pgd", "PGD-20")), "aa": str(opts.get("aa", "AA"))}


def clean_label(opts: dict) -> str:
    """``options.clean``: the metrics row of the Clean column - ``clean`` (default: the whole
    test split) or ``clean-attacked`` (the points the attacks ran on)."""
    return str(opts.get("clean", "clean"))


def checkpoint_table(df: pd.DataFrame, opts: dict | None = None) -> pd.DataFrame:
    """One row per (run, grid checkpoint) with every paper prs property as a column:
    ``test_acc``, ``prs_ratio``, ``inclusion_ratio``, ``sparsity``, ``cosine_similarity``,
    ``fgsm_auc`` (raw AUC of the FGSM sweep), ``fgsm_acc`` (FGSM at the sweep's largest
    eps = the dataset eps), ``pgd_acc``, ``aa_acc``, ``denseness_k<K>``. Missing = NaN."""
    labels = attack_labels(opts or {})
    if df.empty:
        return pd.DataFrame(columns=IDENTITY)
    grid = df[RunFiles.grid_rows(df.checkpoint)]
    out = grid[IDENTITY].drop_duplicates(["run_dir", "checkpoint"]).reset_index(drop=True)
    key = ["run_dir", "checkpoint"]

    def take(name: str, mask: pd.Series, largest_eps: bool = False) -> None:
        sub = grid[mask]
        if largest_eps and not sub.empty:
            sub = sub[sub.eps == sub.groupby(key)["eps"].transform("max")]
        values = sub.groupby(key)["value"].first().rename(name)
        nonlocal out
        out = out.merge(values, left_on=key, right_index=True, how="left")

    a, m, s = grid.attack.astype(str), grid.metric.astype(str), grid.split.astype(str)
    take("test_acc", (a == clean_label(opts or {})) & (m == "acc") & (s == "test"))
    for metric, split in (("prs_ratio", "train"), ("sparsity", "train"), ("cosine_similarity", "train"), ("inclusion_ratio", "test")):
        take(metric, (a == "prs") & (m == metric) & (s == split))
    take("fgsm_auc", (a == labels["fgsm"]) & (m == "auc_raw") & (s == "test"))
    take("fgsm_acc", (a == labels["fgsm"]) & (m == "acc") & (s == "test"), largest_eps=True)
    take("pgd_acc", (a == labels["pgd"]) & (m == "acc") & (s == "test"), largest_eps=True)
    take("aa_acc", (a == labels["aa"]) & (m == "acc") & (s == "test"), largest_eps=True)
    for metric in sorted(set(m[a == "denseness"]), key=lambda x: int(x.rsplit("k", 1)[-1])):
        take(metric, (a == "denseness") & (m == metric))
    return out


def denseness_ks(columns) -> list[int]:
    return sorted(int(c.rsplit("k", 1)[-1]) for c in columns if re.fullmatch(r"denseness_k\d+", str(c)))


# -- candidates --------------------------------------------------------------------------------


def thresholds_of(spec: TableSpec, scale: str) -> dict:
    """The accuracy intervals per dataset: ``options.thresholds`` of the spec, else of the
    spec named by ``options.candidates`` (default ``prs/table2``)."""
    raw = spec.options.get("thresholds")
    if raw is None:
        source = str(spec.options.get("candidates", "prs/table2"))
        other = select_specs([source])[0]
        raw = other.options.get("thresholds")
        if raw is None:
            raise UserError(f"table spec {source} has no options.thresholds", fix="add the candidate thresholds there")
    return by_scale(raw, scale)


def describe_thresholds(thresholds: dict) -> str:
    parts = []
    for ds, cond in thresholds.items():
        lo, hi = cond.get("min"), cond.get("max")
        text = " < ".join(x for x in (f"{100 * lo:g}%" if lo is not None else "", "acc", f"{100 * hi:g}%" if hi is not None else "") if x)
        parts.append(f"{ds}: {text}")
    return "; ".join(parts)


def select_candidates(table: pd.DataFrame, thresholds: dict) -> pd.Series:
    """Boolean mask: the checkpoint's test accuracy lies in its dataset's open interval."""
    selected = pd.Series(False, index=table.index)
    for ds in table.dataset.unique():
        if str(ds) not in {str(k) for k in thresholds}:
            raise UserError(f"no candidate threshold for dataset {ds!r}", fix="add it to options.thresholds of prs/table2")
        cond = next(v for k, v in thresholds.items() if str(k) == str(ds))
        rows = table.dataset.astype(str) == str(ds)
        ok = table.test_acc.notna()
        if cond.get("min") is not None:
            ok &= table.test_acc > float(cond["min"])
        if cond.get("max") is not None:
            ok &= table.test_acc < float(cond["max"])
        selected |= rows & ok
    return selected


def candidates(spec: TableSpec, ctx: Context) -> tuple[pd.DataFrame, str, dict]:
    """(every grid checkpoint of the population with a ``selected`` column, scale, thresholds)."""
    df = population(spec, ctx)
    scale = runs_scale(df, ctx)
    thresholds = thresholds_of(spec, scale)
    table = checkpoint_table(df, spec.options)
    table["selected"] = select_candidates(table, thresholds) if not table.empty else pd.Series(dtype=bool)
    note = f"Candidates: {describe_thresholds(thresholds)} (scale={scale})."
    if scale == "smoke":
        note += " Smoke thresholds, not the paper's (paper prs, appendix A): the stand-in data reach none of them."
    spec.add_note(note)
    return table, scale, thresholds


def _sources(records: list[dict]) -> pd.DataFrame:
    """The ``.sources.csv`` sidecar: per cell, its row and column, the values behind it,
    how many expected runs are missing (a number), the run folders, and a note (why a
    cell is empty)."""
    return pd.DataFrame(records, columns=["row", "column", "n", "missing", "runs", "note"])


@builder("prs_candidates")
def prs_candidates(spec: TableSpec, ctx: Context) -> TableResult:
    """prs/table2: the candidate grid - dataset, architecture, batch size, seed, epoch,
    test accuracy and whether the checkpoint is selected."""
    table, _scale, _thr = candidates(spec, ctx)
    cols = ["dataset", "model", "batch_size", "seed", "epoch", "test_acc", "selected"]
    table = sort_rows(table, spec, ["dataset", "model", "batch_size", "seed", "epoch"])[cols + ["run_dir"]] if not table.empty else pd.DataFrame(columns=cols + ["run_dir"])
    tidy = table[cols].rename(columns={"test_acc": "test_accuracy"})
    pretty = pd.DataFrame({
        "Dataset": [label(spec, "dataset", v) for v in table.dataset],
        "Architecture": [label(spec, "model", v) for v in table.model],
        "Batch Size": table.batch_size.astype(int).tolist() if not table.empty else [],
        "Seed": table.seed.astype(int).tolist() if not table.empty else [],
        "Epoch": table.epoch.astype(int).tolist() if not table.empty else [],
        "Test Accuracy (%)": [num(100 * v, spec.digits) for v in table.test_acc],
        "Selected": ["yes" if s else "" for s in table.selected],
    })  # fmt: skip
    records = []
    for (ds, model), grp in table.groupby(["dataset", "model"], sort=False):
        records.append({"row": f"{ds} {model}", "column": "selected", "n": int(grp.selected.sum()), "missing": None, "runs": ";".join(sorted(set(grp.run_dir)))})
    return TableResult(tidy, pretty, _sources(records))


@builder("prs_candidate_accuracy")
def prs_candidate_accuracy(spec: TableSpec, ctx: Context) -> TableResult:
    """prs/table3: mean +- std over seeds of the candidates' test accuracy; rows dataset x
    architecture x batch size, columns the grid epochs; empty where no seed passes."""
    table, _scale, _thr = candidates(spec, ctx)
    rows = list(spec.rows or ["dataset", "model", "batch_size"])
    if table.empty:
        return TableResult(pd.DataFrame(), pd.DataFrame(), _sources([]))
    order = {f: ordered(table[f], spec, f) for f in rows}
    order["epoch"] = ordered(table.epoch, spec, "epoch")  # every grid epoch, passed or not
    chosen = table[table.selected].rename(columns={"test_acc": "value"})
    derived = replace(spec, where={}, checkpoint="any", columns=[], column_by=["epoch"], rows=rows, order={**spec.order, **order}, builder=None)
    result = pivot(derived, chosen)
    note_single_runs(spec, result.table, "one seed per cell; the smoke sweep trains seed 907 only")
    return result


def low_high_batch_sizes(spec: TableSpec, ctx: Context, df: pd.DataFrame) -> tuple[int, int]:
    """(low, high) batch size of the low- and high-PRS networks: those of the runs that
    ``options.networks`` matches (``{cfg.tag: t7}``: the networks prs/table7 evaluates; paper
    A: 128 and 2048), else the smallest and largest batch size of ``df``."""
    match = spec.options.get("networks")
    nets = population(replace(spec, where={}, options={"match": match}), ctx) if match else df.iloc[0:0]
    sizes = sorted({int(b) for b in (nets if not nets.empty else df).batch_size}) if not (nets.empty and df.empty) else []
    if not sizes:
        return 0, 0
    return sizes[0], sizes[-1]


@builder("prs_denseness")
def prs_denseness(spec: TableSpec, ctx: Context) -> TableResult:
    """prs/table4: CNN-6 denseness D(X, K) per K and the PRS ratio of a low-PRS and a
    high-PRS network per dataset (batch sizes: :func:`low_high_batch_sizes`), mean +- std
    over seeds, at each run's last grid checkpoint (choice: the seed does not name the epoch)."""
    df = population(spec, ctx)
    low, high = low_high_batch_sizes(spec, ctx, df)
    df = df[df.batch_size.astype(int).isin([low, high])] if not df.empty else df
    df = select_checkpoint(df, "last") if not df.empty else df
    ks = denseness_ks(set(df.metric)) if not df.empty else []
    columns = [ColumnSpec("PRS Ratio", {"attack": "prs", "metric": "prs_ratio", "split": "train"})]
    columns += [ColumnSpec(f"K={k}", {"attack": "denseness", "metric": f"denseness_k{k}"}) for k in ks]
    bs_labels = {low: f"low PRS (BS {low})", high: f"high PRS (BS {high})"}
    derived = replace(
        spec, where={}, checkpoint="any", columns=columns, column_by=[], rows=["dataset", "batch_size"], builder=None,
        labels={**spec.labels, "batch_size": bs_labels}, order={**spec.order, "batch_size": [low, high]},
    )  # fmt: skip
    result = pivot(derived, df)
    note_single_runs(spec, result.table, "one seed per cell; the smoke sweep trains seed 907 only")
    return result


# -- regressions (tables 5, 6) ---------------------------------------------------------------

DEFAULT_PROPERTIES = [
    {"label": "FGSM/PRS", "column": "fgsm_auc"},
    {"label": "PGD/PRS", "column": "pgd_acc"},
    {"label": "Sparsity/PRS", "column": "sparsity"},
    {"label": "IR/PRS", "column": "inclusion_ratio"},
    {"label": "CS/PRS", "column": "cosine_similarity"},
]


@builder("prs_regression")
def prs_regression(spec: TableSpec, ctx: Context) -> TableResult:
    """prs/table5 (``options.stat: slope``) and prs/table6 (``p_value``): per architecture x
    dataset, the OLS slope of each property on the PRS ratio over the selected candidates
    and its two-sided p-value (statsmodels; paper prs, appendix E). A cell with fewer than 3
    candidates, or whose PRS ratios are all equal, stays empty (the reason is in sources)."""
    table, _scale, _thr = candidates(spec, ctx)
    stat = str(spec.options.get("stat", "slope"))
    if stat not in ("slope", "p_value"):
        raise UserError(f"table {spec.id}: options.stat must be slope or p_value, got {stat!r}")
    props = list(spec.options.get("properties") or DEFAULT_PROPERTIES)
    chosen = table[table.selected] if not table.empty else table
    fields = list(spec.rows or ["model", "dataset"])
    tidy, pretty, records = [], [], []
    levels = [ordered(table[f], spec, f) for f in fields] if not table.empty else [[] for _ in fields]
    for combo in pd.MultiIndex.from_product(levels, names=fields) if all(levels) else []:
        combo = combo if isinstance(combo, tuple) else (combo,)
        sel = chosen
        for f, v in zip(fields, combo, strict=True):
            sel = sel[sel[f].astype(str) == str(v)]
        rec = {f: v for f, v in zip(fields, combo, strict=True)}
        prec = {("Architecture" if f == "model" else "Dataset" if f == "dataset" else f): label(spec, f, v) for f, v in zip(fields, combo, strict=True)}
        for p in props:
            col, lab = str(p["column"]), str(p["label"])
            data = sel[["prs_ratio", col]].dropna() if col in sel.columns else pd.DataFrame(columns=["prs_ratio", col])
            value, reason = np.nan, ""
            try:
                fit = ols_slope(data.prs_ratio.to_numpy(), data[col].to_numpy())
                value = fit.slope if stat == "slope" else fit.p_value
            except UserError as e:  # < 3 candidates, or all PRS ratios equal: empty cell
                reason = f"{len(data)} candidates: {e.message}"
            if not reason and np.isnan(value):  # statsmodels: 0/0 when the property is constant
                reason = f"{len(data)} candidates: {stat} undefined ({p['column']} takes one value over them)"
            rec[lab] = value
            prec[lab] = "" if np.isnan(value) else (f"{value:.{spec.digits}f}" if stat == "slope" else f"{value:.2E}")
            records.append({"row": " ".join(map(str, combo)), "column": lab, "n": 0 if reason else len(data), "missing": None, "runs": ";".join(sorted(set(sel.run_dir))), "note": reason or None})
        rec["n"] = prec["n"] = len(sel)
        tidy.append(rec)
        pretty.append(prec)
    return TableResult(pd.DataFrame(tidy), pd.DataFrame(pretty), _sources(records))


# -- table 7 -----------------------------------------------------------------------------------


def _epoch_for(epochs: dict, model: str, dataset: str) -> int:
    specific = epochs.get(f"{model}/{dataset}")
    return int(specific if specific is not None else epochs["default"])


@builder("prs_attack_table")
def prs_attack_table(spec: TableSpec, ctx: Context) -> TableResult:
    """prs/table7: Clean, FGSM, PGD, AA robust accuracy (%) and the PRS ratio of a low- and
    a high-PRS network per architecture x dataset (paper prs, appendix G: seed 907, epoch
    200, VGG-16 on CIFAR-10 epoch 75). Reads the evaluation runs of ``prs/table7_eval``
    (``options.match``), which attacked those checkpoints on one common set of points.
    ``options.epochs`` = ``{default: E, <model>/<dataset>: E}`` and
    ``options.batch_sizes`` = ``{low: B, high: B}`` (per size preset) say which rows exist."""
    df = population(spec, ctx)
    scale = runs_scale(df, ctx)
    epochs = by_scale(spec.options["epochs"], scale)
    sizes = by_scale(spec.options["batch_sizes"], scale)
    table = checkpoint_table(df, spec.options)
    models = ordered(list(spec.order.get("model", [])) + (list(table.model) if not table.empty else []), spec, "model")
    datasets = ordered(list(spec.order.get("dataset", [])) + (list(table.dataset) if not table.empty else []), spec, "dataset")
    tidy, pretty, records = [], [], []
    for model in models:
        for ds in datasets:
            epoch = _epoch_for(epochs, model, ds)
            for bs in (int(sizes["low"]), int(sizes["high"])):
                hit = table[(table.model.astype(str) == model) & (table.dataset.astype(str) == ds) & (table.batch_size.astype(int) == bs) & (table.epoch.astype(int) == epoch)] if not table.empty else table
                row = hit.iloc[0] if len(hit) else None
                vals = {k: (float(row[k]) if row is not None and k in row and pd.notna(row[k]) else np.nan) for k in ("prs_ratio", "test_acc", "fgsm_acc", "pgd_acc", "aa_acc")}
                tidy.append({"model": model, "dataset": ds, "batch_size": bs, "epoch": epoch, **vals})
                pretty.append({
                    "Model": label(spec, "model", model), "Dataset": label(spec, "dataset", ds), "Batch Size": bs,
                    "PRS Ratio": num(vals["prs_ratio"], 3), "Clean": num(100 * vals["test_acc"], spec.digits),
                    "FGSM": num(100 * vals["fgsm_acc"], spec.digits), "PGD": num(100 * vals["pgd_acc"], spec.digits),
                    "AA": num(100 * vals["aa_acc"], spec.digits),
                })  # fmt: skip
                records.append({"row": f"{model} {ds} bs{bs} epoch {epoch}", "column": "all", "n": len(hit), "missing": 0 if len(hit) else 1, "runs": ";".join(sorted(set(hit.run_dir))) if len(hit) else ""})
    note_point_counts(spec, df, attack_labels(spec.options))
    return TableResult(pd.DataFrame(tidy), pd.DataFrame(pretty), _sources(records))


def note_point_counts(spec: TableSpec, df: pd.DataFrame, labels: dict) -> None:
    """Clean accuracy is measured on the whole test split, attacks on ``eval.n_eval`` points:
    when these differ (smoke scale) the table says so, since Clean and FGSM then describe
    different points (FGSM can exceed Clean)."""
    if df.empty:
        return
    test = df[(df.split.astype(str) == "test") & (df.metric == "acc")]
    clean = sorted({int(n) for n in test[test.attack.astype(str) == clean_label(spec.options)].n})
    attacked = sorted({int(n) for n in test[test.attack.astype(str).isin(labels.values())].n})
    if clean and attacked and clean != attacked:
        spec.add_note(f"Clean: {'/'.join(map(str, clean))} test points (the whole test split); FGSM, PGD, AA: {'/'.join(map(str, attacked))} points (eval.n_eval), so they describe different points.")


# -- appendix J-R ------------------------------------------------------------------------------


@builder("prs_appendix_auc")
def prs_appendix_auc(spec: TableSpec, ctx: Context) -> TableResult:
    """prs/appendix_auc/<arch>_<dataset> (paper prs, appendices J-R): the raw AUC of the FGSM
    robust-accuracy curve over eps in [0, dataset eps] (the FGSM robust score) of every
    candidate-sweep checkpoint; rows epochs, columns (random seed, batch size)."""
    df = population(spec, ctx)
    table = checkpoint_table(df, spec.options)
    if table.empty:
        return TableResult(pd.DataFrame(), pd.DataFrame(), _sources([]))
    pairs = sorted({(int(s), int(b)) for s, b in zip(table.seed, table.batch_size, strict=True)})
    epochs = sorted(int(e) for e in table.epoch.unique())
    tidy, pretty, records = [], [], []
    for e in epochs:
        rec, prec = {"epoch": e}, {"Epoch": e}
        for s, b in pairs:
            hit = table[(table.epoch.astype(int) == e) & (table.seed.astype(int) == s) & (table.batch_size.astype(int) == b)]
            col = f"RS {s} / BS {b}"
            v = float(hit.fgsm_auc.iloc[0]) if len(hit) and pd.notna(hit.fgsm_auc.iloc[0]) else np.nan
            rec[col], prec[col] = v, num(v, spec.digits)
            records.append({"row": f"epoch {e}", "column": col, "n": int(len(hit)), "missing": None, "runs": ";".join(hit.run_dir)})
        tidy.append(rec)
        pretty.append(prec)
    return TableResult(pd.DataFrame(tidy), pd.DataFrame(pretty), _sources(records))


# -- figures -----------------------------------------------------------------------------------


def _curve_stats(table: pd.DataFrame, keys: list[str], value_cols: list[str]) -> pd.DataFrame:
    """Mean, std (ddof 1) and count over runs of each value column per ``keys`` group."""
    rows = []
    for k, grp in table.groupby(keys, sort=True, dropna=False):
        k = k if isinstance(k, tuple) else (k,)
        for col in value_cols:
            v = grp[col].dropna().to_numpy(dtype=float)
            rows.append({**dict(zip(keys, k, strict=True)), "metric": col, "mean": v.mean() if len(v) else np.nan,
                         "std": v.std(ddof=1) if len(v) > 1 else np.nan, "n": len(v)})  # fmt: skip
    return pd.DataFrame(rows, columns=[*keys, "metric", "mean", "std", "n"])


@builder("prs_fig16")
def prs_fig16(spec: TableSpec, ctx: Context) -> TableResult:
    """prs/fig16 (paper prs, appendix F): PRS ratio and test accuracy per epoch on CIFAR-10,
    mean over seeds. Panels (``options.panels``): (a) each architecture of the candidate
    sweep per batch size; (b) CNN-6 with/without dropout, (c) with/without batch norm, per
    batch size (experiment ``prs/ablation``). Each panel names its runs with ``where`` /
    ``match`` and the field that tells its lines apart (``variant``)."""
    parts = []
    for panel in spec.options["panels"]:
        sub_spec = replace(spec, where={**spec.where, **(panel.get("where") or {})}, options={"match": panel.get("match") or {}})
        df = population(sub_spec, ctx)
        table = checkpoint_table(df)
        if table.empty:
            continue
        variant = panel.get("variant")
        if variant:
            table = with_config(table, [variant[4:]] if variant.startswith("cfg.") else [])
            table["variant"] = [f"{panel.get('variant_label', variant)}={v}" for v in table[variant]]
        else:
            table["variant"] = ""
        stats = _curve_stats(table, ["model", "variant", "batch_size", "epoch"], ["prs_ratio", "test_acc"])
        stats.insert(0, "panel", str(panel["label"]))
        parts.append(stats)
    tidy = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["panel", "model", "variant", "batch_size", "epoch", "metric", "mean", "std", "n"])
    records = [{"row": p, "column": "curves", "n": int(g.n.sum()), "missing": None, "runs": ""} for p, g in tidy.groupby("panel", sort=False)]
    note_single_runs(spec, tidy, "one seed per curve: panels (b), (c) train seed 907 only, and so does the smoke sweep")

    def figure(path: Path) -> None:
        plt = pyplot()
        groups = [(p, m) for p, g in tidy.groupby("panel", sort=False) for m in g.model.unique()] or [("no runs", "")]
        fig, axes = plt.subplots(2, len(groups), figsize=(3.2 * len(groups), 5.6), squeeze=False)
        for j, (p, m) in enumerate(groups):
            g = tidy[(tidy.panel == p) & (tidy.model == m)]
            for i, metric in enumerate(("prs_ratio", "test_acc")):
                ax = axes[i][j]
                for (variant, bs), line in g[g.metric == metric].groupby(["variant", "batch_size"], sort=True):
                    ax.plot(line.epoch, line["mean"], marker="o", ms=3, label=f"BS {bs} {variant}".strip())
                ax.set_title(f"{p}: {label(spec, 'model', m)}" if i == 0 else "", fontsize=8)
                ax.set_xlabel("Epochs" if i == 1 else "")
                ax.set_ylabel("PRS ratio" if (i == 0 and j == 0) else ("Test accuracy" if j == 0 else ""))
                ax.set_ylim(0, 1.05)
                if len(ax.lines):
                    ax.legend(fontsize=5)
        save(fig, path, dpi=120)

    return TableResult(tidy, tidy.copy(), _sources(records), figure=figure)


@builder("prs_fig17")
def prs_fig17(spec: TableSpec, ctx: Context) -> TableResult:
    """prs/fig17 (paper prs, appendix G): FGSM robust accuracy at the dataset eps against the
    PRS ratio of every selected candidate, one panel per architecture, with the OLS line of
    each dataset. Table = the points; pretty = slope, intercept and n of each line."""
    table, _scale, _thr = candidates(spec, ctx)
    chosen = table[table.selected] if not table.empty else table
    cols = ["model", "dataset", "seed", "batch_size", "epoch", "prs_ratio", "fgsm_acc"]
    points = sort_rows(chosen[cols].reset_index(drop=True), spec, ["model", "dataset", "batch_size", "seed", "epoch"]) if not chosen.empty else pd.DataFrame(columns=cols)
    lines, records = [], []
    for (model, ds), grp in points.groupby(["model", "dataset"], sort=False):
        data = grp[["prs_ratio", "fgsm_acc"]].dropna()
        slope = intercept = np.nan
        reason = None
        try:
            fit = ols_slope(data.prs_ratio, data.fgsm_acc)
            slope = fit.slope
            intercept = float(data.fgsm_acc.mean() - slope * data.prs_ratio.mean())
        except UserError as e:
            reason = e.message
        lines.append({"Architecture": label(spec, "model", model), "Dataset": label(spec, "dataset", ds), "slope": slope, "intercept": intercept, "n": len(data), "model": model, "dataset": ds})
        records.append({"row": f"{model} {ds}", "column": "line", "n": len(data), "missing": None, "runs": ";".join(sorted(set(chosen[(chosen.model == model) & (chosen.dataset == ds)].run_dir))), "note": reason})
    lines_df = pd.DataFrame(lines, columns=["Architecture", "Dataset", "slope", "intercept", "n", "model", "dataset"])

    def figure(path: Path) -> None:
        plt = pyplot()
        models = ordered(points.model, spec, "model") if not points.empty else [""]
        fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.2), squeeze=False)
        for j, model in enumerate(models):
            ax = axes[0][j]
            for k, ds in enumerate(ordered(points.dataset, spec, "dataset") if not points.empty else []):
                g = points[(points.model == model) & (points.dataset == ds)]
                if g.empty:
                    continue
                color = f"C{k}"
                ax.scatter(g.prs_ratio, g.fgsm_acc, s=10, color=color, label=label(spec, "dataset", ds))
                ln = lines_df[(lines_df.model == model) & (lines_df.dataset == ds)]
                if len(ln) and pd.notna(ln.slope.iloc[0]):
                    xs = np.linspace(g.prs_ratio.min(), g.prs_ratio.max(), 2)
                    ax.plot(xs, ln.intercept.iloc[0] + ln.slope.iloc[0] * xs, "--", color=color)
            ax.set_title(label(spec, "model", model), fontsize=9)
            ax.set_xlabel("PRS ratio")
            ax.set_ylabel("FGSM robust accuracy" if j == 0 else "")
            if ax.collections:
                ax.legend(fontsize=6)
        save(fig, path, dpi=120)

    pretty = lines_df.drop(columns=["model", "dataset"]).assign(slope=lambda d: d.slope.map(lambda v: num(v, 3)), intercept=lambda d: d.intercept.map(lambda v: num(v, 3)))
    return TableResult(points, pretty, _sources(records), figure=figure)


@builder("prs_fig18")
def prs_fig18(spec: TableSpec, ctx: Context) -> TableResult:
    """prs/fig18 (paper prs, appendix H): PRS ratio and PGD robust accuracy per epoch of the
    pre-trained ResNet-18 (``options.series``: pre-training) and of its ST and AT
    continuations. A continuation's epochs are shifted by its parent's epoch (run.json
    ``parent.epoch``, written by ``init_from``), so the three lines share one epoch axis."""
    parts, records = [], []
    for series in spec.options["series"]:
        sub_spec = replace(spec, where={**spec.where, **(series.get("where") or {})}, options={**spec.options, "match": series.get("match") or {}})
        df = population(sub_spec, ctx)
        table = checkpoint_table(df, spec.options)
        if table.empty:
            records.append({"row": series["label"], "column": "curve", "n": 0, "missing": 1, "runs": ""})
            continue
        offset = table.run_dir.map(lambda d: int((run_info(d).get("parent") or {}).get("epoch") or 0))
        table = table.assign(epoch=table.epoch.astype(int) + offset)
        stats = _curve_stats(table, ["epoch"], ["prs_ratio", "pgd_acc"])
        stats.insert(0, "series", str(series["label"]))
        parts.append(stats)
        records.append({"row": series["label"], "column": "curve", "n": int(table.run_dir.nunique()), "missing": None, "runs": ";".join(sorted(set(table.run_dir)))})
    tidy = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["series", "epoch", "metric", "mean", "std", "n"])
    note_single_runs(spec, tidy, "paper prs continues one pre-trained network (seed 907)")

    def figure(path: Path) -> None:
        plt = pyplot()
        colors = {s["label"]: s.get("color") for s in spec.options["series"]}
        fig, axes = plt.subplots(2, 1, figsize=(5, 5), sharex=True)
        for ax, metric, title in ((axes[0], "prs_ratio", "PRS ratio"), (axes[1], "pgd_acc", "Robust accuracy (PGD)")):
            for s, g in tidy[tidy.metric == metric].groupby("series", sort=False):
                ax.plot(g.epoch, g["mean"], marker="o", ms=3, label=s, color=colors.get(s))
            ax.set_ylabel(title)
            if ax.lines:
                ax.legend(fontsize=7)
        axes[1].set_xlabel("Epoch")
        save(fig, path, dpi=120)

    return TableResult(tidy, tidy.copy(), _sources(records), figure=figure)


@builder("prs_fig19")
def prs_fig19(spec: TableSpec, ctx: Context) -> TableResult:
    """prs/fig19 (paper prs, appendix I): robust accuracy versus eps on the inclusion and
    exclusion groups (analyses ``inclusion_fgsm`` / ``inclusion_pgd20``: FGSM and PGD-20
    sweeps 0..dataset eps) of the networks of ``prs/table7_eval``. Table: every curve (both
    networks per architecture x dataset, ``n`` = group size); plot: the low-PRS network (the
    smallest batch size of the runs), one panel per dataset x architecture."""
    df = population(spec, ctx)
    attacks = dict(spec.options.get("attacks") or {})  # label -> attack (FGSM / PGD-20)
    groups = {"test_inclusion": "inclusion", "test_exclusion": "exclusion"}
    keep = df[df.split.astype(str).isin(groups) & (df.metric == "acc") & df.attack.isin(attacks)] if not df.empty else df
    cols = ["model", "dataset", "batch_size", "seed", "epoch", "attack", "group", "eps", "value", "n", "run_dir"]
    if keep.empty:
        tidy = pd.DataFrame(columns=cols)
    else:
        tidy = keep.assign(group=keep.split.map(groups), attack=keep.attack.map(attacks))[cols].rename(columns={"value": "acc"})
        tidy = sort_rows(tidy, spec, ["dataset", "model", "batch_size", "attack", "group", "eps"])
    records = [{"row": f"{m} {d} bs{b}", "column": f"{a} {g}", "n": int(grp.n.iloc[0]), "missing": None, "runs": ";".join(sorted(set(grp.run_dir)))}
               for (m, d, b, a, g), grp in tidy.groupby(["model", "dataset", "batch_size", "attack", "group"], sort=False)]  # fmt: skip
    # A group without samples has no curve: say so (group_size rows of the analyses).
    sizes = df[df.split.astype(str).isin(groups) & (df.metric == "group_size") & df.attack.isin(attacks)] if not df.empty else df
    empty = sizes[sizes.value == 0] if not sizes.empty else sizes
    for _, r in empty.iterrows():
        group = groups[str(r.split)]
        records.append({"row": f"{r.model} {r.dataset} bs{r.batch_size}", "column": f"{attacks[r.attack]} {group}", "n": 0, "missing": None, "runs": r.run_dir,
                        "note": f"empty {group} group: no correctly classified test sample {'inside' if group == 'inclusion' else 'outside'} the training PRS"})  # fmt: skip
    if len(empty):
        spec.add_note(f"{len(empty)} group curves are absent because the group is empty (sources.csv names them).")
    plot_bs = int(df.batch_size.astype(int).min()) if not df.empty else None  # the low-PRS network

    def figure(path: Path) -> None:
        plt = pyplot()
        data = tidy if plot_bs is None else tidy[tidy.batch_size.astype(int) == plot_bs]
        datasets = ordered(data.dataset, spec, "dataset") or [""]
        models = ordered(data.model, spec, "model") or [""]
        fig, axes = plt.subplots(len(datasets), len(models), figsize=(3.2 * len(models), 2.7 * len(datasets)), squeeze=False)
        styles = {"FGSM": "-", "PGD-20": "--"}
        colors = {"exclusion": "C0", "inclusion": "C1"}  # paper prs: blue exclusion, orange inclusion
        for i, ds in enumerate(datasets):
            for j, model in enumerate(models):
                ax = axes[i][j]
                g = data[(data.dataset == ds) & (data.model == model)]
                for (attack, group), line in g.groupby(["attack", "group"], sort=True):
                    ax.plot(line.eps, line.acc, styles.get(attack, ":"), color=colors[group], marker="o", ms=2, label=f"{group} ({attack}, n={int(line.n.iloc[0])})")
                ax.set_title(f"{label(spec, 'model', model)} - {label(spec, 'dataset', ds)}", fontsize=8)
                ax.set_ylim(0, 1.05)
                ax.set_xlabel("eps" if i == len(datasets) - 1 else "")
                ax.set_ylabel("Test accuracy" if j == 0 else "")
                if ax.lines:
                    ax.legend(fontsize=5)
        save(fig, path, dpi=120)

    pretty = tidy.drop(columns=["run_dir"]).assign(eps=lambda d: d.eps.astype(float).round(6))
    return TableResult(tidy.drop(columns=["run_dir"]), pretty, _sources(records), figure=figure)
