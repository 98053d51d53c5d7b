"""Hostile ``data.subset`` / ``data.test_subset`` index files (issue 21): empty, float,
duplicate, negative, out-of-range, beyond-int64, non-numeric, object ``.npy`` and filesystem
hostiles are one :class:`BadFile` line naming the file (an empty subset used to surface as
"training diverged"; float and duplicate indices were accepted silently)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from hostile_kit import PLANTS, assert_one_line_error, can_be_unreadable, exhaustive, fast, plant
from hypothesis import given
from hypothesis import strategies as st

from robustbench_runner.data import read_index_file
from robustbench_runner.reading import BadFile, check_indices, load_index_file

READERS = [load_index_file, read_index_file]

N = 10


def _refused(path, match: str) -> str:
    with pytest.raises(BadFile) as e:
        load_index_file(path, N)
    text = str(e.value)
    assert path.name in text and "\n" not in text and match in text, text
    return text


def test_valid_text_and_npy(tmp_path):
    (tmp_path / "i.txt").write_text("3\n1\n# a comment\n\n7  # trailing\n")
    assert load_index_file(tmp_path / "i.txt", N).tolist() == [3, 1, 7]
    np.save(tmp_path / "i.npy", np.array([0, 9], np.int32))
    assert read_index_file(tmp_path / "i.npy", N).tolist() == [0, 9]


@pytest.mark.parametrize(
    "text,match",
    [("", "no indices"), ("\n# only a comment\n", "no indices"), ("1\n2.5\n", "not an integer"), ("1\n2.0\n", "not an integer"),
     ("1\n1\n", "duplicate"), ("-1\n", "outside [0, 10)"), ("10\n", "outside [0, 10)"), ("1e3\n", "not an integer"),
     ("nan\n", "not an integer"), ("0x1\n", "not an integer"), (f"{2**70}\n", "int64"), ("1,2\n", "not an integer")],
)  # fmt: skip
def test_bad_text_index_files(tmp_path, text, match):
    p = tmp_path / "subset.txt"
    p.write_text(text)
    _refused(p, match)


@pytest.mark.parametrize(
    "arr,match",
    [(np.array([], np.int64), "no indices"), (np.array([1.0, 2.0]), "float"), (np.array([1.5]), "non-integer"),
     (np.array([1, 1]), "duplicate"), (np.array([True, False]), "bool"), (np.array(["1"]), "<U1"), (np.array([3, 12]), "outside")],
)  # fmt: skip
def test_bad_npy_index_files(tmp_path, arr, match):
    p = tmp_path / "subset.npy"
    np.save(p, arr)
    _refused(p, match)


def test_object_npy_is_never_unpickled(tmp_path):
    p = tmp_path / "subset.npy"
    buf = io.BytesIO()
    np.save(buf, np.array([1, "x"], dtype=object), allow_pickle=True)
    p.write_bytes(buf.getvalue())
    _refused(p, "never unpickled")


@pytest.mark.parametrize("kind", PLANTS)
def test_filesystem_hostiles(tmp_path, kind):
    if kind == "unreadable" and not can_be_unreadable():
        pytest.skip("root reads mode-000 files")
    outside = tmp_path / "fifo_elsewhere"
    os.mkfifo(outside)
    p = tmp_path / "subset.txt"
    plant(p, kind, outside)
    with pytest.raises(BadFile, match="subset.txt"):
        load_index_file(p, N)


def _property(values):
    arr = np.asarray(values, dtype=np.int64)
    try:
        out = check_indices(arr, N, "f.txt")
    except BadFile as e:
        bad = arr.size == 0 or arr.min() < 0 or arr.max() >= N or len(set(arr.tolist())) != arr.size
        assert bad and "f.txt" in str(e)
    else:
        assert out.size and len(set(out.tolist())) == out.size and 0 <= out.min() and out.max() < N


@fast
@given(st.lists(st.integers(-3, N + 3), max_size=12))
def test_check_indices_accepts_exactly_the_valid_lists(values):
    _property(values)


@pytest.mark.slow
@exhaustive
@given(st.lists(st.integers(-3, N + 3), max_size=12))
def test_check_indices_exhaustive(values):
    _property(values)


@pytest.mark.slow  # a subprocess that starts torch
def test_rbr_run_with_an_empty_subset_exits_2_naming_it(tmp_path):
    from rbr_testing import TINY, cli

    p = tmp_path / "empty.txt"
    p.write_text("")
    proc = cli([*TINY, f"data.subset={p}", f"output_root={tmp_path / 'out'}"], timeout=300)
    assert_one_line_error(proc.returncode, proc.stderr, "empty.txt")
    assert "diverged" not in proc.stderr


# -- the other content checks of reading.checks -------------------------------------------------------


def _bundle(y_train, y_test, x_test_shape=(3, 1, 2, 2)):
    import torch

    from robustbench_runner.data.base import ArraySplit, DataBundle

    return DataBundle(
        name="b", train=ArraySplit(torch.zeros(len(y_train), 1, 2, 2), torch.tensor(y_train)),
        test=ArraySplit(torch.zeros(x_test_shape), torch.tensor(y_test)), num_classes=3, in_channels=1, image_size=2,
    )  # fmt: skip


def test_check_bundle():
    from robustbench_runner.reading import check_bundle

    check_bundle(_bundle([0, 1, 2], [2, 1, 0]), "ok.bin")
    with pytest.raises(BadFile, match=r"test.bin.*outside \[0, 3\)"):
        check_bundle(_bundle([0, 1, 2], [0, 3, 1]), {"train": "train.bin", "test": "test.bin"})
    with pytest.raises(BadFile, match=r"train.bin.*outside \[0, 3\)"):
        check_bundle(_bundle([-1, 1, 2], [0, 1, 1]), {"train": "train.bin", "test": "test.bin"})
    with pytest.raises(BadFile, match="holds no train samples"):
        check_bundle(_bundle([], [0, 1, 2]), "e.bin")
    with pytest.raises(BadFile, match="other splits"):
        check_bundle(_bundle([0, 1, 2], [0, 1, 2], (3, 1, 3, 3)), "s.bin")


@pytest.mark.parametrize(
    "labels,n,match",
    [(np.array([0.0, 1.0]), 3, None), (np.array([0.5]), 3, "float64"), (np.array(["a"]), 3, "<U1"), (np.array([np.nan]), 3, "float64")],
)  # fmt: skip
def test_check_labels_types(labels, n, match):
    from robustbench_runner.reading import check_labels

    if match is None:
        assert check_labels(labels, n, "l.bin").tolist() == [0, 1]
    else:
        with pytest.raises(BadFile, match=match):
            check_labels(labels, n, "l.bin")
