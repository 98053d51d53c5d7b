"""MATLAB 5 MAT-files (SVHN's ``*_32x32.mat``), parsed here, not by scipy.

``scipy.io.loadmat`` crashes the interpreter (SIGBUS/SIGSEGV) on some files with a few
flipped bytes (``tests/hostile/test_svhn_mat.py`` found one), so the tool reads the format
itself, after the "MAT-File Format" reference (MathWorks, level 5): a 128-byte text header
ending in the endian indicator ``IM``/``MI``, then data elements, each an 8-byte tag (type,
byte count; or the 4-byte "small element" form) and its data padded to 8 bytes. A variable
is a ``miMATRIX`` element (possibly inside a zlib ``miCOMPRESSED`` one): array flags (class),
dimensions, name, real part. Only numeric, real, non-sparse arrays are read; every size is
checked against what is left of the file (and :data:`.files.LIMITS`) before it is used, and
a compressed element is inflated to at most that bound.

A file that is not a MAT-file at all, a v7.3 (HDF5) file, a missing variable, a cell, struct,
char or sparse variable, a truncated or damaged element: one :class:`.files.BadFile` line
naming the file.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .files import LIMITS, BadFile, read_bytes

MAT5_MAGIC = b"MATLAB 5.0 MAT-file"
MI_MATRIX, MI_COMPRESSED = 14, 15
#: data element types -> numpy dtype (without byte order)
MI_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
#: numeric array classes -> numpy dtype of the variable
MX_NUMERIC = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
MX_NAMES = {1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 16: "function handle", 17: "opaque"}


class _Bad(Exception):
    """A structural problem inside the MAT file; :func:`load_mat` turns it into one BadFile line."""


class _Reader:
    def __init__(self, data: bytes, endian: str, max_bytes: int):
        self.data, self.e, self.max_bytes = data, endian, max_bytes

    def tag(self, buf: bytes, pos: int) -> tuple[int, int, int, int]:
        """(type, nbytes, data start, next element position) of the element at ``pos``."""
        if pos + 8 > len(buf):
            raise _Bad(f"an element tag at byte {pos} is cut off")
        first, second = struct.unpack(self.e + "II", buf[pos : pos + 8])
        if first >> 16:  # small data element: up to 4 bytes of data inside the tag
            n, t = first >> 16, first & 0xFFFF
            if n > 4:
                raise _Bad(f"a small element at byte {pos} declares {n} bytes")
            return t, n, pos + 4, pos + 8
        t, n = first, second
        end = pos + 8 + n
        if end > len(buf):
            raise _Bad(f"an element at byte {pos} declares {n:,} bytes, past the end of the data")
        nxt = end if t == MI_COMPRESSED else pos + 8 + ((n + 7) // 8) * 8
        return t, n, pos + 8, min(nxt, len(buf))

    def elements(self, buf: bytes, start: int):
        pos = start
        while pos < len(buf):
            t, n, d, nxt = self.tag(buf, pos)
            yield t, buf[d : d + n], pos
            pos = nxt

    def inflate(self, blob: bytes) -> bytes:
        d = zlib.decompressobj()
        try:
            out = d.decompress(blob, self.max_bytes + 1)
        except zlib.error as e:
            raise _Bad(f"a compressed element is damaged ({e})") from None
        if len(out) > self.max_bytes:
            raise _Bad(f"a compressed element inflates past the {self.max_bytes:,}-byte bound")
        if not d.eof:
            raise _Bad("a compressed element is truncated")
        return out

    def matrix(self, body: bytes) -> tuple[str, object]:
        """(name, ndarray or the class name of a non-numeric variable) of a miMATRIX body."""
        subs = list(self.elements(body, 0))
        if len(subs) < 3:
            raise _Bad("a variable has fewer parts than flags, dimensions and name")
        (tf, flags, _), (td, dims_raw, _), (tn, name_raw, _) = subs[:3]
        if tf != 6 or len(flags) < 8 or td != 5 or len(dims_raw) % 4 or not dims_raw or tn not in (1, 2):
            raise _Bad("a variable's flags, dimensions or name are malformed")
        word = struct.unpack(self.e + "I", flags[:4])[0]
        cls, complex_ = word & 0xFF, bool(word & 0x0800)
        name = name_raw.decode("latin1")
        if cls not in MX_NUMERIC:
            return name, MX_NAMES.get(cls, f"class {cls}")
        if complex_:
            return name, "complex array"
        dims = struct.unpack(self.e + f"{len(dims_raw) // 4}i", dims_raw)
        if any(k < 0 for k in dims):
            raise _Bad(f"variable {name!r} declares negative dimensions {dims}")
        count = int(np.prod(dims, dtype=object))
        if count * np.dtype(MX_NUMERIC[cls]).itemsize > self.max_bytes:
            raise _Bad(f"variable {name!r} declares shape {dims}, over the {self.max_bytes:,}-byte bound")
        if len(subs) < 4:
            raise _Bad(f"variable {name!r} has no data")
        tr, real, _ = subs[3]
        if tr not in MI_TYPES:
            raise _Bad(f"variable {name!r} stores its data as element type {tr}")
        dt = np.dtype(self.e + MI_TYPES[tr])
        if len(real) != count * dt.itemsize:
            raise _Bad(f"variable {name!r} declares shape {dims} but holds {len(real):,} data bytes")
        arr = np.frombuffer(real, dtype=dt, count=count).astype(MX_NUMERIC[cls])
        return name, arr.reshape(dims, order="F")


def load_mat(path: str | Path, keys: Sequence[str], *, what: str | None = None, fix: str | None = None, max_bytes: int = LIMITS["data"]) -> dict[str, np.ndarray]:
    """``{key: numeric ndarray}`` (MATLAB's column-major layout, dimensions as declared) for
    each of ``keys`` in the level-5 MAT-file at ``path``."""
    data = read_bytes(path, max_bytes=max_bytes, what=what, fix=fix)
    if data[:10] == b"MATLAB 7.3" or data[512:520] == b"\x89HDF\r\n\x1a\n":
        raise BadFile(path, "is a MATLAB v7.3 (HDF5) file, which is not supported", fix=fix or "save it with MATLAB's -v7 option (or use the official file)", what=what)
    if not data.startswith(MAT5_MAGIC):
        shown = data[:16].decode("latin1").encode("unicode_escape").decode() if data else "empty"
        raise BadFile(path, f"is not a MATLAB 5 MAT-file (it begins {shown!r})", fix=fix, what=what)
    if len(data) < 128 or data[126:128] not in (b"IM", b"MI"):
        raise BadFile(path, "is a damaged MAT-file (its 128-byte header is cut off or has no endian indicator)", fix=fix, what=what)
    reader = _Reader(data, "<" if data[126:128] == b"IM" else ">", max_bytes)
    found: dict[str, object] = {}
    try:
        for t, body, _ in reader.elements(data, 128):
            if t == MI_COMPRESSED:
                inner = reader.inflate(body)
                t, n, d, _ = reader.tag(inner, 0)
                body = inner[d : d + n]
            if t != MI_MATRIX:
                continue  # other top-level elements hold no variable
            name, value = reader.matrix(body)
            if name in keys:
                found[name] = value
    except _Bad as e:
        raise BadFile(path, f"is a damaged MAT-file: {e}", fix=fix, what=what) from None
    for k in keys:
        if k not in found:
            raise BadFile(path, f"has no variable {k!r}", fix=fix, what=what)
        if not isinstance(found[k], np.ndarray):
            raise BadFile(path, f"holds {k!r} as a MATLAB {found[k]}, not a numeric array", fix=fix, what=what)
    return {k: found[k] for k in keys}  # type: ignore[misc]
