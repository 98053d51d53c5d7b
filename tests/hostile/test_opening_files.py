"""The base of the reading layer (:mod:`robustbench_runner.reading.files`): only regular
files, bounded, one line naming the file. A FIFO with no writer is refused without blocking
(a naive ``open`` would hang forever), a folder or device is named as what it is, a symlink is
not followed where the tool wrote the file itself, a file over its bound is refused from its
size, and text that is not UTF-8 is named with the offending byte."""

from __future__ import annotations

import os

import pytest
from hostile_kit import PLANTS, can_be_unreadable, plant
from hypothesis import given
from hypothesis import strategies as st

from robustbench_runner.reading import BadFile, open_regular, read_bytes, read_text, source_stamp

READERS = [open_regular, read_bytes, read_text]


def _one_line(e: BaseException, name: str) -> str:
    text = str(e)
    assert name in text and "\n" not in text, text
    return text


@pytest.mark.parametrize("reader", [read_bytes, read_text])
@pytest.mark.parametrize("kind", PLANTS)
def test_plants_are_refused_without_blocking(tmp_path, reader, kind):
    if kind == "unreadable" and not can_be_unreadable():
        pytest.skip("root reads mode-000 files")
    outside = tmp_path / "fifo_elsewhere"
    os.mkfifo(outside)  # a link to a FIFO must not block either
    p = tmp_path / "f.txt"
    plant(p, kind, outside)
    with pytest.raises(BadFile) as e:
        reader(p, max_bytes=100)
    _one_line(e.value, "f.txt")


def test_kinds_are_named(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dir").mkdir()
    with pytest.raises(BadFile, match="FIFO"):
        read_bytes(tmp_path / "pipe", max_bytes=10)
    with pytest.raises(BadFile, match="a folder"):
        read_bytes(tmp_path / "dir", max_bytes=10)
    with pytest.raises(BadFile, match="does not exist"):
        read_bytes(tmp_path / "nope", max_bytes=10)
    if os.path.exists("/dev/null"):
        with pytest.raises(BadFile, match="character device"):
            read_bytes("/dev/null", max_bytes=10)


def test_symlinks_followed_only_when_asked(tmp_path):
    target = tmp_path / "real"
    target.write_text("data")
    (tmp_path / "link").symlink_to(target)
    assert read_text(tmp_path / "link") == "data"
    with pytest.raises(BadFile, match="symbolic link"):
        read_text(tmp_path / "link", follow_symlinks=False)


@given(st.integers(0, 40), st.integers(0, 40))
def test_size_bound_is_exact(size, bound):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "f.bin")
        with open(p, "wb") as f:
            f.write(b"x" * size)
        if size <= bound:
            assert read_bytes(p, max_bytes=bound) == b"x" * size
        else:
            with pytest.raises(BadFile, match="bound"):
                read_bytes(p, max_bytes=bound)


def test_not_utf8_names_the_byte(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes(b"ok\n\xff\xfe")
    assert "byte 3: ff" in _one_line(pytest.raises(BadFile, read_text, p).value, "t.txt")


def test_source_stamp_changes_when_content_changes_under_the_name(tmp_path):
    p = tmp_path / "img"
    p.write_bytes(b"a" * 10)
    before = source_stamp([p])
    st_ = p.stat()
    p.write_bytes(b"b" * 11)
    assert source_stamp([p]) != before
    p.write_bytes(b"c" * 10)
    os.utime(p, ns=(st_.st_atime_ns, st_.st_mtime_ns + 5))
    assert source_stamp([p]) != before
