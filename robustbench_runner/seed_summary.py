"""A sweep's own summary across seeds, for ``rbr-report`` (issue 24 item 9).

Runs whose semantic configs differ only in their seeds (``tables.spec.DEFAULT_SEED_KEYS``:
``seed`` and ``init_seed``, compared like the tables' pooling check, :meth:`.tables.runs.Run.variant`,
which is :func:`.config.config_diff` of the flat configs without the volatile keys and with
the run's own ``-s<seed>`` token neutralised) are *seed replicates*. For each group of two
or more replicates this module gives, per (attack, eps, grid epoch) of the accuracy rows of
``metrics.csv`` (``metric == "acc"``, grid checkpoints ``epoch_...`` only, split ``test``
when the runs have one):

    mean = (1/n) sum_i a_i,    std = sqrt( (1/(n-1)) sum_i (a_i - mean)^2 )   (sample std, ddof=1)

over the n seeds that have that cell (``std`` is blank for n = 1), and a figure of two
panels: the mean with a +-1 std band of accuracy vs epoch (one line per attack, at the
attack's largest eps) and of accuracy vs eps at the last grid epoch (one line per attack).

Pure functions over the :class:`.tables.runs.RunSet` the report already loaded; the figure
is drawn with matplotlib (Agg) and written atomically (:func:`.io.atomic_write_bytes`), so
inside ``rbr-report``'s ``recording`` block it is recorded in the report's manifest.
"""

from __future__ import annotations

import io as _io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_write_bytes
from .plots import CLEAN, CLEAN_ATTACKED, WORST
from .results import RunFiles
from .tables.spec import DEFAULT_SEED_KEYS, DERIVED_KEYS

METRIC = "acc"  # the accuracy rows of metrics.csv
SPLIT = "test"  # preferred split when the runs evaluated several
NO_REPLICATES = "no seed replicates: each config has one run"


@dataclass
class SeedGroup:
    """Seed replicates: runs whose configs differ only in ``seed_keys``."""

    label: str  # the runs' folders, for the page
    seeds: list  # the runs' ``seed`` values, in run order
    stats: pd.DataFrame  # attack, eps, epoch, mean, std, seeds (+ split when several)
    figure: Path | None = None


@dataclass
class SeedSummary:
    groups: list[SeedGroup] = field(default_factory=list)
    why_none: str | None = None  # set when ``groups`` is empty: the reason, one line


def replicate_groups(runs, seed_keys: tuple[str, ...] = DEFAULT_SEED_KEYS) -> tuple[list[list], int]:
    """Groups (in run order) of two or more runs with metrics whose configs differ only in
    ``seed_keys`` (the derived run names aside); and how many runs had no config record (``run.json``)
    (they cannot be compared, so they are in no group)."""
    ignore = tuple(seed_keys) + DERIVED_KEYS
    by_variant: dict[str, list] = {}
    no_config = 0
    for r in runs.runs:
        if not r.has_config:
            no_config += 1
            continue
        if r.n_metrics:
            by_variant.setdefault(r.variant(ignore), []).append(r)
    return [g for g in by_variant.values() if len(g) >= 2], no_config


def accuracy_rows(run) -> pd.DataFrame:
    """The run's grid-epoch accuracy rows: ``split, attack, eps, epoch, value``."""
    m = run.metrics
    cols = ["split", "attack", "eps", "epoch", "value"]
    if m.empty or not set(cols + ["metric", "checkpoint"]) <= set(m.columns):
        return pd.DataFrame(columns=cols)
    sel = m[(m["metric"] == METRIC) & RunFiles.grid_rows(m["checkpoint"]) & m["epoch"].notna()]
    return sel[cols].astype({"epoch": int, "eps": float, "value": float})


