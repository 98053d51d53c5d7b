"""What a tracker receives: the run's own CSV rows turned into named scalar series.

The run directory's ``train_log.csv`` and ``metrics.csv`` are the record; trackers get copies
of their rows, so a tracker can always be filled in again from them (a resumed run sends only
the points its tracker does not hold yet: no duplicates, nothing lost after a kill).

Series names (``/`` groups them in TensorBoard, MLflow and W&B):

- ``train/<column>`` per epoch: ``loss``, ``acc``, ``lr``, ``seconds``, ``select_*`` ...
- ``<split>/<attack>/<metric>[/eps_<eps>]`` per evaluated checkpoint, at its epoch: e.g.
  ``test/clean/acc``, ``test/PGD-20/acc/eps_0.3``, ``test/FGSM/auc_norm`` (R, the normalized
  AUC of an eps sweep, "Adversarial Robustness Evaluation with Normalized AUC" eq. 1),
  ``test/worst-case/acc/eps_0.3``; checkpoints not named ``epoch_XXX`` (``best``, a file's
  stem in ``mode=eval``) are prefixed with their name: ``best/test/PGD-20/acc/eps_0.3``.
  Checkpoints without an epoch (a plain state dict) are logged at step 0.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import pandas as pd

from ..io import read_csv
from ..results import RunFiles

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /:]")  # MLflow's allowed key characters


@dataclass(frozen=True)
class Point:
    key: str
    step: int
    value: float


def clean_key(key: str) -> str:
    return _UNSAFE.sub("_", key)


def _number(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def train_points(log: pd.DataFrame) -> list[Point]:
    out = []
    for _, row in log.iterrows():
        step = int(row["epoch"])
        for col, v in row.items():
            f = _number(v)
            if col != "epoch" and f is not None:
                out.append(Point(clean_key(f"train/{col}"), step, f))
    return out


def metric_key(checkpoint: str, split: str, attack: str, metric: str, eps) -> str:
    parts = [] if RunFiles.grid_epoch(str(checkpoint)) is not None else [str(checkpoint)]
    parts += [str(split), str(attack), str(metric)]
    e = _number(eps)
    if e is not None and attack != "clean":
        parts.append(f"eps_{e:.4g}")
    return clean_key("/".join(parts))


def metric_points(m: pd.DataFrame) -> list[Point]:
    out = []
    for r in m.itertuples(index=False):
        f = _number(r.value)
        if f is None:
            continue
        step = int(r.epoch) if int(r.epoch) >= 0 else 0
        out.append(Point(metric_key(r.checkpoint, r.split, r.attack, r.metric, r.eps), step, f))
    return out


def run_points(files: RunFiles) -> list[Point]:
    """Every point the run's CSVs hold now, training log first."""
    pts = train_points(read_csv(files.train_log)) if files.train_log.exists() else []
    return pts + metric_points(files.read_metrics())


def flat_params(d: dict, prefix: str = "") -> dict[str, str]:
    """A nested (resolved) config as ``dotted.key -> value`` strings; lists as JSON."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_params(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(v, default=str)
        else:
            out[key] = "null" if v is None else str(v)
    return out
