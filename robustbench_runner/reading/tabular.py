"""Numeric CSV datasets (UCI Online News Popularity): a bounded regular file, UTF-8, parsed by
pandas from the text already read (never from the path), every row the header's width, the
columns the loader needs present, and every column that is not declared text numeric and
finite. Problems are one :class:`.files.BadFile` line naming the file (and the column/row)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .files import LIMITS, BadFile, read_text


def load_numeric_csv(
    path: str | Path,
    *,
    required: Sequence[str] = (),
    text_columns: Sequence[str] = (),
    what: str | None = None,
    fix: str | None = None,
    max_bytes: int = LIMITS["csv"],
):
    """A ``pandas.DataFrame`` of the CSV at ``path`` (headers stripped of spaces); columns
    outside ``text_columns`` are float64."""
    import pandas as pd

    text = read_text(path, max_bytes=max_bytes, what=what, fix=fix)
    try:
        df = pd.read_csv(io.StringIO(text), skipinitialspace=True, dtype=str, keep_default_na=False, engine="c")
    except Exception as e:  # ParserError (ragged rows), EmptyDataError, ...
        raise BadFile(path, f"is not a readable CSV ({type(e).__name__}: {' '.join(str(e).split())[:120]})", fix=fix, what=what) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise BadFile(path, f"has no column(s) {missing}", fix=fix, what=what)
    if len(df) == 0:
        raise BadFile(path, "has no data rows", fix=fix, what=what)
    for c in df.columns:
        if c in text_columns:
            continue
        values = pd.to_numeric(df[c].str.strip(), errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise BadFile(path, f"column {c[:40]!r}, data row {row + 1}: {str(df[c].iloc[row])[:40]!r} is not a finite number", fix=fix, what=what)
        df[c] = values.astype(np.float64)
    return df
