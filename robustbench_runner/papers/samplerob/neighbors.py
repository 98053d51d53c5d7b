"""``rbr-samplerob neighbors``: paper samplerob's scikit-learn models on each training (sub)set, scored on
each test (sub)set (paper samplerob, sections 4.2.2 and 4.3, appendix C).

- Images (table 5, appendix C.1 "KNN", D.4): ``KNeighborsClassifier`` with K neighbours and
  "uni" (uniform) or "dist" (inverse Euclidean distance) weights; table 5 is K = 1 ("for K = 1
  both weights coincide"). Metric: ``acc``.
- Regression (ONP, tables 6-9, appendix C.2): ``KNeighborsRegressor`` (K = 1..15, uniform /
  distance weights) and ``RandomForestRegressor`` (1..9 trees, criterion MAE / MSE, i.e.
  scikit-learn's ``absolute_error`` / ``squared_error``). Metrics:

  * ``loss``: paper samplerob's LOSS := 1 - sum_i (y_i - yhat_i)^2 / sum_i (y_i - mean(y))^2, in
    (-inf, 1], "where 1 is the optimum" (appendix C.2) -- the coefficient of determination
    R^2 of the predictions on the test (sub)set (``sklearn.metrics.r2_score``);
  * ``acc``: accuracy on the pseudo-classification task, popular when the (normalized) target
    is >= the study's threshold (ONP: 1400 shares, section 4.1), for truth and prediction.

Every scikit-learn setting not named by the paper is the library default ("the scikit-learn
pre-defined algorithm"). KNN is deterministic: one run per (weights, training subset). The
random forest is not: one run per (criterion, training subset, seed) with ``random_state =
seed``; the tables average the middle runs (appendix C.3, "the same second session procedure as
for the small CNN"). The forests for 1..T trees come from one forest of T trees: scikit-learn
draws the trees' seeds one after another from ``random_state``, so the first k trees of that
forest are exactly the forest ``n_estimators=k`` would grow, and its prediction is their mean
(tests/papers/samplerob/test_samplerob_studies.py checks this).

Each run is a run-like folder ``<out>/<dataset>-<model>-<weights|criterion>-s<seed>-<subset>``
(``rundir.StudyRun``) whose ``metrics.csv`` holds, per hyperparameter value h, rows with
``checkpoint`` = ``k<h>`` / ``trees<h>``, ``epoch`` = h (the hyperparameter: these models have
no epochs), ``split`` = the test (sub)set, ``attack`` = ``subset_eval`` (like the networks'
rows), ``metric`` = ``loss`` / ``acc``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...data import load_dataset
from ...data.base import DataBundle
from ...errors import UserError
from ...reading import load_json, load_yaml
from ...results import RunFiles
from .paper import scheme
from .rundir import StudyRun
from .subset_eval import SETS_FILE, read_sets
from .subsets import load_subset

ATTACK = "subset_eval"
KNN_WEIGHTS = ("uniform", "distance")
RF_CRITERIA = {
    "mae": "absolute_error",
    "mse": "squared_error",
    "absolute_error": "absolute_error",
    "squared_error": "squared_error",
}


@dataclass
class Study:
    """A prepared study folder: its config, ``sets.json`` and the dataset as it was loaded."""

    dir: Path
    cfg: dict
    info: dict
    bundle: DataBundle
    chash: str

    @classmethod
    def load(cls, study_dir: str | Path) -> Study:
        d, files = Path(study_dir), RunFiles(study_dir)
        if not files.done.exists():
            raise UserError(
                f"{d} is not a finished samplerob study",
                fix="run `rbr-samplerob prepare` first",
            )
        cfg = load_yaml(files.config, follow_symlinks=False, what="samplerob study")
        if not isinstance(cfg, dict) or not isinstance(cfg.get("data"), dict):
            raise UserError(f"{files.config} does not hold a study config with a data section", fix="prepare the study again (overwrite=true)")
        info = read_sets(d / "subsets" / SETS_FILE)
        bundle = load_dataset(cfg["data"])
        if {"x": len(bundle.train), "t": len(bundle.test)} != info["sizes"]:
            raise UserError(
                f"the dataset of {d} no longer loads with the sizes it was prepared on {info['sizes']}",
                fix="prepare the study again (overwrite=true)",
            )
        chash = load_json(files.info, follow_symlinks=False, what="samplerob study").get("config_hash")
        if not isinstance(chash, str):
            raise UserError(f"{files.info} has no config_hash", fix="prepare the study again (overwrite=true)")
        return cls(d, cfg, info, bundle, chash)

    def features(self, split: str) -> np.ndarray:
        """Flattened [0, 1] float32 features of ``train`` / ``test`` (the metric space of R)."""
        data = self.bundle.split(split)
        return data.float_x().reshape(len(data), -1).numpy()

    def targets(self, split: str) -> np.ndarray:
        return self.bundle.split(split).y.numpy()

    def subset(self, name: str) -> np.ndarray:
        n = self.info["sizes"]["t" if name == "t" or name.startswith("t_") else "x"]
        return load_subset(self.dir / "subsets" / f"{name}.npy", n)

    def default_subsets(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(training, test) (sub)sets of the study's first paper scheme, in table order."""
        sc = scheme(self.info["like"][0])
        return sc.train_subsets, sc.test_subsets