def seed_stats(group: list) -> pd.DataFrame:
    """Mean and sample std (ddof=1) over the runs of ``group`` per (attack, eps, epoch)."""
    per_run = [accuracy_rows(r).assign(run=i) for i, r in enumerate(group)]
    df = pd.concat(per_run, ignore_index=True) if per_run else pd.DataFrame()
    cols = ["attack", "eps", "epoch", "mean", "std", "seeds"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    if (df["split"] == SPLIT).any():
        df = df[df["split"] == SPLIT]
    keys = ["split", "attack", "eps", "epoch"]
    # one value per run and cell (a run evaluates a cell once; a re-evaluation replaced it)
    df = df.groupby(keys + ["run"], sort=False, dropna=False)["value"].last().reset_index()
    out = df.groupby(keys, sort=True, dropna=False)["value"].agg(mean="mean", std=lambda v: v.std(ddof=1), seeds="count").reset_index()
    if out["split"].nunique() <= 1:
        out = out.drop(columns="split")
    return out


def draw(stats: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Two panels, mean line with a +-1 std band: accuracy vs epoch (one line per attack at
    its largest eps) and accuracy vs eps at the last grid epoch. Written atomically."""
    if stats.empty:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (ax_e, ax_x) = plt.subplots(1, 2, figsize=(11, 4))
    tops = {attack: a[a["eps"] == a["eps"].max()].sort_values("epoch") for attack, a in stats.groupby("attack", sort=True)}
    for attack in _worst_first(tops):
        top = tops[attack]
        _band(ax_e, top["epoch"], top["mean"], top["std"], f"{attack} (eps={top['eps'].iloc[0]:g}){_same_as(attack, tops, 'epoch')}", under=attack == WORST)
    last = int(stats["epoch"].max())
    at_last = {attack: a.sort_values("eps") for attack, a in stats[stats["epoch"] == last].groupby("attack", sort=True)}
    for attack in _worst_first(at_last):
        a = at_last[attack]
        _band(ax_x, a["eps"], a["mean"], a["std"], f"{attack}{_same_as(attack, at_last, 'eps')}", under=attack == WORST)
    ax_e.set(xlabel="epoch", ylabel="accuracy (mean ± 1 std over seeds)", title="accuracy vs epoch")
    ax_x.set(xlabel="eps", ylabel="accuracy (mean ± 1 std over seeds)", title=f"accuracy vs eps at epoch {last}")
    from matplotlib.ticker import MaxNLocator

    ax_e.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax_e, ax_x):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _worst_first(series: dict) -> list:
    """The worst case over the suite often equals one attack at every point (PGD-20 beats
    FGSM): it is drawn first, under the others, so that attack's line stays visible on top
    (as in each run's ``curves.png``, :mod:`.plots`)."""
    return sorted(series, key=lambda a: a != WORST)


def _same_as(attack: str, series: dict, x: str) -> str:
    """`` (= PGD-20 at every epoch)`` for the worst case when its means equal another
    attack's at every point; else empty."""
    if attack != WORST:
        return ""
    w = series[attack]
    same = [a for a, s in series.items() if a not in (WORST, CLEAN_ATTACKED, CLEAN) and list(s[x]) == list(w[x])
            and np.allclose(s["mean"].to_numpy(float), w["mean"].to_numpy(float), rtol=0, atol=1e-12)]  # fmt: skip
    return f" (= {', '.join(same)} at every {x})" if same else ""


def _band(ax, x, mean, std, label: str, under: bool = False) -> None:
    """A mean line with its ±1 std band; ``under``: a wide pale line below the others (the
    worst case, :func:`_worst_first`)."""
    x, mean, std = np.asarray(x, float), np.asarray(mean, float), np.nan_to_num(np.asarray(std, float))
    style = {"color": "tab:gray", "alpha": 0.35, "zorder": 1} if under else {"zorder": 3}
    if len(x) == 1:  # one point (e.g. one eps): no band to fill, a ±1 std error bar instead
        ax.errorbar(x, mean, yerr=std, fmt="o", ms=11 if under else 3, capsize=3, label=label, **style)
        return
    if under:
        ax.plot(x, mean, lw=7, solid_capstyle="round", label=label, **style)
        ax.fill_between(x, mean - std, mean + std, color="tab:gray", alpha=0.15, zorder=1)
        return
    (line,) = ax.plot(x, mean, marker="o", ms=3, label=label, **style)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, zorder=2)


def summarize(runs, root: Path, fig_dir: Path, seed_keys: tuple[str, ...] = DEFAULT_SEED_KEYS) -> SeedSummary:
    """The across-seed summary of ``runs`` (figures under ``fig_dir``), or the reason there
    is none."""
    groups, no_config = replicate_groups(runs, seed_keys)
    if not groups:
        why = NO_REPLICATES
        if no_config:
            why += f" ({no_config} run(s) have no config record in run.json and cannot be compared)"
        return SeedSummary(why_none=why)
    out = SeedSummary()
    for i, g in enumerate(groups):
        stats = seed_stats(g)
        label = ", ".join(os.path.relpath(r.dir, root) for r in g)
        seeds = [r.value("seed") for r in g]
        fig = draw(stats, fig_dir / f"seeds_{i + 1}.png", f"{len(g)} seeds: {', '.join(map(str, seeds))}")
        out.groups.append(SeedGroup(label=label, seeds=seeds, stats=stats, figure=fig))
    if all(g.stats.empty for g in out.groups):
        return SeedSummary(why_none=f"seed replicates found, but they have no accuracy ({METRIC}) rows at grid epochs yet")
    return out
