"""The tidy files a run writes, their columns and keys (architecture.md "Results").

``metrics.csv``: one row per (checkpoint, epoch, split, attack, eps, metric), with enough
identity columns to aggregate without reading configs. Rows are upserted atomically and
never written twice, so a resumed run ends with the same file as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from .faults import crash_point
from .io import read_csv, upsert_csv

METRIC_COLUMNS = [
    "run", "dataset", "model", "scheme", "seed", "batch_size", "config_hash",
    "epoch", "checkpoint", "split", "attack", "eps", "metric", "value", "n",
]  # fmt: skip
METRIC_KEY = ["checkpoint", "epoch", "split", "attack", "eps", "metric"]
CONFUSION_KEY = ["checkpoint", "epoch", "split", "attack", "eps", "true", "pred"]
TRAIN_LOG_KEY = ["epoch"]


@dataclass(frozen=True)
class RunIdentity:
    """Columns repeated on every metrics row."""

    run: str
    dataset: str
    model: str
    scheme: str
    seed: int
    batch_size: int
    config_hash: str


class RunFiles:
    """Paths of one run directory and the writers of its tidy CSVs."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.ckpt_dir = self.dir / "ckpt"
        self.eval_dir = self.dir / "eval"
        self.metrics = self.dir / "metrics.csv"
        self.confusion = self.dir / "confusion.csv"
        self.train_log = self.dir / "train_log.csv"
        self.weights_log = self.dir / "weights_log.csv"
        self.model_summary = self.dir / "model_summary.csv"
        self.config = self.dir / "config.yaml"
        self.info = self.dir / "run.json"
        self.done = self.dir / "DONE"

    def ckpt(self, label: str) -> Path:
        return self.ckpt_dir / f"{label}.pt"

    def read_metrics(self) -> pd.DataFrame:
        return read_csv(self.metrics) if self.metrics.exists() else pd.DataFrame(columns=METRIC_COLUMNS)

    def add_metrics(self, ident: RunIdentity, epoch: int | None, checkpoint: str, split: str, rows: list[dict]) -> int:
        if not rows:
            return 0
        df = pd.DataFrame(rows)
        for k, v in asdict(ident).items():
            df[k] = v
        df["epoch"] = epoch if epoch is not None else -1
        df["checkpoint"] = checkpoint
        df["split"] = df["split"].fillna(split) if "split" in df.columns else split  # rows may name their split
        df = df[METRIC_COLUMNS]
        n = upsert_csv(self.metrics, df, METRIC_KEY, keep="first", sort=["epoch"])
        crash_point("metrics")
        return n

    def add_confusion(self, epoch: int | None, checkpoint: str, split: str, rows: list[dict]) -> int:
        if not rows:
            return 0
        df = pd.DataFrame(rows)
        df.insert(0, "split", split)
        df.insert(0, "checkpoint", checkpoint)
        df.insert(0, "epoch", epoch if epoch is not None else -1)
        return upsert_csv(self.confusion, df, CONFUSION_KEY, keep="first", sort=["epoch"])

    def add_train_log(self, row: dict) -> None:
        upsert_csv(self.train_log, pd.DataFrame([row]), TRAIN_LOG_KEY, keep="last", sort=["epoch"])

    def add_weights_log(self, epoch: int, row: dict) -> None:
        if row:
            upsert_csv(self.weights_log, pd.DataFrame([{"epoch": epoch, **row}]), ["epoch"], keep="last", sort=["epoch"])