def pseudo_labels(y: np.ndarray, threshold: float) -> np.ndarray:
    """Paper samplerob's popular (1) / unpopular (0) pseudo-classes of normalized targets."""
    return (np.asarray(y) >= threshold).astype(np.int64)


def paper_loss(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Paper samplerob, appendix C.2: LOSS := 1 - SS_res / SS_tot (= R^2; 1 is the optimum)."""
    from sklearn.metrics import r2_score

    return float(r2_score(y_true, y_pred))


def classification_rows(
    pred: np.ndarray, y: np.ndarray, test_subsets: dict[str, np.ndarray]
) -> list[dict]:
    return [
        {
            "split": name,
            "attack": ATTACK,
            "eps": float("nan"),
            "metric": "acc",
            "value": float(np.mean(pred[i] == y[i])),
            "n": len(i),
        }
        for name, i in test_subsets.items()
    ]


def regression_rows(
    pred: np.ndarray, y: np.ndarray, threshold: float, test_subsets: dict[str, np.ndarray]
) -> list[dict]:
    rows = []
    for name, i in test_subsets.items():
        acc = float(np.mean(pseudo_labels(pred[i], threshold) == pseudo_labels(y[i], threshold)))
        rows.append(
            {
                "split": name,
                "attack": ATTACK,
                "eps": float("nan"),
                "metric": "loss",
                "value": paper_loss(y[i], pred[i]),
                "n": len(i),
            }
        )
        rows.append(
            {
                "split": name,
                "attack": ATTACK,
                "eps": float("nan"),
                "metric": "acc",
                "value": acc,
                "n": len(i),
            }
        )
    return rows


def forest_prefix_predictions(forest, X: np.ndarray) -> np.ndarray:
    """``(T, n)``: row k-1 = prediction of the forest made of the first k trees (their mean)."""
    per_tree = np.stack([tree.predict(X) for tree in forest.estimators_]).astype(np.float64)
    return np.cumsum(per_tree, axis=0) / np.arange(1, len(per_tree) + 1)[:, None]


def _run_config(
    study: Study,
    scale: str,
    seed: int,
    overwrite: bool,
    model: dict,
    train_subset: str,
    test_subsets: Sequence[str],
) -> dict:
    return {
        "scale_name": scale, "seed": int(seed), "overwrite": bool(overwrite), "data": study.cfg["data"], "model": model,
        "samplerob": {"kind": "neighbors", "study": str(study.dir), "study_hash": study.chash, "train_subset": train_subset, "test_subsets": list(test_subsets)},
    }  # fmt: skip


def _check_values(name: str, values: Sequence[int]) -> list[int]:
    values = sorted({int(v) for v in values})
    if not values or values[0] < 1:
        raise UserError(
            f"{name} must be positive integers, got {values}", fix=f"e.g. --{name} 1-15"
        )
    return values


def knn(study_dir: str | Path, out: str | Path, ks: Sequence[int], weights: Sequence[str] = KNN_WEIGHTS, train_subsets: Iterable[str] | None = None,
        test_subsets: Iterable[str] | None = None, scale: str = "smoke", overwrite: bool = False) -> list[Path]:  # fmt: skip
    """KNN classifier (class labels) or regressor (targets) for each K, weights and training
    (sub)set; one run folder per (weights, training subset). Returns the folders."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    study = Study.load(study_dir)
    ks = _check_values("k", ks)
    bad = [w for w in weights if w not in KNN_WEIGHTS]
    if bad:
        raise UserError(f"unknown KNN weights {bad}", fix="use uniform and/or distance")
    train_names, test_names = _names(study, train_subsets, test_subsets)
    regression = study.info["task"] == "regression"
    model_name = "knn_regressor" if regression else "knn_classifier"
    X, y = study.features("train"), study.targets("train")
    T, yt = study.features("test"), study.targets("test")
    tests = {name: study.subset(name) for name in test_names}
    runs = []
    for w in weights:
        for train_name in train_names:
            idx = study.subset(train_name)
            model_cfg = {"name": model_name, "weights": w, "k": ks}
            run = StudyRun(
                Path(out) / f"{study.bundle.name}-{model_name}-{w}-s0-{train_name}",
                _run_config(study, scale, 0, overwrite, model_cfg, train_name, test_names),
            )
            runs.append(run.dir)
            with run.claim("samplerob_neighbors") as done:
                if done:
                    continue
                ident = run.identity(study.bundle.name, model_name, w, 0)
                for k in ks:
                    if k > len(idx):
                        raise UserError(
                            f"K={k} exceeds the {len(idx)} samples of {train_name}", fix="lower --k"
                        )
                    cls = KNeighborsRegressor if regression else KNeighborsClassifier
                    pred = cls(n_neighbors=k, weights=w).fit(X[idx], y[idx]).predict(T)
                    rows = (
                        regression_rows(pred, yt, study.info["popular_threshold"], tests)
                        if regression
                        else classification_rows(pred, yt, tests)
                    )
                    run.add_metrics(ident, k, f"k{k:02d}", rows)
                run.finish()
    print(f"[samplerob] {model_name}: {len(runs)} runs under {out}")
    return runs


def random_forest(study_dir: str | Path, out: str | Path, trees: Sequence[int], criteria: Sequence[str] = ("mae", "mse"), seeds: Sequence[int] = (0,),
                  train_subsets: Iterable[str] | None = None, test_subsets: Iterable[str] | None = None, scale: str = "smoke",
                  jobs: int | None = None, overwrite: bool = False) -> list[Path]:  # fmt: skip
    """Random forest regressor for each tree count, criterion, training (sub)set and seed; one run
    folder per (criterion, training subset, seed). Returns the folders."""
    from sklearn.ensemble import RandomForestRegressor

    study = Study.load(study_dir)
    if study.info["task"] != "regression":
        raise UserError(
            "paper samplerob's random forest is a regressor (ONP); this study is a classification set",
            fix="prepare a regression set (dataset=onp or diabetes)",
        )
    trees = _check_values("trees", trees)
    bad = [c for c in criteria if c not in RF_CRITERIA]
    if bad:
        raise UserError(f"unknown random-forest criteria {bad}", fix="use mae and/or mse")
    train_names, test_names = _names(study, train_subsets, test_subsets)
    X, y = study.features("train"), study.targets("train")
    T, yt = study.features("test"), study.targets("test")
    tests = {name: study.subset(name) for name in test_names}
    threshold = study.info["popular_threshold"]
    runs = []
    for c in criteria:
        criterion = RF_CRITERIA[c]
        for train_name in train_names:
            idx = study.subset(train_name)
            for seed in seeds:
                model_cfg = {"name": "random_forest", "criterion": criterion, "trees": trees}
                run = StudyRun(
                    Path(out)
                    / f"{study.bundle.name}-random_forest-{criterion}-s{seed}-{train_name}",
                    _run_config(study, scale, seed, overwrite, model_cfg, train_name, test_names),
                )
                runs.append(run.dir)
                with run.claim("samplerob_neighbors") as done:
                    if done:
                        continue
                    forest = RandomForestRegressor(
                        n_estimators=max(trees),
                        criterion=criterion,
                        random_state=int(seed),
                        n_jobs=jobs,
                    ).fit(X[idx], y[idx])
                    prefix = forest_prefix_predictions(forest, T)
                    ident = run.identity(study.bundle.name, "random_forest", criterion, int(seed))
                    for t in trees:
                        run.add_metrics(
                            ident,
                            t,
                            f"trees{t:02d}",
                            regression_rows(prefix[t - 1], yt, threshold, tests),
                        )
                    run.finish()
    print(f"[samplerob] random_forest: {len(runs)} runs under {out}")
    return runs


def _names(study: Study, train_subsets, test_subsets) -> tuple[list[str], list[str]]:
    default_train, default_test = study.default_subsets()
    return list(train_subsets or default_train), list(test_subsets or default_test)
