"""LOSS and ACC of a checkpoint on each test (sub)set of paper samplerob (``analysis=[subset_eval]``).

Paper samplerob, section 4.2.1: every network trained on a training (sub)set is evaluated
on the test set t and on its robustness subsets t_L5, t_M5, t_L2, t_M2 ("LOSS \\ ACC" cells of
tables 2-4). The subsets are index files ``<folder>/<name>.npy`` into the *full* test split,
written by ``rbr-samplerob prepare`` (``subsets.py``).

One forward pass over the split gives per-sample cross-entropy and predictions; each subset
then yields three rows (``split`` = the subset name, ``eps`` NaN):

- ``loss``: mean categorical cross-entropy ``-log softmax(f(x))_y`` (the loss the paper's
  Keras models were compiled with, appendix C.1; computed from the logits, without Keras'
  clipping of probabilities to [1e-7, 1 - 1e-7]);
- ``loss_cw``: the class-balanced loss of table 3 ("loss was re-weighted to account for class
  imbalance in the subsets of t", section 4.2.1): sample weights ``w_c = n / (K n_c)`` with
  ``n_c`` the count of class c in the subset and K the number of classes present (scikit-
  learn's "balanced" weights), ``loss_cw = mean_i w_{y_i} CE_i`` = the mean over classes of the
  per-class mean loss. On a class-balanced set (t) it equals ``loss``;
- ``acc``: fraction of correct predictions (argmax of the logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...analysis.checkpoint import AnalysisContext, CheckpointAnalysis
from ...errors import UserError
from ...reading import BadFile, load_json
from .subsets import load_subset

#: File written by ``rbr-samplerob prepare`` beside the index files: set sizes the indices refer to.
SETS_FILE = "sets.json"


def read_sets(path: str | Path) -> dict:
    """A study's ``subsets/sets.json`` (written by ``rbr-samplerob prepare``) through the
    reading layer: a regular file the study wrote (no symlink followed), strict JSON, an
    object whose ``sizes`` are the non-negative integer sizes ``x`` and ``t``; else one
    line naming the file."""
    fix = "prepare the study again (rbr-samplerob prepare ... overwrite=true)"
    info = load_json(path, follow_symlinks=False, what="samplerob sets", fix=fix)
    sizes = info.get("sizes")
    if not isinstance(sizes, dict) or not all(isinstance(sizes.get(k), int) and not isinstance(sizes.get(k), bool) and sizes[k] >= 0 for k in ("x", "t")):
        raise BadFile(path, "has no integer sizes {x, t}", what="samplerob sets", fix=fix)
    return info


def balanced_class_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights ``n / (K n_c)`` (K = classes present): each class weighs the same."""
    labels = np.asarray(labels)
    classes, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return (len(labels) / (len(classes) * counts))[codes]


def subset_rows(
    name: str, losses: np.ndarray, correct: np.ndarray, labels: np.ndarray
) -> list[dict]:
    """The three metric rows of one (sub)set from per-sample losses, hits and labels."""
    n = len(losses)
    if n == 0:
        raise UserError(
            f"test subset {name} is empty", fix="recreate the subsets with rbr-samplerob prepare"
        )
    weights = balanced_class_weights(labels)
    return [
        {
            "split": name,
            "eps": float("nan"),
            "metric": "loss",
            "value": float(losses.mean()),
            "n": n,
        },
        {
            "split": name,
            "eps": float("nan"),
            "metric": "loss_cw",
            "value": float(np.mean(weights * losses)),
            "n": n,
        },
        {
            "split": name,
            "eps": float("nan"),
            "metric": "acc",
            "value": float(correct.mean()),
            "n": n,
        },
    ]


@torch.no_grad()
def per_sample_loss(
    model: nn.Module, x_of, n: int, y: torch.Tensor, batch_size: int, device
) -> tuple[np.ndarray, np.ndarray]:
    """Float64 per-sample cross-entropy and correctness over ``n`` rows (``x_of(a, b)`` gives the
    float inputs of rows a..b); the model is in eval mode (the caller's evaluation copy)."""
    was_training = model.training
    model.eval()
    losses, hits = [], []
    try:
        for a in range(0, n, batch_size):
            b = min(n, a + batch_size)
            logits = model(x_of(a, b).to(device)).double()
            target = y[a:b].to(logits.device)
            losses.append(nn.functional.cross_entropy(logits, target, reduction="none").cpu())
            hits.append((logits.argmax(1) == target).cpu())
    finally:
        model.train(was_training)
    return torch.cat(losses).numpy(), torch.cat(hits).numpy()


class SubsetEval(CheckpointAnalysis):
    """Per-checkpoint LOSS / class-balanced LOSS / ACC on each test (sub)set index file.

    Args:
        folder: folder holding ``<name>.npy`` index files (and ``sets.json`` from prepare).
        subsets: names in output order; None = every ``t`` / ``t_*`` file of the folder.
        split: the split the indices select rows of (``test``).
        name: the ``attack`` label of the rows.
    """

    default_name = "subset_eval"

    def __init__(
        self,
        folder: str | None = None,
        subsets: Sequence[str] | None = None,
        split: str = "test",
        name: str | None = None,
    ):
        super().__init__(name)
        if not folder:
            raise UserError(
                "analysis subset_eval needs the folder of the test-subset index files",
                fix="set analysis.subset_eval.folder=<study>/subsets (written by `rbr-samplerob prepare`)",
            )
        self.folder = Path(str(folder))
        self.subsets = list(subsets) if subsets is not None else None
        self.split = str(split)

    def subset_names(self) -> list[str]:
        if self.subsets is not None:
            return self.subsets
        if not self.folder.is_dir():
            raise UserError(
                f"subset folder {self.folder} does not exist",
                fix="run `rbr-samplerob prepare` first",
            )
        names = sorted(
            p.stem for p in self.folder.glob("t*.npy") if p.stem == "t" or p.stem.startswith("t_")
        )
        if not names:
            raise UserError(
                f"no test subsets (t.npy, t_*.npy) in {self.folder}",
                fix="run rbr-samplerob prepare, or list analysis.subset_eval.subsets",
            )
        return names

    def expected_size(self) -> int | None:
        """Size of the full split the index files refer to (``sets.json``), if recorded."""
        path = self.folder / SETS_FILE
        if not path.is_file():
            return None
        return read_sets(path)["sizes"]["t" if self.split == "test" else "x"]

    def rows(self, ctx: AnalysisContext) -> list[dict]:
        if ctx.bundle.task != "classification":
            raise UserError(
                f"analysis subset_eval measures cross-entropy and accuracy; dataset {ctx.bundle.name!r} is a {ctx.bundle.task} set",
                fix="use it with classification datasets",
            )
        data = ctx.bundle.split(self.split)
        expected = self.expected_size()
        if expected is not None and expected != len(data):
            raise UserError(
                f"the subsets in {self.folder} index a {self.split} split of {expected} samples, but this run's has {len(data)}",
                fix="evaluate on the full split: set data.limit_test=null and data.test_subset=null",
            )
        losses, correct = per_sample_loss(
            ctx.model,
            lambda a, b: data.float_x(slice(a, b)),
            len(data),
            data.y,
            ctx.batch_size,
            ctx.device,
        )
        labels = data.y.cpu().numpy()
        out: list[dict] = []
        for name in self.subset_names():
            index = load_subset(self.folder / f"{name}.npy", len(data))
            out += subset_rows(name, losses[index], correct[index], labels[index])
        return out
