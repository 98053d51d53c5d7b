"""``rbr-samplerob prepare``: sample robustness of a dataset's training and test sets, the paper's
L/M subsets as index files, class distributions and min/max of R (paper samplerob).

Paper samplerob, section 4 (robustbench_runner/papers/samplerob/README.md): R is computed *within* the training set x and
*within* the test set t (``sample_robustness.py``: algorithm 2 for class labels,
R = r / (r + 1); algorithm 1 for regression targets scaled to ||y||_inf = 1), on the [0, 1]
features the runs train on (the dataset config's loader, with every limit, subset and
validation split switched off: the index files refer to the full splits).

The study folder ``<out>/<data.name>-robustness/`` is run-like (``rundir.StudyRun``):

- ``subsets/<name>.npy``: ``x`` and ``t`` (every sample) and the subsets of each ``--like``
  scheme (``paper.SCHEMES``: x_L40 ... for cifar10; x_L48 ... for mnist; x_L24, t_L, t_l ...
  for onp), counts scaled by ``n / paper size`` when the set is not the paper's size;
  ``subsets/sets.json``: set sizes, subset counts, class names, task, and for regression the
  pseudo-classification threshold (ONP: >= 1400 shares, section 4.1; other sets: the median
  training target, a *choice* that gives the ~1:1 popular / unpopular rate paper samplerob reports);
- ``robustness.csv``: dataset, set (x / t), index, label, R of every sample;
- ``class_distribution.csv`` (classification; tables 1 and 10): dataset, set, subset, class,
  count, pct (% of that class's samples of the full set);
- ``metrics.csv``: per set, min / max (+ the sample attaining it), mean, median of R and the
  count below ``--below`` (0.65: appendix E.1, figure 9); per subset its size (``count``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from ...data import load_dataset
from ...data.base import DataBundle
from ...errors import UserError
from ...io import atomic_write_text
from .paper import scheme
from .rundir import StudyRun
from .sample_robustness import sample_robustness
from .subset_eval import SETS_FILE
from .subsets import (
    class_distribution,
    onp_test_subsets,
    robustness_minmax,
    robustness_subsets,
    save_subsets,
)

#: Keys forced on the dataset config: R is defined on the full sets, and the index files refer
#: to rows of the splits as loaded.
FULL_SETS = [
    "data.limit_train=null",
    "data.limit_test=null",
    "data.subset=null",
    "data.test_subset=null",
    "data.val_size=0",
]
ATTACK = "sample_robustness"  # the ``attack`` label of this study's metrics rows
ONP_THRESHOLD_RULE = "popular when shares >= 1400 (paper samplerob, section 4.1; Fernandes et al. 2015)"
MEDIAN_THRESHOLD_RULE = (
    "popular when the target >= the median training target (choice: paper samplerob's ~1:1 rate)"
)


def compose_data_config(overrides: Sequence[str], scale: str) -> DictConfig:
    """The ``data`` node rbr-run would compose for ``overrides`` at ``scale``, full sets."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from ...run import CONF_DIR, one_line

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose("config", overrides=[f"scale={scale}", *overrides, *FULL_SETS])
    except Exception as e:  # Hydra's errors (unknown dataset, key...) as one line
        raise UserError(
            f"cannot compose the dataset config from {list(overrides)}: {one_line(e)}",
            fix="pass dataset=<name> and data.* overrides as for rbr-run",
        ) from e
    finally:
        GlobalHydra.instance().clear()
    data = cfg.data
    OmegaConf.resolve(data)
    return data


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def subsets_for(R_x: np.ndarray, R_t: np.ndarray, like: Sequence[str]) -> dict[str, np.ndarray]:
    """``x``, ``t`` and every subset of the ``like`` schemes, by name (paper order)."""
    out: dict[str, np.ndarray] = {"x": np.arange(len(R_x)), "t": np.arange(len(R_t))}
    for name in like:
        sc = scheme(name)
        found = robustness_subsets(R_x, sc.train_sizes, prefix="x", reference_total=sc.train_total)
        if sc.test_sizes:
            found |= robustness_subsets(
                R_t, sc.test_sizes, prefix="t", reference_total=sc.test_total
            )
        else:  # ONP: halves and tails of t; the tail of 500 scaled like the other counts
            tail = max(1, round(sc.onp_tail * len(R_t) / sc.test_total))
            found |= onp_test_subsets(R_t, prefix="t", tail=tail)
        for key, index in found.items():
            if key in out and not np.array_equal(out[key], index):
                raise UserError(
                    f"subset {key} differs between the schemes {list(like)}",
                    fix="prepare one scheme per study",
                )
            out[key] = index
    return out


def pseudo_task_threshold(bundle: DataBundle) -> tuple[float, str]:
    """Threshold of the popular / unpopular pseudo-task on the normalized targets."""
    if "popular_threshold" in bundle.meta:
        return float(bundle.meta["popular_threshold"]), ONP_THRESHOLD_RULE
    return float(np.median(bundle.train.y.double().numpy())), MEDIAN_THRESHOLD_RULE


