"""Hostile images (Tiny ImageNet's JPEGs; issue 21): the pixel count is read from the header
and checked before decoding, so a decompression bomb or a 10000x10000 image is refused without
being decoded; truncated, flipped or non-image files, wrong sizes, val annotations naming files
outside ``val/images`` or unknown classes, and filesystem hostiles: one :class:`BadFile` line."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from data_kit import write_tinyimagenet
from hostile_kit import PLANTS, byte_mutations, can_be_unreadable, exhaustive, fast, plant
from hypothesis import given
from PIL import Image

from robustbench_runner.data.tinyimagenet import load_tinyimagenet
from robustbench_runner.reading import BadFile, load_image

READERS = [load_image, "robustbench_runner.data.tinyimagenet.decode", "robustbench_runner.data.tinyimagenet.list_files"]


def _png(w: int, h: int, colour=(10, 20, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, format="PNG")
    return buf.getvalue()


def _bomb_png(w: int, h: int) -> bytes:
    """A PNG header declaring ``w x h`` grey pixels over a tiny (invalid) data stream: PIL's
    ``open`` reads the size without decoding, a decoder would allocate w*h bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


VALID = _png(8, 8)


def _write(p, data: bytes):
    p.write_bytes(data)
    return p


def _refused(path, match: str | None = None, **kw) -> str:
    with pytest.raises(BadFile) as e:
        load_image(path, **kw)
    text = str(e.value)
    assert path.name in text and "\n" not in text, text
    if match:
        assert match in text, text
    return text


def test_valid_image_decodes(tmp_path):
    p = tmp_path / "a.JPEG"
    p.write_bytes(VALID)
    arr = load_image(p, size=(8, 8))
    assert arr.shape == (8, 8, 3) and arr[0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize("w,h", [(10_000, 10_000), (100_000, 100_000), (2**31 - 1, 2)])
def test_bombs_are_refused_from_the_header(tmp_path, w, h, monkeypatch):
    """Refused before decoding: decoding is made to fail the test if it is ever reached."""
    p = tmp_path / "bomb.JPEG"
    p.write_bytes(_bomb_png(w, h))
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded a bomb"))
    text = _refused(p)
    assert "pixel" in text or "bomb" in text


def test_wrong_size_refused_before_decoding(tmp_path, monkeypatch):
    p = tmp_path / "big.JPEG"
    p.write_bytes(_png(65, 64))
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded before the size check"))
    _refused(p, "is 65x64, expected 64x64", size=(64, 64))


@pytest.mark.parametrize("content", [b"", b"not an image", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0" + b"\0" * 20, b"GIF89a"])
def test_not_images(tmp_path, content):
    p = tmp_path / "x.JPEG"
    p.write_bytes(content)
    _refused(p)


def test_truncation_at_every_offset(tmp_path):
    """Every prefix: refused in one line, except a prefix that still holds every pixel (only
    checksums or the trailing IEND chunk cut), which must then decode to exactly the original
    pixels (never a partly filled image: PIL's LOAD_TRUNCATED_IMAGES stays off)."""
    p = tmp_path / "t.JPEG"
    full = load_image(_write(p, VALID))
    refused = 0
    for k in range(len(VALID)):
        p.write_bytes(VALID[:k])
        try:
            arr = load_image(p)
        except BadFile as e:
            assert "t.JPEG" in str(e) and "\n" not in str(e)
            refused += 1
        else:
            assert np.array_equal(arr, full), k  # only checksums/IEND were cut: every pixel is there
    assert refused >= len(VALID) - 24


def _check_mutation(tmp_path, desc_bytes):
    desc, data = desc_bytes
    p = tmp_path / "m.JPEG"
    p.write_bytes(data)
    try:
        arr = load_image(p, size=(8, 8))
    except BadFile as e:
        assert "m.JPEG" in str(e) and "\n" not in str(e), desc
    else:
        assert arr.shape == (8, 8, 3) and arr.dtype == np.uint8, desc


@fast
@given(byte_mutations(VALID, header=33))
def test_damaged_bytes_fast(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("img"), desc_bytes)


@pytest.mark.slow
@exhaustive
@given(byte_mutations(VALID, header=33))
def test_damaged_bytes_exhaustive(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("img"), desc_bytes)


# -- through the Tiny ImageNet loader ----------------------------------------------------------------


def test_tinyimagenet_bomb_among_the_images(tmp_path):
    base = write_tinyimagenet(tmp_path)
    victim = base / "train" / "n00000001" / "images" / "n00000001_1.JPEG"
    victim.write_bytes(_bomb_png(10_000, 10_000))
    with pytest.raises(BadFile, match="n00000001_1.JPEG"):
        load_tinyimagenet(tmp_path, decode_workers=1)


@pytest.mark.parametrize(
    "line,match",
    [("../../../etc/passwd\tn00000000\t0\t0\t1\t1", "not a plain file name"), ("val_0.JPEG\tn99999999\t0\t0\t1\t1", "not in wnids.txt"),
     ("/abs.JPEG\tn00000000", "not a plain file name")],
)  # fmt: skip
def test_val_annotations_cannot_point_outside(tmp_path, line, match):
    base = write_tinyimagenet(tmp_path)
    (base / "val" / "val_annotations.txt").write_text(line + "\n")
    with pytest.raises(BadFile, match=match) as e:
        load_tinyimagenet(tmp_path, decode_workers=1)
    assert "val_annotations.txt" in str(e.value)


@pytest.mark.parametrize("wnids", ["", "n1\nn1\n", "../x\n", "\xff"])
def test_bad_wnids(tmp_path, wnids):
    base = write_tinyimagenet(tmp_path)
    (base / "wnids.txt").write_bytes(wnids.encode("latin1"))
    with pytest.raises(BadFile, match="wnids.txt"):
        load_tinyimagenet(tmp_path, decode_workers=1)


def test_missing_val_image_is_named(tmp_path):
    base = write_tinyimagenet(tmp_path)
    (base / "val" / "images" / "val_1.JPEG").unlink()
    with pytest.raises(BadFile, match="val_1.JPEG"):
        load_tinyimagenet(tmp_path, decode_workers=1, cache=True)
    with pytest.raises(BadFile, match="val_1.JPEG"):
        load_tinyimagenet(tmp_path, decode_workers=1, cache=False)


@pytest.mark.parametrize("kind", PLANTS)
def test_filesystem_hostiles(tmp_path, kind):
    if kind == "unreadable" and not can_be_unreadable():
        pytest.skip("root reads mode-000 files")
    base = write_tinyimagenet(tmp_path)
    outside = tmp_path / "fifo_elsewhere"
    os.mkfifo(outside)
    plant(base / "val" / "images" / "val_0.JPEG", kind, outside)
    with pytest.raises(BadFile, match="val_0.JPEG"):
        load_tinyimagenet(tmp_path, decode_workers=1)
