"""The per-sweep cache of ``rbr-tables``: every run of a folder in one file, updated incrementally.

``<sweep>/.rbr-tables-cache/runs.parquet`` holds, for each run folder under ``<sweep>``, the
rows of its ``metrics.csv`` (one table, the runs one after another, in the dtypes the
checked reader gives) and, in the file's metadata (JSON), its folder relative to
``<sweep>``, its parsed ``run.json`` (the config record), whether it is ``DONE``, its row
range, and the ``(mtime_ns, size)`` of every file its :class:`~.runs.Run` is built from
(:data:`~.runs.SOURCES`). A call re-reads only the runs whose stamps differ (or that are new),
drops the runs that are gone, and rewrites the file atomically (temp file + ``os.replace``)
when anything changed. Parquet because ``pyarrow`` is installed and keeps each column's
dtype and every float bit; data only, never pickle.

What is not cached (read from its files on every call, as without the cache): a run whose
files cannot be read (it stays skipped with its reason), a run whose ``metrics.csv`` had a
torn last row (so its warning shows every time), a run whose config or ``run.json`` does
not survive JSON unchanged (non-string keys, NaN), and a run whose metrics columns or
dtypes differ from the cache's. A cache that cannot be read, or was written by another
version, is ignored with one warning line and rebuilt; a folder that cannot be written
works without a cache (one note line). The tool never deletes a file: it replaces only its
own ``runs.parquet``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import UserError
from ..io import atomic_write_bytes
from ..reading import is_regular_file, load_parquet, parse_json
from .runs import Loaded, Run, RunSet, _stamp, read_runs, remember

CACHE_DIR = ".rbr-tables-cache"
CACHE_FILE = "runs.parquet"
VERSION = 3  # 2: a sha256 of the metadata (issue 21); 3: the config record is run.json's, config.yaml no source
FORMAT = "rbr-tables-cache"  # the metadata key, and the "format" field inside it
_PLAIN_DTYPES = {"int64", "float64", "bool", "str"}  # dtypes parquet gives back exactly


DIGEST_KEY = b"rbr-tables-cache-sha256"  # sha256 of the metadata JSON and the row count


def _digest(raw: bytes, n_rows: int) -> str:
    """The cache's checksum: its data pages carry CRC32 page checksums (verified on read);
    this covers what they do not, the metadata (every run's config, info, stamps and row
    range) and the number of rows."""
    return hashlib.sha256(raw + b"\0" + str(n_rows).encode()).hexdigest()


def cache_path(root: str | Path) -> Path:
    return Path(root) / CACHE_DIR / CACHE_FILE


def _say(msg: str) -> None:
    print(f"[rbr-tables] {msg}", file=sys.stderr)


def _signature(df: pd.DataFrame) -> list[list[str]] | None:
    """``[[column, dtype], ...]`` of a metrics frame, or None when a dtype is not one
    parquet returns unchanged (e.g. ``object``)."""
    sig = [[str(c), str(t)] for c, t in df.dtypes.items()]
    if any(t not in _PLAIN_DTYPES for _, t in sig) or any(not isinstance(c, str) for c in df.columns):
        return None
    return sig


def _json_exact(value: dict) -> bool:
    try:
        return parse_json(json.dumps(value, allow_nan=False)) == value
    except (TypeError, ValueError, UserError):
        return False


def _stamp_json(stamp: tuple) -> list:
    return [list(s) if s is not None else None for s in stamp]


def _stamp_tuple(stamp: list) -> tuple:
    return tuple(tuple(s) if s is not None else None for s in stamp)


class SweepCache:
    """The cache file of one folder: :meth:`read` what it holds, :meth:`save` a new state."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.path = cache_path(root)

    def read(self) -> tuple[dict[str, dict], pd.DataFrame | None, list | None]:
        """``(entries by relative folder, all cached metrics rows, their signature)``; empty
        when there is no cache, and (with one warning line) when it cannot be used."""
        self.usable = True
        if not os.path.lexists(self.path):
            return {}, None, None
        if not is_regular_file(self.path, follow_symlinks=False):  # not the tool's file: never read, never replaced
            self.usable = False
            _say(f"WARNING: {self.path} is not a regular file the tool wrote; it is neither read nor replaced (going on without a cache)")
            return {}, None, None
        try:
            table = load_parquet(self.path, follow_symlinks=False)
            raw = (table.schema.metadata or {}).get(FORMAT.encode())
            if raw is None:  # a Parquet file, not the tool's: never replaced
                self.usable = False
                _say(f"WARNING: {self.path} is a Parquet file rbr-tables did not write; it is neither read nor replaced (going on without a cache)")
                return {}, None, None
            meta = parse_json(raw.decode("utf-8"), source=self.path)
            if meta.get("format") != FORMAT:
                raise ValueError("not an rbr-tables cache")
            if meta.get("version") != VERSION:
                _say(f"WARNING: ignoring {self.path}: written by cache version {meta.get('version')!r}, this is {VERSION}; rebuilding it")
                return {}, None, None
            digest = (table.schema.metadata or {}).get(DIGEST_KEY)
            if digest is None or digest.decode("ascii", "replace") != _digest(raw, table.num_rows):
                raise ValueError("its checksum does not match its content (damaged or edited)")
            rows = table.to_pandas()
            entries, sig = meta["runs"], meta["signature"]
            if sig is not None and [[c, str(t)] for c, t in rows.dtypes.items()] != sig:
                raise ValueError("its columns do not match its header")
            end = 0
            for rel, e in entries.items():
                start, n = e["rows"]
                if not isinstance(rel, str) or start != end or n < 0 or not isinstance(e["config"], dict) or not isinstance(e["info"], dict):
                    raise ValueError(f"entry {rel!r} is inconsistent")
                end = start + n
                _stamp_tuple(e["stamp"])
            if end != len(rows):
                raise ValueError("its row ranges do not cover its rows")
            return entries, rows, sig
        except Exception as e:  # damaged, truncated, hand-edited, not parquet, ... (BadFile included)
            _say(f"WARNING: ignoring unreadable cache {self.path} ({' '.join(str(e).split())[:120]}); rebuilding it")
            return {}, None, None

    def save(self, entries: dict[str, dict], rows: pd.DataFrame, sig: list | None) -> bool:
        """Write the cache atomically; False (with one note line) when the folder cannot be
        written, in which case the tool goes on without one."""
        if not getattr(self, "usable", True):
            return False
        meta = {"format": FORMAT, "version": VERSION, "signature": sig, "runs": entries}
        raw = json.dumps(meta, allow_nan=False).encode()
        table = pa.Table.from_pandas(rows, preserve_index=False)
        digest = _digest(raw, table.num_rows).encode()
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), FORMAT.encode(): raw, DIGEST_KEY: digest})
        buf = io.BytesIO()
        pq.write_table(table, buf, write_page_checksum=True)
        try:
            atomic_write_bytes(self.path, buf.getvalue())
        except (OSError, UserError) as e:
            reason = e.one_line() if isinstance(e, UserError) else (e.strerror or str(e))
            _say(f"note: cannot write the cache {self.path} ({reason}); going on without it")
            return False
        return True


