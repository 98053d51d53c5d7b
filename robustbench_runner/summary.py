"""The compact table ``rbr-run`` prints at the end: one row per evaluated checkpoint."""

from __future__ import annotations

import pandas as pd

from .evaluate import CLEAN, CLEAN_ATTACKED, WORST
from .io import read_csv
from .results import RunFiles


def summarize(files: RunFiles) -> pd.DataFrame:
    """Per checkpoint: train loss/acc, clean accuracy, R (normalized AUC) of each eps sweep,
    robust accuracy of each single-eps attack, and the worst case over the suite."""
    m = files.read_metrics()
    if m.empty:
        return pd.DataFrame()
    out = m[["epoch", "checkpoint"]].drop_duplicates().set_index("checkpoint")
    if files.train_log.exists():
        log = read_csv(files.train_log).set_index("epoch")
        out["train_loss"] = out["epoch"].map(log["loss"])
        out["train_acc"] = out["epoch"].map(log["acc"])
    clean = m[(m.attack == CLEAN) & (m.metric == "acc")].set_index("checkpoint")["value"]
    out["clean"] = clean
    sweeps = set(m.loc[m.metric == "auc_norm", "attack"])
    for attack in dict.fromkeys(m.attack):  # first-seen order
        if attack in (CLEAN,):
            continue
        rows = m[m.attack == attack]
        if attack in sweeps:
            out[f"{attack} R"] = rows[rows.metric == "auc_norm"].set_index("checkpoint")["value"]
        else:
            for eps, grp in rows[rows.metric == "acc"].groupby("eps", sort=True):
                col = attack if attack != WORST or rows.eps.nunique() == 1 else f"{attack}@{eps:g}"
                out[col] = grp.set_index("checkpoint")["value"]
    from .plots import chance_checkpoints  # a model at chance: its R ~ 1.0 is no robustness

    chance = chance_checkpoints(files, m)
    if chance:
        out["note"] = ["at chance" if c in chance else "" for c in out.index]
    return out.reset_index().sort_values(["epoch", "checkpoint"]).reset_index(drop=True)


def points_note(files: RunFiles) -> str:
    """Why ``clean`` and ``clean-attacked`` differ: their numbers of points (n)."""
    m = files.read_metrics()
    acc = m[m.metric == "acc"]
    n = {a: int(acc.loc[acc.attack == a, "n"].max()) for a in (CLEAN, CLEAN_ATTACKED) if (acc.attack == a).any()}
    if len(n) < 2:
        return ""
    split = ", ".join(dict.fromkeys(acc["split"])) if "split" in acc else "evaluation"
    return (
        f"clean: accuracy on the whole {split} split (n={n[CLEAN]}); clean-attacked: on the n={n[CLEAN_ATTACKED]} points "
        "given to the attacks (eval.n_eval), the same points as every robust accuracy, which never exceeds it"
    )


def print_summary(files: RunFiles) -> None:
    df = summarize(files)
    if df.empty:
        print("[rbr] no metrics yet")
        return
    print(f"\n[rbr] {files.dir}")
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    note = points_note(files)
    if note:
        print(f"[rbr] {note}")
    if "note" in df:
        from .plots import CHANCE_NOTE

        print(f"[rbr] {', '.join(df.checkpoint[df.note == 'at chance'])}: {CHANCE_NOTE}")
