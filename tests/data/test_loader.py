"""Batching and augmentation: crop_flip against a per-sample reference, determinism under a
fixed generator, the tensor and DataLoader paths giving identical batches, the GPU-resident
path, loader options from the config, the stratified seeded validation split, index-file
subsets and size limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from robustbench_runner.data import COMMON_KEYS, finalize, load_dataset, make_augment
from robustbench_runner.data.augment import CropFlip
from robustbench_runner.data.base import ArraySplit, DataBundle, LoaderOptions
from robustbench_runner.data.loader import batch_indices, batches
from robustbench_runner.errors import UserError


def image_split(n: int = 50, seed: int = 0, dtype=torch.uint8) -> ArraySplit:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    if dtype == torch.float32:
        x = x.float() / 255
    return ArraySplit(x, torch.arange(n) % 5)


def bundle_of(split: ArraySplit) -> DataBundle:
    return DataBundle(name="t", train=split, test=split, num_classes=5, in_channels=3, image_size=8)


# -- augmentation ---------------------------------------------------------------------------------


def reference_crop_flip(x: torch.Tensor, seed: int, padding: int = 4) -> torch.Tensor:
    """torchvision-style per sample: pad, crop at the drawn offset, flip when drawn."""
    g = torch.Generator().manual_seed(seed)
    b, _, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (b, 2), generator=g)
    flips = torch.rand(b, generator=g) < 0.5
    padded = F.pad(x, (padding,) * 4)
    out = []
    for i in range(b):
        dy, dx = offsets[i].tolist()
        crop = padded[i, :, dy : dy + h, dx : dx + w]
        out.append(crop.flip(-1) if flips[i] else crop)
    return torch.stack(out)


def test_crop_flip_matches_per_sample_reference():
    x = torch.rand(64, 3, 10, 12)
    got = CropFlip(padding=4)(x, torch.Generator().manual_seed(3))
    assert torch.equal(got, reference_crop_flip(x, 3))
    assert got.shape == x.shape and 0 <= got.min() and got.max() <= 1
    zero_pad = (got == 0).flatten(1).any(1).float().mean()
    assert 0.5 < zero_pad < 1.0  # most crops show some padding, none if offset (4, 4)


def test_crop_flip_deterministic_and_seed_dependent():
    x = torch.rand(16, 3, 8, 8)
    aug = make_augment("crop_flip")
    a = aug(x, torch.Generator().manual_seed(0))
    b = aug(x, torch.Generator().manual_seed(0))
    c = aug(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_make_augment_options_and_errors():
    assert make_augment("none") is None and make_augment(None) is None
    aug = make_augment({"name": "crop_flip", "padding": 0, "flip": False})
    x = torch.rand(4, 1, 6, 6)
    assert torch.equal(aug(x, torch.Generator().manual_seed(0)), x)  # no padding, no flip: identity
    flip_only = make_augment({"name": "crop_flip", "padding": 0})
    y = flip_only(x, torch.Generator().manual_seed(0))
    assert all(torch.equal(y[i], x[i]) or torch.equal(y[i], x[i].flip(-1)) for i in range(4))
    with pytest.raises(UserError, match="not an augmentation"):
        make_augment("cutout")
    with pytest.raises(UserError, match="tabular"):
        make_augment("crop_flip")(torch.rand(4, 10), torch.Generator())


# -- batches ---------------------------------------------------------------------------------


def collect(split, **kw):
    return [(x.clone(), y.clone()) for x, y in batches(split, 16, **kw)]


def test_tensor_batches_cover_split_once_in_seeded_order():
    split = image_split()
    out = collect(split, shuffle=True, generator=torch.Generator().manual_seed(4))
    ys = torch.cat([y for _, y in out])
    order = torch.randperm(50, generator=torch.Generator().manual_seed(4))
    assert torch.equal(ys, split.y[order])
    xs = torch.cat([x for x, _ in out])
    assert xs.dtype == torch.float32 and torch.equal(xs, split.float_x(order))
    assert [len(y) for _, y in out] == [16, 16, 16, 2]
    assert [len(y) for _, y in collect(split, drop_last=True)] == [16, 16, 16]


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_path_yields_the_same_batches(workers):
    split = image_split()
    aug = make_augment("crop_flip")
    ref = collect(split, shuffle=True, generator=torch.Generator().manual_seed(7), augment=aug)
    state = torch.get_rng_state()
    dl = collect(split, shuffle=True, generator=torch.Generator().manual_seed(7), augment=aug, loader="dataloader", num_workers=workers, pin_memory=False)
    assert torch.equal(torch.get_rng_state(), state)  # global RNG (dropout stream) untouched
    assert len(ref) == len(dl)
    for (xa, ya), (xb, yb) in zip(ref, dl, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_dataloader_is_kept_across_epochs_with_persistent_workers():
    """data.loader=dataloader: the split keeps one DataLoader (persistent workers: the same
    worker processes serve every epoch), and each epoch still yields exactly the tensor
    path's batches in that epoch's order."""
    split = image_split()
    pids = []
    for epoch in (1, 2):
        ref = collect(split, shuffle=True, generator=torch.Generator().manual_seed(epoch))
        got = collect(split, shuffle=True, generator=torch.Generator().manual_seed(epoch), loader="dataloader", num_workers=1, pin_memory=False)
        assert len(got) == len(ref) and all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(ref, got, strict=True))
        ((loader, _sampler),) = split.loaders.values()
        assert loader.persistent_workers
        pids.append([w.pid for w in loader._iterator._workers])
    assert pids[0] == pids[1] and len(pids[0]) == 1  # the same worker process, started once
    assert split.__getstate__()["loaders"] == {}  # a pickled split never carries the workers


def test_lookahead_stages_the_next_batch_before_handing_out_this_one():
    from robustbench_runner.data.loader import lookahead

    log = []

    def stage(i):
        log.append(f"stage {i}")
        return i

    for i in lookahead(range(3), stage):
        log.append(f"use {i}")
    assert log == ["stage 0", "stage 1", "use 0", "stage 2", "use 1", "use 2"]
    assert list(lookahead([], stage)) == []


def test_unknown_loader_rejected():
    with pytest.raises(ValueError, match="loader"):
        list(batches(image_split(), 8, loader="magic"))
    with pytest.raises(UserError, match="data.loader"):
        LoaderOptions(kind="magic")


def test_batch_indices_partition():
    chunks = batch_indices(10, 4, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert sorted(torch.cat(chunks).tolist()) == list(range(10)) and [len(c) for c in chunks] == [4, 4, 2]


def test_loader_options_come_from_config_common_keys():
    for key in ("loader", "num_workers", "pin_memory", "on_gpu"):
        assert key in COMMON_KEYS
    b = load_dataset({"_target_": "robustbench_runner.data.digits.load_digits", "name": "digits", "loader": "dataloader", "num_workers": 2, "pin_memory": False, "on_gpu": False})
    assert b.loader == LoaderOptions(kind="dataloader", num_workers=2, pin_memory=False, on_gpu=False)
    assert b.loader_kwargs() == {"loader": "dataloader", "num_workers": 2, "pin_memory": False}
    b = load_dataset({"_target_": "robustbench_runner.data.digits.load_digits", "name": "digits", "on_gpu": True})
    b.place("cpu")  # on_gpu only acts on CUDA devices
    assert b.train_for_epoch(1) is b.train


def test_on_gpu_with_the_dataloader_is_a_one_line_config_error(monkeypatch, capsys, tmp_path):
    from rbr_testing import main_inprocess

    with pytest.raises(UserError, match="on_gpu"):
        LoaderOptions(kind="dataloader", on_gpu=True)
    code, err = main_inprocess(["data.on_gpu=true", "data.loader=dataloader", f"output_root={tmp_path}", "progress=false"], monkeypatch, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("rbr-run: error: data.on_gpu=true") and "(fix: use data.loader=tensor with data.on_gpu=true" in lines[0]
    assert not any(tmp_path.rglob("*.csv")) and not any(tmp_path.rglob("*.pt"))  # nothing computed, nothing kept


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_resident_path_matches_cpu_path():
    split = image_split(200)
    b = bundle_of(split)
    b.loader = LoaderOptions(on_gpu=True)
    b.place("cuda")
    on_gpu = b.train_for_epoch(1)
    assert on_gpu.x.is_cuda and b.train.x.device.type == "cpu"
    aug = make_augment("crop_flip")
    gpu = collect(on_gpu, shuffle=True, generator=torch.Generator().manual_seed(1), augment=aug, device="cuda")
    cpu = collect(split, shuffle=True, generator=torch.Generator().manual_seed(1), augment=aug, device="cuda")
    for (xa, ya), (xb, yb) in zip(gpu, cpu, strict=True):
        assert xa.is_cuda and torch.equal(xa, xb) and torch.equal(ya, yb)
    # the pinned, prefetched DataLoader path gives the same batches on the GPU
    dl = collect(split, shuffle=True, generator=torch.Generator().manual_seed(1), augment=aug, device="cuda", loader="dataloader", num_workers=1)
    for (xa, ya), (xb, yb) in zip(gpu, dl, strict=True):
        assert xb.is_cuda and torch.equal(xa, xb) and torch.equal(ya, yb)


# -- splits: validation hold-out, index-file subsets, limits ------------------------------------------


def digits_cfg(**over) -> dict:
    cfg = {"_target_": "robustbench_runner.data.digits.load_digits", "name": "digits"}
    cfg.update(over)
    return cfg


def test_val_split_is_stratified_and_seeded():
    full = load_dataset(digits_cfg())
    b = load_dataset(digits_cfg(val_size=100, val_seed=0))
    assert len(b.val) == 100 and len(b.train) == len(full.train) - 100
    counts = torch.bincount(b.val.y, minlength=10)
    expected = torch.bincount(full.train.y, minlength=10).double() / len(full.train) * 100
    assert (counts.double() - expected).abs().max() <= 1.0  # stratified: proportions kept
    again = load_dataset(digits_cfg(val_size=100, val_seed=0))
    other = load_dataset(digits_cfg(val_size=100, val_seed=1))
    assert torch.equal(again.val.x, b.val.x) and not torch.equal(other.val.x, b.val.x)
    rows = {tuple(r.tolist()) for r in b.val.x.flatten(1)[:, ::7]}
    assert not rows & {tuple(r.tolist()) for r in b.train.x.flatten(1)[:, ::7]}


def test_index_file_subsets_txt_and_npy(tmp_path):
    full = load_dataset(digits_cfg())
    (tmp_path / "train.txt").write_text("5\n1\n9\n")
    np.save(tmp_path / "test.npy", np.array([0, 3]))
    b = load_dataset(digits_cfg(subset=str(tmp_path / "train.txt"), test_subset=str(tmp_path / "test.npy")))
    assert torch.equal(b.train.x, full.train.x[[5, 1, 9]]) and torch.equal(b.test.y, full.test.y[[0, 3]])
    (tmp_path / "bad.txt").write_text(f"{len(full.train)}\n")
    with pytest.raises(UserError, match="outside"):
        load_dataset(digits_cfg(subset=str(tmp_path / "bad.txt")))


def test_limits_are_seeded_stratified_subsets():
    b = load_dataset(digits_cfg(limit_train=50, limit_test=20))
    assert len(b.train) == 50 and len(b.test) == 20
    assert torch.bincount(b.train.y, minlength=10).min() >= 4


def test_finalize_calls_after_finalize_hook():
    seen = []

    class Hooked(DataBundle):
        def after_finalize(self, common):
            seen.append((len(self.train), common["val_size"]))

    split = image_split(40)
    b = Hooked(name="h", train=split, test=split, num_classes=5, in_channels=3, image_size=8)
    finalize(b, {"val_size": 10, "val_seed": 0})
    assert seen == [(30, 10)]