def _cached_run(root: Path, rel: str, e: dict, rows: pd.DataFrame) -> Run:
    start, n = e["rows"]
    if not e["has_metrics"]:
        return Run(root / rel, e["done"], e["config"], e["has_config"], e["info"], pd.DataFrame())
    return Run(root / rel, e["done"], e["config"], e["has_config"], e["info"], rows, (start, n))


def _entry(loaded: Loaded, start: int) -> dict:
    r = loaded.run
    return {"stamp": _stamp_json(loaded.stamp), "done": r.done, "has_config": r.has_config, "config": r.config,
            "info": r.info, "has_metrics": len(r.rows.columns) > 0, "rows": [start, r.n_metrics]}  # fmt: skip


def _load_under(root: Path, run_dirs: list[Path]) -> tuple[list[Run | None], list[tuple[Path, str]], pd.DataFrame | None]:
    """The runs of one cached folder, in ``run_dirs`` order (None for the skipped ones),
    the skipped ones with their reasons, and the metrics rows of all these runs
    concatenated (None when a run with rows is not in the cache)."""
    cache = SweepCache(root)
    old, old_rows, sig = cache.read()
    out: list[Run | None] = []
    skipped: list[tuple[Path, str]] = []
    new_entries: dict[str, dict] = {}
    pieces: list[pd.DataFrame] = []  # the new cache's rows, in entry order
    n_rows, changed, uncached_rows = 0, False, False
    # consecutive rows of one frame (the old cache's, or one the fresh runs were read
    # into together), copied as one slice: (frame, start, end)
    pending: tuple[pd.DataFrame, int, int] | None = None
    sigs: dict[int, list | None] = {}  # the signature of each frame fresh runs were read into

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            pieces.append(pending[0].iloc[pending[1] : pending[2]])
            pending = None

    def take(frame: pd.DataFrame, start: int, n: int) -> None:
        nonlocal pending
        if pending is not None and pending[0] is frame and pending[2] == start:
            pending = (frame, pending[1], start + n)
        else:
            flush()
            pending = (frame, start, start + n)

    stamps = [_stamp(d) for d in run_dirs]
    rels = [d.relative_to(root).as_posix() for d in run_dirs]
    stale = [i for i, rel in enumerate(rels) if rel not in old or _stamp_tuple(old[rel]["stamp"]) != stamps[i]]
    fresh = dict(zip(stale, read_runs([run_dirs[i] for i in stale]), strict=True))  # read together
    for i, d in enumerate(run_dirs):
        rel, stamp = rels[i], stamps[i]
        e = old.get(rel)
        if i not in fresh:
            run = _cached_run(root, rel, e, old_rows)
            remember(run, stamp)
            out.append(run)
            start, n = e["rows"]
            new_entries[rel] = {**e, "rows": [n_rows, n]}
            n_rows += n
            if n:
                take(old_rows, start, n)
            continue
        loaded = fresh[i]
        if isinstance(loaded, UserError):
            skipped.append((d, loaded.one_line()))
            out.append(None)
            changed |= e is not None
            continue
        remember(loaded.run, loaded.stamp)
        out.append(loaded.run)
        r = loaded.run
        has_rows_file = len(r.rows.columns) > 0
        if has_rows_file and id(r.rows) not in sigs:
            sigs[id(r.rows)] = _signature(r.rows)  # a run's rows have the dtypes of the frame they are in
        run_sig = sigs[id(r.rows)] if has_rows_file else None
        if sig is None and run_sig is not None:
            sig = run_sig
        cacheable = (
            not loaded.torn
            and _json_exact(r.config)
            and _json_exact(r.info)
            and (not has_rows_file or (run_sig is not None and run_sig == sig))
        )
        changed |= cacheable or e is not None
        uncached_rows |= not cacheable and r.n_metrics > 0
        if cacheable:
            new_entries[rel] = _entry(loaded, n_rows)
            if r.n_metrics:
                if r.span is not None:
                    take(r.rows, r.span[0], r.n_metrics)
                else:
                    flush()
                    pieces.append(r.rows)
            n_rows += r.n_metrics
    flush()
    changed |= bool(set(old) - set(new_entries))
    rows = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame({c: pd.Series(dtype=t) for c, t in (sig or [])})
    if changed:
        cache.save(new_entries, rows, sig)
    return out, skipped, None if uncached_rows else rows


