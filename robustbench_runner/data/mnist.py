"""MNIST and Fashion-MNIST from the IDX files in torchvision's on-disk layout.

Files (``.gz`` or uncompressed, as torchvision leaves them after a download):
``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` and the same names
under ``<root>/FashionMNIST/raw/``. The IDX format (LeCun et al.) is parsed here with numpy:
a big-endian header ``0x00 0x00 <type code> <ndim>`` (magic 2051 for images, 2049 for
labels), one big-endian uint32 per dimension, then the data. ``download=true`` asks
torchvision to fetch the official files into the same folder first.

28x28 images are upsampled bilinearly to ``image_size`` (32: papers prs and auc, "MNIST and
F-MNIST bilinearly upsampled 28x28 -> 32x32"; 28 keeps them as they are, paper samplerob) and
optionally replicated to 3 channels (paper auc, "converted to 3 channels to match CIFAR-10").

Storage (``dtype``): ``uint8`` (default) rounds the upsampled image to 8 bits, i.e. the
image a PIL/torchvision ``Resize`` would store (max error 0.5/255), at a quarter of the
memory (60,000 x 3 x 32 x 32 is 184 MB as uint8, 737 MB as float32); ``float32`` keeps the
interpolated values exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..reading import BadFile, check_counts, check_labels, check_shape, load_idx
from .base import ArraySplit, DataBundle
from .digits import upsample
from .missing import ensure_files, first_existing

FIX = "replace it with an intact copy of the official file (or move it away and set data.download=true)"

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

#: key -> file name (without ``.gz``) in ``<root>/<folder>/raw/``.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path: str | Path, magic: int | None = None, what: str | None = None) -> np.ndarray:
    """An IDX file (gzip-compressed or not) as a numpy array of its declared shape, read
    through :func:`reading.load_idx` (sizes from the header, bounded; truncated or oversized
    files refused in one line naming the file)."""
    return load_idx(path, magic=magic, what=what, fix=FIX)


def prepare_images(images: np.ndarray, image_size: int, channels: int, dtype: str, chunk: int = 10_000) -> torch.Tensor:
    """uint8 ``(N, H, W)`` -> ``(N, channels, image_size, image_size)`` stored as ``dtype``:
    bilinear upsampling (``digits.upsample``, align_corners=False) in float, then rounded back
    to uint8 when ``dtype='uint8'``; channels replicated for ``channels=3``."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if dtype not in ("uint8", "float32"):
        raise ValueError(f"dtype must be uint8 or float32, got {dtype!r}")
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)).unsqueeze(1)
    same_size = x.shape[-1] == image_size and x.shape[-2] == image_size
    if not (same_size and dtype == "uint8"):
        parts = []
        for start in range(0, len(x), chunk):
            f = upsample(x[start : start + chunk].float().div_(255.0), image_size)
            parts.append(f.mul_(255.0).round_().to(torch.uint8) if dtype == "uint8" else f)
        x = torch.cat(parts) if parts else torch.empty((0, 1, image_size, image_size), dtype=getattr(torch, dtype))
    if channels == 3:
        x = x.repeat(1, 3, 1, 1)
    return x.contiguous()


def check_options(name: str, channels: int, dtype: str) -> None:
    """``data.channels`` and ``data.dtype`` of an MNIST-family dataset, as one-line errors."""
    if channels not in (1, 3):
        raise UserError(f"{name}: channels={channels} must be 1 or 3", fix="set data.channels=1 or data.channels=3")
    if dtype not in ("uint8", "float32"):
        raise UserError(f"{name}: dtype={dtype!r} must be uint8 or float32", fix="set data.dtype=uint8 or data.dtype=float32")


def _idx_paths(raw_dir: Path) -> dict:
    return {k: first_existing([raw_dir / f"{name}.gz", raw_dir / name]) for k, name in IDX_FILES.items()}


def load_idx_dataset(
    name: str,
    folder: str,
    root: str | Path,
    download: bool,
    image_size: int,
    channels: int,
    dtype: str,
    class_names: list[str],
) -> DataBundle:
    """Shared body of :func:`load_mnist` and :func:`load_fashion_mnist`."""
    check_options(name, channels, dtype)
    root = Path(root)
    raw_dir = root / folder / "raw"

    def fetch():
        import torchvision.datasets as tvd

        getattr(tvd, folder)(str(root), train=True, download=True)  # fetches all four files

    paths = ensure_files(
        name, root, lambda: _idx_paths(raw_dir),
        [raw_dir / f"{n}[.gz]" for n in IDX_FILES.values()],
        download=download, fetch=fetch,
    )  # fmt: skip
    arrays = {}
    for part in ("train", "test"):
        ipath, lpath = paths[f"{part}_images"], paths[f"{part}_labels"]
        images = read_idx(ipath, IMAGES_MAGIC, name)
        check_shape(images, (None, 28, 28), ipath, name="images", what=name, fix=FIX)
        if images.dtype != np.uint8:  # never cast silently (a float IDX would wrap or truncate)
            raise BadFile(ipath, f"holds {images.dtype} images, not uint8 pixels", fix=FIX, what=name)
        labels = read_idx(lpath, LABELS_MAGIC, name)
        check_shape(labels, (None,), lpath, name="labels", what=name, fix=FIX)
        labels = check_labels(labels, len(class_names), lpath, what=name, fix=FIX)
        check_counts(len(images), len(labels), lpath, what=name, fix=f"use the labels file that belongs to {ipath.name}")
        arrays[part] = (images, labels)
    return bundle_from_arrays(name, arrays, image_size, channels, dtype, class_names)


def bundle_from_arrays(
    name: str, arrays: dict, image_size: int, channels: int, dtype: str, class_names: list[str]
) -> DataBundle:
    """The MNIST-family :class:`DataBundle` from ``{"train": (images, labels), "test": ...}``
    (uint8 ``(N, 28, 28)`` images, integer labels): :func:`prepare_images` on each split, 10
    classes. Shared by the IDX loaders and ``mnist_sample``."""
    splits = {}
    for part, (images, labels) in arrays.items():
        x = prepare_images(images, image_size, channels, dtype)
        splits[part] = ArraySplit(x, torch.from_numpy(np.asarray(labels).astype(np.int64)))
    return DataBundle(
        name=name,
        train=splits["train"],
        test=splits["test"],
        num_classes=10,
        in_channels=channels,
        image_size=image_size,
        class_names=list(class_names),
        meta={"source_size": 28, "dtype": dtype},
    )


def load_mnist(
    root: str | Path = "data",
    download: bool = False,
    image_size: int = 32,
    channels: int = 1,
    dtype: str = "uint8",
) -> DataBundle:
    """MNIST (60,000 / 10,000 handwritten digits) from ``<root>/MNIST/raw``."""
    return load_idx_dataset("mnist", "MNIST", root, download, image_size, channels, dtype, [str(i) for i in range(10)])


def load_fashion_mnist(
    root: str | Path = "data",
    download: bool = False,
    image_size: int = 32,
    channels: int = 1,
    dtype: str = "uint8",
) -> DataBundle:
    """Fashion-MNIST (60,000 / 10,000 clothing images) from ``<root>/FashionMNIST/raw``."""
    return load_idx_dataset("fmnist", "FashionMNIST", root, download, image_size, channels, dtype, FASHION_CLASSES)
