"""Paper prs's per-checkpoint analyses (config group ``analysis``; ``analysis=[prs,denseness]``).

Each class turns one checkpoint into ``metrics.csv`` rows (``attack`` = the analysis name,
``metric`` = the quantity, ``split`` = the data it was measured on). All of them read the
one-pass feature extraction of :class:`~.checkpoint.AnalysisContext` (``ctx.features``), so
a checkpoint analysed with several of them runs the network once over the training set and
once over the test set (robustbench_runner/papers/prs/README.md, "PRS analysis"; paper prs = appendix of
arXiv 2207.03400).

- :class:`PRSAnalysis` (``prs``): PRS ratio, sparsity and final-layer cosine similarity
  (``split=train``: the PRS is a set of training patterns, sparsity is averaged over
  training samples, CS is a property of the weights training produced), inclusion ratio
  (``split=test``).
- :class:`DensenessAnalysis` (``denseness``): D(X, K) of paper prs, appendix D, for every
  K of ``ks`` (``metric=denseness_k<K>``, ``split=train``).
- :class:`InclusionGroupsAnalysis` (``inclusion_fgsm``, ``inclusion_pgd20``): paper prs,
  appendix I / fig. 19: robust accuracy versus eps of one attack on the inclusion and
  exclusion groups (``split=test_inclusion`` / ``test_exclusion``): up to ``n`` = 1,000
  correctly classified test samples whose activation pattern is / is not in the training
  PRS; ``n`` of every row is the number of samples the group holds, and a
  ``group_available`` row records how many qualified before drawing.

The FGSM robust score and the PGD-20 accuracy of paper prs come from the attack suite
(``attacks=prs``), not from an analysis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ...analysis.checkpoint import AnalysisContext, CheckpointAnalysis
from ...attacks.base import Attack
from ...errors import UserError
from ...evaluate import accuracy_rows, attack_predictions, frozen_eval, predict
from ...seeding import preserved_rng
from .denseness import DEFAULT_KS, training_denseness
from .metrics import (
    cosine_similarity_final_layer,
    inclusion_exclusion_groups,
    inclusion_ratio,
    prs_ratio,
    sparsity,
)

NAN = float("nan")

#: ``split`` values of the two groups of fig. 19.
INCLUSION_SPLIT = "test_inclusion"
EXCLUSION_SPLIT = "test_exclusion"


def _row(split: str, metric: str, value: float, n: int, eps: float = NAN) -> dict:
    return {"split": split, "eps": eps, "metric": metric, "value": float(value), "n": int(n)}


class PRSAnalysis(CheckpointAnalysis):
    """PRS ratio, inclusion ratio (IR), sparsity and cosine similarity (CS) of one checkpoint.

    Rows (robustbench_runner/papers/prs/README.md, "PRS analysis"):

    - ``split=train``: ``prs_ratio`` = |distinct penultimate patterns| / |X_train|
      (``n`` = training samples), ``prs_size`` = |PRS|, ``sparsity`` (zero fraction per
      hidden ``nn.ReLU`` layer averaged over training samples, then over layers),
      ``cosine_similarity`` (mean off-diagonal cosine between the final layer's class
      weight vectors; ``n`` = classes), ``accuracy`` on the un-augmented training set;
    - ``split=test``: ``inclusion_ratio`` = fraction of test samples whose pattern is in
      the training PRS (``n`` = test samples).
    """

    default_name = "prs"

    def __init__(self, name: str | None = None, train_split: str = "train", test_split: str = "test"):
        super().__init__(name)
        self.train_split, self.test_split = str(train_split), str(test_split)

    def rows(self, ctx: AnalysisContext) -> list[dict]:
        train = ctx.features(self.train_split)
        test = ctx.features(self.test_split)
        n_train, n_test = len(train), len(test)
        ratio = prs_ratio(train)
        weight_rows = int(ctx.model.classifier.weight.shape[0])
        rows = [
            _row(self.train_split, "prs_ratio", ratio, n_train),
            _row(self.train_split, "prs_size", round(ratio * n_train), n_train),
            _row(self.train_split, "sparsity", sparsity(train), n_train),
            _row(self.train_split, "cosine_similarity", cosine_similarity_final_layer(ctx.model), weight_rows),
            _row(self.test_split, "inclusion_ratio", inclusion_ratio(train, test), n_test),
        ]
        if train.labels is not None:
            rows.append(_row(self.train_split, "accuracy", train.accuracy, n_train))
        return rows


class DensenessAnalysis(CheckpointAnalysis):
    """D(X_train, K) for every K of ``ks`` (paper prs, appendix D, table 4):
    ``metric=denseness_k<K>``, ``split=train``, ``n`` = training samples.

    ``dtype``: float64 (default) ranks neighbours exactly; float32 is faster on GPUs with
    slow double precision. ``block_mb`` bounds the memory of one block of distances."""

    default_name = "denseness"

    def __init__(
        self,
        name: str | None = None,
        ks: Sequence[int] = DEFAULT_KS,
        split: str = "train",
        dtype: str = "float64",
        block_mb: int = 256,
    ):
        super().__init__(name)
        self.ks = [int(k) for k in ks]
        if not self.ks or min(self.ks) < 1:
            raise UserError(f"denseness ks must be positive integers, got {list(ks)}", fix="e.g. ks: [10, 50, 100, 200, 300]")
        if dtype not in ("float32", "float64"):
            raise UserError(f"denseness dtype must be float32 or float64, got {dtype!r}", fix="use dtype: float64")
        self.split, self.dtype, self.block_bytes = str(split), getattr(torch, dtype), int(block_mb) * 2**20

    def rows(self, ctx: AnalysisContext) -> list[dict]:
        train = ctx.features(self.split)
        values = training_denseness(train, ks=self.ks, device=ctx.device, dtype=self.dtype, block_bytes=self.block_bytes)
        return [_row(self.split, f"denseness_k{k}", v, len(train)) for k, v in sorted(values.items())]


class InclusionGroupsAnalysis(CheckpointAnalysis):
    """Robust accuracy versus eps on the inclusion and exclusion test groups (paper prs,
    appendix I, fig. 19).

    The groups are drawn by :func:`~.prs.inclusion_exclusion_groups`: at most ``n``
    correctly classified test samples whose penultimate pattern is (inclusion) / is not
    (exclusion) in the training PRS, uniformly with ``numpy.random.default_rng(seed)``
    (the paper does not say how its 1,000 were chosen). ``attack`` is a partially
    instantiated :class:`~robustbench_runner.attacks.base.Attack` (a Hydra ``_partial_``
    attack config, completed here with ``model=``); its eps list is the curve's x axis.

    Rows per group (``split`` = ``test_inclusion`` / ``test_exclusion``):
    ``group_available`` (qualifying samples before drawing), ``group_size`` (drawn), and
    for a non-empty group ``acc`` per eps plus ``auc_norm`` / ``auc_raw`` of the curve
    (the engine's :func:`~robustbench_runner.evaluate.accuracy_rows`); ``n`` = group size.
    The ``attack`` column is ``name`` on the inclusion rows and ``exclusion_name`` on the
    exclusion rows, so that each label holds one curve per checkpoint (what ``rbr-run``'s
    end-of-run summary, which keys curves by label and checkpoint, can show).
    """

    default_name = "inclusion"

    def __init__(
        self,
        attack: Callable[..., Attack],
        name: str | None = None,
        exclusion_name: str | None = None,
        n: int = 1000,
        seed: int = 0,
        batch_size: int | None = None,
    ):
        super().__init__(name)
        self.exclusion_name = exclusion_name or f"{self.name}-exclusion"
        if self.exclusion_name == self.name:
            raise UserError(
                f"analysis {self.name}: exclusion_name must differ from name",
                fix="e.g. name: inclusion-FGSM, exclusion_name: exclusion-FGSM",
            )
        if not callable(attack):
            raise UserError(
                f"analysis {self.name}: attack must be an attack config with _partial_: true",
                fix="use e.g. `defaults: [/attack@attack: fgsm]` in the analysis config",
            )
        if int(n) < 1:
            raise UserError(f"analysis {self.name}: n must be >= 1, got {n}", fix="use n: 1000 (paper prs, fig. 19)")
        self.attack_factory, self.n, self.seed = attack, int(n), int(seed)
        self.batch_size = None if batch_size is None else int(batch_size)

    def rows(self, ctx: AnalysisContext) -> list[dict]:
        train, test = ctx.features("train"), ctx.features("test")
        groups = inclusion_exclusion_groups(train, test, test.correct, n=self.n, seed=self.seed)
        data = ctx.bundle.split("test")
        attack = self.attack_factory(model=ctx.model)
        bs = self.batch_size or ctx.batch_size
        rows: list[dict] = []
        for split, label, index, available in (
            (INCLUSION_SPLIT, self.name, groups.inclusion, groups.n_inclusion_available),
            (EXCLUSION_SPLIT, self.exclusion_name, groups.exclusion, groups.n_exclusion_available),
        ):
            rows.append({"attack": label, **_row(split, "group_available", available, available)})
            rows.append({"attack": label, **_row(split, "group_size", len(index), len(index))})
            if len(index) == 0:
                continue  # an empty group has no accuracy (never written as 0)
            idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
            x, y = data.float_x(idx), data.y[idx]
            with frozen_eval(ctx.model), preserved_rng():
                clean = predict(ctx.model, x, bs, ctx.device)
                preds = attack_predictions(ctx.model, attack, x, y, clean, bs, ctx.device)
            for r in accuracy_rows(label, preds, y):
                rows.append({"attack": label, **_row(split, r["metric"], r["value"], r["n"], r["eps"])})
        return rows
