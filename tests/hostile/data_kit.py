"""Small valid dataset files in the official on-disk formats, for the hostile dataset suites
(``tests/hostile/test_cifar_pickles.py``, ``test_idx.py``, ...): each suite damages one file of
a valid folder and checks the reader (and, for a few, ``rbr-run``) refuses it in one line."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

N_TRAIN, N_TEST = 20, 10


def cifar_batch(n: int, seed: int, label_key: str = "labels", num_classes: int = 10) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"testing batch",
        label_key.encode(): rng.integers(0, num_classes, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


def write_cifar10(root: Path, protocol: int = 2) -> Path:
    """A CIFAR-10 folder of tiny batches (4 train images per batch); returns its folder."""
    base = Path(root) / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        (base / f"data_batch_{i}").write_bytes(pickle.dumps(cifar_batch(4, i), protocol=protocol))
    (base / "test_batch").write_bytes(pickle.dumps(cifar_batch(N_TEST, 0), protocol=protocol))
    (base / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072}, protocol=protocol))
    return base


def idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.astype(np.uint8).tobytes()


def write_mnist(root: Path, gz: bool = True) -> Path:
    """An MNIST ``raw`` folder of tiny IDX files; returns it."""
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for part, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for kind, arr, magic in (("images-idx3", images, 2051), ("labels-idx1", labels, 2049)):
            data = idx_bytes(arr, magic)
            name = f"{part}-{kind}-ubyte"
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
            else:
                (raw / name).write_bytes(data)
    return raw


def write_svhn(root: Path) -> Path:
    import scipy.io

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)
        scipy.io.savemat(str(root / f"{split}_32x32.mat"), {"X": x, "y": y})
    return root


def write_tinyimagenet(root: Path, n_classes: int = 2, per_class: int = 2, n_val: int = 2) -> Path:
    """A Tiny ImageNet tree of solid-colour 64x64 PNG-encoded ``.JPEG`` files (lossless, so a
    test can compare pixels exactly)."""
    from PIL import Image

    base = Path(root) / "tiny-imagenet-200"
    wnids = [f"n{i:08d}" for i in range(n_classes)]
    (base / "val" / "images").mkdir(parents=True, exist_ok=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for c, w in enumerate(wnids):
        d = base / "train" / w / "images"
        d.mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            Image.new("RGB", (64, 64), (40 * c, 10 * j, 0)).save(d / f"{w}_{j}.JPEG", format="PNG")
    lines = []
    for j in range(n_val):
        name = f"val_{j}.JPEG"
        Image.new("RGB", (64, 64), (40 * (j % n_classes), 0, 0)).save(base / "val" / "images" / name, format="PNG")
        lines.append(f"{name}\t{wnids[j % n_classes]}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return base
