"""One cached loader of run folders for the table core.

A :class:`Run` is one folder's results as the tables see them: its ``metrics.csv`` (read
through the schema of :mod:`robustbench_runner.results`), its resolved ``config.yaml`` (as
``cfg.<dotted key>`` columns on request, and flattened for the pooling check), its
``run.json`` (the ``parent`` an ``init_from`` run started from), its ``scale_name`` and
whether it finished (``DONE``). Loads are cached per folder and invalidated when one of
those files changes, so building many tables over one sweep reads each file once; across
calls, ``rbr-tables`` keeps the loaded runs in a per-sweep file (:mod:`tables.cache`, built
on :func:`read_run` and :data:`SOURCES` here).

A run whose files cannot be read (an empty or damaged ``metrics.csv``, an invalid
``config.yaml`` or ``run.json``) does not stop the other runs: :func:`load_runs` returns it
among :attr:`RunSet.skipped` with the one-line reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from omegaconf._utils import get_yaml_loader

from ..config import VOLATILE_KEYS
from ..errors import UserError
from ..results import SCHEMAS, read_result_csv


class _ConfigLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """PyYAML's C loader with OmegaConf's scalar rules (``1e-3`` is a float, timestamps stay
    strings), so a ``config.yaml`` reads as ``OmegaConf.to_container(OmegaConf.load(path))``
    would give, at a tenth of the cost (``OmegaConf.load`` was ~87% of ``rbr-tables`` over
    10,000 runs, docs/performance.md)."""


_ConfigLoader.yaml_implicit_resolvers = get_yaml_loader().yaml_implicit_resolvers


def read_config(path: Path) -> dict:
    """A run's ``config.yaml`` as plain containers (interpolations left as their text)."""
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_ConfigLoader) or {}  # an empty file is an empty config


def select(config: dict, key: str):
    """``OmegaConf.select`` on plain containers: the value at a dotted key, else None."""
    node: Any = config
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


@dataclass
class Run:
    dir: Path
    done: bool
    config: dict  # the resolved config.yaml as plain containers ({} when the run has none)
    has_config: bool
    info: dict  # run.json ({} when absent)
    metrics: pd.DataFrame  # empty when the run has written none yet

    @property
    def parent(self) -> dict | None:
        """What ``init_from`` started this run from (``run.json`` ``parent``), if anything."""
        return self.info.get("parent")

    @property
    def scale(self) -> str | None:
        return select(self.config, "scale_name")

    def value(self, key: str):
        """A dotted config key as a table column value (containers as plain lists/dicts)."""
        return select(self.config, key)

    @cached_property
    def flat(self) -> dict[str, Any]:
        """The config as ``dotted key -> JSON text`` without the keys that do not change
        what a run computes (``config.VOLATILE_KEYS``); the run's own seed token ``-s<seed>``
        in string values (its name, an ``init_from`` path naming the parent of the same
        seed) is written ``-s<seed>``, so seed replicates compare equal."""
        if not self.has_config:
            return {}
        raw = self.config
        seed = select(self.config, "seed")
        token = re.compile(rf"-s{re.escape(str(seed))}(?=$|[-/_.])") if seed is not None else None
        out: dict[str, Any] = {}

        def walk(node, prefix: str) -> None:
            if prefix.rstrip(".") in VOLATILE_KEYS:
                return
            if isinstance(node, dict) and node:
                for k, v in node.items():
                    walk(v, f"{prefix}{k}.")
                return
            if isinstance(node, str) and token is not None:
                node = token.sub("-s<seed>", node)
            out[prefix.rstrip(".")] = json.dumps(node, sort_keys=True, default=str)

        walk(raw, "")
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


