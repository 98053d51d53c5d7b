"""``curves.png``: one picture of a run, written beside ``metrics.csv`` (matplotlib, Agg).

Panels, as the run's files allow:

- per eps-sweep attack (an attack with ``auc_norm`` rows): accuracy vs eps, one curve per
  checkpoint (later epochs darker), its normalized AUC R ("Adversarial Robustness Evaluation
  with Normalized AUC", eq. 1) in the legend;
- clean and robust accuracy (each single-eps attack, the worst case) vs epoch: "clean" on the
  whole evaluation split, "clean, attacked points" (``clean-attacked``) on the ``eval.n_eval``
  points the attacks get (the base of every robust accuracy, so the two n differ); the worst
  case is a wide pale band drawn under the attack lines (it often equals PGD-20 at every
  epoch, and the legend then says so);
- training loss (and training accuracy) vs epoch, from ``train_log.csv``.

A checkpoint whose clean accuracy is at chance level is marked "at chance" (in the legend
and in a note). R divides the area under the accuracy curve by the clean accuracy f(e0): a
model that predicts one class, or at random, keeps the same accuracy at every eps, so its R
is ~1.0. That value is the metric's definition at work, not robustness.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .io import atomic_write_bytes, read_csv
from .results import RunFiles

CLEAN = "clean"
CLEAN_ATTACKED = "clean-attacked"
WORST = "worst-case"
CHANCE_NOTE = "at chance: clean accuracy ~ 1/classes, so R ~ 1.0 by its definition (flat curve), not robustness"


# -- chance level ---------------------------------------------------------------------------------


def num_classes(files: RunFiles) -> int | None:
    """Number of classes, from the confusion counts (true and predicted labels) or the last
    layer's output in ``model_summary.csv``; None when neither tells."""
    if files.confusion.exists():
        c = read_csv(files.confusion)
        if not c.empty:
            return int(max(c["true"].max(), c["pred"].max())) + 1
    if files.model_summary.exists():
        s = read_csv(files.model_summary)
        shapes = [str(v) for v in s.get("output_shape", pd.Series(dtype=str)).dropna() if str(v) and str(v) != "nan"]
        if shapes and shapes[-1].isdigit():
            return int(shapes[-1])
    return None


def at_chance(clean_acc: float, n: int, classes: int | None) -> bool:
    """Clean accuracy no more than 3 binomial standard errors above 1/classes."""
    if classes is None or classes < 2 or not n or not math.isfinite(clean_acc):
        return False
    p = 1.0 / classes
    return clean_acc <= p + 3.0 * math.sqrt(p * (1 - p) / n)


def chance_checkpoints(files: RunFiles, m: pd.DataFrame | None = None) -> set[str]:
    """Labels of the checkpoints whose clean accuracy is at chance level."""
    m = files.read_metrics() if m is None else m
    clean = m[(m.attack == CLEAN) & (m.metric == "acc")]
    if clean.empty:
        return set()
    k = num_classes(files)
    return {str(r.checkpoint) for r in clean.itertuples() if at_chance(float(r.value), int(r.n), k)}


# -- the figure -----------------------------------------------------------------------------------


def _sweeps(m: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(m.loc[m.metric == "auc_norm", "attack"]))


def _single_eps(m: pd.DataFrame, sweeps: list[str]) -> list[tuple[str, float]]:
    acc = m[(m.metric == "acc") & ~m.attack.isin([CLEAN, *sweeps])]
    return list(dict.fromkeys((str(a), float(e)) for a, e in zip(acc.attack, acc.eps, strict=True)))


