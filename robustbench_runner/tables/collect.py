"""Find runs under a folder and load their tidy results (``rbr-tables`` input).

A run is any folder holding ``metrics.csv``; finished runs also hold ``DONE``. Runs still
in progress are read too (their rows so far), so tables can be built while a sweep runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from ..errors import UserError
from ..io import read_csv


def find_runs(roots: Iterable[str | Path]) -> list[Path]:
    runs: set[Path] = set()
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise UserError(f"{root} does not exist", fix="pass a run or sweep directory (e.g. outputs/sweeps/<name>)")
        for m in root.rglob("metrics.csv"):
            runs.add(m.parent)
        for m in root.rglob("run.json"):  # runs that have not written metrics yet
            runs.add(m.parent)
    return sorted(runs)


def run_status(run_dirs: list[Path]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"run_dir": str(d), "done": (d / "DONE").exists(), "has_metrics": (d / "metrics.csv").exists()} for d in run_dirs],
        columns=["run_dir", "done", "has_metrics"],
    )


def standin_runs(run_dirs: list[Path]) -> list[Path]:
    """Runs whose data.root holds stand-in data (``data/standin.py``), not the real dataset."""
    out = []
    for d in run_dirs:
        cfg_path = d / "config.yaml"
        if cfg_path.exists():
            root = OmegaConf.select(OmegaConf.load(cfg_path), "data.root", default=None)
            if root and (Path(str(root)) / "STANDIN.txt").exists():
                out.append(d)
    return out


def load_metrics(run_dirs: list[Path], config_keys: Iterable[str] = ()) -> pd.DataFrame:
    """All metrics rows of the given runs, with ``run_dir``, ``done`` and one column
    ``cfg.<key>`` per requested dotted config key (read from each run's ``config.yaml``)."""
    frames = []
    keys = list(dict.fromkeys(config_keys))
    for d in run_dirs:
        path = d / "metrics.csv"
        if not path.exists():
            continue
        df = read_csv(path)
        if df.empty:
            continue
        df["run_dir"] = str(d)
        df["done"] = (d / "DONE").exists()
        if keys:
            cfg = OmegaConf.load(d / "config.yaml") if (d / "config.yaml").exists() else OmegaConf.create({})
            for k in keys:
                v = OmegaConf.select(cfg, k, default=None)
                df[f"cfg.{k}"] = OmegaConf.to_container(v) if OmegaConf.is_config(v) else v
        frames.append(df)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def load_csv_from_runs(run_dirs: list[Path], name: str) -> pd.DataFrame:
    """Concatenate another per-run CSV (``train_log.csv``, ``weights_log.csv``, ...)."""
    frames = []
    for d in run_dirs:
        p = d / name
        if p.exists():
            df = read_csv(p)
            df["run_dir"] = str(d)
            frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
