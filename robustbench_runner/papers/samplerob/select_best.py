"""``rbr-samplerob select-best``: the "best weights" of paper samplerob's ResNet-56 first step.

Appendix C.3 ("RESNET-56"): the models were trained for the epoch threshold while Keras
callbacks "save the best weights", those of the epoch "for which loss on t was the lowest";
the second step rebuilds the model from them and trains one more epoch at lr 1e-4.

For every finished run of experiment ``samplerob/resnet56_select`` under a folder (its
``config.yaml`` has ``samplerob.stage: select``), this picks the grid checkpoint with the
lowest ``subset_eval`` loss on ``t`` (ties: the earlier epoch, as Keras' ``ModelCheckpoint``
with ``save_best_only`` keeps the first of equal values) and places it as
``ckpt/best_t_loss.pt`` (a hard link to ``ckpt/epoch_XXX.pt`` where the file system allows,
else a copy), with ``ckpt/best_t_loss.json`` recording the epoch and loss. Idempotent.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ...errors import UserError
from ...io import atomic_write_text, read_csv
from ...reading import BadFile, load_json, load_yaml
from ...results import RunFiles

BEST_NAME = "best_t_loss"


def best_epoch(
    metrics_path: Path, split: str = "t", metric: str = "loss", attack: str = "subset_eval"
) -> tuple[int, float]:
    """(epoch, value) of the grid checkpoint with the lowest ``metric`` on ``split``."""
    df = read_csv(metrics_path)
    rows = df[
        (df.attack == attack)
        & (df.split == split)
        & (df.metric == metric)
        & RunFiles.grid_rows(df.checkpoint)
    ]
    if rows.empty:
        raise UserError(
            f"{metrics_path} has no {attack} {metric} rows on {split}",
            fix="run the first step with analysis=[subset_eval] and a grid of every epoch",
        )
    rows = rows.sort_values(["value", "epoch"], kind="stable")
    return int(rows.iloc[0].epoch), float(rows.iloc[0].value)


def select_runs(root: str | Path) -> list[Path]:
    """Run folders under ``root`` made by the first step (``samplerob.stage: select``)."""
    out = []
    for cfg_path in sorted(Path(root).rglob(RunFiles.CONFIG)):
        cfg = load_yaml(cfg_path, follow_symlinks=False, what="run config")  # bounded, no symlink: a run wrote it
        stage = cfg.get("samplerob") if isinstance(cfg, dict) else None
        if isinstance(stage, dict) and stage.get("stage") == "select":
            out.append(cfg_path.parent)
    return out


def place(src: Path, dst: Path) -> None:
    """``dst`` becomes the same file as ``src`` (hard link, else an atomic copy)."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _record(path: Path) -> dict | None:
    """The ``best_t_loss.json`` this step wrote (None when it is not one: it is rewritten)."""
    try:
        return load_json(path, follow_symlinks=False)
    except BadFile:
        return None


def select_best(root: str | Path, split: str = "t", metric: str = "loss") -> list[Path]:
    """Place ``ckpt/best_t_loss.pt`` in every first-step run under ``root``; returns them."""
    runs = select_runs(root)
    if not runs:
        raise UserError(
            f"no runs of experiment samplerob/resnet56_select under {root}",
            fix="run that sweep first",
        )
    unfinished = [r.name for r in runs if not RunFiles(r).done.exists()]
    if unfinished:
        raise UserError(
            f"{len(unfinished)} first-step runs are not finished (e.g. {unfinished[0]})",
            fix="rerun the samplerob/resnet56_select sweep until every run is DONE",
        )
    placed = []
    for run in runs:
        files = RunFiles(run)
        epoch, value = best_epoch(files.metrics, split, metric)
        src = files.grid_ckpt(epoch)
        if not src.exists():
            raise UserError(f"{src} is missing", fix="keep every grid checkpoint of the first step")
        dst = files.ckpt(BEST_NAME)
        record = {"epoch": epoch, metric: value, "split": split, "checkpoint": src.name}
        info = files.ckpt(BEST_NAME).with_suffix(".json")
        if not (dst.exists() and info.exists() and _record(info) == record):
            place(src, dst)
            atomic_write_text(info, json.dumps(record, indent=1))
        placed.append(dst)
    print(
        f"[samplerob] best (lowest {metric} on {split}) weights of {len(placed)} runs placed as ckpt/{BEST_NAME}.pt"
    )
    return placed