def write_curves(files: RunFiles, path: str | Path | None = None) -> Path | None:
    """Draw ``curves.png`` (or ``path``) from the run's CSVs; None when there is nothing yet."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import io

    import matplotlib.pyplot as plt

    m = files.read_metrics()
    log = read_csv(files.train_log) if files.train_log.exists() else pd.DataFrame()
    if m.empty and log.empty:
        return None
    m = m[m.split == m.split.iloc[0]] if not m.empty else m  # the attacked split
    sweeps = _sweeps(m) if not m.empty else []
    singles = _single_eps(m, sweeps) if not m.empty else []
    chance = chance_checkpoints(files, m) if not m.empty else set()
    has_epochs = not m.empty and (m.epoch >= 0).any() and m[m.epoch >= 0].checkpoint.nunique() >= 1
    panels = [("sweep", a) for a in sweeps]
    if has_epochs:
        panels.append(("epochs", None))
    if not log.empty and "loss" in log:
        panels.append(("loss", None))
    if not panels:
        return None
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 4.0 * nrows + (0.6 if chance else 0.3)), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (kind, attack) in zip(axes.flat, panels, strict=False):
        if kind == "sweep":
            _sweep_panel(ax, m, attack, chance)
        elif kind == "epochs":
            _epoch_panel(ax, m, singles, chance)
        else:
            _loss_panel(ax, log)
    fig.suptitle(files.dir.name, fontsize=11)
    if chance:
        fig.text(0.5, 0.01, f"{', '.join(sorted(chance))}: {CHANCE_NOTE}", ha="center", va="bottom", fontsize=9, color="firebrick", wrap=True)
    fig.tight_layout(rect=(0, 0.05 if chance else 0, 1, 0.97))
    out = Path(path) if path is not None else files.curves
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
    return out


def _ckpt_order(m: pd.DataFrame) -> list[tuple[str, int]]:
    pairs = m[["checkpoint", "epoch"]].drop_duplicates().itertuples(index=False)
    return sorted(((str(c), int(e)) for c, e in pairs), key=lambda ce: (ce[1], ce[0]))


def _sweep_panel(ax, m: pd.DataFrame, attack: str, chance: set[str]) -> None:
    import matplotlib.pyplot as plt

    rows = m[m.attack == attack]
    ckpts = _ckpt_order(rows)
    cmap = plt.get_cmap("viridis")
    for i, (ck, _) in enumerate(ckpts):
        r = rows[rows.checkpoint == ck]
        acc = r[r.metric == "acc"].sort_values("eps")
        auc = r.loc[r.metric == "auc_norm", "value"]
        label = f"{ck} (R={float(auc.iloc[0]):.3f})" if len(auc) else ck
        style = "--" if ck in chance else "-"
        if ck in chance:
            label += " at chance"
        color = cmap(0.15 + 0.75 * i / max(1, len(ckpts) - 1))
        ax.plot(acc.eps, acc.value, style, marker="o", ms=3, color=color, label=label)
    ax.set_title(f"{attack}: accuracy vs eps")
    ax.set_xlabel("eps (L-inf)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _epoch_panel(ax, m: pd.DataFrame, singles: list[tuple[str, float]], chance: set[str]) -> None:
    from matplotlib.ticker import MaxNLocator

    per_epoch = m[m.epoch >= 0]
    epoch_ckpts = per_epoch[RunFiles.grid_rows(per_epoch.checkpoint)]
    src = epoch_ckpts if not epoch_ckpts.empty else per_epoch
    ns = {a: int(g.n.max()) for a, g in src[src.metric == "acc"].groupby("attack")} if "n" in src else {}

    def named(attack: str, eps: float) -> str:
        n = f" (n={ns[attack]})" if attack in ns else ""
        if attack == CLEAN:
            return f"clean, whole {split_name(src)} split{n}"
        if attack == CLEAN_ATTACKED:
            return f"clean, attacked points{n}"
        return f"{attack} @ {eps:.4g}"

    def points(attack: str, eps: float) -> pd.DataFrame:
        r = src[(src.attack == attack) & (src.metric == "acc")]
        if attack != CLEAN:
            r = r[(r.eps - eps).abs() < 1e-12]
        return r.sort_values("epoch")

    series = [(CLEAN, 0.0)] + list(singles)
    # The worst case over the suite often equals one attack at every epoch (PGD-20 beats FGSM):
    # drawn first as a wide pale band under the other lines, so the attack's line stays
    # visible on top of it, and the legend says which attack it coincides with.
    worst = [(a, e) for a, e in series if a == WORST]
    for attack, eps in worst + [x for x in series if x[0] != WORST]:
        r = points(attack, eps)
        if r.empty:
            continue
        label = named(attack, eps)
        if attack == WORST:
            same = [a for a, e in singles if a not in (WORST, CLEAN_ATTACKED) and _same_values(points(a, e), r)]
            label += f" (= {', '.join(same)} at every epoch)" if same else ""
            ax.plot(r.epoch, r.value, lw=7, alpha=0.3, color="tab:gray", solid_capstyle="round", label=label, zorder=1)
            continue
        ax.plot(r.epoch, r.value, marker="o", ms=3, label=label, lw=2.2 if attack == CLEAN else 1.4,
                ls="--" if attack == CLEAN_ATTACKED else "-", zorder=3)  # fmt: skip
    best = per_epoch[(per_epoch.checkpoint == "best") & (per_epoch.attack == CLEAN) & (per_epoch.metric == "acc")]
    if not best.empty:
        ax.plot(best.epoch, best.value, "k*", ms=10, label="best (clean)")
    marked = src[(src.attack == CLEAN) & (src.metric == "acc") & src.checkpoint.isin(chance)]
    if not marked.empty:
        ax.scatter(marked.epoch, marked.value, s=120, facecolors="none", edgecolors="firebrick", lw=1.5, label="at chance", zorder=5)
    _pad_single_epoch(ax, src.epoch)
    ax.set_title("clean and robust accuracy vs epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def split_name(m: pd.DataFrame) -> str:
    splits = list(dict.fromkeys(m["split"])) if "split" in m else []
    return str(splits[0]) if len(splits) == 1 else "evaluation"


def _same_values(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return len(a) == len(b) and list(a.epoch) == list(b.epoch) and all(abs(x - y) < 1e-12 for x, y in zip(a.value, b.value, strict=True))


def _loss_panel(ax, log: pd.DataFrame) -> None:
    from matplotlib.ticker import MaxNLocator

    log = log.sort_values("epoch")
    ax.plot(log.epoch, log.loss, marker="o", ms=3, color="tab:red", label="training loss")
    _pad_single_epoch(ax, log.epoch)
    ax.set_title("training")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss", color="tab:red")
    ax.grid(alpha=0.3)
    if "acc" in log and log.acc.notna().any():
        ax2 = ax.twinx()
        ax2.plot(log.epoch, log.acc, marker="s", ms=3, color="tab:blue", label="training accuracy")
        ax2.set_ylabel("training accuracy", color="tab:blue")
        ax2.set_ylim(-0.02, 1.02)


def _pad_single_epoch(ax, epochs: pd.Series) -> None:
    """One epoch so far: centre it instead of matplotlib's fractional autoscale."""
    if epochs.nunique() == 1:
        e = int(epochs.iloc[0])
        ax.set_xlim(e - 1, e + 1)
