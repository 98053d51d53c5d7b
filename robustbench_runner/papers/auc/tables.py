"""Paper auc (Kunhardt, Deza & Poggio; paper auc) tables and figures: normalized AUC robustness.

A *group* of runs is one dataset/task x architecture x pretraining condition, e.g. MNIST
LeNet, or "pretrained on CIFAR-10, trained on MNIST" LeNet. It is named in a spec as
``{dataset: mnist, model: lenet, pretrained_on: cifar10}`` (``pretrained_on`` null = trained
from scratch) and found from the runs themselves: ``dataset`` / ``model`` columns of
metrics.csv and the dataset of the run's ``parent`` in run.json (written by
``init_from``). Every run of a group has its own initial-weight seed (20 at paper scale).

- ``auc_robustness`` (auc/table1-18): per attacked epoch, mean and SD over the group's
  runs of R (paper auc eq. 1: ``auc_norm`` of the FGSM sweep over eps in [0, 0.3]), and the
  paper's significance marks. Each mark of ``options.marks`` names the group it compares
  against; the mark is printed when this group's R is significantly HIGHER than that
  group's at the same epoch: Welch's t-test (``stats.significance_mark``: two-sided
  p < alpha and a higher mean; alpha 0.05, paper auc section 4). Marks go to their own
  ``marks`` column; the pretty table also appends them to the mean like the paper.
- ``auc_curves`` (auc/fig4-7): normalized (accuracy / accuracy at eps 0, per run) and
  raw accuracy-vs-eps curves per epoch, mean and SD over each group's runs, as CSV + PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import UserError
from ...results import RunFiles
from ...stats import mean_std, significance_mark, welch_ttest
from ...tables.build import Context, TableResult, apply_where
from ...tables.format import label, pyplot, save
from ...tables.registry import builder
from ...tables.runs import run_info
from ...tables.spec import TableSpec

SOURCE_COLUMNS = ["row", "column", "n", "missing", "runs", "note"]


def parent_dataset(run_dir: str) -> str | None:
    """Dataset of the run this one started from (run.json ``parent.dataset``), else None."""
    ds = (run_info(run_dir).get("parent") or {}).get("dataset")
    return None if ds in (None, "") else str(ds)


def with_parent(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty or "pretrained_on" in df.columns:
        return df
    return df.assign(pretrained_on=df.run_dir.map(parent_dataset))


def group_rows(df: pd.DataFrame, group: dict) -> pd.DataFrame:
    """Rows of the runs of one group (dataset, model, pretrained_on)."""
    if df.empty:
        return df
    sel = df[(df.dataset.astype(str) == str(group["dataset"])) & (df.model.astype(str) == str(group["model"]))]
    pre = group.get("pretrained_on")
    return sel[sel.pretrained_on.isna()] if pre is None else sel[sel.pretrained_on.astype(str) == str(pre)]


def _grid(df: pd.DataFrame) -> pd.DataFrame:
    return df[RunFiles.grid_rows(df.checkpoint)] if not df.empty else df


def r_values(df: pd.DataFrame, attack: str) -> pd.DataFrame:
    """One R per (run, epoch): ``auc_norm`` of ``attack``, NaN values dropped (R is
    undefined when no point is classified correctly at eps 0)."""
    if df.empty:
        return pd.DataFrame(columns=["run_dir", "epoch", "value"])
    sel = _grid(df)
    sel = sel[(sel.attack.astype(str) == attack) & (sel.metric == "auc_norm") & (sel.split.astype(str) == "test")]
    sel = sel.dropna(subset=["value"])
    return sel.groupby(["run_dir", "epoch"], as_index=False)["value"].first()


def describe_group(group: dict, spec: TableSpec) -> str:
    ds = label(spec, "dataset", group["dataset"])
    model = label(spec, "model", group["model"])
    pre = group.get("pretrained_on")
    if pre:
        return f"{model}, pretrained on {label(spec, 'dataset', pre)}, trained on {ds}"
    return f"{model}, {ds}"


@builder("auc_robustness")
def auc_robustness(spec: TableSpec, ctx: Context) -> TableResult:
    """auc/table1..18 (paper auc, appendix A.4): rows epoch; columns mean R, SD (ddof 1),
    marks, n. ``options``: ``group`` ({dataset, model, pretrained_on}), ``attack`` (FGSM),
    ``alpha`` (0.05), ``marks``: [{symbol, against: {dataset, model?, pretrained_on?}}]
    (``against`` inherits model from ``group``; pretrained_on defaults to null)."""
    opts = spec.options
    group = dict(opts["group"])
    attack = str(opts.get("attack", "FGSM"))
    alpha = float(opts.get("alpha", 0.05))
    df = with_parent(apply_where(ctx.metrics, spec.where) if not ctx.metrics.empty else ctx.metrics)
    mine = r_values(group_rows(df, group), attack)
    others = []
    for m in opts.get("marks") or []:
        against = {"model": group["model"], "pretrained_on": None, **dict(m["against"])}
        others.append((str(m["symbol"]), against, r_values(group_rows(df, against), attack)))
    epochs = sorted({int(e) for e in mine.epoch}) if not mine.empty else []
    tidy, pretty, records = [], [], []
    for e in epochs:
        a = mine[mine.epoch.astype(int) == e]
        mean, sd = mean_std(a.value.to_numpy())
        marks, notes = "", []
        for symbol, against, values in others:
            b = values[values.epoch.astype(int) == e] if not values.empty else values
            if len(a) < 2 or len(b) < 2:
                notes.append(f"{symbol} vs {describe_group(against, spec)}: not tested ({len(a)} vs {len(b)} runs)")
                continue
            marks += significance_mark(a.value.to_numpy(), b.value.to_numpy(), alpha=alpha, mark=symbol, direction="higher")
            p = welch_ttest(a.value.to_numpy(), b.value.to_numpy()).p
            if np.isnan(p):  # statsmodels: 0/0 when neither group varies
                notes.append(f"{symbol} vs {describe_group(against, spec)}: not testable, R does not vary within either group (n={len(a)} vs {len(b)})")
                continue
            notes.append(f"{symbol} vs {describe_group(against, spec)}: Welch p={p:.3g} (n={len(a)} vs {len(b)})")
        tidy.append({"epoch": e, "R mean": mean, "R std": sd, "marks": marks, "n": len(a)})
        pretty.append({
            "Epoch": e,
            "Mean Robustness": f"{mean:.{spec.digits}f}{marks}",
            "SD": "" if np.isnan(sd) else f"{sd:.{spec.digits}f}",
        })  # fmt: skip
        missing = max(spec.expect - len(a), 0) if spec.expect else None
        records.append({"row": f"epoch {e}", "column": "R", "n": len(a), "missing": missing, "runs": ";".join(sorted(a.run_dir)), "note": "; ".join(notes) or None})
    title = describe_group(group, spec)
    if not spec.title:
        spec.title = title
    return TableResult(
        pd.DataFrame(tidy, columns=["epoch", "R mean", "R std", "marks", "n"]),
        pd.DataFrame(pretty, columns=["Epoch", "Mean Robustness", "SD"]),
        pd.DataFrame(records, columns=SOURCE_COLUMNS),
    )


def curve_values(df: pd.DataFrame, attack: str) -> pd.DataFrame:
    """Per (run, epoch, eps): raw accuracy and normalized accuracy (divided by the run's
    accuracy at the smallest eps of its sweep, paper auc fig. 4 / appendix A.2)."""
    cols = ["run_dir", "epoch", "eps", "raw", "normalized"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    sel = _grid(df)
    sel = sel[(sel.attack.astype(str) == attack) & (sel.metric == "acc") & (sel.split.astype(str) == "test")]
    if sel.empty:
        return pd.DataFrame(columns=cols)
    sel = sel[["run_dir", "epoch", "eps", "value"]].rename(columns={"value": "raw"}).sort_values(["run_dir", "epoch", "eps"])
    base = sel.groupby(["run_dir", "epoch"])["raw"].transform("first")  # f(e0), e0 = smallest eps
    sel["normalized"] = sel.raw / base.where(base > 0)  # NaN where f(e0) = 0 (undefined)
    return sel[cols].reset_index(drop=True)


@builder("auc_curves")
def auc_curves(spec: TableSpec, ctx: Context) -> TableResult:
    """auc/fig4..7: accuracy-vs-eps curves per epoch, ``options.kinds`` of [normalized, raw],
    for each panel of ``options.panels`` ([{label, dataset, pretrained_on?}]) x each model of
    ``options.models``; mean, SD and n over the group's runs. PNG: one row of panels per
    (kind, panel), one column per model, one line per epoch, chance (0.1) in gold."""
    opts = spec.options
    attack = str(opts.get("attack", "FGSM"))
    kinds = [str(k) for k in opts.get("kinds", ["normalized", "raw"])]
    for k in kinds:
        if k not in ("normalized", "raw"):
            raise UserError(f"table {spec.id}: kind {k!r} unknown", fix="use normalized and/or raw")
    models = [str(m) for m in opts["models"]]
    df = with_parent(apply_where(ctx.metrics, spec.where) if not ctx.metrics.empty else ctx.metrics)
    rows, records = [], []
    for panel in opts["panels"]:
        for model in models:
            group = {"dataset": panel["dataset"], "model": model, "pretrained_on": panel.get("pretrained_on")}
            values = curve_values(group_rows(df, group), attack)
            records.append({"row": f"{panel['label']} {model}", "column": "curves", "n": int(values.run_dir.nunique()) if len(values) else 0, "missing": None, "runs": ";".join(sorted(set(values.run_dir))), "note": None})
            for (epoch, eps), grp in values.groupby(["epoch", "eps"], sort=True):
                for kind in kinds:
                    v = grp[kind].dropna().to_numpy(dtype=float)
                    rows.append({"panel": str(panel["label"]), "model": model, "kind": kind, "epoch": int(epoch), "eps": float(eps),
                                 "mean": v.mean() if len(v) else np.nan, "std": v.std(ddof=1) if len(v) > 1 else np.nan, "n": len(v)})  # fmt: skip
    tidy = pd.DataFrame(rows, columns=["panel", "model", "kind", "epoch", "eps", "mean", "std", "n"])
    chance = float(opts.get("chance", 0.1))

    def figure(path: Path) -> None:
        plt = pyplot()

        blocks = [(k, p["label"]) for k in kinds for p in opts["panels"]]
        fig, axes = plt.subplots(len(blocks), len(models), figsize=(3.2 * len(models), 2.5 * len(blocks)), squeeze=False)
        for i, (kind, panel) in enumerate(blocks):
            for j, model in enumerate(models):
                ax = axes[i][j]
                g = tidy[(tidy.kind == kind) & (tidy.panel == panel) & (tidy.model == model)]
                epochs = sorted(g.epoch.unique())
                cmap = plt.get_cmap("viridis", max(len(epochs), 2))
                for c, e in enumerate(epochs):
                    line = g[g.epoch == e]
                    ax.plot(line.eps, line["mean"], marker="o", ms=2, color=cmap(c), label=f"epoch {e}")
                    if line["std"].notna().any():
                        ax.fill_between(line.eps, line["mean"] - line["std"], line["mean"] + line["std"], color=cmap(c), alpha=0.15)
                if kind == "raw":
                    ax.axhline(chance, color="goldenrod", lw=1)
                ax.set_title(f"{panel} - {label(spec, 'model', model)} ({kind})", fontsize=7)
                ax.set_ylim(0, 1.05)
                ax.set_xlabel("eps" if i == len(blocks) - 1 else "")
                ax.set_ylabel(("normalized acc." if kind == "normalized" else "accuracy") if j == 0 else "")
                if ax.lines and i == 0:
                    ax.legend(fontsize=5)
        save(fig, path, dpi=110)

    return TableResult(tidy, tidy.copy(), pd.DataFrame(records, columns=SOURCE_COLUMNS), figure=figure)
