"""Batching over in-memory splits: seeded shuffling, optional augmentation, any device.

Two paths produce the same batches (``data.loader``):

- ``tensor`` (default): index the split's tensors directly. When the split lives on the GPU
  (``data.on_gpu: true`` + ``DataBundle.place``) indexing, uint8 -> float conversion and
  augmentation all happen there: no host work per batch beyond the index slice.
- ``dataloader``: a standard ``torch.utils.data.DataLoader`` (``num_workers`` processes,
  ``pin_memory``) whose workers gather whole batches (one index tensor per fetch, no per-sample
  collation) from the same tensors.

In both, the order is one ``randperm`` drawn from ``generator`` and the augmentation draws from
the same generator batch after batch in the main process, so a resumed run sees exactly the
batches an uninterrupted one would, whichever path and device it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from .base import LOADERS, ArraySplit, to_float

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def batch_indices(
    n: int,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> list[torch.Tensor]:
    """The index tensors of one pass: a seeded permutation (or 0..n-1) cut into batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if order.device.type != "cpu":  # a CUDA generator draws on the GPU
        order = order.cpu()
    chunks = list(order.split(batch_size))
    if drop_last and chunks and len(chunks[-1]) < batch_size:
        chunks.pop()
    return chunks


class BatchGatherDataset(Dataset):
    """A map-style dataset whose items are whole batches: ``ds[index_tensor]`` returns the
    stored rows and labels (the DataLoader runs with ``batch_size=None``, so workers do one
    vectorized gather per batch instead of collating single samples)."""

    def __init__(self, split: ArraySplit):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split.gather(index), self.split.y[index]


def _tensor_source(split: ArraySplit, chunks: list[torch.Tensor]):
    device = split.device
    for idx in chunks:
        idx = idx.to(device, non_blocking=True)
        yield split.gather(idx), split.y[idx]


def _dataloader_source(split: ArraySplit, chunks, num_workers: int, pin_memory: bool):
    if split.device.type != "cpu":
        raise ValueError("the dataloader path reads CPU tensors; use loader=tensor for a split on the GPU")
    return DataLoader(
        BatchGatherDataset(split),
        batch_size=None,
        sampler=chunks,
        num_workers=num_workers,
        pin_memory=pin_memory,
        # The loader draws its workers' base seed from this generator; a private one keeps
        # the epoch generator (order, augmentation) and the global RNG (dropout) untouched.
        generator=torch.Generator().manual_seed(0),
    )


def batches(
    split: ArraySplit,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    augment: Augment | None = None,
    drop_last: bool = False,
    loader: str = "tensor",
    num_workers: int = 0,
    pin_memory: bool | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` float batches in [0, 1] on ``device``.

    The order comes from ``generator`` (seeded by the trainer per epoch), so a resumed run
    sees exactly the batches an uninterrupted one would. ``loader``/``num_workers``/
    ``pin_memory`` pick the path (module docstring); ``pin_memory=None`` pins when ``device``
    is CUDA. Rows cross to ``device`` as stored (uint8 or float32) and are converted there.
    """
    device = torch.device(device)
    if loader not in LOADERS:
        raise ValueError(f"loader={loader!r} is not one of {LOADERS}")
    chunks = batch_indices(len(split), batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last)
    if loader == "tensor":
        source = _tensor_source(split, chunks)
    else:
        pin = device.type == "cuda" if pin_memory is None else bool(pin_memory)
        source = _dataloader_source(split, chunks, num_workers, pin and torch.cuda.is_available())
    for x, y in source:
        x = to_float(x.to(device, non_blocking=True))
        y = y.to(device, non_blocking=True)
        if augment is not None:
            x = augment(x, generator)
        yield x, y


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)
