"""Paper samplerob ("Introducing sample robustness") tables: builders registered for the
specs in ``table_specs/``.

- ``samplerob_class_distribution`` (tables 1, 10): samples per class of every data (sub)set,
  "count (pct%)" like the paper, from the study folders' ``class_distribution.csv``; figure:
  class-wise relative robustness distributions of x and t (figure 4).
- ``samplerob_minmax`` (appendix E.1): min / max R of x and t per prepared dataset, with the
  count below a threshold (0.65 in E.1); figure: relative R distributions (figure 9).
- ``samplerob_matrix`` (tables 2-5): "LOSS \\ ACC" per test (sub)set (rows) and training
  (sub)set (columns), each the trimmed mean over runs (appendix C.3: 25 runs, the 10 highest
  and 10 lowest values of each list dropped, LOSS and ACC trimmed separately), plus the epoch
  row.
- ``samplerob_hyper`` (tables 6-9): KNN regressor / random forest on ONP: LOSS (= R^2, appendix
  C.2) \\ ACC (pseudo-task) at the hyperparameter where ACC on t is highest (tables 6, 8) or
  where ACC on each test (sub)set is highest, with that value in brackets (tables 7, 9);
  figure: the curves over the hyperparameter (figures 10, 11).

Trimming follows the runs: ``options.trim_share`` is the paper's trimming as a share of the
runs (0.4: 10 of 25 at each end), applied to the number of seeds the table's runs have, which
is also the expected runs per cell (:func:`trim_and_expect`); deterministic tables give
``trim: 0`` and ``runs: 1``. A cell with no more than ``2 * trim`` runs stays empty and counts
as missing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import UserError
from ...tables.build import (
    Context,
    TableResult,
    aggregate,
    apply_where,
    select_checkpoint,
)
from ...tables.format import num, pyplot, save
from ...tables.registry import builder
from ...tables.runs import with_config
from ...tables.spec import TableSpec

#: config keys every samplerob builder reads from the runs' config.yaml
CFG_KEYS = {
    "scale_name": "scale_name",
    "train_subset": "samplerob.train_subset",
    "stage": "samplerob.stage",
    "select_epochs": "samplerob.select_epochs",
    "train_epochs": "train.epochs",
    "image_size": "data.image_size",
}
ROW_LABEL = "test (sub)set"


# -- shared helpers -------------------------------------------------------------------------------


def with_run_config(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the :data:`CFG_KEYS` columns of each row's run (``config.yaml``, through
    the cached reader of ``tables/runs.py``)."""
    if df.empty:
        return df.assign(**{c: pd.Series(dtype=object) for c in CFG_KEYS})
    out = with_config(df, CFG_KEYS.values())
    return out.rename(columns={f"cfg.{key}": col for col, key in CFG_KEYS.items()}).reset_index(drop=True)


def scale_of(df: pd.DataFrame) -> str:
    """The size preset of the runs behind a table (one per table)."""
    scales = sorted({str(s) for s in df.get("scale_name", pd.Series(dtype=object)).dropna()})
    if len(scales) > 1:
        raise UserError(
            f"runs of several size presets {scales} in one table",
            fix="build tables from one sweep folder at a time",
        )
    return scales[0] if scales else "paper"


def trim_and_expect(opts: dict, df: pd.DataFrame) -> tuple[int, int | None]:
    """(values dropped at each end of a cell, runs expected per cell). ``trim_share``: the
    paper's trimming as a share of the runs, applied to the number of seeds the table's runs
    have (C.3: 10 of 25 runs at each end -> 0.4; a sweep of 5 seeds drops 2, of 3 seeds 1),
    and that number is the expected runs per cell. Else ``trim`` and ``runs`` as given."""
    if any(isinstance(opts.get(k), dict) for k in ("trim", "runs", "trim_share")):
        raise UserError("samplerob table options trim / runs / trim_share take one number, not one per scale",
                        fix="write trim_share: <share of the runs> (the seeds are counted from the runs)")  # fmt: skip
    if "trim_share" in opts:
        seeds = int(df.seed.nunique()) if not df.empty else 0
        return int(float(opts["trim_share"]) * seeds), (seeds or None)
    return int(opts.get("trim", 0)), opts.get("runs")


def trimmed(values, trim: int) -> dict:
    """Paper samplerob's trimmed mean (``aggregate(..., "trimmed_mean", trim)``): NaN when too few."""
    return aggregate(np.asarray(values, dtype=float), "trimmed_mean", int(trim))


