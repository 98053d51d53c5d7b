"""Paper vir (vulnerability-aware instance reweighting, VIR, paper vir) table and figure
builders.

- vir/table1-12 are plain pivots (``table_specs/table*.yaml``: ``defaults`` keep VIR
  runs at the paper's alpha, beta, gamma and components unless the table ablates them;
  ``rows_only``, ``row_headers``, ``gaps_note``; ``tables/spec.py``).
- ``vir_class_accuracy`` (vir/fig2, paper vir fig. 2): per-class robust accuracy under an
  attack (PGD-100) from each run's ``confusion.csv``: for class k, the points of class k
  predicted k on the attack's output over all evaluated points of class k (points
  misclassified when clean count as non-robust). Mean ± std over seeds; the figure shows
  the row-normalized confusion matrices (mean over seeds).
- ``vir_class_weights`` (vir/fig3, paper vir fig. 3): the class-weight distribution, i.e. the
  sum of all sample weights of each class per epoch (``weights_log.csv`` columns
  ``sum_class_<k>``), mean ± std over seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...results import RunFiles
from ...tables.build import Context, TableResult, aggregate, select_checkpoint
from ...tables.format import label as paper_label
from ...tables.format import listed_then_seen, mean_std_text, pyplot, save
from ...tables.gaps import explain_gaps
from ...tables.registry import builder
from ...tables.spec import TableSpec
from ..irat.tables import run_table

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _class_names(spec: TableSpec, n: int) -> list[str]:
    names = list(spec.options.get("class_names") or [])
    return [names[k] if k < len(names) else str(k) for k in range(n)]


def _scheme_label(spec: TableSpec, scheme) -> str:
    return paper_label(spec, "scheme", scheme)


def _ordered_schemes(spec: TableSpec, observed) -> list:
    """The schemes ``spec.order`` lists, then the other observed ones (as text, sorted)."""
    return [str(s) for s in listed_then_seen(spec, "scheme", sorted(set(map(str, observed))))]


def class_accuracy(confusion: pd.DataFrame, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class accuracy of one run's confusion rows (true, pred, count): diagonal over
    row sums (NaN for a class without evaluated points), and the count matrix."""
    counts = np.zeros((num_classes, num_classes))
    for t, p, c in confusion[["true", "pred", "count"]].itertuples(index=False):
        counts[int(t), int(p)] += float(c)
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(counts) / totals, np.nan), counts


@builder("vir_class_accuracy")
def vir_class_accuracy(spec: TableSpec, ctx: Context) -> TableResult:
    """vir/fig2: per-class robust accuracy (rows: schemes; columns: classes) under
    ``options.attack`` at the spec's checkpoint. ``options.num_classes`` (10)."""
    opts = spec.options
    k = int(opts.get("num_classes", 10))
    names = _class_names(spec, k)
    runs = run_table(ctx, spec)
    conf = ctx.csv(RunFiles.CONFUSION) if len(runs) else pd.DataFrame()
    per_run: dict[str, tuple] = {}
    if not conf.empty:
        conf = conf[conf.run_dir.isin(set(runs.run_dir)) & (conf.attack.astype(str) == str(opts.get("attack", "PGD-100")))]
        if "eps" in opts:
            conf = conf[np.isclose(conf.eps.astype(float), float(opts["eps"]))]
        conf = conf[conf.split.astype(str) == str(opts.get("split", "test"))]
        conf = conf.merge(runs[["run_dir", "scheme", "done"]], on="run_dir", how="inner")
        conf = select_checkpoint(conf, spec.checkpoint)
        for run_dir, g in conf.groupby("run_dir"):
            per_run[run_dir] = (g.scheme.iloc[0], *class_accuracy(g, k))
    schemes = _ordered_schemes(spec, [v[0] for v in per_run.values()])
    records, pretty, sources, matrices = [], [], [], {}
    for scheme in schemes:
        mine = {d: v for d, v in per_run.items() if str(v[0]) == scheme}
        rec = {"scheme": _scheme_label(spec, scheme)}
        prec = dict(rec)
        for c, name in enumerate(names):
            agg = aggregate(np.array([v[1][c] for v in mine.values()]) * spec.scale, "mean_std")
            rec[f"{name} mean"], rec[f"{name} std"] = agg["mean"], agg["std"]
            prec[name] = mean_std_text(agg, spec.digits)
            sources.append({"scheme": scheme, "column": name, "n": agg["n"],
                            "missing": max(spec.expect - agg["n"], 0) if spec.expect else None,
                            "runs": ";".join(sorted(mine))})  # fmt: skip
        records.append(rec)
        pretty.append(prec)
        if mine:
            norm = [v[2] / np.clip(v[2].sum(axis=1, keepdims=True), 1, None) for v in mine.values()]
            matrices[rec["scheme"]] = np.mean(norm, axis=0)

    def figure(path: Path) -> None:
        plt = pyplot()

        n = max(1, len(matrices))
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4), squeeze=False)
        for ax, (label, mat) in zip(axes[0], matrices.items(), strict=False):
            ax.imshow(mat, vmin=0, vmax=1, cmap="Blues")
            ax.set_title(f"{label} ({opts.get('attack', 'PGD-100')})", fontsize=9)
            ax.set_xticks(range(k), names, rotation=90, fontsize=6)
            ax.set_yticks(range(k), names, fontsize=6)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            for i in range(k):
                ax.text(i, i, f"{mat[i, i]:.2f}", ha="center", va="center", fontsize=6)
        if not matrices:
            axes[0][0].set_title(f"{spec.id}: no runs")
        save(fig, path, dpi=120)

    result = TableResult(pd.DataFrame(records), pd.DataFrame(pretty), pd.DataFrame(sources), figure)
    points = {d: int(v[2].sum()) for d, v in per_run.items()}
    explain_gaps(spec, result, empty_column_reason=(
        "no evaluated point of that class: " + ", ".join(f"{n} points per run" for n in sorted(set(points.values())))
        if points else ""))  # fmt: skip
    return result


