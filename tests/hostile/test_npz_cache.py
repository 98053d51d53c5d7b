"""Hostile ``.npy``/``.npz`` files and the Tiny ImageNet decoded cache (issue 21): arrays are
never unpickled, header-declared sizes are checked before anything is allocated, a truncated
or damaged archive is one line naming it; the decoded cache is keyed by its sources, so an
image changed under the same name invalidates it, and a damaged cache the tool wrote is
rebuilt (a warning says so) while something else in its place is never replaced."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest
from data_kit import write_tinyimagenet
from hostile_kit import byte_mutations, exhaustive, fast
from hypothesis import given
from PIL import Image

from robustbench_runner.data.tinyimagenet import CACHE_NAME, load_tinyimagenet
from robustbench_runner.reading import BadFile, load_npy, load_npz, parse_npy

READERS = [load_npy, load_npz, parse_npy, "robustbench_runner.data.tinyimagenet._read_cache"]


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


SMALL = np.arange(6, dtype=np.int64).reshape(2, 3)
NPY, NPZ = _npy(SMALL), _npz(a=SMALL, b=np.array([1.5], np.float32))


def _refused(path, fn=load_npy, **kw) -> str:
    with pytest.raises(BadFile) as e:
        fn(path, **kw)
    text = str(e.value)
    assert path.name in text and "\n" not in text, text
    return text


def test_valid_round_trip(tmp_path):
    (tmp_path / "a.npy").write_bytes(NPY)
    (tmp_path / "a.npz").write_bytes(NPZ)
    assert np.array_equal(load_npy(tmp_path / "a.npy"), SMALL)
    z = load_npz(tmp_path / "a.npz")
    assert np.array_equal(z["a"], SMALL) and z["b"].tolist() == [1.5]
    f = np.asfortranarray(SMALL)
    (tmp_path / "f.npy").write_bytes(_npy(f))
    assert np.array_equal(load_npy(tmp_path / "f.npy"), SMALL)


def test_object_arrays_are_never_unpickled(tmp_path):
    canary = tmp_path / "canary"
    from hostile_kit import _Canary

    (tmp_path / "o.npy").write_bytes(_npy(np.array([_Canary(canary)], dtype=object)))
    assert "never unpickled" in _refused(tmp_path / "o.npy")
    (tmp_path / "o.npz").write_bytes(_npz(x=np.array([_Canary(canary)], dtype=object)))
    assert "never unpickled" in _refused(tmp_path / "o.npz", load_npz)
    assert not canary.exists()


def test_huge_declared_shape_allocates_nothing(tmp_path):
    header = np.lib.format.header_data_from_array_1_0(SMALL)
    header["shape"] = (2**40, 2**20)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    (tmp_path / "h.npy").write_bytes(buf.getvalue() + b"\0" * 48)
    assert "over the" in _refused(tmp_path / "h.npy")
    header["shape"] = (3, 3)  # declared larger than the data: truncated
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    (tmp_path / "t.npy").write_bytes(buf.getvalue() + b"\0" * 48)
    assert "truncated" in _refused(tmp_path / "t.npy")


@pytest.mark.parametrize("data,fn", [(NPY, load_npy), (NPZ, load_npz)], ids=["npy", "npz"])
def test_truncation_at_every_offset(tmp_path, data, fn):
    p = tmp_path / "x.bin"
    for k in range(len(data)):
        p.write_bytes(data[:k])
        _refused(p, fn)


def test_npz_with_a_flipped_byte_in_a_member_fails_its_crc(tmp_path):
    data = bytearray(NPZ)
    pos = NPZ.index(SMALL.tobytes())
    data[pos + 3] ^= 0x40
    (tmp_path / "c.npz").write_bytes(bytes(data))
    assert "damaged" in _refused(tmp_path / "c.npz", load_npz)


def test_missing_member_and_non_npy_members(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.npy", NPY)
        z.writestr("evil.pkl", b"\x80\x04cos\nsystem\n.")
    (tmp_path / "m.npz").write_bytes(buf.getvalue())
    assert set(load_npz(tmp_path / "m.npz")) == {"a"}  # the .pkl member is never read
    assert "no array 'key'" in _refused(tmp_path / "m.npz", load_npz, keys=["key"])


def _check_mutation(tmp_path, desc_bytes, fn):
    desc, data = desc_bytes
    p = tmp_path / "m.bin"
    p.write_bytes(data)
    try:
        out = fn(p)
    except BadFile as e:
        assert "m.bin" in str(e) and "\n" not in str(e), desc
    else:
        arrays = out.values() if isinstance(out, dict) else [out]
        assert all(not a.dtype.hasobject for a in arrays), desc


@fast
@given(byte_mutations(NPY, header=64))
def test_damaged_npy_fast(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("n"), desc_bytes, load_npy)


@fast
@given(byte_mutations(NPZ, header=64))
def test_damaged_npz_fast(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("n"), desc_bytes, load_npz)


@pytest.mark.slow
@exhaustive
@given(byte_mutations(NPZ, header=64))
def test_damaged_npz_exhaustive(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("n"), desc_bytes, load_npz)


# -- the Tiny ImageNet decoded cache ----------------------------------------------------------------


def _colour(bundle, split="test", i=0):
    return bundle.split(split).x[i, :, 0, 0].tolist()


def test_cache_serves_new_pixels_after_an_image_changes_under_the_same_name(tmp_path):
    base = write_tinyimagenet(tmp_path)
    first = load_tinyimagenet(tmp_path, cache=True, decode_workers=1)
    assert (base / CACHE_NAME).is_file() and _colour(first) == [0, 0, 0]
    victim = base / "val" / "images" / "val_0.JPEG"
    st = victim.stat()
    Image.new("RGB", (64, 64), (255, 255, 255)).save(victim, format="PNG")
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a later edit (coarse clocks)
    again = load_tinyimagenet(tmp_path, cache=True, decode_workers=1)
    assert _colour(again) == [255, 255, 255]  # not the cached black
    third = load_tinyimagenet(tmp_path, cache=True, decode_workers=1)
    assert _colour(third) == [255, 255, 255]


def test_a_truncated_cache_is_rebuilt_with_a_warning(tmp_path, capsys):
    base = write_tinyimagenet(tmp_path)
    good = load_tinyimagenet(tmp_path, cache=True, decode_workers=1)
    cache = base / CACHE_NAME
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    again = load_tinyimagenet(tmp_path, cache=True, decode_workers=1)
    assert "decoded cache is damaged" in capsys.readouterr().err
    assert np.array_equal(again.train.x, good.train.x) and np.array_equal(again.test.y, good.test.y)
    assert set(load_npz(cache)) == {"key", "x_train", "y_train", "x_test", "y_test"}  # rewritten whole


def test_a_cache_with_the_right_key_but_wrong_arrays_is_rebuilt(tmp_path):
    base = write_tinyimagenet(tmp_path)
    good = load_tinyimagenet(tmp_path, cache=True, decode_workers=1)
    z = load_npz(base / CACHE_NAME)
    z["x_test"] = z["x_test"][:, :, :32]  # the right key, arrays of another shape
    (base / CACHE_NAME).write_bytes(_npz(**z))
    again = load_tinyimagenet(tmp_path, cache=True, decode_workers=1)
    assert np.array_equal(again.test.x, good.test.x)


@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder"])
def test_something_else_in_the_cache_place_is_refused_not_replaced(tmp_path, kind):
    base = write_tinyimagenet(tmp_path)
    cache = base / CACHE_NAME
    target = tmp_path / "users_file"
    target.write_bytes(b"mine")
    if kind == "fifo":
        os.mkfifo(cache)
    elif kind == "symlink":
        cache.symlink_to(target)
    else:
        cache.mkdir()
    with pytest.raises(BadFile, match=CACHE_NAME):
        load_tinyimagenet(tmp_path, cache=True, decode_workers=1)
    assert target.read_bytes() == b"mine" and os.path.lexists(cache)
