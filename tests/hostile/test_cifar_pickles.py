"""Hostile CIFAR-10/100 batches (issue 21): the pickled batches are read with the data-only
unpickler, so a batch that would run code creates no canary; a batch that is not a dict, a
``batches.meta`` of the wrong type, wrong shapes, out-of-range labels (train *and* test),
truncated or flipped bytes and filesystem hostiles are each one :class:`BadFile` naming the
file. Fast sample in ``make test``; the exhaustive byte sweep is ``slow``."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from data_kit import cifar_batch, write_cifar10
from hostile_kit import (
    PLANTS,
    assert_one_line_error,
    assert_untouched,
    byte_mutations,
    can_be_unreadable,
    code_pickle,
    exhaustive,
    fast,
    plant,
    tree_state,
)
from hypothesis import given

from robustbench_runner.data.cifar import load_cifar10, load_cifar100
from robustbench_runner.errors import UserError
from robustbench_runner.reading import BadFile, load_data_pickle
from robustbench_runner.reading.pickles import ALLOWED_GLOBALS

READERS = [load_data_pickle, "robustbench_runner.data.cifar.read_batch"]


def _one_line(err: BaseException, name: str) -> str:
    text = str(err)
    assert "\n" not in text and name in text, text
    return text


# -- valid files still load, under every pickle protocol --------------------------------------


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_official_layout_loads_under_every_protocol(tmp_path, protocol):
    write_cifar10(tmp_path, protocol)
    b = load_cifar10(tmp_path)
    assert b.train.x.shape == (20, 3, 32, 32) and b.test.x.shape == (10, 3, 32, 32)
    assert b.class_names == [f"c{i}" for i in range(10)]
    expected = cifar_batch(4, 1)[b"labels"]
    assert b.train.y[:4].tolist() == expected


# -- code never runs -----------------------------------------------------------------------------


@pytest.mark.parametrize("victim", ["data_batch_3", "test_batch", "batches.meta"])
def test_code_pickle_is_refused_without_running(tmp_path, victim):
    base = write_cifar10(tmp_path)
    canary = tmp_path / "canary"
    (base / victim).write_bytes(code_pickle(canary))
    with pytest.raises(BadFile) as e:
        load_cifar10(tmp_path)
    line = _one_line(e.value, victim)
    assert "posix.system" in line or "os.system" in line
    assert not canary.exists()


@pytest.mark.parametrize(
    "module,name",
    [("builtins", "eval"), ("subprocess", "Popen"), ("numpy", "load"), ("numpy.core.multiarray", "_reconstruct_evil"),
     ("numpy.lib.npyio", "NpzFile"), ("torch", "load"), ("builtins", "getattr")],
)  # fmt: skip
def test_any_other_global_is_refused_before_import(tmp_path, module, name):
    """GLOBAL opcode naming anything outside the allow-list: refused before it is imported."""
    payload = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R."
    p = tmp_path / "data_batch_1"
    p.write_bytes(payload)
    with pytest.raises(BadFile, match=f"{module}.{name}"):
        load_data_pickle(p)


def test_allowed_globals_cannot_be_abused(tmp_path):
    """The admitted numpy names are guarded: ndarray called directly (a huge allocation),
    object dtypes, _reconstruct of another type are refused."""
    p = tmp_path / "b"
    cases = [
        b"\x80\x02cnumpy\nndarray\n(J\x00\x00\x00\x7f\x85tR.",  # ndarray((2**31,)) directly
        b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x85R.",  # dtype('O8')
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\ndtype\nK\x00\x85C\x01b\x87R.",  # _reconstruct(dtype, ...)
        b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.",
    ]
    for payload in cases:
        p.write_bytes(payload)
        with pytest.raises(BadFile, match="not a plain data pickle"):
            load_data_pickle(p)
    assert all(m.startswith(("numpy", "_codecs")) for m, _ in ALLOWED_GLOBALS)


@pytest.mark.parametrize("value", [{1, 2}, frozenset([3]), bytearray(b"x"), np.array([1, "a"], dtype=object), np.array(["ab"])])
def test_non_data_values_are_refused(tmp_path, value):
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"data": value}, protocol=5 if isinstance(value, bytearray) else 2))
    with pytest.raises(BadFile, match="data_batch_1"):
        load_data_pickle(p)


def test_shared_references_do_not_explode(tmp_path):
    """A list of 10 references to a list of 10 references... (10**30 leaves if expanded):
    the walk visits each object once."""
    x: list = ["lol"]
    for _ in range(30):
        x = [x] * 10
    p = tmp_path / "b"
    p.write_bytes(pickle.dumps({b"data": x}))
    assert isinstance(load_data_pickle(p), dict)


# -- wrong structure -------------------------------------------------------------------------------


def _variants():
    good = cifar_batch(4, 1)
    yield "a list, not a dict", [1, 2, 3], "not a dict"
    yield "an int", 7, "not a dict"
    yield "keys that are ints", {1: 2}, "keys"
    yield "no data", {k: v for k, v in good.items() if k != b"data"}, "no 'data'"
    yield "no labels", {k: v for k, v in good.items() if k != b"labels"}, "labels"
    yield "data a list", {**good, b"data": [[0] * 3072] * 4}, "not a uint8 array"
    yield "data float", {**good, b"data": good[b"data"].astype(np.float32)}, "float32"
    yield "data 32x32", {**good, b"data": np.zeros((4, 32, 32), np.uint8)}, "shape"
    yield "data 3071 wide", {**good, b"data": np.zeros((4, 3071), np.uint8)}, "shape"
    yield "labels not ints", {**good, b"labels": [b"a", b"b", b"c", b"d"]}, "list of integers"
    yield "labels a dict", {**good, b"labels": {0: 1}}, "list of integers"
    yield "label 10", {**good, b"labels": [0, 1, 10, 2]}, "outside [0, 10)"
    yield "label -1", {**good, b"labels": [0, -1, 1, 2]}, "outside [0, 10)"
    yield "label 2**70", {**good, b"labels": [0, 2**70, 1, 2]}, "labels"
    yield "5 labels for 4 images", {**good, b"labels": [0, 1, 2, 3, 4]}, "4 inputs but 5 labels"


@pytest.mark.parametrize("victim", ["data_batch_2", "test_batch"])
@pytest.mark.parametrize("desc,obj,match", list(_variants()), ids=[v[0] for v in _variants()])
def test_wrong_structure_is_one_line(tmp_path, victim, desc, obj, match):
    base = write_cifar10(tmp_path)
    (base / victim).write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(BadFile) as e:
        load_cifar10(tmp_path)
    assert match in _one_line(e.value, victim)


@pytest.mark.parametrize(
    "meta,match",
    [([b"a"] * 10, "not a dict"), ({b"label_names": b"airplane"}, "list of 10 names"),
     ({b"label_names": [b"a"] * 9}, "list of 10 names"), ({b"label_names": [1] * 10}, "list of 10 names"),
     ({b"label_names": [b"\xff"] * 10}, "UTF-8")],
)  # fmt: skip
def test_batches_meta_of_the_wrong_type(tmp_path, meta, match):
    base = write_cifar10(tmp_path)
    (base / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    with pytest.raises(BadFile, match=match) as e:
        load_cifar10(tmp_path)
    _one_line(e.value, "batches.meta")


def test_cifar100_coarse_labels_checked_against_20_classes(tmp_path):
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    for split, n in (("train", 8), ("test", 4)):
        d = cifar_batch(n, 3, "fine_labels", 100)
        d[b"coarse_labels"] = [19] * (n - 1) + [20]
        (base / split).write_bytes(pickle.dumps(d, protocol=2))
    assert load_cifar100(tmp_path).num_classes == 100
    with pytest.raises(BadFile, match=r"outside \[0, 20\)"):
        load_cifar100(tmp_path, labels="coarse")


# -- damaged bytes and filesystem hostiles --------------------------------------------------------


def _truncations(tmp_path, valid: bytes):
    p = tmp_path / "data_batch_1"
    for k in range(len(valid)):
        p.write_bytes(valid[:k])
        with pytest.raises(BadFile) as e:
            load_data_pickle(p, expect=dict)
        _one_line(e.value, "data_batch_1")


def test_truncation_at_every_offset(tmp_path):
    """Every prefix of a small batch-shaped pickle (every opcode boundary of the layout):
    refused in one line, never a raw exception."""
    small = {b"batch_label": b"b", b"labels": [1, 2], b"data": np.arange(8, dtype=np.uint8).reshape(2, 4), b"filenames": [b"a", b"b"]}
    for protocol in (2, 5):
        _truncations(tmp_path, pickle.dumps(small, protocol=protocol))


@pytest.mark.slow
def test_truncation_at_every_offset_of_a_real_batch(tmp_path):
    _truncations(tmp_path, pickle.dumps(cifar_batch(1, 0), protocol=2))


def _check_mutation(tmp_path, desc_bytes):
    desc, data = desc_bytes
    base = tmp_path / "cifar-10-batches-py"
    if not base.exists():
        write_cifar10(tmp_path)
    (base / "data_batch_4").write_bytes(data)
    try:
        b = load_cifar10(tmp_path)
    except BadFile as e:
        assert "data_batch_4" in str(e) and "\n" not in str(e), desc
    else:  # flipped pixel bytes or label values still in range are valid data
        assert len(b.train) == 20 and int(b.train.y.max()) < 10, desc


@fast
@given(byte_mutations(pickle.dumps(cifar_batch(4, 4), protocol=2), header=32))
def test_damaged_bytes_fast(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("c"), desc_bytes)


@pytest.mark.slow
@exhaustive
@given(byte_mutations(pickle.dumps(cifar_batch(4, 4), protocol=2), header=32))
def test_damaged_bytes_exhaustive(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("c"), desc_bytes)


@pytest.mark.parametrize("kind", PLANTS)
def test_filesystem_hostiles(tmp_path, kind):
    if kind == "unreadable" and not can_be_unreadable():
        pytest.skip("root reads mode-000 files")
    base = write_cifar10(tmp_path)
    outside = tmp_path / "elsewhere"
    os.mkfifo(outside)  # a link to a FIFO must not block either
    plant(base / "test_batch", kind, outside)
    with pytest.raises(BadFile) as e:
        load_cifar10(tmp_path)
    _one_line(e.value, "test_batch")


# -- through the real command --------------------------------------------------------------------


def test_rbr_run_with_a_code_pickle_exits_2_and_runs_nothing(tmp_path):
    """The real command: exit 2, one line naming the batch, no canary, no metric row, and the
    data folder (the hostile file included) exactly as it was: nothing of the user's touched."""
    from rbr_testing import cli

    write_cifar10(tmp_path / "data")
    canary = tmp_path / "canary"
    (tmp_path / "data" / "cifar-10-batches-py" / "data_batch_1").write_bytes(code_pickle(canary))
    before = tree_state(tmp_path, skip=tmp_path / "out")
    proc = cli(["dataset=cifar10", f"data.root={tmp_path / 'data'}", f"output_root={tmp_path / 'out'}", "device=cpu", "progress=false"], timeout=300)
    assert_one_line_error(proc.returncode, proc.stderr, "data_batch_1")
    assert not canary.exists()
    assert not list((tmp_path / "out").rglob("metrics.csv"))
    assert_untouched(before, tree_state(tmp_path, skip=tmp_path / "out"))


def test_loader_errors_are_user_errors():
    assert issubclass(BadFile, UserError)
