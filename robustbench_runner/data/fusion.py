"""Paper auc's Fusion dataset (paper auc, Sec. 3.2, eq. 4): ``F = 0.5 * M + 0.5 * C``, an
alpha-blend of an MNIST image M (upsampled to 32x32, 3 channels) and a CIFAR-10 image C,
labelled by the digit (``task: digit``) or the object (``task: object``).

How pairs are formed, following the seed: "The Fusion dataset was created online during
training or testing during each mini-batch by formula 4 ... During training, the MNIST and
CIFAR-10 datasets are shuffled at the start of every epoch", with batch size 125 chosen so
that the two loaders' batches align. So in epoch e both training sets are permuted and
zipped: ``pairs_per_epoch`` defaults to the smaller set (50,000 = CIFAR-10's training set),
i.e. every object image is used exactly once per epoch with a fresh random 50,000 of the
60,000 digits. The permutations come from a generator seeded by ``(pair_seed, e)`` only
(``train_for_epoch(e)``), so a resumed run redraws the same pairs; the configs default
``pair_seed`` to the run seed, since "no two models were trained on the exact same set of
fusion images". Test pairs are fixed (``test_pair_seed``): "evaluated on the same test
images". Blending is done per batch (:class:`FusionSplit`), as in the seed, so a pairing
costs two index vectors, not a copy of the images.

Sources are any two loaders giving images of one shape (sub-configs ``digits`` and
``objects`` with their own ``_target_``), e.g. F-MNIST + CIFAR-100.

Common keys: ``limit_train`` sets the number of pairs per epoch; ``val_size`` holds out
fixed validation pairs whose digit and object images are then left out of the training
pools; ``subset`` (index files) is refused: training rows are redrawn every epoch, so row
indices do not name fixed samples. ``test_subset`` / ``limit_test`` select fixed test pairs.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from hydra.utils import get_method

from ..errors import UserError
from ..seeding import derive_seed, make_generator
from .base import ArraySplit, DataBundle, to_float

TASKS = ("digit", "object")


class FusionSplit(ArraySplit):
    """Pairs ``(digit_idx[i], object_idx[i])`` into two source image tensors; row i is
    ``alpha * digits[digit_idx[i]] + (1 - alpha) * objects[object_idx[i]]`` in [0, 1]
    (float32), computed when rows are gathered. ``x`` materializes every row."""

    def __init__(self, digits: torch.Tensor, objects: torch.Tensor, digit_idx: torch.Tensor, object_idx: torch.Tensor, y: torch.Tensor, alpha: float = 0.5):
        if digits.shape[1:] != objects.shape[1:]:
            raise ValueError(f"digit images {tuple(digits.shape[1:])} and object images {tuple(objects.shape[1:])} differ in shape")
        if not (len(digit_idx) == len(object_idx) == len(y)):
            raise ValueError("digit_idx, object_idx and y must have one entry per pair")
        self.digits, self.objects = digits, objects
        self.digit_idx, self.object_idx = digit_idx.long(), object_idx.long()
        self.y = y
        self.alpha = float(alpha)

    @property
    def x(self) -> torch.Tensor:  # type: ignore[override]
        return self.gather(torch.arange(len(self), device=self.device))

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        return f"FusionSplit(n={len(self)}, shape={tuple(self.digits.shape[1:])}, alpha={self.alpha})"

    @property
    def device(self) -> torch.device:
        return self.digits.device

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """Blended rows, eq. 4 of paper auc (float32 in [0, 1])."""
        index = torch.as_tensor(index, device=self.digit_idx.device)
        d = to_float(self.digits[self.digit_idx[index]])
        o = to_float(self.objects[self.object_idx[index]])
        return (d * self.alpha).add_(o, alpha=1.0 - self.alpha)

    def float_x(self, index=None) -> torch.Tensor:
        return self.x if index is None else self.gather(index)

    def subset(self, index: torch.Tensor) -> FusionSplit:
        index = torch.as_tensor(index, dtype=torch.long, device=self.digit_idx.device)
        return FusionSplit(self.digits, self.objects, self.digit_idx[index], self.object_idx[index], self.y[index], self.alpha)

    def to(self, device) -> FusionSplit:
        device = torch.device(device)
        if self.device == device:
            return self
        return FusionSplit(
            self.digits.to(device), self.objects.to(device), self.digit_idx.to(device),
            self.object_idx.to(device), self.y.to(device), self.alpha,
        )  # fmt: skip


def pair_up(
    digits: ArraySplit, objects: ArraySplit, n: int, generator: torch.Generator, task: str, alpha: float,
    digit_pool: torch.Tensor | None = None, object_pool: torch.Tensor | None = None,
) -> FusionSplit:  # fmt: skip
    """Shuffle both pools (default: every row) and zip the first ``n`` of each."""
    dp = torch.arange(len(digits)) if digit_pool is None else digit_pool
    op = torch.arange(len(objects)) if object_pool is None else object_pool
    if n > min(len(dp), len(op)):
        raise UserError(f"fusion: {n} pairs need {n} digit and {n} object images, the pools hold {len(dp)} and {len(op)}", fix="lower data.pairs_per_epoch or data.limit_train")
    di = dp[torch.randperm(len(dp), generator=generator)[:n]]
    oi = op[torch.randperm(len(op), generator=generator)[:n]]
    y = digits.y[di] if task == "digit" else objects.y[oi]
    return FusionSplit(digits.x, objects.x, di, oi, y, alpha)


class FusionBundle(DataBundle):
    """A :class:`DataBundle` whose training pairs are redrawn every epoch."""

    def setup_fusion(self, digits: DataBundle, objects: DataBundle, task: str, alpha: float, pair_seed: int) -> None:
        self.digit_source, self.object_source = digits, objects
        self.fusion_task, self.alpha, self.pair_seed = task, float(alpha), int(pair_seed)
        self.digit_pool = torch.arange(len(digits.train))
        self.object_pool = torch.arange(len(objects.train))
        self.pairs_per_epoch = len(self.train)

    def pairs_for_epoch(self, epoch: int) -> FusionSplit:
        """The training pairs of ``epoch`` on CPU: a function of ``(pair_seed, epoch)`` only."""
        g = make_generator(derive_seed(self.pair_seed, "fusion-train", int(epoch)))
        return pair_up(
            self.digit_source.train, self.object_source.train, self.pairs_per_epoch, g,
            self.fusion_task, self.alpha, self.digit_pool, self.object_pool,
        )  # fmt: skip

    def train_for_epoch(self, epoch: int) -> ArraySplit:
        pairs = self.pairs_for_epoch(epoch)
        if "sources" in self.placed:  # source images kept on the GPU (data.on_gpu)
            d, o = self.placed["sources"]
            dev = d.device
            return FusionSplit(d, o, pairs.digit_idx.to(dev), pairs.object_idx.to(dev), pairs.y.to(dev), self.alpha)
        return pairs

    def place(self, device) -> FusionBundle:
        device = torch.device(device)
        self.placed.clear()
        if self.loader.on_gpu and device.type == "cuda":
            self.placed["sources"] = (self.digit_source.train.x.to(device), self.object_source.train.x.to(device))
        return self

    def after_finalize(self, common: dict) -> None:
        """Pools and pairs per epoch after limits and the validation hold-out (module doc)."""
        if common.get("subset"):
            raise UserError(
                "data.subset (an index file of training rows) is not defined for fusion: training pairs are redrawn every epoch",
                fix="drop data.subset; use data.limit_train for fewer pairs per epoch",
            )
        self.pairs_per_epoch = len(self.train)
        if isinstance(self.val, FusionSplit) and len(self.val):
            keep_d = torch.ones(len(self.digit_source.train), dtype=torch.bool)
            keep_o = torch.ones(len(self.object_source.train), dtype=torch.bool)
            keep_d[self.val.digit_idx.cpu()] = False
            keep_o[self.val.object_idx.cpu()] = False
            self.digit_pool = keep_d.nonzero().flatten()
            self.object_pool = keep_o.nonzero().flatten()


def load_source(conf: Mapping, role: str, root, download) -> DataBundle:
    """Build one source dataset from its sub-config (``_target_`` + loader options)."""
    conf = dict(conf)
    target = conf.pop("_target_", None)
    if not target:
        raise UserError(f"fusion: data.{role} has no _target_ loader", fix=f"set data.{role}._target_ (e.g. robustbench_runner.data.mnist.load_mnist)")
    if root is not None:
        conf.setdefault("root", root)
    conf.setdefault("download", download)
    try:
        return get_method(target)(**conf)
    except TypeError as e:
        raise UserError(f"fusion: data.{role}: {e}", fix=f"check the data.{role}.* options") from e


def load_fusion(
    digits: Mapping,
    objects: Mapping,
    task: str = "digit",
    alpha: float = 0.5,
    pair_seed: int = 0,
    test_pair_seed: int = 0,
    pairs_per_epoch: int | None = None,
    root=None,
    download: bool = False,
) -> FusionBundle:
    """Fusion of two image datasets (module docstring). ``alpha`` weighs the digit image
    (paper auc: 0.5); ``pairs_per_epoch`` None -> the smaller training set."""
    if task not in TASKS:
        raise UserError(f"data.task={task!r} is not a fusion task", fix="use data.task=digit or data.task=object")
    if not 0.0 <= float(alpha) <= 1.0:
        raise UserError(f"data.alpha={alpha} must be in [0, 1]", fix="set data.alpha=0.5 (paper auc, eq. 4)")
    d_src = load_source(digits, "digits", root, download)
    o_src = load_source(objects, "objects", root, download)
    if (d_src.in_channels, d_src.image_size) != (o_src.in_channels, o_src.image_size):
        raise UserError(
            f"fusion: {d_src.name} images are {d_src.in_channels}x{d_src.image_size}x{d_src.image_size} but {o_src.name} images are {o_src.in_channels}x{o_src.image_size}x{o_src.image_size}",
            fix="make them match, e.g. data.digits.channels=3 data.digits.image_size=32",
        )
    n_train = min(len(d_src.train), len(o_src.train)) if pairs_per_epoch is None else int(pairs_per_epoch)
    n_test = min(len(d_src.test), len(o_src.test))
    test = pair_up(d_src.test, o_src.test, n_test, make_generator(derive_seed(int(test_pair_seed), "fusion-test")), task, alpha)
    train = pair_up(d_src.train, o_src.train, n_train, make_generator(derive_seed(int(pair_seed), "fusion-train", 0)), task, alpha)
    label_src = d_src if task == "digit" else o_src
    bundle = FusionBundle(
        name=f"fusion_{task}",
        train=train,
        test=test,
        num_classes=label_src.num_classes,
        in_channels=d_src.in_channels,
        image_size=d_src.image_size,
        class_names=label_src.class_names,
        meta={"task": task, "alpha": float(alpha), "digits": d_src.name, "objects": o_src.name, "test_pair_seed": int(test_pair_seed)},
    )
    bundle.setup_fusion(d_src, o_src, task, alpha, pair_seed)
    return bundle
