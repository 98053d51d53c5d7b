"""Index files selecting rows of a split (``data.subset`` / ``data.test_subset``): one integer
per line (blank lines and ``#`` comments skipped), or an integer ``.npy`` array. Read through
the layer and checked by :func:`.checks.check_indices`: non-empty, integers (``1.5`` or
``1.0`` refused, not truncated), unique, within ``[0, N)``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .arrays import load_npy
from .checks import check_indices
from .files import LIMITS, BadFile, read_text

WHAT = "subset index file"
_INT = re.compile(r"[+-]?\d+")


def load_index_file(path: str | Path, n: int, *, what: str = WHAT, fix: str | None = None) -> np.ndarray:
    """The int64 indices in ``path``, checked against a split of ``n`` rows."""
    path = Path(path)
    if path.suffix == ".npy":
        values = load_npy(path, what=what, fix=fix, max_bytes=LIMITS["text"])
    else:
        text = read_text(path, max_bytes=LIMITS["text"], what=what, fix=fix)
        out = []
        for lineno, line in enumerate(text.splitlines(), 1):
            token = line.split("#", 1)[0].strip()
            if not token:
                continue
            if not _INT.fullmatch(token):
                raise BadFile(path, f"line {lineno}: {token[:40]!r} is not an integer index", fix=fix or "give one integer row index per line", what=what)
            out.append(int(token))
        try:
            values = np.array(out, dtype=np.int64)
        except OverflowError:
            raise BadFile(path, "holds an index beyond int64", fix=fix, what=what) from None
    return check_indices(values, n, path, what=what, fix=fix)
