"""Find runs under a folder and load their tidy results (``rbr-tables`` input).

A run is any folder holding ``metrics.csv``; finished runs also hold ``DONE``. Runs still
in progress are read too (their rows so far), so tables can be built while a sweep runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..paths import is_standin_root
from ..reading import BadFile, load_yaml
from ..results import RunFiles, read_result_frame
from .runs import RunSet, load_runs


def find_runs(roots: Iterable[str | Path], unreadable: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Every folder under ``roots`` that holds ``metrics.csv`` or ``run.json``.

    A folder that cannot be listed (permissions, a name that vanished) is never skipped in
    silence: it is appended to ``unreadable`` as ``(folder, reason)`` when a list is given,
    else printed as one warning line. Symlinked folders are not entered (a link planted in
    a shared sweep could lead anywhere, or back to itself)."""
    runs: set[Path] = set()
    problems: list[tuple[Path, str]] = [] if unreadable is None else unreadable
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise UserError(f"{root} does not exist", fix="pass a run or sweep directory (e.g. outputs/sweeps/<name>)")

        def failed(e: OSError, root: Path = root) -> None:
            problems.append((Path(e.filename or root), f"cannot be listed ({e.strerror or type(e).__name__})"))

        for dirpath, dirnames, filenames in os.walk(root, onerror=failed, followlinks=False):
            names = set(filenames) | set(dirnames)
            if RunFiles.METRICS in names or RunFiles.INFO in names:  # runs that have not written metrics yet too
                runs.add(Path(dirpath))
            dirnames[:] = [n for n in dirnames if not os.path.islink(os.path.join(dirpath, n))]
    if unreadable is None:
        for d, why in problems:
            print(f"[rbr-tables] WARNING: skipped {d}: {why}", file=sys.stderr)
    return sorted(runs)


def run_status(run_dirs: list[Path]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"run_dir": str(d), "done": RunFiles(d).done.exists(), "has_metrics": RunFiles(d).metrics.exists()} for d in run_dirs],
        columns=["run_dir", "done", "has_metrics"],
    )


def standin_runs(run_dirs: list[Path], runs: RunSet | None = None, prog: str = "rbr-tables") -> list[Path]:
    """Runs that used stand-in data (``data/standin.py``), not the real dataset, as their
    ``run.json`` records it (``data_source``). A run written before that record existed is
    judged by the ``data.root`` of its ``config.yaml`` (:func:`_legacy_standin`); where that
    cannot be read, one warning line says so (its rows stay in the tables, unmarked)."""
    runs = runs if runs is not None else load_runs(run_dirs)
    out = []
    for r in runs.runs:
        standin = r.standin
        if standin is None:
            try:
                standin = _legacy_standin(r.dir)
            except UserError as e:  # BadFile included
                why = f"its {e.path.name} {e.problem}" if isinstance(e, BadFile) else e.one_line()
                print(f"[{prog}] WARNING: cannot tell whether {r.dir} used stand-in data (its run.json predates the data_source record; {why})", file=sys.stderr)
                continue
        if standin:
            out.append(r.dir)
    return out


def _legacy_standin(run_dir: Path) -> bool:
    """A run from before ``run.json`` recorded ``data_source``: whether the ``data.root`` of
    its ``config.yaml`` (through the reading layer: bounded, no symlink, no YAML bomb, no tag)
    holds stand-in data (a folder with neither record, e.g. results written by other code:
    False). Raises :class:`BadFile` when that file is there but cannot be read."""
    path = RunFiles(run_dir).config
    if not os.path.lexists(path):
        return False
    cfg = load_yaml(path, follow_symlinks=False, what="run config")
    data = cfg.get("data") if isinstance(cfg, dict) else None
    return isinstance(data, dict) and is_standin_root(data.get("root"))


def load_metrics(run_dirs: list[Path], config_keys: Iterable[str] = ()) -> pd.DataFrame:
    """All metrics rows of the given runs, with ``run_dir``, ``done`` and one column
    ``cfg.<key>`` per requested dotted config key (read from each run's ``run.json`` config),
    through the cached loader of :mod:`tables.runs`; unreadable runs are left out with one
    warning line each."""
    runs = load_runs(run_dirs)
    warn_skipped(runs)
    return runs.metrics(config_keys)


def warn_skipped(runs: RunSet, prog: str = "rbr-tables") -> None:
    for d, why in runs.skipped:
        print(f"[{prog}] WARNING: skipped run {d}: {why}", file=sys.stderr)


def load_csv_from_runs(run_dirs: list[Path], name: str) -> pd.DataFrame:
    """Concatenate another per-run CSV (``train_log.csv``, ``weights_log.csv``, ...), each
    read through its schema (``results.py``); a damaged one is left out with one warning line."""
    frames = []
    for d in run_dirs:
        p = d / name
        if p.exists():
            try:
                df = read_result_frame(p)
            except UserError as e:
                print(f"[rbr-tables] WARNING: skipped {p}: {e.one_line()}", file=sys.stderr)
                continue
            # one column joined at once: inserting into a wide frame (fig. 2's 104-column
            # weights_log.csv reads as one block per column) warns "highly fragmented"
            frames.append(pd.concat([df, pd.DataFrame({"run_dir": str(d)}, index=df.index)], axis=1))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
