"""Tiny ImageNet (200 classes, 64x64 RGB) from the official archive layout.

``<root>/tiny-imagenet-200/``: ``wnids.txt`` (the 200 WordNet ids), ``train/<wnid>/images/
*.JPEG`` (500 per class), ``val/images/*.JPEG`` with ``val/val_annotations.txt`` (tab
separated: file name, wnid, bounding box). The official test set has no labels, so the
validation set (10,000 images) serves as the test split, as in paper vir and common practice.

Class index = position of the wnid in the *sorted* wnid list (the order torchvision's
``ImageFolder`` gives ``train/``), so checkpoints trained with an ImageFolder pipeline agree.
Images are decoded with PIL (grey images converted to RGB) into uint8 ``(N, 3, 64, 64)``;
decoding runs in a thread pool (PIL releases the GIL while decoding). ``cache: true`` writes
the decoded arrays to ``tiny-imagenet-200/rbr_decoded_uint8.npz`` and reads them from there
next time (about 1.2 GB; the file list and class list must match, else it is rebuilt).
``download: true`` fetches and unpacks the official zip (cs231n, 237 MB).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .base import ArraySplit, DataBundle
from .missing import ensure_files, first_existing, reading

FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
CACHE_NAME = "rbr_decoded_uint8.npz"
IMAGE_SIZE = 64


def list_files(base: Path) -> tuple[list[str], list[tuple[Path, int]], list[tuple[Path, int]]]:
    """(sorted wnids, [(train image, class)], [(val image, class)])."""
    wnids = sorted(w.strip() for w in (base / "wnids.txt").read_text().splitlines() if w.strip())
    index = {w: i for i, w in enumerate(wnids)}
    train = []
    for w in wnids:
        files = sorted((base / "train" / w / "images").glob("*.JPEG"))
        train += [(f, index[w]) for f in files]
    val = []
    for line in (base / "val" / "val_annotations.txt").read_text().splitlines():
        parts = line.strip().split("\t")
        if len(parts) < 2:
            continue
        name, wnid = parts[0], parts[1]
        if wnid not in index:
            raise ValueError(f"val_annotations.txt names {wnid!r}, which is not in wnids.txt")
        val.append((base / "val" / "images" / name, index[wnid]))
    val.sort(key=lambda t: t[0].name)
    return wnids, train, val


def decode(path: Path, size: int = IMAGE_SIZE) -> np.ndarray:
    """One JPEG as uint8 ``(3, size, size)`` RGB."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    if arr.shape != (size, size, 3):
        raise ValueError(f"image is {arr.shape[1]}x{arr.shape[0]}, expected {size}x{size}")
    return arr.transpose(2, 0, 1)


def decode_all(items: list[tuple[Path, int]], workers: int) -> ArraySplit:
    x = np.empty((len(items), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)

    def work(i: int) -> None:
        with reading("tinyimagenet", items[i][0]):
            x[i] = decode(items[i][0])

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(work, range(len(items))))
    y = np.array([c for _, c in items], dtype=np.int64)
    return ArraySplit(torch.from_numpy(x), torch.from_numpy(y))


def _cache_key(wnids, train, val) -> np.ndarray:
    names = [str(p.relative_to(p.parents[2])) for p, _ in train] + [p.name for p, _ in val]
    return np.array(["\n".join(wnids), "\n".join(names)])


def load_tinyimagenet(
    root: str | Path = "data",
    download: bool = False,
    cache: bool = False,
    decode_workers: int | None = None,
) -> DataBundle:
    """Tiny ImageNet: 100,000 train / 10,000 val (used as test) images, 200 classes."""
    root = Path(root)
    base = root / FOLDER
    required = {"wnids": base / "wnids.txt", "train": base / "train", "val": base / "val" / "val_annotations.txt"}

    def find():
        out = {k: first_existing([p]) for k, p in required.items() if k != "train"}
        out["train"] = required["train"] if required["train"].is_dir() else None
        return out

    def fetch():
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(URL, download_root=str(root))

    ensure_files(
        "tinyimagenet", root, find,
        [base / "wnids.txt", base / "train/<wnid>/images/*.JPEG", base / "val/images/*.JPEG", base / "val/val_annotations.txt"],
        download=download, fetch=fetch,
    )  # fmt: skip
    with reading("tinyimagenet", base / "val" / "val_annotations.txt"):
        wnids, train_items, val_items = list_files(base)
    if not train_items or not val_items:
        raise UserError(
            f"tinyimagenet: found {len(train_items)} train and {len(val_items)} val images under {base}",
            fix="unpack the complete official archive there (or set data.download=true)",
        )
    key = _cache_key(wnids, train_items, val_items)
    cache_path = base / CACHE_NAME
    splits = None
    if cache and cache_path.is_file():
        with np.load(cache_path) as z:
            if np.array_equal(z["key"], key):
                splits = {s: ArraySplit(torch.from_numpy(z[f"x_{s}"]), torch.from_numpy(z[f"y_{s}"])) for s in ("train", "test")}
    if splits is None:
        workers = decode_workers or min(8, os.cpu_count() or 1)
        splits = {"train": decode_all(train_items, workers), "test": decode_all(val_items, workers)}
        if cache:
            tmp = cache_path.with_suffix(".tmp.npz")
            np.savez(tmp, key=key, **{f"{v}_{s}": getattr(splits[s], v).numpy() for s in splits for v in ("x", "y")})
            os.replace(tmp, cache_path)
    return DataBundle(
        name="tinyimagenet",
        train=splits["train"],
        test=splits["test"],
        num_classes=len(wnids),
        in_channels=3,
        image_size=IMAGE_SIZE,
        class_names=wnids,
        meta={"test_split": "official val set (the test set has no labels)"},
    )