@builder("vir_class_weights")
def vir_class_weights(spec: TableSpec, ctx: Context) -> TableResult:
    """vir/fig3: sum of the sample weights of each class per epoch (rows: scheme x epoch;
    columns: classes), mean ± std over seeds, from ``weights_log.csv``."""
    k = int(spec.options.get("num_classes", 10))
    names = _class_names(spec, k)
    runs = run_table(ctx, spec)
    log = ctx.csv(RunFiles.WEIGHTS_LOG) if len(runs) else pd.DataFrame()
    if not log.empty:
        log = log.merge(runs[["run_dir", "scheme"]], on="run_dir", how="inner")
    schemes = _ordered_schemes(spec, log.scheme.unique() if not log.empty else [])
    records, pretty, sources = [], [], []
    for scheme in schemes:
        mine = log[log.scheme.astype(str) == scheme] if not log.empty else log
        epochs = sorted(mine.epoch.unique()) if not mine.empty else []
        for epoch in epochs:
            at = mine[mine.epoch == epoch]
            rec = {"scheme": _scheme_label(spec, scheme), "epoch": int(epoch)}
            prec = dict(rec)
            for c, name in enumerate(names):
                col = f"sum_class_{c}"
                agg = aggregate(at[col].to_numpy(dtype=float) * spec.scale if col in at else np.array([]), "mean_std")
                rec[f"{name} mean"], rec[f"{name} std"] = agg["mean"], agg["std"]
                prec[name] = mean_std_text(agg, spec.digits)
            records.append(rec)
            pretty.append(prec)
        sources.append({"scheme": scheme, "column": "all", "n": int(mine.run_dir.nunique()) if not mine.empty else 0,
                        "missing": max(spec.expect - int(mine.run_dir.nunique()), 0) if spec.expect and not mine.empty
                        else spec.expect, "runs": ";".join(sorted(mine.run_dir.unique())) if not mine.empty else ""})  # fmt: skip
    table = pd.DataFrame(records, columns=["scheme", "epoch"] + [f"{n} {s}" for n in names for s in ("mean", "std")])
    pretty_df = pd.DataFrame(pretty, columns=["scheme", "epoch"] + names)

    def figure(path: Path) -> None:
        plt = pyplot()

        labels = list(dict.fromkeys(table.scheme)) or ["(no runs)"]
        fig, axes = plt.subplots(1, len(labels), figsize=(4.5 * len(labels), 3.6), squeeze=False)
        for ax, label in zip(axes[0], labels, strict=True):
            sel = table[table.scheme == label]
            for name in names:
                ax.plot(sel.epoch, sel[f"{name} mean"], marker=".", label=name)
            ax.set_title(f"{label}: sum of sample weights per class", fontsize=9)
            ax.set_xlabel("epoch")
            ax.set_ylabel("class weight")
        axes[0][-1].legend(fontsize=6, ncol=2)
        save(fig, path, dpi=120)

    result = TableResult(table, pretty_df, pd.DataFrame(sources), figure)
    explain_gaps(spec, result)
    return result
