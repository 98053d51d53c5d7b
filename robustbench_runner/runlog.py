"""Every run tells its story in its folder: ``<run>/run.log`` beside ``metrics.csv``.

:func:`run_log` (entered by :func:`.execute.execute` around one run) attaches a
:class:`logging.FileHandler` to the ``robustbench_runner.run_log`` logger and copies every
complete line the run writes to stdout and stderr into it, time-stamped: the epoch lines,
the attacks' progress and closing lines, warnings, the summary table and, if the run stops,
its one-line error. A SLURM user reads the whole run in one place; a resumed run appends
to the same file (each invocation starts with a ``=== rbr-run ...`` line).

The file is opened only once the run has claimed its folder (:func:`arm`, called by
:func:`.run_dir.claim_run_dir` when the folder holds this config): lines printed before
(say, a refused config) never land in another run's folder, a finished run (``DONE``) that
is asked again is left untouched, and a command that fails before computing anything leaves
no folder behind (``run.log`` is recorded in the manifest like every file the run writes, and
counts as bookkeeping, not results, in :func:`.run_dir.forget_if_empty`).

On a terminal, tqdm's bar redraws (``\\r`` frames) are not copied; the pipeline logs the
epoch line itself there (:func:`file_only`), so ``run.log`` reads the same with or without
bars.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import sys
import threading
from pathlib import Path

NAME = "run.log"
LOGGER = logging.getLogger("robustbench_runner.run_log")
LOGGER.propagate = False  # the console already shows these lines
LOGGER.setLevel(logging.INFO)
FORMAT = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")

_STATE: dict = {"dir": None, "handler": None, "pending": []}


class _Tee:
    """A text stream that writes through to ``stream`` and hands each complete line to
    :func:`_line` (tqdm's ``\\r`` redraws are dropped)."""

    def __init__(self, stream):
        self.stream = stream
        self.buf = ""
        self.lock = threading.Lock()  # progress heartbeats write from another thread

    def write(self, text):
        n = self.stream.write(text)
        with self.lock:
            self.buf += str(text)
            lines = []
            while "\n" in self.buf:
                line, self.buf = self.buf.split("\n", 1)
                lines.append(line)
        for line in lines:
            if "\r" not in line and line.strip():
                _line(line.rstrip())
        return n

    def flush(self):
        self.stream.flush()

    def __getattr__(self, name):  # isatty, fileno, encoding, ... of the real stream
        return getattr(self.stream, name)


def _line(text: str) -> None:
    if _STATE["handler"] is not None:
        LOGGER.info(text)
    elif _STATE["dir"] is not None:
        _STATE["pending"].append(text)


def file_only(text: str) -> None:
    """A line for ``run.log`` only (the console shows a bar instead)."""
    _line(text)


def arm(run_dir: str | Path) -> None:
    """Open ``<run_dir>/run.log`` (append) for the run entered with :func:`run_log`, and
    write the lines held back so far. A no-op outside :func:`run_log` or for another folder."""
    if _STATE["dir"] is None or _STATE["handler"] is not None or Path(run_dir).resolve() != _STATE["dir"]:
        return
    from .io import record_written

    path = _STATE["dir"] / NAME
    record_written(path)  # the manifest: overwrite=true deletes it with the run's other files
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(FORMAT)
    LOGGER.addHandler(handler)
    _STATE["handler"] = handler
    LOGGER.info(f"=== rbr-run {' '.join(shlex.quote(a) for a in sys.argv[1:])} (pid {os.getpid()}, cwd {os.getcwd()})")
    for text in _STATE["pending"]:
        LOGGER.info(text)
    _STATE["pending"] = []


@contextlib.contextmanager
def run_log(run_dir: str | Path):
    """Copy this run's stdout/stderr lines into ``<run_dir>/run.log`` once :func:`arm`
    opens it; a stopped run's one-line error is its last line."""
    prev = dict(_STATE)
    _STATE.update(dir=Path(run_dir).resolve(), handler=None, pending=[])
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(out), _Tee(err)
    try:
        yield
    except BaseException as ex:
        if _STATE["handler"] is not None:
            from .run import one_line

            LOGGER.info(f"stopped: {type(ex).__name__}: {one_line(ex)}")
        raise
    finally:
        for tee in (sys.stdout, sys.stderr):
            if isinstance(tee, _Tee) and tee.buf.strip() and "\r" not in tee.buf:
                _line(tee.buf.rstrip())
        sys.stdout, sys.stderr = out, err
        handler = _STATE["handler"]
        if handler is not None:
            LOGGER.removeHandler(handler)
            handler.close()
        _STATE.clear()
        _STATE.update(prev)