def bold(text: str, on: bool) -> str:
    return f"**{text}**" if on and text else text


def _is_best(values: dict, key, higher: bool) -> bool:
    finite = [v for v in values.values() if v is not None and np.isfinite(v)]
    if not finite or values.get(key) is None or not np.isfinite(values[key]):
        return False
    return values[key] == (max(finite) if higher else min(finite))


def _study_rows(ctx: Context, name: str, dataset: str | None = None) -> pd.DataFrame:
    df = ctx.csv(name)
    if dataset is not None and not df.empty:
        df = df[df.dataset.astype(str) == str(dataset)]
    return df


# -- tables 1 and 10: class distributions -----------------------------------------------------------


@builder("samplerob_class_distribution")
def class_distribution_table(spec: TableSpec, ctx: Context) -> TableResult:
    """Options: ``dataset``, ``subsets`` (column order), ``labels`` (class -> paper label)."""
    opts = spec.options
    dataset = str(opts["dataset"])
    subsets = list(opts["subsets"])
    class_labels = {str(k): str(v) for k, v in (opts.get("labels") or {}).items()}
    df = _study_rows(ctx, "class_distribution.csv", dataset)
    if not df.empty and df.run_dir.nunique() > 1:
        raise UserError(
            f"table {spec.id}: {df.run_dir.nunique()} studies of {dataset}",
            fix="build the table from one sweep folder",
        )
    classes = list(dict.fromkeys(df["class"].astype(str))) if not df.empty else []
    table_rows, pretty_rows, sources = [], [], []
    for cls in classes:
        label = "Σ" if cls == "total" else class_labels.get(cls, cls)
        rec, prec = {"class": label}, {"class": label}
        for sub in subsets:
            cell = df[(df["class"].astype(str) == cls) & (df.subset == sub)]
            count = int(cell["count"].iloc[0]) if len(cell) else None
            pct = float(cell["pct"].iloc[0]) if len(cell) else None
            rec[f"{sub} count"], rec[f"{sub} pct"] = count, pct
            full = sub in ("x", "t")
            prec[sub] = (
                ""
                if count is None
                else (f"{count}" if full or cls == "total" else f"{count} ({pct:.0f}%)")
            )
        table_rows.append(rec)
        pretty_rows.append(prec)
    for sub in subsets:
        have = df[df.subset == sub] if not df.empty else df
        sources.append(
            {
                "column": sub,
                "n": int(len(have) > 0),
                "missing": int(len(have) == 0),
                "runs": ";".join(sorted(set(have.run_dir))) if len(have) else "",
            }
        )
    if not df.empty:
        spec.add_note(_scaling_note(ctx, df.run_dir.iloc[0], dataset))
    figure = _class_figure(ctx, dataset, class_labels) if not df.empty else None
    return TableResult(
        pd.DataFrame(table_rows), pd.DataFrame(pretty_rows), pd.DataFrame(sources), figure
    )


def _scaling_note(ctx: Context, run_dir: str, dataset: str) -> str:
    """Which data the study describes and whether subset counts were scaled (smoke scale)."""
    from ...papers.samplerob.paper import scheme
    from ...papers.samplerob.subset_eval import SETS_FILE, read_sets

    sets = read_sets(Path(run_dir) / "subsets" / SETS_FILE)
    like = sets.get("like")
    if not isinstance(like, list) or not like or not isinstance(like[0], str):
        raise UserError(f"{Path(run_dir) / 'subsets' / SETS_FILE} names no paper scheme (like)", fix="prepare the study again (overwrite=true)")
    sc = scheme(like[0])
    nx, nt = sets["sizes"]["x"], sets["sizes"]["t"]
    text = f"Computed on `{dataset}` ({nx} training / {nt} test samples)."
    if (nx, nt) != (sc.train_total, sc.test_total):
        first = f"x_L{sc.train_sizes[0]}"
        text += (
            f" Subset counts scaled by n / paper size from the paper's {sc.train_total} / {sc.test_total} samples,"
            f" names kept ({first} holds {sets['counts'].get(first, '?')} samples, not {sc.train_sizes[0] * 1000})."
        )
    return text


