"""MNIST-family IDX files (LeCun et al., "Gradient-based learning applied to document
recognition"; format at yann.lecun.com/exdb/mnist), gzip-compressed or not.

Layout: ``0x00 0x00 <type code> <ndim>``, one big-endian uint32 per dimension, then the data.
The sizes come from the header and are checked *before* any data is decompressed or copied:
the declared byte count must be within :data:`.files.LIMITS` and, for a ``.gz``, within what
its compressed size can expand to (deflate's ratio is at most ~1032:1), so neither a huge
declared size nor a gzip bomb is ever allocated. The data must then be exactly that long: a
truncated or oversized file is refused (one :class:`.files.BadFile` line naming it).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from .files import LIMITS, BadFile, read_bytes

#: IDX type code -> numpy dtype (big-endian where multi-byte)
IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
MAX_NDIM = 8
#: deflate cannot expand one input byte to more than ~1032 output bytes
MAX_DEFLATE_RATIO = 1100


def load_idx(path: str | Path, *, magic: int | None = None, what: str | None = None, fix: str | None = None, max_bytes: int = LIMITS["data"]) -> np.ndarray:
    """An IDX file as a numpy array of its declared shape (native byte order). ``magic``: the
    expected magic number (2051 images, 2049 labels)."""
    raw = read_bytes(path, max_bytes=max_bytes, what=what, fix=fix)
    gz = raw[:2] == b"\x1f\x8b"
    if gz:
        head = _gunzip_prefix(path, raw, 4 + 4 * MAX_NDIM, what, fix)
    else:
        head = raw[: 4 + 4 * MAX_NDIM]
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in IDX_TYPES:
        raise BadFile(path, f"is not an IDX file (header {head[:4].hex() or 'empty'})", fix=fix, what=what)
    ndim = head[3]
    found = int.from_bytes(head[:4], "big")
    if magic is not None and found != magic:
        raise BadFile(path, f"has IDX magic {found}, expected {magic}", fix=fix, what=what)
    if not 1 <= ndim <= MAX_NDIM:
        raise BadFile(path, f"declares {ndim} dimensions (1..{MAX_NDIM} expected)", fix=fix, what=what)
    offset = 4 + 4 * ndim
    if len(head) < offset:
        raise BadFile(path, f"is truncated inside its header ({len(head)} of {offset} header bytes)", fix=fix, what=what)
    dims = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_TYPES[head[2]]
    declared = offset + int(np.prod(dims, dtype=object)) * dtype.itemsize
    if declared > max_bytes:
        raise BadFile(path, f"declares shape {dims} ({declared:,} bytes), over the {max_bytes:,}-byte bound", fix=fix, what=what)
    if gz:
        if declared > MAX_DEFLATE_RATIO * len(raw) + 1024:
            raise BadFile(path, f"declares shape {dims} ({declared:,} bytes), more than its {len(raw):,} compressed bytes can hold", fix=fix, what=what)
        data = _gunzip_prefix(path, raw, declared + 1, what, fix, complete=True)
    else:
        data = raw
    if len(data) != declared:
        state = "truncated" if len(data) < declared else "longer than declared"
        raise BadFile(path, f"is {state}: its header declares shape {dims} ({declared:,} bytes), the file holds {len(data):,}", fix=fix, what=what)
    return np.frombuffer(data, dtype=dtype, count=int(np.prod(dims)), offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def _gunzip_prefix(path, raw: bytes, limit: int, what, fix, complete: bool = False) -> bytes:
    """The first ``limit`` decompressed bytes of a gzip file; ``complete``: the stream must also
    end within them (else it is longer than declared, or truncated)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, limit)
    except zlib.error as e:
        raise BadFile(path, f"is a damaged gzip file ({' '.join(str(e).split())})", fix=fix, what=what) from None
    if complete and not d.eof and len(out) < limit:
        raise BadFile(path, "is a truncated gzip file (the compressed stream ends early)", fix=fix, what=what)
    return out
