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
next time (about 1.2 GB). The cache is keyed by its sources (class list, and per image its name,
size and modification time): an image changed under the same name, or a damaged (e.g.
truncated) cache, makes it rebuilt.
``download: true`` fetches and unpacks the official zip (cs231n, 237 MB).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..reading import (
    LIMITS,
    BadFile,
    check_shape,
    is_regular_file,
    load_image,
    load_npz,
    read_text,
    source_stamp,
)
from .base import ArraySplit, DataBundle
from .missing import ensure_files, first_existing

FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
CACHE_NAME = "rbr_decoded_uint8.npz"
IMAGE_SIZE = 64
FIX = "replace it with an intact copy from the official archive (or set data.download=true in an empty data.root)"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _names_file(path: Path) -> list[str]:
    return read_text(path, max_bytes=LIMITS["text"], what="tinyimagenet", fix=FIX).splitlines()


def list_files(base: Path) -> tuple[list[str], list[tuple[Path, int]], list[tuple[Path, int]]]:
    """(sorted wnids, [(train image, class)], [(val image, class)]), from ``wnids.txt`` and
    ``val/val_annotations.txt`` read through the layer (a val file name that is not a plain
    name inside ``val/images``, a wnid not in ``wnids.txt``, duplicates: one line)."""
    wnids_file = base / "wnids.txt"
    wnids = sorted(w.strip() for w in _names_file(wnids_file) if w.strip())
    if not wnids or len(set(wnids)) != len(wnids) or not all(_PLAIN_NAME.fullmatch(w) for w in wnids):
        raise BadFile(wnids_file, "must list distinct WordNet ids (plain names), one per line", fix=FIX, what="tinyimagenet")
    index = {w: i for i, w in enumerate(wnids)}
    train = []
    for w in wnids:
        files = sorted((base / "train" / w / "images").glob("*.JPEG"))
        train += [(f, index[w]) for f in files]
    val = []
    ann = base / "val" / "val_annotations.txt"
    for lineno, line in enumerate(_names_file(ann), 1):
        parts = line.strip().split("\t")
        if len(parts) < 2:
            continue
        name, wnid = parts[0], parts[1]
        if wnid not in index:
            raise BadFile(ann, f"line {lineno} names {wnid[:40]!r}, which is not in wnids.txt", fix=FIX, what="tinyimagenet")
        if not _PLAIN_NAME.fullmatch(name):
            raise BadFile(ann, f"line {lineno} names {name[:40]!r}, not a plain file name inside val/images", fix=FIX, what="tinyimagenet")
        val.append((base / "val" / "images" / name, index[wnid]))
    val.sort(key=lambda t: t[0].name)
    if len({p.name for p, _ in val}) != len(val):
        raise BadFile(ann, "names the same image more than once", fix=FIX, what="tinyimagenet")
    return wnids, train, val


def decode(path: Path, size: int = IMAGE_SIZE) -> np.ndarray:
    """One JPEG as uint8 ``(3, size, size)`` RGB, through :func:`reading.load_image` (size
    checked from the header before decoding; bombs and damaged files refused)."""
    arr = load_image(path, size=(size, size), mode="RGB", what="tinyimagenet", fix=FIX)
    return arr.transpose(2, 0, 1)


def decode_all(items: list[tuple[Path, int]], workers: int) -> ArraySplit:
    x = np.empty((len(items), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)

    def work(i: int) -> None:
        x[i] = decode(items[i][0])

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(work, range(len(items))))
    y = np.array([c for _, c in items], dtype=np.int64)
    return ArraySplit(torch.from_numpy(x), torch.from_numpy(y))


def _cache_key(base: Path, wnids, train, val) -> np.ndarray:
    """What the decoded cache is keyed by: the class list and, per image, its name (relative
    to the dataset folder), size and modification time (:func:`reading.source_stamp`), hashed.
    An image edited or replaced under the same name changes its stamp, so the cache is rebuilt."""
    try:
        stamps = source_stamp([p for p, _ in train] + [p for p, _ in val])
    except OSError as e:
        raise BadFile(e.filename or base, f"cannot be read ({e.strerror or type(e).__name__})", fix=FIX, what="tinyimagenet") from None
    rel = [[os.path.relpath(name, base), size, mtime] for name, size, mtime in stamps]
    blob = json.dumps({"version": 2, "wnids": wnids, "images": rel, "labels": [c for _, c in train] + [c for _, c in val]})
    return np.array(hashlib.sha256(blob.encode()).hexdigest())


def _read_cache(cache_path: Path, key: np.ndarray, n_train: int, n_test: int) -> dict | None:
    """The cached splits when the cache is intact and keyed by the same sources; None when it
    must be (re)built: absent, stale, or a damaged file the tool wrote (a warning says so).
    Something other than a regular file there is refused, never replaced."""
    if not os.path.lexists(cache_path):
        return None
    if not is_regular_file(cache_path, follow_symlinks=False):
        raise BadFile(cache_path, "is not a regular file where the tool keeps its decoded cache; it is left as it is", fix="move it away (or set data.cache=false)", what="tinyimagenet")
    names = ["key", "x_train", "y_train", "x_test", "y_test"]
    try:
        z = load_npz(cache_path, names, what="tinyimagenet decoded cache")
        for s, n in (("train", n_train), ("test", n_test)):
            check_shape(z[f"x_{s}"], (n, 3, IMAGE_SIZE, IMAGE_SIZE), cache_path, name=f"x_{s}")
            check_shape(z[f"y_{s}"], (n,), cache_path, name=f"y_{s}")
            if z[f"x_{s}"].dtype != np.uint8 or z[f"y_{s}"].dtype != np.int64:
                raise BadFile(cache_path, "holds arrays of the wrong dtype")
    except BadFile as e:
        print(f"[rbr] warning: tinyimagenet: the decoded cache is damaged ({e.message}); rebuilding it", file=sys.stderr, flush=True)
        return None
    if z["key"].shape != () or str(z["key"]) != str(key):
        return None  # the images, their names or the class list changed: stale
    return {s: ArraySplit(torch.from_numpy(z[f"x_{s}"]), torch.from_numpy(z[f"y_{s}"])) for s in ("train", "test")}


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
    wnids, train_items, val_items = list_files(base)
    if not train_items or not val_items:
        raise UserError(
            f"tinyimagenet: found {len(train_items)} train and {len(val_items)} val images under {base}",
            fix="unpack the complete official archive there (or set data.download=true)",
        )
    cache_path = base / CACHE_NAME
    splits = None
    if cache:
        key = _cache_key(base, wnids, train_items, val_items)
        splits = _read_cache(cache_path, key, len(train_items), len(val_items))
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
