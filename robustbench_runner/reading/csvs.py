"""Tables from outside the tool: CSV files (a run's result CSVs, user tables) and the Parquet
cache ``rbr-tables`` keeps in a sweep folder.

:func:`parse_csv` / :func:`load_csv` check a CSV against what the caller expects before any
value is used: a header (unique names, the required columns present), every row with the
header's number of fields, and per declared column its kind: ``int`` (integral numbers, never
empty), ``float`` (numbers; empty is NaN) or ``str`` (kept as text, exactly). A value where a
number belongs (``=cmd|...``, ``abc``) is one :class:`~.files.BadFile` line naming the file,
the line and the column. Floats round-trip exactly (pandas' ``round_trip`` parser).

:func:`load_parquet` reads a Parquet file as an Arrow table with every data page's checksum
verified (``page_checksum_verification``): a flipped byte is an error, never a value. The
caller keeps its own checksum of what the file's metadata says (``tables/cache.py``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .files import LIMITS, BadFile, read_bytes, read_text

INT, FLOAT, STR = "int", "float", "str"
KINDS = (INT, FLOAT, STR)
_ROUND_TRIP = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def frame_from_text(text: str, dtypes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``text`` (CSV whose lines were checked) as a frame: ``str`` columns as text, the others
    as pandas parses them (then :func:`coerce`)."""
    str_columns = {c: str for c, t in (dtypes or {}).items() if t == STR}
    return pd.read_csv(io.StringIO(text), dtype=str_columns or None, **_ROUND_TRIP)


def coerce(frame: pd.DataFrame, dtypes: Mapping[str, str], source: str | Path = "<text>", *, what: str | None = None, fix: str | None = None) -> pd.DataFrame:
    """``frame`` with each ``int``/``float`` column of ``dtypes`` as int64/float64; a value
    that is not a number there is a :class:`BadFile` naming ``source``, the line (the header
    is line 1) and the column."""
    for col, kind in dtypes.items():
        if kind not in KINDS:
            raise ValueError(f"unknown column kind {kind!r}")
        if kind == STR or col not in frame:
            continue
        s = frame[col]
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise BadFile(source, f"line {i + 2}: column {col} holds '{str(s.iloc[i])[:40]}', not a number", what=what, fix=fix)
        if kind == INT:
            if num.isna().any():
                i = int(num.isna().to_numpy().nonzero()[0][0])
                raise BadFile(source, f"line {i + 2}: integer column {col} is empty", what=what, fix=fix)
            frac = num != num.round()
            if frac.any():
                i = int(frac.to_numpy().nonzero()[0][0])
                raise BadFile(source, f"line {i + 2}: integer column {col} holds '{str(s.iloc[i])[:40]}'", what=what, fix=fix)
            if (num.abs() >= 2**63).any():
                i = int((num.abs() >= 2**63).to_numpy().nonzero()[0][0])
                raise BadFile(source, f"line {i + 2}: integer column {col} holds '{str(s.iloc[i])[:40]}', beyond int64", what=what, fix=fix)
            frame[col] = num.astype("int64")
        else:
            frame[col] = num.astype("float64")
    return frame


def parse_csv(
    text: str,
    *,
    source: str | Path = "<text>",
    columns: Mapping[str, str] | None = None,
    optional: Mapping[str, str] | None = None,
    max_rows: int | None = None,
    what: str | None = None,
    fix: str | None = None,
) -> pd.DataFrame:
    """``text`` as a checked frame. ``columns``: required column -> kind (``int``, ``float``,
    ``str``); ``optional``: columns that may be absent, with their kind when present; other
    columns keep pandas' parsing. Refused (one :class:`BadFile` line): no header, a column
    named twice, a required column missing, a row with another number of fields than the
    header, more than ``max_rows`` rows, a non-number in a number column."""
    columns, optional = dict(columns or {}), dict(optional or {})
    if not text.strip():
        raise BadFile(source, "is empty (not even a header)", what=what, fix=fix)
    try:  # newline="": only \n and \r\n end a row (str.splitlines would also split at \x85, \u2028...)
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise BadFile(source, f"is not valid CSV ({e})", what=what, fix=fix) from None
    header = rows[0]
    if len(set(header)) != len(header):
        raise BadFile(source, "a column name appears twice in the header", what=what, fix=fix)
    missing = [c for c in columns if c not in header]
    if missing:
        raise BadFile(source, f"missing column(s) {', '.join(missing)}", what=what, fix=fix)
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise BadFile(source, f"line {i} has {len(r)} fields, the header {len(header)}", what=what, fix=fix)
    if max_rows is not None and len(rows) - 1 > max_rows:
        raise BadFile(source, f"has {len(rows) - 1:,} rows, over the bound of {max_rows:,}", what=what, fix=fix)
    dtypes = {c: t for c, t in {**optional, **columns}.items() if c in header}
    if len(rows) == 1:  # a header alone: an empty frame with the declared dtypes
        kinds = {INT: "int64", FLOAT: "float64", STR: "str"}
        return pd.DataFrame({c: pd.Series(dtype=kinds.get(dtypes.get(c, STR), "object")) for c in header})
    try:
        frame = frame_from_text(text, dtypes)
    except (ValueError, pd.errors.ParserError) as e:
        raise BadFile(source, f"is not valid CSV ({' '.join(str(e).split())[:120]})", what=what, fix=fix) from None
    return coerce(frame, dtypes, source, what=what, fix=fix)