def load_runs_cached(run_dirs: Iterable[str | Path], roots: Iterable[str | Path]) -> RunSet:
    """:func:`~.runs.load_runs` through the cache of each folder in ``roots`` (the folders
    given to ``rbr-tables``): a run is cached in the first root that holds it; runs under
    no root that is a folder are read as without a cache. The result is the same
    :class:`RunSet` (runs in ``run_dirs`` order, the same skipped runs and reasons)."""
    run_dirs = [Path(d) for d in run_dirs]
    folders = [Path(r) for r in dict.fromkeys(str(r) for r in roots) if Path(r).is_dir()]
    groups: dict[Path, list[Path]] = {}
    owner: dict[Path, Path | None] = {}
    for d in run_dirs:
        root = next((f for f in folders if d != f and d.is_relative_to(f)), None)
        owner[d] = root
        if root is not None:
            groups.setdefault(root, []).append(d)
    got: dict[Path, Run | None] = {}
    reasons: dict[Path, str] = {}
    rows = None
    for root, dirs in groups.items():
        runs, skipped, rows = _load_under(root, dirs)
        got.update(zip(dirs, runs, strict=True))
        reasons.update(skipped)
    runs_out: list[Run] = []
    skipped_out: list[tuple[Path, str]] = []
    loose = [d for d in run_dirs if owner[d] is None]
    loose_read = dict(zip(loose, read_runs(loose), strict=True))
    for d in run_dirs:
        if owner[d] is None:
            loaded = loose_read[d]
            if isinstance(loaded, UserError):
                skipped_out.append((d, loaded.one_line()))
                continue
            remember(loaded.run, loaded.stamp)
            runs_out.append(loaded.run)
        elif got[d] is None:
            skipped_out.append((d, reasons[d]))
        else:
            runs_out.append(got[d])
    whole = len(groups) == 1 and all(owner[d] is not None for d in run_dirs)  # one cache holds every row
    return RunSet(runs_out, skipped_out, rows=rows if whole else None)
