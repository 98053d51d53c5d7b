"""Hostile MNIST-family IDX files (issue 21): sizes come from the header and are bounded
before anything is allocated or decompressed; truncated or oversized files, wrong magic, wrong
type codes, huge declared shapes, gzip bombs, out-of-range labels (train *and* test), counts
that disagree and filesystem hostiles are each one :class:`BadFile` line naming the file."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest
from data_kit import idx_bytes, write_mnist
from hostile_kit import (
    PLANTS,
    assert_one_line_error,
    byte_mutations,
    can_be_unreadable,
    exhaustive,
    fast,
    plant,
)
from hypothesis import given

from robustbench_runner.data.mnist import load_mnist
from robustbench_runner.reading import BadFile, load_idx

READERS = [load_idx]

SMALL = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
VALID = idx_bytes(SMALL, 2051)


def _refused(path, **kw) -> str:
    with pytest.raises(BadFile) as e:
        load_idx(path, **kw)
    text = str(e.value)
    assert path.name in text and "\n" not in text, text
    return text


@pytest.mark.parametrize("gz", [False, True])
def test_valid_files_round_trip(tmp_path, gz):
    p = tmp_path / "a"
    p.write_bytes(gzip.compress(VALID) if gz else VALID)
    assert np.array_equal(load_idx(p, magic=2051), SMALL)
    be = tmp_path / "f"  # a big-endian float type code
    be.write_bytes(struct.pack(">I", 0x00000D01) + struct.pack(">I", 3) + np.array([1.5, -2, 3], ">f4").tobytes())
    assert load_idx(be).tolist() == [1.5, -2.0, 3.0]


@pytest.mark.parametrize("gz", [False, True])
def test_truncation_at_every_offset(tmp_path, gz):
    """Every prefix (every header boundary and every data byte) of the plain file, and of
    its gzip stream: refused, never a raw exception or a short array."""
    data = gzip.compress(VALID, mtime=0) if gz else VALID
    p = tmp_path / "train-images-idx3-ubyte"
    for k in range(len(data)):
        p.write_bytes(data[:k])
        _refused(p, magic=2051)


def test_longer_than_declared(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(VALID + b"\0")
    assert "longer than declared" in _refused(p)
    p.write_bytes(gzip.compress(VALID + b"\0" * 5))
    assert "longer than declared" in _refused(p)


@pytest.mark.parametrize(
    "header,match",
    [(b"\x00\x00\x08\x03", "truncated inside its header"), (b"\x01\x00\x08\x01\x00\x00\x00\x01", "not an IDX"),
     (b"\x00\x00\x07\x01\x00\x00\x00\x01", "not an IDX"), (b"\x00\x00\x08\x00", "0 dimensions"),
     (b"\x00\x00\x08\x09" + b"\x00\x00\x00\x01" * 9, "9 dimensions"), (b"PK\x03\x04", "not an IDX")],
)  # fmt: skip
def test_wrong_headers(tmp_path, header, match):
    p = tmp_path / "x"
    p.write_bytes(header + b"\x00")
    assert match in _refused(p)


def test_wrong_magic_is_named(tmp_path):
    p = tmp_path / "labels"
    p.write_bytes(VALID)
    assert "expected 2049" in _refused(p, magic=2049)


@pytest.mark.parametrize("gz", [False, True])
def test_huge_declared_sizes_allocate_nothing(tmp_path, gz):
    """(2**32-1)^3 float64 items: refused from the header alone (no MemoryError, no wait)."""
    head = struct.pack(">I", 0x00000E03) + struct.pack(">III", 2**32 - 1, 2**32 - 1, 2**32 - 1)
    p = tmp_path / "x"
    p.write_bytes(gzip.compress(head + b"\0" * 64) if gz else head + b"\0" * 64)
    assert "over the" in _refused(p)


def test_gzip_bomb_is_refused_before_decompressing(tmp_path):
    """A header declaring 1 GB in a gzip file of a few hundred bytes: more than deflate can
    expand to, refused from the header."""
    head = struct.pack(">I", 0x00000803) + struct.pack(">III", 1000, 1000, 1000)
    p = tmp_path / "bomb.gz"
    p.write_bytes(gzip.compress(head + b"\0" * 100_000))
    assert "compressed bytes can hold" in _refused(p)


def test_damaged_gzip_stream(tmp_path):
    data = bytearray(gzip.compress(VALID * 50))
    data[20] ^= 0xFF
    p = tmp_path / "x.gz"
    p.write_bytes(bytes(data))
    _refused(p)


# -- through the MNIST loader: labels, counts, shapes ------------------------------------------------


@pytest.mark.parametrize("part", ["train", "t10k"])
@pytest.mark.parametrize("label", [10, 255])
def test_out_of_range_labels_are_refused(tmp_path, part, label):
    """A corrupt label file (a label of 10 in 10 classes) is refused, in the test split too:
    never a clean accuracy computed on a label no model predicts."""
    raw = write_mnist(tmp_path, gz=False)
    name = f"{part}-labels-idx1-ubyte"
    labels = np.frombuffer((raw / name).read_bytes()[8:], np.uint8).copy()
    labels[3] = label
    (raw / name).write_bytes(idx_bytes(labels, 2049))
    with pytest.raises(BadFile, match=r"outside \[0, 10\)") as e:
        load_mnist(tmp_path)
    assert name in str(e.value)


def test_counts_and_shapes_must_agree(tmp_path):
    raw = write_mnist(tmp_path, gz=False)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(7, np.uint8), 2049))
    with pytest.raises(BadFile, match="10 inputs but 7 labels"):
        load_mnist(tmp_path)
    write_mnist(tmp_path, gz=False)
    (raw / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((20, 28, 27), np.uint8), 2051))
    with pytest.raises(BadFile, match=r"shape \(20, 28, 27\)"):
        load_mnist(tmp_path)


def test_images_of_another_type_are_not_cast(tmp_path):
    """A float IDX in place of the uint8 images: refused (its magic carries the type code),
    never cast to uint8 silently."""
    raw = write_mnist(tmp_path, gz=False)
    floats = np.full((20, 28, 28), 300.5, ">f4")
    head = struct.pack(">I", 0x00000D03) + struct.pack(">III", *floats.shape)
    (raw / "train-images-idx3-ubyte").write_bytes(head + floats.tobytes())
    with pytest.raises(BadFile, match="IDX magic 3331, expected 2051"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("kind", PLANTS)
def test_filesystem_hostiles(tmp_path, kind):
    if kind == "unreadable" and not can_be_unreadable():
        pytest.skip("root reads mode-000 files")
    raw = write_mnist(tmp_path)
    outside = tmp_path / "fifo_elsewhere"
    os.mkfifo(outside)
    plant(raw / "t10k-labels-idx1-ubyte.gz", kind, outside)
    with pytest.raises(BadFile, match="t10k-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path)


def _check_mutation(tmp_path, desc_bytes):
    desc, data = desc_bytes
    p = tmp_path / "x"
    p.write_bytes(data)
    try:
        arr = load_idx(p, magic=2051)
    except BadFile as e:
        assert "\n" not in str(e) and "x" in str(e), desc
    else:  # a flipped data byte is still a valid file: then it must have its declared shape
        assert arr.size * arr.itemsize + 4 + 4 * arr.ndim == len(data), desc


@fast
@given(byte_mutations(VALID, header=16))
def test_damaged_bytes_fast(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("i"), desc_bytes)


@pytest.mark.slow
@exhaustive
@given(byte_mutations(VALID, header=16))
def test_damaged_bytes_exhaustive(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("i"), desc_bytes)


@pytest.mark.slow  # a subprocess that starts torch (~20 s on 2 busy cores)
def test_rbr_run_with_a_corrupt_test_label_exits_2(tmp_path):
    from rbr_testing import cli

    raw = write_mnist(tmp_path / "data", gz=False)
    labels = np.frombuffer((raw / "t10k-labels-idx1-ubyte").read_bytes()[8:], np.uint8).copy()
    labels[0] = 10
    (raw / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels, 2049))
    proc = cli(["dataset=mnist", f"data.root={tmp_path / 'data'}", f"output_root={tmp_path / 'out'}", "device=cpu", "progress=false"], timeout=300)
    assert_one_line_error(proc.returncode, proc.stderr, "t10k-labels-idx1-ubyte")
    assert not list((tmp_path / "out").rglob("metrics.csv"))