def load_csv(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    optional: Mapping[str, str] | None = None,
    max_rows: int | None = None,
    max_bytes: int = LIMITS["csv"],
    follow_symlinks: bool = True,
    what: str | None = None,
    fix: str | None = None,
) -> pd.DataFrame:
    """A CSV file (a bounded regular file, UTF-8) checked by :func:`parse_csv`."""
    text = read_text(path, max_bytes=max_bytes, follow_symlinks=follow_symlinks, what=what, fix=fix)
    return parse_csv(text, source=path, columns=columns, optional=optional, max_rows=max_rows, what=what, fix=fix)


def load_parquet(path: str | Path, *, max_bytes: int = LIMITS["data"], follow_symlinks: bool = False, what: str | None = None, fix: str | None = None):
    """A Parquet file as a ``pyarrow.Table``, read from a bounded regular file (never a
    symlink by default: the tool writes its own Parquet files), every data page's checksum
    verified. Anything unreadable is one :class:`BadFile` line."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = read_bytes(path, max_bytes=max_bytes, follow_symlinks=follow_symlinks, what=what, fix=fix)
    try:
        return pq.read_table(pa.BufferReader(data), page_checksum_verification=True)
    except (pa.ArrowException, OSError, ValueError, IndexError, KeyError, TypeError, MemoryError) as e:
        raise BadFile(path, f"is not a readable Parquet file ({type(e).__name__}: {' '.join(str(e).split())[:120]})", what=what, fix=fix) from None


# -- cells of CSVs meant for spreadsheets ---------------------------------------------------------------

#: What makes a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula: a
#: leading ``=``, ``+``, ``-`` or ``@``, also behind a tab or carriage return (OWASP, "CSV
#: Injection"). A tag or run name like ``=HYPERLINK(...)`` would become a live formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:\s*±\s*(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)?%?|[+-]?(?:inf|nan)", re.I)


def neutralise_cell(value):
    """``value`` as a spreadsheet shows it as text: a string that a spreadsheet would start a
    formula with (:data:`FORMULA_PREFIXES`) gets a leading ``'``; numbers, and strings that
    are numbers (``-0.5``, ``-1.20±0.30``: the pretty tables' cells), stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _NUMBER.fullmatch(value.strip()):
        return "'" + value
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell and column name through :func:`neutralise_cell` (numeric
    columns untouched): the one render step of the CSVs meant for spreadsheets (``rbr-tables``'
    ``.pretty.csv`` and ``.sources.csv``; the tidy ``<id>.csv`` keeps exact values)."""
    out = df.copy()
    for i in range(out.shape[1]):  # by position: a table may repeat a column label (irat/table7)
        s = out.iloc[:, i]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            out.isetitem(i, s.map(neutralise_cell, na_action="ignore"))
    out.columns = [neutralise_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


def csv_text(df: pd.DataFrame) -> str:
    """``df`` as CSV text that reads back as it is: rows end in ``\n``, or in ``\r\n`` when a
    text cell holds a carriage return (Python's CSV writer quotes a cell holding a character
    of the row ending, not a bare ``\r``, which readers and spreadsheets take as a row end)."""
    has_cr = any(
        s.map(lambda v: isinstance(v, str) and "\r" in v).any()
        for _, s in df.items()
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype)
    ) or any(isinstance(c, str) and "\r" in c for c in df.columns)
    return df.to_csv(index=False, lineterminator="\r\n" if has_cr else "\n")


def spreadsheet_csv(df: pd.DataFrame) -> str:
    """``df`` as the text of a CSV meant for a spreadsheet: :func:`csv_text` of
    :func:`neutralise_frame`."""
    return csv_text(neutralise_frame(df))
