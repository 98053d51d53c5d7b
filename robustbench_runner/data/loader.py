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

Getting CPU batches to a GPU (numbers unchanged, only when they arrive):

- the tensor path gathers each batch into pinned (page-locked) memory, and the DataLoader
  pins (``pin_memory``, default: when the device is CUDA), so the copies are asynchronous
  (``non_blocking``);
- :func:`prefetch_to` copies batch i + 1 on a side CUDA stream while batch i is used;
- the DataLoader of a split is kept across epochs with ``persistent_workers`` (one
  :class:`EpochSampler` fed each epoch's batches), so its worker processes start once.

On a CPU device none of this applies: batches are the split's rows, as always.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

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
    vectorized gather per batch instead of collating single samples).

    For a plain :class:`ArraySplit` it holds the split's tensors, not the split: the split
    keeps its DataLoader (``ArraySplit.loaders``), and a reference back would make a cycle
    that the garbage collector may then free inside a forked worker."""

    def __init__(self, split: ArraySplit):
        plain = type(split).gather is ArraySplit.gather
        self.x = split.x if plain else None
        self.split = None if plain else split  # a split with its own gather (fusion's blends)
        self.y = split.y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.x[index] if self.split is None else self.split.gather(index)
        return x, self.y[index]


def _tensor_source(split: ArraySplit, chunks: list[torch.Tensor], pin: bool = False):
    device = split.device
    for idx in chunks:
        idx = idx.to(device, non_blocking=True)
        x, y = split.gather(idx), split.y[idx]
        if pin and device.type == "cpu":  # page-locked, so the copy to the GPU is asynchronous
            x, y = x.pin_memory(), y.pin_memory()
        yield x, y


class EpochSampler:
    """The batches (index tensors) of the current pass: a kept DataLoader samples from it, and
    each epoch sets :attr:`chunks` before iterating."""

    def __init__(self):
        self.chunks: list[torch.Tensor] = []

    def __iter__(self):
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)


def _dataloader_source(split: ArraySplit, chunks, num_workers: int, pin_memory: bool):
    if split.device.type != "cpu":
        raise ValueError("the dataloader path reads CPU tensors; use loader=tensor for a split on the GPU")
    kept = getattr(split, "loaders", None) if type(split).gather is ArraySplit.gather else None
    kept = {} if kept is None else kept  # a split with its own gather gets a loader per pass
    key = (num_workers, bool(pin_memory))
    if key not in kept:  # one DataLoader per split and setting, kept across epochs
        sampler = EpochSampler()
        loader = DataLoader(
            BatchGatherDataset(split),
            batch_size=None,
            sampler=sampler,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=num_workers > 0,  # workers start once, not every epoch
            # The loader draws its workers' base seed from this generator; a private one keeps
            # the epoch generator (order, augmentation) and the global RNG (dropout) untouched.
            generator=torch.Generator().manual_seed(0),
        )
        kept[key] = (loader, sampler)
    loader, sampler = kept[key]
    sampler.chunks = list(chunks)
    return loader


def lookahead(source: Iterable, stage: Callable):
    """Yield ``stage(item)`` for each item of ``source``, calling ``stage`` on item i + 1
    before item i is handed out (so staging the next batch overlaps using this one)."""
    it = iter(source)
    nxt = next(it, _END)
    staged = stage(nxt) if nxt is not _END else _END
    while staged is not _END:
        current = staged
        nxt = next(it, _END)
        staged = stage(nxt) if nxt is not _END else _END
        yield current


_END = object()


def prefetch_to(source: Iterable, device: torch.device):
    """``(x, y)`` batches of ``source`` (CPU tensors, pinned) on the CUDA ``device``: each copy
    is issued on a side stream one batch ahead (:func:`lookahead`), and the compute stream
    waits for it only when the batch is used."""
    copy_stream = torch.cuda.Stream(device)

    def stage(item):
        with torch.cuda.stream(copy_stream):
            return tuple(t.to(device, non_blocking=True) for t in item)

    for batch in lookahead(source, stage):
        compute = torch.cuda.current_stream(device)
        compute.wait_stream(copy_stream)
        for t in batch:
            t.record_stream(compute)  # the allocator keeps t until the compute stream is done with it
        yield batch


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
    pin = (device.type == "cuda" if pin_memory is None else bool(pin_memory)) and torch.cuda.is_available()
    if loader == "tensor":
        source = _tensor_source(split, chunks, pin)
    else:
        source = _dataloader_source(split, chunks, num_workers, pin)
    if device.type == "cuda" and split.device.type == "cpu":
        source = prefetch_to(source, device)
    for x, y in source:
        x = to_float(x.to(device, non_blocking=True))
        y = y.to(device, non_blocking=True)
        if augment is not None:
            x = augment(x, generator)
        yield x, y


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)
