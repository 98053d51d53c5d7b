"""Hostile SVHN ``.mat`` files (issue 21): a file that is not MAT (text, a pickle, a v7.3
HDF5 file), truncated or flipped MAT-files, missing or non-numeric variables, huge declared
sizes, wrong shapes, labels outside 1..10 and filesystem hostiles: one :class:`BadFile` line
naming the file, never a raw scipy exception."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import scipy.io
from data_kit import write_svhn
from hostile_kit import PLANTS, byte_mutations, can_be_unreadable, exhaustive, fast, plant
from hypothesis import given

from robustbench_runner.data.svhn import load_svhn
from robustbench_runner.reading import BadFile, load_mat

READERS = [load_mat, "robustbench_runner.data.svhn.read_svhn_mat"]


def _mat(**variables) -> bytes:
    buf = io.BytesIO()
    scipy.io.savemat(buf, variables)
    return buf.getvalue()


SMALL = _mat(X=np.arange(2 * 2 * 3 * 2, dtype=np.uint8).reshape(2, 2, 3, 2), y=np.array([[1], [10]], np.uint8))


def _refused(tmp_path, content: bytes, match: str | None = None, name: str = "train_32x32.mat") -> str:
    write_svhn(tmp_path)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(BadFile) as e:
        load_svhn(tmp_path)
    text = str(e.value)
    assert name in text and "\n" not in text, text
    if match:
        assert match in text, text
    return text


def test_valid_files_load_and_map_10_to_0(tmp_path):
    write_svhn(tmp_path)
    b = load_svhn(tmp_path)
    assert b.train.x.shape == (20, 3, 32, 32) and set(b.train.y.tolist()) <= set(range(10))
    raw = scipy.io.loadmat(str(tmp_path / "train_32x32.mat"))["y"].reshape(-1)
    assert (b.train.y.numpy()[raw == 10] == 0).all()


@pytest.mark.parametrize(
    "content,match",
    [(b"", "not a MATLAB 5"), (b"X,y\n1,2\n", "not a MATLAB 5"), (b"\x80\x04\x95pickle", "not a MATLAB 5"),
     (b"MATLAB 7.3 MAT-file, Platform: GLNXA64" + b"\0" * 600, "v7.3 (HDF5)"),
     (b"MATLAB 5.0 MAT-file" + b" " * 97 + b"\0" * 12, "damaged")],
)  # fmt: skip
def test_not_a_mat_file(tmp_path, content, match):
    _refused(tmp_path, content, match)


@pytest.mark.parametrize("name", ["train_32x32.mat", "test_32x32.mat"])
def test_wrong_variables_and_labels(tmp_path, name):
    x = np.zeros((32, 32, 3, 4), np.uint8)
    y = np.array([[1], [2], [3], [4]], np.uint8)
    _refused(tmp_path, _mat(X=x), "no variable 'y'", name)
    _refused(tmp_path, _mat(X=x, y=np.array([[1], [11], [3], [4]], np.uint8)), "outside [0, 11)", name)
    _refused(tmp_path, _mat(X=x, y=np.array([[1], [0], [3], [4]], np.uint8)), "label(s) 0", name)
    _refused(tmp_path, _mat(X=x, y=np.array([[1], [2], [3]], np.uint8)), "4 inputs but 3 labels", name)
    _refused(tmp_path, _mat(X=np.zeros((3, 32, 32, 4), np.uint8), y=y), "shape (3, 32, 32, 4)", name)
    _refused(tmp_path, _mat(X=x.astype(np.float64), y=y), "not uint8", name)
    _refused(tmp_path, _mat(X=x, y=np.array(["1", "2", "3", "4"])), "MATLAB char", name)
    _refused(tmp_path, _mat(X={"a": 1}, y=y), "MATLAB struct", name)


def test_truncation_at_every_offset(tmp_path):
    p = tmp_path / "t.mat"
    for k in range(len(SMALL)):
        p.write_bytes(SMALL[:k])
        with pytest.raises(BadFile) as e:
            load_mat(p, ["X", "y"])
        assert "t.mat" in str(e.value)


@pytest.mark.parametrize("kind", PLANTS)
def test_filesystem_hostiles(tmp_path, kind):
    if kind == "unreadable" and not can_be_unreadable():
        pytest.skip("root reads mode-000 files")
    write_svhn(tmp_path)
    outside = tmp_path / "fifo_elsewhere"
    os.mkfifo(outside)
    plant(tmp_path / "test_32x32.mat", kind, outside)
    with pytest.raises(BadFile, match="test_32x32.mat"):
        load_svhn(tmp_path)


def _check_mutation(tmp_path, desc_bytes):
    desc, data = desc_bytes
    p = tmp_path / "m.mat"
    p.write_bytes(data)
    try:
        out = load_mat(p, ["X", "y"])
    except BadFile as e:
        assert "m.mat" in str(e) and "\n" not in str(e), desc
    else:
        assert set(out) == {"X", "y"} and all(v.dtype.kind in "biuf" for v in out.values()), desc


@fast
@given(byte_mutations(SMALL, header=140))
def test_damaged_bytes_fast(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("m"), desc_bytes)


@pytest.mark.slow
@exhaustive
@given(byte_mutations(SMALL, header=140))
def test_damaged_bytes_exhaustive(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("m"), desc_bytes)


def test_the_flip_that_crashed_scipy_is_one_line(tmp_path):
    """One flipped byte in ``y``'s data tag made ``scipy.io.loadmat`` die with SIGBUS (found by
    this suite); the layer's own MAT parser refuses it in one line."""
    data = bytearray(SMALL)
    data[265] ^= 195
    p = tmp_path / "train_32x32.mat"
    p.write_bytes(bytes(data))
    with pytest.raises(BadFile, match="damaged MAT-file"):
        load_mat(p, ["X", "y"])


@pytest.mark.parametrize("compress", [False, True])
def test_compressed_and_plain_variables_read_exactly(tmp_path, compress):
    x = np.arange(32 * 32 * 3 * 2, dtype=np.uint8).reshape(32, 32, 3, 2)
    z = np.linspace(0, 1, 12).reshape(3, 4)
    scipy.io.savemat(str(tmp_path / "a.mat"), {"X": x, "z": z, "s": "text"}, do_compression=compress)
    out = load_mat(tmp_path / "a.mat", ["X", "z"])
    assert np.array_equal(out["X"], x) and np.array_equal(out["z"], z)


def test_a_compressed_bomb_is_bounded(tmp_path):
    """A zlib element that inflates past the bound: refused without inflating it all."""
    x = np.zeros((1000, 1000), np.uint8)
    scipy.io.savemat(str(tmp_path / "b.mat"), {"X": x}, do_compression=True)
    with pytest.raises(BadFile, match="bound"):
        load_mat(tmp_path / "b.mat", ["X"], max_bytes=100_000)
