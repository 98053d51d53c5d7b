"""One cached loader of run folders for the table core.

A :class:`Run` is one folder's results as the tables see them: its ``metrics.csv`` (read
through the schema of :mod:`robustbench_runner.results`) and its ``run.json``, the run's one
config record: the semantic config (``config``: the resolved config without the keys that do
not change what a run computes, :func:`robustbench_runner.config.semantic_dict`), shown as
``cfg.<dotted key>`` columns on request and flattened for the pooling check; beside it the
``parent`` an ``init_from`` run started from and ``data_source`` (stand-in data or not).
Also its ``scale_name`` and whether it finished (``DONE``). ``config.yaml`` (the whole
resolved config, volatile keys included) stays in the folder for people and for resuming;
the tables never read it. Loads are cached per folder and invalidated when one of those
files changes, so building many tables over one sweep reads each file once; across calls,
``rbr-tables`` keeps the loaded runs in a per-sweep file (:mod:`tables.cache`, built on
:func:`read_run` and :data:`SOURCES` here).

A run whose files cannot be read (an empty or damaged ``metrics.csv``, an invalid
``run.json``) does not stop the other runs: :func:`load_runs` returns it among
:attr:`RunSet.skipped` with the one-line reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import ABSENT, config_diff
from ..errors import UserError
from ..reading import BadFile, load_json
from ..results import SCHEMAS, ResultCsv, RunFiles, cut, read_result_csvs


def select(config: dict, key: str):
    """``OmegaConf.select`` on plain containers: the value at a dotted key, else None."""
    value = _lookup(config, key)
    return None if value is ABSENT else value


def _lookup(config, key: str):
    """The value at a dotted key (list items by index), or :data:`.config.ABSENT` where the
    key is missing (a null value is None)."""
    node: Any = config
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return ABSENT
    return node


@dataclass
class Run:
    dir: Path
    done: bool
    config: dict  # run.json's semantic config as plain containers ({} when the run has none)
    has_config: bool
    info: dict  # run.json without its config ({} when absent)
    # the frame that holds this run's metrics.csv rows: its own (span None; an empty frame
    # when it has written none yet), or one shared by the runs read together or cached
    # together, of which this run's rows are span = (start, n)
    rows: pd.DataFrame
    span: tuple[int, int] | None = None

    @cached_property
    def metrics(self) -> pd.DataFrame:
        """This run's ``metrics.csv`` rows, indexed from 0 (empty when it has none)."""
        return cut(self.rows, self.span)

    @property
    def n_metrics(self) -> int:
        """``len(self.metrics)``, without cutting the rows out."""
        return self.span[1] if self.span is not None else len(self.rows)

    @property
    def parent(self) -> dict | None:
        """What ``init_from`` started this run from (``run.json`` ``parent``), if anything."""
        return self.info.get("parent")

    @property
    def standin(self) -> bool | None:
        """Whether the run used stand-in data (``run.json`` ``data_source``; None where a run
        written before rbr recorded it says nothing)."""
        source = self.info.get("data_source")
        return source.get("standin") if isinstance(source, dict) else None

    @property
    def scale(self) -> str | None:
        return select(self.config, "scale_name")

    def value(self, key: str):
        """A dotted config key as a table column value (containers as plain lists/dicts)."""
        return select(self.config, key)

    @cached_property
    def flat(self) -> dict[str, Any]:
        """The config record as ``dotted key -> JSON text`` (the semantic config: no keys
        that do not change what a run computes); the run's own seed token ``-s<seed>``
        in string values (its name, an ``init_from`` path naming the parent of the same
        seed) is written ``-s<seed>``, so seed replicates compare equal."""
        if not self.has_config:
            return {}
        raw = self.config
        seed = select(self.config, "seed")
        token = re.compile(rf"-s{re.escape(str(seed))}(?=$|[-/_.])") if seed is not None else None
        out: dict[str, Any] = {}
        if not isinstance(raw, dict) or not raw:
            _flatten(raw, "", token, out)
            return out
        # one top-level entry at a time, each flattened once per sweep: the runs of a sweep
        # share most entries (repr tells the values apart, types included), and flattening
        # was most of rbr-tables' pooling check over 10,000 runs
        for k, v in raw.items():
            memo_key = (repr(k), repr(v), repr(seed))
            part = _FLAT_ENTRIES.get(memo_key)
            if part is None:
                part = {}
                _flatten(v, f"{k}.", token, part)
                if len(_FLAT_ENTRIES) >= _ENTRIES_MAX:
                    _FLAT_ENTRIES.clear()
                _FLAT_ENTRIES[memo_key] = part
            out.update(part)
        return out

    def variant(self, ignore: tuple[str, ...]) -> str | None:
        """A hash of :attr:`flat` without the ``ignore`` keys (and everything under them):
        two runs with the same variant differ only in those keys. ``None`` without a config."""
        if not self.has_config:
            return None
        cache = self.__dict__.setdefault("_variants", {})
        if ignore not in cache:
            kept = {k: v for k, v in self.flat.items() if not _covered(k, ignore)}
            cache[ignore] = hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]
        return cache[ignore]


