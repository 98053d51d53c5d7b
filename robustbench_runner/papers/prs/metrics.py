"""Paper prs (the PRS ratio paper, arXiv 2207.03400) metrics of one checkpoint.

Definitions (robustbench_runner/papers/prs/README.md, "PRS analysis"), all on the penultimate layer h
(the input of the final linear layer), eval mode, un-augmented data:

- activation pattern of x: the binary vector 1[h(x) > 0];
- PRS ratio = |distinct patterns among training samples| / |X_train|, in (0, 1];
- inclusion ratio (IR): fraction of test samples whose pattern is in the training PRS;
  inclusion / exclusion groups: correctly classified test samples in / not in the PRS
  (paper prs, appendix I, fig. 19: 1,000 of each);
- sparsity: fraction of exactly-zero post-ReLU activations per hidden layer, averaged over
  training samples, then averaged over layers with equal weight;
- cosine similarity (CS): mean off-diagonal cosine similarity between the rows (class
  weight vectors) of the final linear layer's weight matrix.

How the functions take their input: the cheap set functions (:func:`prs_ratio`,
:func:`inclusion_ratio`, :func:`inclusion_mask`, :func:`inclusion_exclusion_groups`) take
*patterns*, either :class:`PackedPatterns` or a :class:`FeatureExtraction` (its
``.patterns`` is used). Functions that need a forward pass (:func:`activation_patterns`,
:func:`sparsity`) accept a model and inputs and then run :func:`features.extract`
themselves, or an already computed :class:`FeatureExtraction` - so a checkpoint's analysis
(:func:`prs_metrics`) runs the model once per split and every metric reads that one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...analysis.features import FeatureExtraction, PackedPatterns, extract
from ...errors import UserError

__all__ = [
    "PackedPatterns",
    "FeatureExtraction",
    "InclusionGroups",
    "activation_patterns",
    "prs_ratio",
    "inclusion_mask",
    "inclusion_ratio",
    "inclusion_exclusion_groups",
    "layer_sparsity",
    "sparsity",
    "cosine_similarity_final_layer",
    "prs_metrics",
]

PatternSource = PackedPatterns | FeatureExtraction


def activation_patterns(
    model: nn.Module,
    x,
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> PackedPatterns:
    """Packed activation patterns 1[h(x) > 0] of the penultimate layer for inputs ``x``.

    Eval mode, ``no_grad``; ``x`` as for :func:`features.extract` (tensor or ArraySplit).
    """
    return extract(
        model, x, batch_size=batch_size, device=device, keep_features=False, track_sparsity=False
    ).patterns


def _patterns(source: PatternSource) -> PackedPatterns:
    if isinstance(source, FeatureExtraction):
        return source.patterns
    if isinstance(source, PackedPatterns):
        return source
    raise TypeError(f"expected PackedPatterns or FeatureExtraction, got {type(source).__name__}")


def prs_ratio(patterns: PatternSource) -> float:
    """PRS ratio = number of distinct activation patterns / number of samples (paper prs)."""
    p = _patterns(patterns)
    if len(p) == 0:
        raise UserError("the PRS ratio of an empty set is undefined", fix="pass training samples")
    return len(np.unique(p.keys())) / len(p)


def inclusion_mask(train_patterns: PatternSource, test_patterns: PatternSource) -> np.ndarray:
    """Boolean ``(N_test,)``: True where the test pattern belongs to the training PRS."""
    train, test = _patterns(train_patterns), _patterns(test_patterns)
    if train.n_units != test.n_units:
        raise ValueError(f"train patterns have {train.n_units} units, test patterns {test.n_units}")
    return np.isin(test.keys(), train.keys())


def inclusion_ratio(train_patterns: PatternSource, test_patterns: PatternSource) -> float:
    """Inclusion ratio (IR): fraction of test samples whose pattern is in the training PRS."""
    mask = inclusion_mask(train_patterns, test_patterns)
    if len(mask) == 0:
        raise UserError(
            "the inclusion ratio of an empty test set is undefined", fix="pass test samples"
        )
    return float(mask.mean())


@dataclass(frozen=True)
class InclusionGroups:
    """Indices (into the test set, sorted) of the inclusion and exclusion groups.

    ``n_inclusion_available`` / ``n_exclusion_available`` count every correctly classified
    test sample in / not in the training PRS, before drawing at most ``n`` of each.
    """

    inclusion: np.ndarray
    exclusion: np.ndarray
    n_inclusion_available: int
    n_exclusion_available: int
    n_requested: int
    seed: int


def inclusion_exclusion_groups(
    train_patterns: PatternSource,
    test_patterns: PatternSource,
    correct_mask,
    n: int = 1000,
    seed: int = 0,
) -> InclusionGroups:
    """Up to ``n`` correctly classified test samples in the PRS and up to ``n`` not in it.

    Paper prs, appendix I / fig. 19 (1,000 samples per group). How the paper chose the 1,000
    is not stated; here they are drawn uniformly without replacement with
    ``numpy.random.default_rng(seed)`` (all of a group when it has fewer than ``n``).
    """
    mask = inclusion_mask(train_patterns, test_patterns)
    correct = np.asarray(
        correct_mask.cpu().numpy() if isinstance(correct_mask, torch.Tensor) else correct_mask,
        dtype=bool,
    )
    if correct.shape != mask.shape:
        raise ValueError(f"correct_mask has shape {correct.shape}, test patterns {mask.shape}")
    if n < 0:
        raise UserError(f"group size n must be non-negative, got {n}", fix="use e.g. n=1000")
    rng = np.random.default_rng(seed)
    inside = np.flatnonzero(mask & correct)
    outside = np.flatnonzero(~mask & correct)

    def draw(pool: np.ndarray) -> np.ndarray:
        if len(pool) <= n:
            return pool
        return np.sort(rng.choice(pool, size=n, replace=False))

    return InclusionGroups(
        inclusion=draw(inside),
        exclusion=draw(outside),
        n_inclusion_available=len(inside),
        n_exclusion_available=len(outside),
        n_requested=n,
        seed=seed,
    )


def layer_sparsity(
    source: nn.Module | FeatureExtraction,
    x=None,
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Per hidden layer (``nn.ReLU`` call): fraction of exactly-zero post-ReLU activations
    averaged over samples. ``source`` is a model (then ``x`` are the training inputs) or a
    :class:`FeatureExtraction` of the training set. Functional ReLUs are not counted."""
    if isinstance(source, FeatureExtraction):
        if x is not None:
            raise ValueError("x is only used with a model, not with a FeatureExtraction")
        return source.layer_zero_fractions()
    if x is None:
        raise ValueError("sparsity of a model needs its training inputs x")
    ext = extract(source, x, batch_size=batch_size, device=device, keep_features=False)
    return ext.layer_zero_fractions()