def _covered(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def differing_keys(runs: list[Run], ignore: tuple[str, ...]) -> list[str]:
    """The config keys (not under ``ignore``) whose values are not the same in all ``runs``."""
    keys = sorted({k for r in runs for k in r.flat})
    out = []
    for k in keys:
        if _covered(k, ignore):
            continue
        if len({r.flat.get(k, "<absent>") for r in runs}) > 1:
            out.append(k)
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
        with_rows = [r for r in self.runs if not r.metrics.empty]
        if not with_rows:
            return pd.DataFrame()
        fast = _concat_once(with_rows, keys, self.rows.copy() if self.rows is not None else None)
        return fast if fast is not None else _concat_per_run(with_rows, keys)


_PLAIN = {bool: "bool", int: "int64", float: "float64", str: "str", type(None): "object"}  # what ``df[c] = scalar`` makes of each


def _concat_once(runs: list[Run], keys: list[str], rows: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """The fast path of :meth:`RunSet.metrics` (None where it would not give the same
    frame); ``rows``: the runs' metrics already concatenated (from the sweep cache)."""
    if rows is None:
        sig = list(runs[0].metrics.dtypes.items())
        if any(list(r.metrics.dtypes.items()) != sig for r in runs[1:]):
            return None
    values = {k: [r.value(k) for r in runs] for k in keys}
    kinds = {}
    for k, vs in values.items():
        types = {type(v) for v in vs}
        if not types <= set(_PLAIN) or len(types - {type(None)}) > 1:
            return None  # containers, or two kinds of number: the concat decides the dtype
        # one plain type: its dtype; that type and None: object (how concat merges them)
        kinds[k] = _PLAIN[next(iter(types))] if len(types) == 1 else "object"
    counts = np.fromiter((len(r.metrics) for r in runs), dtype=np.int64, count=len(runs))
    df = rows if rows is not None else pd.concat([r.metrics for r in runs], ignore_index=True)
    df["run_dir"] = pd.Series(np.repeat(np.array([str(r.dir) for r in runs], dtype=object), counts), dtype="str")
    df["done"] = np.repeat(np.array([r.done for r in runs], dtype=bool), counts)
    for k in keys:
        df[f"cfg.{k}"] = pd.Series(np.repeat(np.array(values[k], dtype=object), counts), dtype=kinds[k])
    return df


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
SOURCES = ("metrics.csv", "config.yaml", "run.json", "DONE")  # every file a Run is built from


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
    d = Path(run_dir)
    stamp = _stamp(d)
    metrics_path, cfg_path, info_path = d / "metrics.csv", d / "config.yaml", d / "run.json"
    torn = False
    if metrics_path.exists():
        got = read_result_csv(metrics_path, SCHEMAS["metrics.csv"])
        metrics, torn = got.frame, got.torn is not None
    else:
        metrics = pd.DataFrame()
    cfg = _read_mapping(cfg_path, read_config, "valid YAML", "a mapping")
    info = _read_mapping(info_path, lambda p: json.loads(p.read_text()), "valid JSON", "a JSON object")
    return Loaded(Run(d, (d / "DONE").exists(), cfg, cfg_path.exists(), info, metrics), stamp, torn)


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
    if not path.exists():
        return {}
    try:
        value = read(path)
    except Exception as e:  # yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError, ...
        raise UserError(f"{path} is not {valid} ({_first_line(e)})", fix=fix) from None
    if not isinstance(value, dict):
        raise UserError(f"{path} does not hold {shape}", fix=fix)
    return value


def _first_line(e: Exception) -> str:
    return " ".join(str(e).split())[:160]


def load_runs(run_dirs: Iterable[str | Path]) -> RunSet:
    """Every readable run; the others are skipped with their reason."""
    runs, skipped = [], []
    for d in run_dirs:
        try:
            runs.append(load_run(d))
        except UserError as e:
            skipped.append((Path(d), e.one_line()))
    return RunSet(runs, skipped)


def with_config(metrics: pd.DataFrame, keys: Iterable[str], runs: RunSet | None = None) -> pd.DataFrame:
    """``metrics`` plus a ``cfg.<key>`` column for each dotted config key it lacks, read from
    each run's ``config.yaml`` through :func:`load_run` (or ``runs`` when given); None where a
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
