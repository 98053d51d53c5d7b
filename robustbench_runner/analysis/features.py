"""One forward pass per batch that feeds every per-checkpoint metric of paper prs.

:func:`extract` runs ``model.features`` and ``model.classifier`` (the split defined by
:class:`~robustbench_runner.models.base.ImageClassifier`) once per batch, in eval mode
under ``no_grad``, on un-augmented inputs (robustbench_runner/papers/prs/README.md, "PRS analysis"), and keeps

- the penultimate features h(x) (float32, CPU), for denseness (paper prs, appendix D);
- the activation patterns 1[h(x) > 0] packed into bits (:class:`PackedPatterns`), for the
  PRS ratio and the inclusion ratio;
- the predicted classes, for accuracy and the inclusion/exclusion groups (fig. 19);
- per hidden layer, the number of exactly-zero post-ReLU activations, for sparsity.

A checkpoint's analysis therefore runs the model once over the training set and once over
the test set; :mod:`robustbench_runner.papers.prs.metrics` and
:mod:`robustbench_runner.papers.prs.denseness` read the resulting :class:`FeatureExtraction`.

Hidden layers are the ``nn.ReLU`` modules of the model, observed with forward hooks.
ReLUs applied functionally (``torch.relu``, ``F.relu``) are invisible to hooks and are not
counted; a module called several times in one forward (torchvision's ``BasicBlock.relu``
is applied twice per block) counts as one layer per call, keyed ``name``, ``name#1``, ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..data.base import ArraySplit, to_float
from ..errors import UserError


@dataclass(frozen=True)
class PackedPatterns:
    """Binary activation patterns, one row per sample, packed 8 units per byte.

    ``bits`` is ``numpy.packbits(binary, axis=1)`` (big-endian bit order, the last byte
    zero-padded identically for every row), shape ``(N, ceil(n_units / 8))``, uint8. Two
    samples share a pattern iff their rows are byte-for-byte equal, so rows serve as hash
    keys (:meth:`row_bytes`) or as one numpy ``void`` scalar each (:meth:`keys`) for
    ``np.unique`` / ``np.isin``. 60,000 samples x 128 units take 960 kB.
    """

    bits: np.ndarray
    n_units: int

    def __post_init__(self):
        if self.bits.dtype != np.uint8 or self.bits.ndim != 2:
            raise ValueError(
                f"bits must be a 2-d uint8 array, got {self.bits.dtype} {self.bits.shape}"
            )
        if self.bits.shape[1] != (self.n_units + 7) // 8:
            raise ValueError(
                f"{self.n_units} units need {(self.n_units + 7) // 8} bytes per row, "
                f"got {self.bits.shape[1]}"
            )

    @classmethod
    def from_binary(cls, binary: np.ndarray | torch.Tensor) -> PackedPatterns:
        """Pack a boolean ``(N, D)`` array (or tensor) of unit states."""
        if isinstance(binary, torch.Tensor):
            binary = binary.detach().cpu().numpy()
        binary = np.asarray(binary, dtype=bool)
        if binary.ndim != 2:
            raise ValueError(f"patterns must be (N, D), got shape {binary.shape}")
        return cls(np.ascontiguousarray(np.packbits(binary, axis=1)), int(binary.shape[1]))

    @classmethod
    def from_features(cls, h: torch.Tensor | np.ndarray) -> PackedPatterns:
        """Activation patterns 1[h(x) > 0] of penultimate features ``(N, D)``."""
        if isinstance(h, torch.Tensor):
            return cls.from_binary((h.detach().reshape(len(h), -1) > 0).cpu())
        h = np.asarray(h)
        return cls.from_binary(h.reshape(len(h), -1) > 0)

    @classmethod
    def concatenate(cls, parts: Iterable[PackedPatterns]) -> PackedPatterns:
        parts = list(parts)
        if not parts:
            raise ValueError("nothing to concatenate")
        units = {p.n_units for p in parts}
        if len(units) != 1:
            raise ValueError(f"patterns of different widths cannot be joined: {sorted(units)}")
        return cls(np.ascontiguousarray(np.concatenate([p.bits for p in parts])), units.pop())

    def __len__(self) -> int:
        return int(self.bits.shape[0])

    def unpack(self) -> np.ndarray:
        """The boolean ``(N, n_units)`` patterns."""
        return np.unpackbits(self.bits, axis=1, count=self.n_units).astype(bool)

    def keys(self) -> np.ndarray:
        """One ``void`` scalar per row (equal iff the patterns are equal), shape ``(N,)``."""
        bits = np.ascontiguousarray(self.bits)
        return bits.view(np.dtype((np.void, bits.shape[1]))).reshape(-1)

    def row_bytes(self, i: int) -> bytes:
        """Row ``i`` as ``bytes``, usable as a dict key."""
        return self.bits[i].tobytes()

    def distinct(self) -> PackedPatterns:
        """The distinct patterns (sorted by their bytes)."""
        return PackedPatterns(np.ascontiguousarray(np.unique(self.bits, axis=0)), self.n_units)

    def subset(self, index) -> PackedPatterns:
        return PackedPatterns(np.ascontiguousarray(self.bits[np.asarray(index)]), self.n_units)


@dataclass
class FeatureExtraction:
    """What :func:`extract` collected from one pass of a model over one split."""

    patterns: PackedPatterns
    predictions: torch.Tensor  # int64 (N,), argmax of the logits
    layer_zero_counts: dict[str, int] = field(default_factory=dict)  # per nn.ReLU call
    layer_sizes: dict[str, int] = field(default_factory=dict)  # activations per sample
    features: torch.Tensor | None = None  # float32 (N, D) penultimate layer, CPU
    labels: torch.Tensor | None = None  # int64 (N,) when the split carried labels

    def __len__(self) -> int:
        return len(self.patterns)

    @property
    def n_samples(self) -> int:
        return len(self.patterns)

    @property
    def correct(self) -> torch.Tensor:
        """Boolean mask of correctly classified samples (needs labels)."""
        if self.labels is None:
            raise UserError(
                "this feature extraction has no labels, so correctness is unknown",
                fix="pass labels= to extract() or an ArraySplit as x",
            )
        return self.predictions == self.labels

    @property
    def accuracy(self) -> float:
        return float(self.correct.float().mean())

    def layer_zero_fractions(self) -> dict[str, float]:
        """Per hidden layer: zero activations / (samples x units), i.e. the per-sample zero
        fraction averaged over samples (every sample has the same number of units)."""
        if not self.layer_zero_counts:
            raise UserError(
                "no nn.ReLU activations were recorded, so sparsity is undefined",
                fix="extract with track_sparsity=True from a model whose hidden ReLUs are "
                "nn.ReLU modules (functional relu calls cannot be observed)",
            )
        n = self.n_samples
        return {k: c / (n * self.layer_sizes[k]) for k, c in self.layer_zero_counts.items()}


def extract(
    model: nn.Module,
    x: torch.Tensor | ArraySplit,
    batch_size: int = 512,
    device: torch.device | str | None = None,
    labels: torch.Tensor | None = None,
    keep_features: bool = True,
    track_sparsity: bool = True,
) -> FeatureExtraction:
    """Run ``model`` once over ``x`` and collect features, patterns, predictions, zero counts.

    ``x`` is a tensor of inputs in [0, 1] (uint8 pixels are divided by 255 per batch) or an
    :class:`~robustbench_runner.data.base.ArraySplit` (its labels are then kept). ``device``
    defaults to the device of the model's parameters; when given, the model is moved there
    (``model.to(device)``, in place). The model's train/eval mode is restored afterwards.
    ``keep_features=False`` drops the float features (patterns are still kept) to save memory.
    """
    if isinstance(x, ArraySplit):
        if labels is None and x.y.dtype == torch.int64:
            labels = x.y
        x = x.x
    if not (
        hasattr(model, "features") and isinstance(getattr(model, "classifier", None), nn.Linear)
    ):
        raise UserError(
            f"{type(model).__name__} does not expose features(x) and a final nn.Linear "
            "classifier, so its penultimate layer is unknown",
            fix="use a model built on robustbench_runner.models.base.ImageClassifier",
        )
    if batch_size < 1:
        raise UserError(f"batch_size must be positive, got {batch_size}", fix="use e.g. 512")
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"{len(labels)} labels for {len(x)} inputs")
    if device is None:
        device = _model_device(model)
    else:
        device = torch.device(device)
        model.to(device)

    recorder = _ReluRecorder(model) if track_sparsity else None
    was_training = model.training
    model.eval()
    patterns, predictions, features = [], [], []
    try:
        with torch.no_grad():
            for xb in _batches(x, batch_size):
                if recorder is not None:
                    recorder.new_forward()
                h = model.features(to_float(xb).to(device, non_blocking=True))
                h = h.reshape(len(h), -1)
                logits = model.classifier(h)
                patterns.append(PackedPatterns.from_features(h))
                predictions.append(logits.argmax(dim=1).cpu())
                if keep_features:
                    features.append(h.float().cpu())
    finally:
        model.train(was_training)
        if recorder is not None:
            recorder.remove()
    if not patterns:
        raise UserError("cannot analyse an empty split", fix="check the dataset split sizes")
    return FeatureExtraction(
        patterns=PackedPatterns.concatenate(patterns),
        predictions=torch.cat(predictions),
        layer_zero_counts=recorder.zero_counts() if recorder else {},
        layer_sizes=dict(recorder.sizes) if recorder else {},
        features=torch.cat(features) if keep_features else None,
        labels=None if labels is None else torch.as_tensor(labels).cpu(),
    )


def _batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size]


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


class _ReluRecorder:
    """Forward hooks on every ``nn.ReLU`` counting exactly-zero outputs per call.

    Counts stay on the model's device (one host sync at the end). Call :meth:`new_forward`
    before each forward so that the n-th call of a module in a forward maps to the same
    layer key in every batch.
    """

    def __init__(self, model: nn.Module):
        self.sizes: dict[str, int] = {}
        self._counts: dict[str, torch.Tensor] = {}
        self._calls: dict[str, int] = {}
        self._handles = [
            module.register_forward_hook(self._hook(name))
            for name, module in model.named_modules()
            if isinstance(module, nn.ReLU)
        ]

    def _hook(self, name: str):
        def hook(module, inputs, output):
            call = self._calls.get(name, 0)
            self._calls[name] = call + 1
            key = name if call == 0 else f"{name}#{call}"
            zeros = (output == 0).sum()
            per_sample = output[0].numel() if output.dim() > 0 else 1
            if key in self.sizes and self.sizes[key] != per_sample:
                raise RuntimeError(f"layer {key} changed size between batches")
            self.sizes[key] = per_sample
            self._counts[key] = self._counts[key] + zeros if key in self._counts else zeros

        return hook

    def new_forward(self) -> None:
        self._calls.clear()

    def zero_counts(self) -> dict[str, int]:
        return {k: int(v) for k, v in self._counts.items()}

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