_LEAF_JSON = json.JSONEncoder(sort_keys=True, default=str).encode  # json.dumps(v, sort_keys=True, default=str), one encoder
_FLAT_ENTRIES: dict[tuple, dict[str, str]] = {}  # Run.flat of one top-level entry, by (key, value, seed) reprs
_ENTRIES_MAX = 100_000  # memo entries kept before the memo is cleared


def _flatten(node, prefix: str, token: re.Pattern | None, out: dict[str, str]) -> None:
    """``out[dotted key] = JSON text`` for every leaf under ``node`` (see :attr:`Run.flat`)."""
    if isinstance(node, dict) and node:
        for k, v in node.items():
            _flatten(v, f"{prefix}{k}.", token, out)
        return
    if isinstance(node, str) and token is not None:
        node = token.sub("-s<seed>", node)
    out[prefix.rstrip(".")] = _LEAF_JSON(node)


@lru_cache(maxsize=1 << 16)  # the same few hundred keys in every run of a sweep
def _covered(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def differing_keys(runs: list[Run], ignore: tuple[str, ...]) -> list[str]:
    """The config keys (not under ``ignore``) whose values are not the same in all ``runs``
    (:func:`.config.config_diff` of each run's flat config against the first's). A node that
    some runs have and others lack altogether (``select`` of a ``select=pgd20`` run beside a
    plain one) is one key, not one per leaf under it (:func:`_whole_nodes`)."""
    if not runs:
        return []
    first = runs[0].flat
    keys = {d.key for r in runs[1:] for d in config_diff(first, r.flat)}
    return _whole_nodes(sorted(k for k in keys if not _covered(k, ignore)), runs)


def _whole_nodes(keys: list[str], runs: list[Run]) -> list[str]:
    """``keys`` with every key under a node that is a mapping in some runs and missing in
    others replaced by that node's key (the shortest such prefix), in first-seen order."""
    out: list[str] = []
    for key in keys:
        parts = key.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            found = [_lookup(r.config, prefix) for r in runs]
            if any(v is ABSENT for v in found) and any(isinstance(v, dict) for v in found):
                key = prefix
                break
        if key not in out:
            out.append(key)
    return out


@dataclass
class RunSet:
    runs: list[Run]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (run dir, why)
    # the metrics of the runs that have rows, concatenated in order (set by the sweep cache,
    # tables/cache.py, when every run's frame has the same columns and dtypes), else None
    rows: pd.DataFrame | None = None

    def by_dir(self) -> dict[str, Run]:
        return {str(r.dir): r for r in self.runs}

    def metrics(self, config_keys: Iterable[str] = ()) -> pd.DataFrame:
        """Every metrics row, with ``run_dir``, ``done`` and one ``cfg.<key>`` column per
        requested dotted config key.

        The rows are concatenated once and the per-run columns added as whole columns
        (was: a copy of each run's frame, three column assignments on it, then the concat:
        ~6 ms per run). That gives the same frame only when every run's metrics have the
        same columns and dtypes and every ``cfg.<key>`` value has one plain type across the
        runs; otherwise (mixed columns, ``None`` or container values) the frame is built
        per run as before, so the result never depends on which path was taken."""
        keys = list(dict.fromkeys(config_keys))
        with_rows = [r for r in self.runs if r.n_metrics]
        if not with_rows:
            return pd.DataFrame()
        fast = _concat_once(with_rows, keys, self.rows.copy() if self.rows is not None else None)
        return fast if fast is not None else _concat_per_run(with_rows, keys)


_PLAIN = {bool: "bool", int: "int64", float: "float64", str: "str", type(None): "object"}  # what ``df[c] = scalar`` makes of each


def _concat_once(runs: list[Run], keys: list[str], rows: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """The fast path of :meth:`RunSet.metrics` (None where it would not give the same
    frame); ``rows``: the runs' metrics already concatenated (from the sweep cache)."""
    if rows is None:
        parents = list({id(r.rows): r.rows for r in runs}.values())  # a slice has its parent's dtypes
        sig = list(parents[0].dtypes.items())
        if any(list(p.dtypes.items()) != sig for p in parents[1:]):
            return None
    values = {k: [r.value(k) for r in runs] for k in keys}
    kinds = {}
    for k, vs in values.items():
        types = {type(v) for v in vs}
        if not types <= set(_PLAIN) or len(types - {type(None)}) > 1:
            return None  # containers, or two kinds of number: the concat decides the dtype
        # one plain type: its dtype; that type and None: object (how concat merges them)
        kinds[k] = _PLAIN[next(iter(types))] if len(types) == 1 else "object"
    counts = np.fromiter((r.n_metrics for r in runs), dtype=np.int64, count=len(runs))
    df = rows if rows is not None else pd.concat(_pieces(runs), ignore_index=True)
    df["run_dir"] = pd.Series(np.repeat(np.array([str(r.dir) for r in runs], dtype=object), counts), dtype="str")
    df["done"] = np.repeat(np.array([r.done for r in runs], dtype=bool), counts)
    for k in keys:
        df[f"cfg.{k}"] = pd.Series(np.repeat(np.array(values[k], dtype=object), counts), dtype=kinds[k])
    return df


def _pieces(runs: list[Run]) -> list[pd.DataFrame]:
    """The runs' metrics rows in order as few frames: consecutive spans of one shared frame
    are one slice (their concat is the concat of the runs' own frames)."""
    out: list[pd.DataFrame] = []
    parent, start, end = None, 0, 0
    for r in runs:
        if r.span is not None and r.rows is parent and r.span[0] == end:
            end += r.span[1]
            continue
        if parent is not None:
            out.append(parent.iloc[start:end])
            parent = None
        if r.span is None:
            out.append(r.rows)
        else:
            parent, start, end = r.rows, r.span[0], r.span[0] + r.span[1]
    if parent is not None:
        out.append(parent.iloc[start:end])
    return out


def _concat_per_run(runs: list[Run], keys: list[str]) -> pd.DataFrame:
    frames = []
    for r in runs:
        df = r.metrics.copy()
        df["run_dir"] = str(r.dir)
        df["done"] = r.done
        for k in keys:
            df[f"cfg.{k}"] = r.value(k)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


_CACHE: dict[str, tuple[tuple, Run]] = {}
SOURCES = (RunFiles.METRICS, RunFiles.INFO, RunFiles.DONE)  # every file a Run is built from


def _stamp(d: Path) -> tuple:
    """``(mtime_ns, size)`` of each of :data:`SOURCES` (None where absent)."""
    out = []
    for name in SOURCES:
        try:
            st = (d / name).stat()
            out.append((st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


@dataclass
class Loaded:
    """One run as read from its files: the :class:`Run`, the stamp taken before reading
    (so a file changed while it was read is re-read next time), and whether its
    ``metrics.csv`` had a torn last row (dropped with a warning; such a run is not kept
    in the sweep cache, so the warning shows on every call)."""

    run: Run
    stamp: tuple
    torn: bool


def read_run(run_dir: str | Path) -> Loaded:
    """Read one run folder from its files (no cache); raises :class:`UserError` naming the
    file when one cannot be read."""
    got = read_runs([run_dir])[0]
    if isinstance(got, UserError):
        raise got
    return got


READ_CHUNK = 2000  # run folders whose metrics.csv are parsed together (bounds the joint text)


def read_runs(run_dirs: Iterable[str | Path]) -> list[Loaded | UserError]:
    """:func:`read_run` of many folders: each one's :class:`Loaded`, or the
    :class:`UserError` naming the file that could not be read, in order. Their
    ``metrics.csv`` are parsed together (:func:`~robustbench_runner.results.read_result_csvs`:
    the same frames, one ``read_csv`` per chunk of :data:`READ_CHUNK` runs)."""
    dirs = [Path(d) for d in run_dirs]
    out: list[Loaded | UserError] = []
    for lo in range(0, len(dirs), READ_CHUNK):
        chunk = dirs[lo : lo + READ_CHUNK]
        stamps = [_stamp(d) for d in chunk]  # before reading: a file changed meanwhile is re-read next time
        has = [i for i, d in enumerate(chunk) if RunFiles(d).metrics.exists()]
        parsed = dict(zip(has, read_result_csvs([RunFiles(chunk[i]).metrics for i in has], SCHEMAS[RunFiles.METRICS]), strict=True))
        for i, d in enumerate(chunk):
            try:
                out.append(_assemble(d, stamps[i], parsed.get(i)))
            except UserError as e:
                out.append(e)
    return out


def _assemble(d: Path, stamp: tuple, got: ResultCsv | UserError | None) -> Loaded:
    if isinstance(got, UserError):
        raise got
    rows, span, torn = (got.rows, got.span, got.torn is not None) if got is not None else (pd.DataFrame(), None, False)
    files = RunFiles(d)
    info = _read_mapping(files.info, lambda p: load_json(p, follow_symlinks=False), "valid JSON", "a JSON object")
    cfg = info.pop("config", None)
    if cfg is not None and not isinstance(cfg, dict):
        raise UserError(f"{files.info} holds a config that is not a JSON object", fix=f"restore the run's {files.info.name}, or move the run out of the folder")
    return Loaded(Run(d, files.done.exists(), cfg or {}, cfg is not None, info, rows, span), stamp, torn)


def remember(run: Run, stamp: tuple) -> None:
    """Put a run into the per-process cache of :func:`load_run`."""
    _CACHE[str(run.dir)] = (stamp, run)


def load_run(run_dir: str | Path) -> Run:
    """One run folder (cached until one of its files changes); raises :class:`UserError`
    naming the file when one cannot be read."""
    d = Path(run_dir)
    hit = _CACHE.get(str(d))
    if hit is not None and hit[0] == _stamp(d):
        return hit[1]
    loaded = read_run(d)
    remember(loaded.run, loaded.stamp)
    return loaded.run


def _read_mapping(path: Path, read, valid: str, shape: str) -> dict:
    """``read(path)`` as a dict ({} when the file is absent); a file that cannot be parsed, or
    holds something else, is one :class:`UserError` naming it."""
    fix = f"restore the run's {path.name}, or move the run out of the folder"
    if not os.path.lexists(path):
        return {}
    try:
        value = read(path)
    except BadFile as e:  # the reading layer's reason, worded as this run's file
        raise UserError(f"{path} {e.problem}", fix=fix) from None
    except Exception as e:  # yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError, ...
        raise UserError(f"{path} is not {valid} ({_first_line(e)})", fix=fix) from None
    if not isinstance(value, dict):
        raise UserError(f"{path} does not hold {shape}", fix=fix)
    return value


def _first_line(e: Exception) -> str:
    return " ".join(str(e).split())[:160]


def load_runs(run_dirs: Iterable[str | Path]) -> RunSet:
    """Every readable run (through the per-process cache of :func:`load_run`; the runs not
    in it are read together, :func:`read_runs`); the others are skipped with their reason."""
    dirs = [Path(d) for d in run_dirs]
    got: list[Run | UserError | None] = [None] * len(dirs)
    todo = []
    for i, d in enumerate(dirs):
        hit = _CACHE.get(str(d))
        if hit is not None and hit[0] == _stamp(d):
            got[i] = hit[1]
        else:
            todo.append(i)
    for i, loaded in zip(todo, read_runs([dirs[i] for i in todo]), strict=True):
        if isinstance(loaded, Loaded):
            remember(loaded.run, loaded.stamp)
            got[i] = loaded.run
        else:
            got[i] = loaded
    runs = [g for g in got if isinstance(g, Run)]
    skipped = [(d, g.one_line()) for d, g in zip(dirs, got, strict=True) if isinstance(g, UserError)]
    return RunSet(runs, skipped)


def with_config(metrics: pd.DataFrame, keys: Iterable[str], runs: RunSet | None = None) -> pd.DataFrame:
    """``metrics`` plus a ``cfg.<key>`` column for each dotted config key it lacks, read from
    each run's config record (``run.json``) through :func:`load_run` (or ``runs`` when given); None where a
    run has no such key. The one way builders read run configs into columns."""
    missing = [k for k in dict.fromkeys(keys) if f"cfg.{k}" not in metrics.columns]
    if not missing or metrics.empty:
        return metrics
    by_dir = runs.by_dir() if runs is not None else {}
    values = {}
    for d in metrics.run_dir.unique():
        run = by_dir.get(str(d)) or load_run(d)
        values[d] = {k: run.value(k) for k in missing}
    out = metrics.copy()
    for k in missing:
        out[f"cfg.{k}"] = out.run_dir.map(lambda d, k=k: values[d][k])
    return out


def run_info(run_dir: str | Path) -> dict:
    """A run's ``run.json`` ({} when absent), through the cached loader."""
    return load_run(run_dir).info
