"""What every dataset loader returns: tensors in memory, in [0, 1] pixel space.

All datasets of the five papers fit in memory (Tiny ImageNet's 100k 64x64 images are 1.2 GB
as uint8), so a loader reads the on-disk files once into an :class:`ArraySplit` per split
and batching happens on tensors (``data.loader``). Images are stored as uint8 ``(N, C, H, W)``
(converted to float / 255 per batch) or float32 ``(N, C, H, W)`` already in [0, 1] (e.g. the
bilinearly upsampled digits); tabular sets are float32 ``(N, D)`` in [0, 1] after min-max
scaling. Labels are int64 class indices, or float32 targets for regression.

Batching options (``data.loader``, ``data.num_workers``, ``data.pin_memory``,
``data.on_gpu``) travel with the bundle as :class:`LoaderOptions`; ``bundle.place(device)``
keeps a device copy of the training split when ``on_gpu`` asks for it, and
``bundle.loader_kwargs()`` gives the extra keyword arguments of ``loader.batches``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ArraySplit:
    """One split held in memory: ``x`` (uint8 or float32) and ``y``. ``loaders`` keeps the
    DataLoaders batching it (``data.loader=dataloader``) across epochs (persistent workers)."""

    x: torch.Tensor
    y: torch.Tensor
    loaders: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")
        if self.x.dtype not in (torch.uint8, torch.float32):
            raise TypeError(f"x must be uint8 or float32, got {self.x.dtype}")

    def __len__(self) -> int:
        return len(self.y)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["loaders"] = {}  # DataLoaders (and their worker processes) stay with the original
        return state

    def subset(self, index: torch.Tensor) -> ArraySplit:
        index = torch.as_tensor(index, dtype=torch.long)
        return ArraySplit(self.x[index], self.y[index])

    def float_x(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Float32 inputs in [0, 1] for the given rows (all rows when None)."""
        x = self.x if index is None else self.x[index]
        return to_float(x)

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """The stored rows (uint8 or float32, as held) for ``index``; batching moves these to
        the device before converting, so uint8 crosses the bus at a quarter of the bytes."""
        return self.x[index]

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device: torch.device | str) -> ArraySplit:
        """The same rows on ``device`` (self when already there)."""
        device = torch.device(device)
        if self.x.device == device and self.y.device == device:
            return self
        return ArraySplit(self.x.to(device), self.y.to(device))


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [0, 1]; float input passes through unchanged."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x


LOADERS = ("tensor", "dataloader")


@dataclass
class LoaderOptions:
    """How training batches are produced (``data.loader`` and friends).

    - ``kind="tensor"``: index the in-memory tensors directly (on the GPU when ``on_gpu``);
    - ``kind="dataloader"``: a ``torch.utils.data.DataLoader`` over the same tensors with
      ``num_workers`` worker processes and ``pin_memory`` (None = pin when the target device
      is CUDA). Both paths draw the order and the augmentation from the same generator in the
      same sequence, so they yield identical batches.
    """

    kind: str = "tensor"
    num_workers: int = 0
    pin_memory: bool | None = None
    on_gpu: bool = False

    def __post_init__(self):
        from ..errors import UserError

        if self.kind not in LOADERS:
            raise UserError(f"data.loader={self.kind!r} is not a loader", fix="use data.loader=tensor or data.loader=dataloader")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise UserError(f"data.num_workers={self.num_workers!r} must be an integer >= 0", fix="set data.num_workers=N")
        if self.on_gpu and self.kind == "dataloader":
            raise UserError(
                "data.on_gpu=true keeps the training split on the GPU, which data.loader=dataloader cannot read "
                "(its workers gather CPU tensors)",
                fix="use data.loader=tensor with data.on_gpu=true, or data.on_gpu=false with the DataLoader",
            )

    def batch_kwargs(self) -> dict:
        return {"loader": self.kind, "num_workers": self.num_workers, "pin_memory": self.pin_memory}


@dataclass
class DataBundle:
    """A dataset ready for training and evaluation.

    ``val`` is a seeded, stratified hold-out carved from the training set (None when
    ``data.val_size`` is 0); it feeds "best checkpoint" selection.
    ``train_for_epoch(epoch)`` returns the training split used in that epoch; it is
    ``train`` itself except for datasets that redraw training pairs each epoch (fusion).
    """

    name: str
    train: ArraySplit
    test: ArraySplit
    num_classes: int
    in_channels: int
    image_size: int
    val: ArraySplit | None = None
    task: str = "classification"  # or "regression"
    class_names: list[str] | None = None
    meta: dict = field(default_factory=dict)
    loader: LoaderOptions = field(default_factory=LoaderOptions)
    placed: dict = field(default_factory=dict, repr=False)  # {"train": device copy} (place)

    def train_for_epoch(self, epoch: int) -> ArraySplit:
        """The training split of ``epoch`` (the device copy made by :meth:`place`, if any)."""
        return self.placed.get("train", self.train)

    def place(self, device: torch.device | str) -> DataBundle:
        """Keep a copy of the training split on ``device`` when ``loader.on_gpu`` asks for it
        and ``device`` is a CUDA device (then ``batches`` indexes and augments there). The
        CPU splits stay as they are: evaluation and the seeded splits read them."""
        device = torch.device(device)
        self.placed.clear()
        if self.loader.on_gpu and device.type == "cuda":
            self.placed["train"] = self.train.to(device)
        return self

    def loader_kwargs(self) -> dict:
        """Keyword arguments for ``loader.batches`` from ``data.loader`` / ``num_workers`` /
        ``pin_memory`` (the data then batch the same way whichever path is chosen)."""
        return self.loader.batch_kwargs()

    def after_finalize(self, common: dict) -> None:
        """Hook run by ``data.load_dataset`` after subsets, limits and the validation split;
        datasets whose training set is redrawn per epoch (fusion) set up their pools here."""

    def split(self, name: str) -> ArraySplit:
        if name == "train":
            return self.train
        if name == "test":
            return self.test
        if name == "val":
            if self.val is None:
                from ..errors import UserError

                raise UserError(
                    f"dataset {self.name!r} has no validation split",
                    fix="set data.val_size to a positive number of samples",
                )
            return self.val
        raise ValueError(f"unknown split {name!r} (train|val|test)")