def _class_figure(ctx: Context, dataset: str, class_labels: dict) -> Callable[[Path], None] | None:
    rob = _study_rows(ctx, "robustness.csv", dataset)
    if rob.empty:
        return None

    def draw(path: Path) -> None:
        plt = pyplot()

        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        bins = np.linspace(rob.R.min(), rob.R.max(), 31)
        for ax, s in zip(axes, ("x", "t"), strict=True):
            part = rob[rob.set == s]
            for label in sorted(part.label.unique()):
                r = part[part.label == label].R.to_numpy()
                h, _ = np.histogram(r, bins=bins)
                name = (
                    str(int(label)) if float(label).is_integer() else str(label)
                )  # csv mixes int and float labels
                ax.plot(
                    0.5 * (bins[1:] + bins[:-1]),
                    h / max(len(r), 1),
                    label=class_labels.get(name, name),
                )
            ax.set_title(f"{dataset}: {s}")
            ax.set_xlabel("sample robustness R")
        axes[0].set_ylabel("fraction of the class")
        axes[1].legend(fontsize=7, ncol=2)
        fig.suptitle("Relative class-wise sample robustness distribution (paper samplerob, figure 4)")
        save(fig, path, dpi=110)

    return draw


# -- appendix E.1: min and max R --------------------------------------------------------------------


@builder("samplerob_minmax")
def minmax_table(spec: TableSpec, ctx: Context) -> TableResult:
    """Options: ``below`` (threshold whose count is shown; 0.65 as in E.1), ``datasets`` (order)."""
    below = float(spec.options.get("below", 0.65))
    df = ctx.metrics
    df = (
        apply_where(df, {"attack": "sample_robustness", "checkpoint": "data", "split": ["x", "t"]})
        if not df.empty
        else df
    )
    order = list(spec.options.get("datasets") or [])
    datasets = order + sorted(set(df.dataset.astype(str)) - set(order)) if not df.empty else []
    rows, pretty, sources = [], [], []
    metric_below = f"count_below_{below:g}"
    for ds in datasets:
        for s in ("x", "t"):
            part = df[(df.dataset.astype(str) == ds) & (df.split == s)]
            if part.empty:
                continue
            v = dict(zip(part.metric, part.value, strict=True))
            n = int(part.n.iloc[0])
            rec = {"dataset": ds, "set": s, "n": n, "min": v.get("min"), "argmin": v.get("argmin"), "max": v.get("max"), "argmax": v.get("argmax"),
                   "mean": v.get("mean"), "median": v.get("median"), f"below {below:g}": v.get(metric_below)}  # fmt: skip
            rows.append(rec)
            count = v.get(metric_below)
            pretty.append({
                "dataset": ds, "set": s, "n": n, "min R": num(v.get("min"), spec.digits), "max R": num(v.get("max"), spec.digits),
                f"R < {below:g}": "" if count is None else f"{int(count)} ({100 * count / n:.1f}%)",
            })  # fmt: skip
            sources.append(
                {
                    "dataset": ds,
                    "set": s,
                    "column": "all",
                    "n": 1,
                    "missing": 0,
                    "runs": ";".join(sorted(set(part.run_dir))),
                }
            )
    rob = ctx.csv("robustness.csv")
    figure = None if rob.empty else _minmax_figure(rob, datasets, below)
    return TableResult(pd.DataFrame(rows), pd.DataFrame(pretty), pd.DataFrame(sources), figure)


def _minmax_figure(rob: pd.DataFrame, datasets: list[str], below: float) -> Callable[[Path], None]:
    def draw(path: Path) -> None:
        plt = pyplot()

        shown = [d for d in datasets if (rob.dataset.astype(str) == d).any()]
        fig, axes = plt.subplots(
            1, max(len(shown), 1), figsize=(4.5 * max(len(shown), 1), 3.6), squeeze=False
        )
        for ax, ds in zip(axes[0], shown, strict=False):
            part = rob[rob.dataset.astype(str) == ds]
            bins = np.linspace(part.R.min(), part.R.max(), 41)
            for s, color in (("x", "tab:blue"), ("t", "tab:orange")):
                r = part[part.set == s].R.to_numpy()
                ax.hist(
                    r,
                    bins=bins,
                    weights=np.full(len(r), 1.0 / max(len(r), 1)),
                    histtype="step",
                    color=color,
                    label=f"{s} ({len(r)})",
                )
            ax.axvline(below, color="green", linestyle="--", linewidth=1)
            ax.set_title(ds)
            ax.set_xlabel("sample robustness R")
            ax.legend(fontsize=8)
        axes[0][0].set_ylabel("fraction of the set")
        fig.suptitle("Relative robustness distributions of x and t (paper samplerob, figure 9)")
        save(fig, path, dpi=110)

    return draw


# -- tables 2-5: performance matrices ----------------------------------------------------------------


