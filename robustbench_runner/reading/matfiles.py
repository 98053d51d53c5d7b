"""MATLAB 5 MAT-files (SVHN's ``*_32x32.mat``), read with scipy after checks of our own.

A file that is not a MAT-file at all (no ``MATLAB 5.0 MAT-file`` text header), a v7.3 file
(HDF5, which scipy cannot read), a variable that is missing, declared larger than
:data:`.files.LIMITS` allows, or not a numeric array (a cell, a struct, an object): each is
one :class:`.files.BadFile` line naming the file. Variable sizes come from the headers
(``scipy.io.whosmat``) before anything is loaded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .files import LIMITS, BadFile, read_bytes

MAT5_MAGIC = b"MATLAB 5.0 MAT-file"


def load_mat(path: str | Path, keys: Sequence[str], *, what: str | None = None, fix: str | None = None, max_bytes: int = LIMITS["data"]) -> dict[str, np.ndarray]:
    """``{key: numeric ndarray}`` for each of ``keys`` in the MAT-file at ``path``."""
    import scipy.io

    data = read_bytes(path, max_bytes=max_bytes, what=what, fix=fix)
    if data[:10] == b"MATLAB 7.3" or data[512:520] == b"\x89HDF\r\n\x1a\n":
        raise BadFile(path, "is a MATLAB v7.3 (HDF5) file, which is not supported", fix=fix or "save it with MATLAB's -v7 option (or use the official file)", what=what)
    if not data.startswith(MAT5_MAGIC) or len(data) < 128:
        shown = data[:16].decode("latin1").encode("unicode_escape").decode() if data else "empty"
        raise BadFile(path, f"is not a MATLAB 5 MAT-file (it begins {shown!r})", fix=fix, what=what)
    try:
        found = {name: (tuple(shape), cls) for name, shape, cls in scipy.io.whosmat(io.BytesIO(data))}
    except Exception as e:  # damaged tags: ValueError, TypeError, struct.error, ...
        raise BadFile(path, f"is a damaged MAT-file ({type(e).__name__}: {' '.join(str(e).split())[:120]})", fix=fix, what=what) from None
    for k in keys:
        if k not in found:
            raise BadFile(path, f"has no variable {k!r} (found: {sorted(found)[:8]})", fix=fix, what=what)
        shape, cls = found[k]
        if int(np.prod(shape, dtype=object)) * 8 > max_bytes:
            raise BadFile(path, f"declares {k!r} of shape {shape}, over the {max_bytes:,}-byte bound", fix=fix, what=what)
        if cls in ("cell", "struct", "object", "function_handle", "opaque", "char", "sparse"):
            raise BadFile(path, f"holds {k!r} as a MATLAB {cls}, not a numeric array", fix=fix, what=what)
    try:
        mat = scipy.io.loadmat(io.BytesIO(data), variable_names=list(keys))
    except Exception as e:
        raise BadFile(path, f"is a damaged MAT-file ({type(e).__name__}: {' '.join(str(e).split())[:120]})", fix=fix, what=what) from None
    out = {}
    for k in keys:
        v = mat.get(k)
        if not isinstance(v, np.ndarray) or v.dtype.kind not in "biuf":
            raise BadFile(path, f"holds {k!r} that is not a numeric array", fix=fix, what=what)
        out[k] = v
    return out