def class_distribution_long(
    dataset: str, labels: np.ndarray, subsets: dict[str, np.ndarray], set_name: str, class_names
) -> pd.DataFrame:
    """``class_distribution`` (tables 1 and 10) in long form, one row per (subset, class)."""
    members = {k: v for k, v in subsets.items() if k != set_name}
    wide = class_distribution(labels, members, set_name=set_name, class_names=class_names)
    rows = []
    for subset in [set_name, *members]:
        for cls in wide.index:
            count = int(wide.loc[cls, (subset, "count")])
            pct = 100.0 if subset == set_name else float(wide.loc[cls, (subset, "pct")])
            rows.append(
                {
                    "dataset": dataset,
                    "set": set_name,
                    "subset": subset,
                    "class": cls,
                    "count": count,
                    "pct": pct,
                }
            )
    return pd.DataFrame(rows)


def summary_rows(R: np.ndarray, set_name: str, below: float) -> list[dict]:
    """min / max (+ argmin / argmax), mean, median and count below ``below`` of one set's R."""
    mm = robustness_minmax({set_name: R}).loc[set_name]
    n = len(R)
    values = {
        "min": mm["min"], "argmin": mm["argmin"], "max": mm["max"], "argmax": mm["argmax"],
        "mean": float(R.mean()), "median": float(np.median(R)), f"count_below_{below:g}": int((R < below).sum()),
    }  # fmt: skip
    return [
        {
            "split": set_name,
            "attack": ATTACK,
            "eps": float("nan"),
            "metric": k,
            "value": float(v),
            "n": n,
        }
        for k, v in values.items()
    ]


def prepare(
    out: str | Path,
    overrides: Sequence[str],
    like: Sequence[str],
    scale: str = "smoke",
    below: float = 0.65,
    device: str = "auto",
    overwrite: bool = False,
) -> Path:
    """Compute and write the study folder of one dataset (module docstring); returns it."""
    like = list(like)
    for name in like:
        scheme(name)  # validates
    data_cfg = compose_data_config(overrides, scale)
    cfg = {
        "scale_name": scale, "seed": 0, "overwrite": bool(overwrite),
        "data": OmegaConf.to_container(data_cfg), "samplerob": {"kind": "prepare", "like": like, "below": float(below)},
    }  # fmt: skip
    run = StudyRun(Path(out) / f"{data_cfg.name}-robustness", cfg)
    with run.claim("samplerob_prepare") as done:
        if done:
            print(f"[samplerob] {run.dir} is complete (DONE); nothing to do.")
            return run.dir
        bundle = load_dataset(data_cfg)
        dev = pick_device(device)
        task = bundle.task
        R = {
            "x": sample_robustness(bundle.train.x, bundle.train.y, task=task, device=dev),
            "t": sample_robustness(bundle.test.x, bundle.test.y, task=task, device=dev),
        }
        subsets = subsets_for(R["x"], R["t"], like)
        save_subsets(subsets, run.dir / "subsets")
        info = {
            "dataset": bundle.name, "task": task, "like": like,
            "sizes": {"x": len(bundle.train), "t": len(bundle.test)},
            "counts": {k: int(len(v)) for k, v in subsets.items()},
            "class_names": bundle.class_names,
        }  # fmt: skip
        if task == "regression":
            info["popular_threshold"], info["popular_rule"] = pseudo_task_threshold(bundle)
        atomic_write_text(run.dir / "subsets" / SETS_FILE, json.dumps(info, indent=1))
        labels = {"x": bundle.train.y.numpy(), "t": bundle.test.y.numpy()}
        frames = [
            pd.DataFrame(
                {
                    "dataset": bundle.name,
                    "set": s,
                    "index": np.arange(len(R[s])),
                    "label": labels[s],
                    "R": R[s],
                }
            )
            for s in ("x", "t")
        ]
        atomic_write_text(
            run.dir / "robustness.csv", pd.concat(frames, ignore_index=True).to_csv(index=False)
        )
        if task == "classification":
            dist = [
                class_distribution_long(
                    bundle.name,
                    labels[s],
                    {k: v for k, v in subsets.items() if k == s or k.startswith(f"{s}_")},
                    s,
                    bundle.class_names,
                )
                for s in ("x", "t")
            ]
            atomic_write_text(
                run.dir / "class_distribution.csv",
                pd.concat(dist, ignore_index=True).to_csv(index=False),
            )
        rows = summary_rows(R["x"], "x", below) + summary_rows(R["t"], "t", below)
        rows += [
            {
                "split": k,
                "attack": ATTACK,
                "eps": float("nan"),
                "metric": "count",
                "value": float(len(v)),
                "n": len(v),
            }
            for k, v in subsets.items()
        ]
        run.add_metrics(run.identity(bundle.name, "none", ATTACK), -1, "data", rows)
        run.finish()
        print(
            f"[samplerob] {run.dir}: R of {len(R['x'])} training and {len(R['t'])} test samples, {len(subsets)} subsets"
        )
    return run.dir