def _matrix_rows(spec: TableSpec, ctx: Context) -> pd.DataFrame:
    """The runs' subset_eval rows of the spec's model (and stage), last/selected checkpoint."""
    opts = spec.options
    df = ctx.metrics
    if df.empty:
        return with_run_config(df)
    df = apply_where(df, {"attack": "subset_eval", "model": list(opts["models"]), **spec.where})
    df = with_run_config(df)
    if opts.get("stage"):
        df = df[df.stage.astype(str) == str(opts["stage"])]
    checkpoint = str(opts.get("checkpoint", "last"))
    return (
        select_checkpoint(df, "last")
        if checkpoint == "last"
        else df[df.checkpoint.astype(str) == checkpoint]
    )


def _dataset_labels(df: pd.DataFrame) -> list[str]:
    """``name`` or ``name (HxH)`` for each dataset of the rows (image size from the configs)."""
    if df.empty:
        return []
    out = []
    for name, size in df[["dataset", "image_size"]].drop_duplicates().itertuples(index=False):
        known = size is not None and not (isinstance(size, float) and np.isnan(size))
        out.append(f"`{name}`" + (f" ({int(size)}x{int(size)})" if known else ""))
    return out


def _epoch_label(part: pd.DataFrame, how: str | None) -> str:
    if part.empty or not how:
        return ""
    if how == "train":
        values = sorted({int(e) for e in part.train_epochs.dropna()})
        return "/".join(str(v) for v in values)
    if how == "select_plus_one":
        values = sorted({int(e) for e in part.select_epochs.dropna()})
        return "/".join(f"{v}+1" for v in values)
    raise UserError(f"unknown epochs_row {how!r}", fix="use train, select_plus_one or null")


@builder("samplerob_matrix")
def matrix_table(spec: TableSpec, ctx: Context) -> TableResult:
    """Options: ``models``, ``stage``, ``checkpoint`` (``last`` or a label like ``k01``),
    ``loss`` (metric name or null), ``acc``, ``trim_share`` (or ``trim`` and ``runs``), ``epochs_row``
    (``train`` | ``select_plus_one`` | null), ``train_subsets``, ``test_subsets``."""
    opts = spec.options
    df = _matrix_rows(spec, ctx)
    scale = scale_of(df)
    trim, expect = trim_and_expect(opts, df)
    loss_metric, acc_metric = opts.get("loss"), opts.get("acc", "acc")
    trains, tests = list(opts["train_subsets"]), list(opts["test_subsets"])
    metrics = [m for m in (loss_metric, acc_metric) if m]
    cells: dict[tuple[str, str], dict] = {}
    sources = []
    for tr in trains:
        for te in tests:
            part = (
                df[(df.train_subset.astype(str) == tr) & (df.split.astype(str) == te)]
                if not df.empty
                else df
            )
            entry = {}
            for m in metrics:
                vals = part[part.metric == m]
                entry[m] = trimmed(vals.value.to_numpy(dtype=float), trim)
            n = max((entry[m]["n"] for m in metrics), default=0)
            filled = all(np.isfinite(entry[m]["mean"]) for m in metrics)
            cells[(tr, te)] = entry
            missing = None if expect is None else max(int(expect) - n, 0)
            if not filled and missing is not None:
                missing = max(missing, 2 * trim + 1 - n)
            sources.append(
                {
                    ROW_LABEL: te,
                    "column": tr,
                    "n": n,
                    "missing": missing,
                    "runs": ";".join(sorted(set(part.run_dir))) if len(part) else "",
                }
            )
    table_rows, pretty_rows = [], []
    how = opts.get("epochs_row")
    if how:
        erow = {ROW_LABEL: "Epochs"}
        for tr in trains:
            erow[tr] = _epoch_label(
                df[df.train_subset.astype(str) == tr] if not df.empty else df, how
            )
        pretty_rows.append(erow)
    for te in tests:
        rec, prec = {ROW_LABEL: te}, {ROW_LABEL: te}
        loss_row = (
            {tr: cells[(tr, te)][loss_metric]["mean"] for tr in trains} if loss_metric else {}
        )
        acc_row = {tr: cells[(tr, te)][acc_metric]["mean"] for tr in trains}
        for tr in trains:
            if how:
                rec[f"{tr} epochs"] = pretty_rows[0][tr]
            if loss_metric:
                rec[f"{tr} loss"] = loss_row[tr]
            rec[f"{tr} acc"] = acc_row[tr]
            rec[f"{tr} n"] = cells[(tr, te)][acc_metric]["n"]
            acc_text = bold(num(acc_row[tr], spec.digits), _is_best(acc_row, tr, higher=True))
            if loss_metric:
                loss_text = bold(
                    num(loss_row[tr], spec.digits), _is_best(loss_row, tr, higher=False)
                )
                prec[tr] = f"{loss_text} \\ {acc_text}" if loss_text else ""
            else:
                prec[tr] = acc_text
        table_rows.append(rec)
        pretty_rows.append(prec)
    datasets = _dataset_labels(df)
    if not trim and expect in (None, 1):
        per_cell = "one run (deterministic)"
    elif expect:
        per_cell = f"the trimmed mean of the middle {int(expect) - 2 * trim} of {int(expect)} runs"
    else:
        per_cell = f"the trimmed mean of the runs with {trim} dropped at each end"
    if loss_metric and trim:
        per_cell += " (LOSS and ACC trimmed separately)"
    where = ", ".join(datasets) or "no data yet"
    spec.add_note(f"Runs on {where} ({scale} scale); each cell {per_cell}; bold: best of the row.")
    return TableResult(pd.DataFrame(table_rows), pd.DataFrame(pretty_rows), pd.DataFrame(sources))