def sparsity(
    source: nn.Module | FeatureExtraction,
    x=None,
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> float:
    """Sparsity (paper prs): per-layer zero fraction averaged over layers with equal weight.

    Paper prs measures it on training samples; pass the training inputs (or their
    extraction). Only ``nn.ReLU`` modules are hidden layers (see :mod:`.features`).
    """
    per_layer = layer_sparsity(source, x, batch_size=batch_size, device=device)
    return float(np.mean(list(per_layer.values())))


def cosine_similarity_final_layer(model_or_weight: nn.Module | torch.Tensor) -> float:
    """Mean off-diagonal cosine similarity between rows of the final layer's weight matrix.

    CS = (1 / (K (K - 1))) sum_{i != j} <w_i, w_j> / (||w_i|| ||w_j||) (paper prs), computed in
    float64. Accepts a model with a final ``classifier`` (``nn.Linear``) or the ``(K, D)``
    weight itself. A zero row has no direction, so the value is then undefined (error).
    """
    if isinstance(model_or_weight, torch.Tensor):
        weight = model_or_weight
    else:
        classifier = getattr(model_or_weight, "classifier", None)
        if not isinstance(classifier, nn.Linear):
            raise UserError(
                f"{type(model_or_weight).__name__} has no final nn.Linear `classifier`",
                fix="use a model built on robustbench_runner.models.base.ImageClassifier",
            )
        weight = classifier.weight
    w = weight.detach().to("cpu", torch.float64)
    if w.dim() != 2 or w.shape[0] < 2:
        raise ValueError(f"need a (K >= 2, D) weight matrix, got shape {tuple(w.shape)}")
    norms = w.norm(dim=1)
    if (norms == 0).any():
        raise ValueError("a class weight vector is zero; its cosine similarity is undefined")
    unit = w / norms[:, None]
    sim = unit @ unit.T
    k = w.shape[0]
    return float((sim.sum() - sim.diagonal().sum()) / (k * (k - 1)))


def prs_metrics(
    model: nn.Module,
    train: FeatureExtraction,
    test: FeatureExtraction,
) -> dict[str, float]:
    """Every paper prs scalar of one checkpoint from its two extractions.

    Keys: ``prs_ratio``, ``inclusion_ratio``, ``sparsity``, ``cosine_similarity``, plus
    ``train_accuracy`` / ``test_accuracy`` when the extractions carry labels. ``train``
    must have been extracted with ``track_sparsity=True`` (the default).
    """
    out = {
        "prs_ratio": prs_ratio(train),
        "inclusion_ratio": inclusion_ratio(train, test),
        "sparsity": sparsity(train),
        "cosine_similarity": cosine_similarity_final_layer(model),
    }
    if train.labels is not None:
        out["train_accuracy"] = train.accuracy
    if test.labels is not None:
        out["test_accuracy"] = test.accuracy
    return out
