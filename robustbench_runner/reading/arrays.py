"""NumPy ``.npy`` / ``.npz`` files: ``allow_pickle=False`` and header-declared sizes bounded.

The ``.npy`` header (magic, version, ``{'descr', 'fortran_order', 'shape'}``) is parsed first;
an object dtype (which would need unpickling) is refused, and the declared shape times the
item size must be exactly the bytes that follow, within the bound: numpy itself would
allocate the declared size before reading (a 10-byte file can declare a terabyte). An
``.npz`` is a zip of ``.npy`` members: a truncated or damaged archive (a cache killed while
being written, a flipped byte caught by the CRC) is one :class:`.files.BadFile` line naming
it; a cache the tool wrote itself is then rebuilt by its owner (``data.tinyimagenet``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .files import LIMITS, BadFile, open_regular, read_bytes


def parse_npy(data: bytes, path: str | Path, *, what: str | None = None, fix: str | None = None, max_bytes: int = LIMITS["data"], name: str | None = None) -> np.ndarray:
    """The array in the ``.npy`` bytes ``data`` (``name``: the member of an ``.npz``)."""
    where = f"member {name!r} " if name else ""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except Exception as e:
        raise BadFile(path, f"{where}is not a NumPy .npy array ({' '.join(str(e).split())[:120]})", fix=fix, what=what) from None
    if dtype.hasobject:
        raise BadFile(path, f"{where}holds Python objects (dtype {dtype}), which are never unpickled", fix=fix, what=what)
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared > max_bytes:
        raise BadFile(path, f"{where}declares shape {shape} ({declared:,} bytes), over the {max_bytes:,}-byte bound", fix=fix, what=what)
    body = len(data) - f.tell()
    if body != declared:
        state = "truncated" if body < declared else "longer than declared"
        raise BadFile(path, f"{where}is {state}: shape {shape} of {dtype} needs {declared:,} bytes, it holds {body:,}", fix=fix, what=what)
    arr = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape)), offset=f.tell())
    return arr.reshape(shape, order="F" if fortran else "C").copy()


def load_npy(path: str | Path, *, what: str | None = None, fix: str | None = None, max_bytes: int = LIMITS["data"]) -> np.ndarray:
    """A ``.npy`` file (never unpickled, declared size checked)."""
    return parse_npy(read_bytes(path, max_bytes=max_bytes, what=what, fix=fix), path, what=what, fix=fix, max_bytes=max_bytes)


def load_npz(
    path: str | Path,
    keys: Sequence[str] | None = None,
    *,
    what: str | None = None,
    fix: str | None = None,
    max_bytes: int = LIMITS["data"],
) -> dict[str, np.ndarray]:
    """``{name: array}`` of an ``.npz`` (all members, or ``keys``, each of which must be there)."""
    with open_regular(path, max_bytes=max_bytes, what=what, fix=fix) as fh:
        try:
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise BadFile(path, f"is not a complete .npz archive ({' '.join(str(e).split())[:120]})", fix=fix, what=what) from None
        with zf:
            members = {n[:-4]: n for n in zf.namelist() if n.endswith(".npy")}
            wanted = list(members) if keys is None else list(keys)
            missing = [k for k in wanted if k not in members]
            if missing:
                raise BadFile(path, f"has no array {missing[0]!r} (found: {sorted(members)[:8]})", fix=fix, what=what)
            total = sum(zf.getinfo(members[k]).file_size for k in wanted)
            if total > max_bytes:
                raise BadFile(path, f"declares {total:,} bytes of arrays, over the {max_bytes:,}-byte bound", fix=fix, what=what)
            out = {}
            for k in wanted:
                try:
                    data = zf.read(members[k])
                except Exception as e:  # CRC mismatch, truncated member, bad compression
                    raise BadFile(path, f"member {k!r} is damaged ({type(e).__name__}: {' '.join(str(e).split())[:120]})", fix=fix, what=what) from None
                out[k] = parse_npy(data, path, what=what, fix=fix, max_bytes=max_bytes, name=k)
    return out