# -- tables 6-9: KNN regressor and random forest on ONP --------------------------------------------


def hyper_curves(spec: TableSpec, ctx: Context) -> tuple[pd.DataFrame, str, int, int | None]:
    """Trimmed means per (variant, training subset, hyperparameter, test subset) of LOSS and ACC:
    columns scheme, train_subset, h, split, loss, acc, n, runs, dataset; plus the scale, the
    trim and the expected runs per value."""
    opts = spec.options
    df = ctx.metrics
    if not df.empty:
        df = with_run_config(
            apply_where(df, {"attack": "subset_eval", "model": opts["model"], **spec.where})
        )
    scale = scale_of(df) if not df.empty else "paper"
    trim, expect = trim_and_expect(opts, df)
    if df.empty:
        return (
            pd.DataFrame(
                columns=[
                    "scheme",
                    "train_subset",
                    "h",
                    "split",
                    "loss",
                    "acc",
                    "n",
                    "runs",
                    "dataset",
                ]
            ),
            scale,
            trim,
            expect,
        )
    out = []
    for (variant, tr, h, te), part in df.groupby(
        ["scheme", "train_subset", "epoch", "split"], sort=True
    ):
        loss = trimmed(part[part.metric == "loss"].value, trim)
        acc = trimmed(part[part.metric == "acc"].value, trim)
        out.append({"scheme": str(variant), "train_subset": str(tr), "h": int(h), "split": str(te), "loss": loss["mean"], "acc": acc["mean"],
                    "n": max(loss["n"], acc["n"]), "runs": ";".join(sorted(set(part.run_dir))),
                    "dataset": ",".join(sorted(set(part.dataset.astype(str))))})  # fmt: skip
    return pd.DataFrame(out), scale, trim, expect


def _best(curve: pd.DataFrame) -> pd.Series | None:
    """The row of highest ACC (ties: the smallest hyperparameter), None if no finite ACC."""
    c = curve[np.isfinite(curve.acc.to_numpy(dtype=float))]
    if c.empty:
        return None
    return c.sort_values(["acc", "h"], ascending=[False, True], kind="stable").iloc[0]


