"""Stand-in data for smoke-scale reproductions on machines without the papers' datasets.

``python -m robustbench_runner.data.standin <folder>`` writes scikit-learn's handwritten
digits (the only image set that ships with a package) in the on-disk formats the real
loaders read — MNIST / Fashion-MNIST IDX ``.gz``, CIFAR-10/100 pickled batches, SVHN
``.mat``, the Tiny ImageNet folder tree — so that ``make reproduce-<paper>`` at smoke scale
runs the real code path end to end (``data.root=<folder>``). The numbers that come out
describe the stand-ins, NOT the papers' datasets: the Makefile uses them only when no real
data folder is given (``DATA=<folder>``) and the tables say so.

Each stand-in is a different view of the digits, so the datasets differ from each other:
MNIST: digits upsampled to 28x28; Fashion-MNIST: the same, transposed; CIFAR-10/100 and
SVHN: 32x32 RGB with a per-image colour tint on a noise background; Tiny ImageNet: 64x64
RGB JPEGs in 10 classes. Labels are the digit (0-9) in every set.
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from ..paths import STANDIN_MARKER

STANDIN_NOTE = "stand-in data (scikit-learn digits written in the real file formats), not the paper's dataset"
DATASETS = ("mnist", "fmnist", "cifar10", "cifar100", "svhn", "tinyimagenet")


def _digits(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, size, size) uint8 images and labels, in a seeded order."""
    d = load_digits()
    x = torch.from_numpy(d.images).float().div(16.0).unsqueeze(1)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    imgs = (x.squeeze(1).numpy() * 255).round().astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(imgs))
    return imgs[order], d.target[order].astype(np.int64)


def _rgb(gray: np.ndarray, seed: int) -> np.ndarray:
    """(N, H, W) -> (N, H, W, 3): the digit in a random colour over a dim noise background."""
    rng = np.random.default_rng(seed)
    n = len(gray)
    tint = rng.uniform(0.4, 1.0, size=(n, 1, 1, 3))
    noise = rng.uniform(0, 0.25, size=(*gray.shape, 3))
    g = gray[..., None] / 255.0
    return (np.clip(g * tint + (1 - g) * noise, 0, 1) * 255).round().astype(np.uint8)


def _split(n: int, test_fraction: float = 0.25) -> int:
    return int(round(n * (1 - test_fraction)))


def _write_idx(path: Path, arr: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def write_mnist_like(root: Path, folder: str, transpose: bool, seed: int) -> None:
    imgs, labels = _digits(28, seed)
    if transpose:
        imgs = imgs.transpose(0, 2, 1).copy()
    k = _split(len(imgs))
    raw = root / folder / "raw"
    _write_idx(raw / "train-images-idx3-ubyte.gz", imgs[:k], 2051)
    _write_idx(raw / "train-labels-idx1-ubyte.gz", labels[:k], 2049)
    _write_idx(raw / "t10k-images-idx3-ubyte.gz", imgs[k:], 2051)
    _write_idx(raw / "t10k-labels-idx1-ubyte.gz", labels[k:], 2049)


def write_cifar_like(root: Path, hundred: bool, seed: int) -> None:
    gray, labels = _digits(32, seed)
    rgb = _rgb(gray, seed)
    flat = rgb.transpose(0, 3, 1, 2).reshape(len(rgb), -1)  # CIFAR rows: R plane, G plane, B plane
    k = _split(len(flat))
    if hundred:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True, exist_ok=True)
        for name, sl in (("train", slice(0, k)), ("test", slice(k, None))):
            with open(folder / name, "wb") as f:
                pickle.dump({b"data": flat[sl], b"fine_labels": labels[sl].tolist(), b"coarse_labels": (labels[sl] // 5).tolist()}, f)
        with open(folder / "meta", "wb") as f:
            pickle.dump({b"fine_label_names": [f"class_{i}".encode() for i in range(100)]}, f)
        return
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    parts = np.array_split(np.arange(k), 5)
    for i, idx in enumerate(parts, start=1):
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"data": flat[idx], b"labels": labels[idx].tolist()}, f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": flat[k:], b"labels": labels[k:].tolist()}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [str(i).encode() for i in range(10)]}, f)


def write_svhn_like(root: Path, seed: int) -> None:
    from scipy.io import savemat

    gray, labels = _digits(32, seed)
    rgb = _rgb(gray, seed + 1)
    k = _split(len(rgb))
    root.mkdir(parents=True, exist_ok=True)
    for name, sl in (("train", slice(0, k)), ("test", slice(k, None))):
        x = rgb[sl].transpose(1, 2, 3, 0)  # (32, 32, 3, N) as in the official .mat files
        y = labels[sl].copy()
        y[y == 0] = 10  # SVHN labels digit 0 as 10
        savemat(root / f"{name}_32x32.mat", {"X": x, "y": y.reshape(-1, 1)})


def write_tinyimagenet_like(root: Path, seed: int) -> None:
    from PIL import Image

    gray, labels = _digits(64, seed)
    rgb = _rgb(gray, seed + 2)
    k = _split(len(rgb))
    base = root / "tiny-imagenet-200"
    wnids = [f"n{90000000 + c:08d}" for c in range(10)]
    (base / "val" / "images").mkdir(parents=True, exist_ok=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for i in range(k):
        folder = base / "train" / wnids[labels[i]] / "images"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb[i]).save(folder / f"{wnids[labels[i]]}_{i}.JPEG", quality=95)
    lines = []
    for i in range(k, len(rgb)):
        name = f"val_{i}.JPEG"
        Image.fromarray(rgb[i]).save(base / "val" / "images" / name, quality=95)
        lines.append(f"{name}\t{wnids[labels[i]]}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def write_standin(root: str | Path, datasets=DATASETS, seed: int = 0) -> Path:
    """Write every requested stand-in under ``root`` (skips sets already written)."""
    root = Path(root)
    writers = {
        "mnist": (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz", lambda: write_mnist_like(root, "MNIST", False, seed)),
        "fmnist": (root / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz", lambda: write_mnist_like(root, "FashionMNIST", True, seed + 1)),
        "cifar10": (root / "cifar-10-batches-py" / "test_batch", lambda: write_cifar_like(root, False, seed + 2)),
        "cifar100": (root / "cifar-100-python" / "test", lambda: write_cifar_like(root, True, seed + 3)),
        "svhn": (root / "test_32x32.mat", lambda: write_svhn_like(root, seed + 4)),
        "tinyimagenet": (root / "tiny-imagenet-200" / "val" / "val_annotations.txt", lambda: write_tinyimagenet_like(root, seed + 5)),
    }
    for name in datasets:
        marker, write = writers[name]
        if not marker.exists():
            write()
    (root / STANDIN_MARKER).write_text(STANDIN_NOTE + "\n")
    return root


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="folder to write the stand-in files into")
    p.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=DATASETS)
    args = p.parse_args(argv if argv is not None else sys.argv[1:])
    write_standin(args.root, args.datasets)
    print(f"wrote {', '.join(args.datasets)} stand-ins under {args.root} ({STANDIN_NOTE})")


if __name__ == "__main__":
    main()