@builder("samplerob_hyper")
def hyper_table(spec: TableSpec, ctx: Context) -> TableResult:
    """Options: ``model`` (knn_regressor | random_forest), ``variants`` ({scheme: paper label},
    in column order), ``hyper`` (row / bracket label: K, Trees), ``select`` (``on_t``: tables 6
    and 8; ``per_subset``: tables 7 and 9), ``reference`` (t), ``trim``, ``runs``,
    ``train_subsets``, ``test_subsets``, ``figure`` (draw figures 10/11)."""
    opts = spec.options
    curves, scale, trim, expect = hyper_curves(spec, ctx)
    variants = dict(opts["variants"])
    trains, tests = list(opts["train_subsets"]), list(opts["test_subsets"])
    hyper, mode, reference = (
        str(opts.get("hyper", "K")),
        str(opts.get("select", "on_t")),
        str(opts.get("reference", "t")),
    )
    if mode not in ("on_t", "per_subset"):
        raise UserError(f"table {spec.id}: select must be on_t or per_subset, got {mode!r}")
    chosen: dict[tuple[str, str, str], pd.Series | None] = {}
    for v in variants:
        for tr in trains:
            mine = curves[(curves.scheme == v) & (curves.train_subset == tr)]
            if mode == "on_t":
                best = _best(mine[mine.split == reference])
                for te in tests:
                    hit = None if best is None else mine[(mine.split == te) & (mine.h == best.h)]
                    chosen[(v, tr, te)] = None if hit is None or hit.empty else hit.iloc[0]
            else:
                for te in tests:
                    chosen[(v, tr, te)] = _best(mine[mine.split == te])
    columns = [(v, tr) for v in variants for tr in trains]
    label = {c: f"{variants[c[0]]} {c[1]}" for c in columns}
    table_rows, pretty_rows, sources = [], [], []
    if mode == "on_t":
        hrow = {ROW_LABEL: hyper}
        for c in columns:
            row = chosen[(c[0], c[1], reference)]
            hrow[label[c]] = "" if row is None else str(int(row.h))
        pretty_rows.append(hrow)
    for te in tests:
        rec, prec = {ROW_LABEL: te}, {ROW_LABEL: te}
        for v in variants:
            group = {tr: chosen[(v, tr, te)] for tr in trains}
            losses = {tr: (None if r is None else float(r.loss)) for tr, r in group.items()}
            accs = {tr: (None if r is None else float(r.acc)) for tr, r in group.items()}
            for tr, r in group.items():
                name = label[(v, tr)]
                rec[f"{name} loss"], rec[f"{name} acc"] = losses[tr], accs[tr]
                rec[f"{name} {hyper}"] = None if r is None else int(r.h)
                if r is None:
                    prec[name] = ""
                else:
                    text = f"{bold(num(losses[tr], spec.digits), _is_best(losses, tr, True))} \\ {bold(num(accs[tr], spec.digits), _is_best(accs, tr, True))}"
                    prec[name] = text + (f" ({int(r.h)})" if mode == "per_subset" else "")
                n = 0 if r is None else int(r.n)
                missing = None if expect is None else max(int(expect) - n, 0)
                sources.append(
                    {
                        ROW_LABEL: te,
                        "column": name,
                        "n": n,
                        "missing": missing,
                        "runs": "" if r is None else r.runs,
                    }
                )
        table_rows.append(rec)
        pretty_rows.append(prec)
    datasets = sorted(set(curves.dataset)) if not curves.empty else []
    per_cell = (
        "1 run (deterministic)"
        if not trim and expect in (None, 1)
        else f"the trimmed mean of the middle {int(expect) - 2 * trim} of {expect} runs"
    )
    spec.add_note(
        f"Runs on {', '.join(f'`{d}`' for d in datasets) or 'no data yet'} ({scale} scale); LOSS = 1 - SS_res/SS_tot (= R^2, paper samplerob appendix C.2; 1 is best), ACC on the popular / unpopular pseudo-task; each value {per_cell}; bold: best of the row within each {' / '.join(variants.values())} group.",
    )
    figure = (
        _hyper_figure(curves, variants, trains, tests, hyper)
        if opts.get("figure") and not curves.empty
        else None
    )
    return TableResult(
        pd.DataFrame(table_rows), pd.DataFrame(pretty_rows), pd.DataFrame(sources), figure
    )


def _hyper_figure(
    curves: pd.DataFrame, variants: dict, trains: list, tests: list, hyper: str
) -> Callable[[Path], None]:
    def draw(path: Path) -> None:
        plt = pyplot()

        fig, axes = plt.subplots(2, len(tests), figsize=(3.2 * len(tests), 5.6), squeeze=False)
        styles = ["-", "--", ":", "-."]
        for j, te in enumerate(tests):
            for i, metric in enumerate(("loss", "acc")):
                ax = axes[i][j]
                for vi, v in enumerate(variants):
                    for ti, tr in enumerate(trains):
                        c = curves[
                            (curves.scheme == v)
                            & (curves.train_subset == tr)
                            & (curves.split == te)
                        ].sort_values("h")
                        if not c.empty:
                            ax.plot(
                                c.h,
                                c[metric],
                                linestyle=styles[vi % len(styles)],
                                color=f"C{ti}",
                                label=f"{variants[v]} {tr}",
                            )
                ax.set_title(f"{te}: {'LOSS' if metric == 'loss' else 'ACC'}", fontsize=9)
                ax.set_xlabel(hyper)
        axes[0][0].legend(fontsize=6)
        save(fig, path, dpi=110)

    return draw
