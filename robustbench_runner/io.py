"""Files that survive a kill at any moment: atomic writes, idempotent tidy-CSV upserts,
checkpoints loaded with ``weights_only=True``, a per-run lock, and the run's manifest.

The manifest (``<run dir>/.rbr-manifest``, one relative path a line) lists every file the
tool wrote into a run directory while it held the run's lock; ``overwrite=true`` deletes
exactly those files (see :func:`wipe_recorded`), never anything a user put there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from .errors import UserError

MANIFEST = ".rbr-manifest"
LOCK = ".lock"

# -- permissions and disk-full ------------------------------------------------------------

def current_umask() -> int:
    """The process umask (from /proc on Linux; elsewhere ``os.umask`` can only be read by
    setting it, so it is set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _disk_error(e: OSError, path: Path) -> UserError | None:
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        what = "no space left on device" if e.errno == errno.ENOSPC else "disk quota exceeded"
        return UserError(
            f"{what} while writing {path} (the previous version of the file, if any, is intact)",
            fix="free space on that file system (or set output_root=<another disk>) and rerun the same command: the run resumes",
        )
    return None


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``: readers
    see the old file or the new one, never a torn one. The file gets the permissions a plain
    ``open()`` would give (0666 minus the umask; ``mkstemp`` alone makes it 0600). Inside a
    run (:func:`recording`) the path is added to the run's manifest first. A full disk is a
    one-line :class:`UserError` naming the file."""
    path = Path(path)
    record_written(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        err = _disk_error(e, path)
        if err is not None:
            raise err from e
        raise
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            err = _disk_error(e, path)
            if err is not None:
                raise err from e
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV written by :func:`upsert_csv` with floats round-tripped exactly."""
    if int(pd.__version__.split(".")[0]) >= 3:  # pandas 3 parses floats round-trip by default
        return pd.read_csv(path)
    return pd.read_csv(path, float_precision="round_trip")


def upsert_csv(
    path: str | Path,
    rows: pd.DataFrame,
    key: Sequence[str],
    keep: str = "first",
    sort: Sequence[str] | None = None,
    old: pd.DataFrame | None = None,
    finish: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> int:
    """Merge ``rows`` into the CSV at ``path`` atomically; a row whose ``key`` is already
    present is not written twice. ``keep='first'`` keeps what was written before (results
    are never recomputed), ``'last'`` replaces it (e.g. a redone epoch's timing).
    Returns the number of new keys written. The one CSV upsert of the package: the result
    files (:func:`.results.upsert_result`) pass ``old`` (the rows already there, read through
    their schema) and ``finish`` (the schema's dtypes for the merged rows)."""
    path = Path(path)
    if rows.empty:
        return 0
    if old is None:
        old = read_csv(path) if path.exists() else rows.iloc[0:0]
    merged = pd.concat([old, rows], ignore_index=True) if len(old) else rows.reset_index(drop=True)
    key = list(key)
    keyed = merged[key].astype(str)
    dup = keyed.duplicated(keep=keep)
    merged = merged[~dup.to_numpy()]
    if sort:
        merged = merged.sort_values(list(sort), kind="stable")
    n_new = len(merged) - len(old.drop_duplicates(subset=key)) if len(old) else len(merged)
    buf = io.StringIO()
    (finish(merged) if finish is not None else merged).to_csv(buf, index=False)
    atomic_write_text(path, buf.getvalue())
    return n_new


# -- checkpoints ----------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def clean_message(text: str, limit: int = 160) -> str:
    """One line of an exception message: terminal colour codes dropped, whitespace folded."""
    return " ".join(_ANSI.sub("", str(text)).split())[:limit]


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """``torch.save`` through a temp file + rename (a kill never leaves a torn checkpoint)."""
    import torch  # here, not at the top: rbr-tables imports this module and never needs torch

    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())
    from .faults import crash_point

    crash_point("checkpoint")


def load_checkpoint(path: str | Path, map_location="cpu", fix: str | None = None) -> dict:
    """Load with ``weights_only=True`` (no arbitrary code); a corrupt file is a UserError.

    ``fix``: what to do about a damaged file. Callers pass it for the run's own files (where
    deleting and rerunning is the remedy and they know what the rerun then does); a file the
    user passed gets advice that never suggests deleting it."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist", fix="check the path")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, wrong format, unpickling refused...
        reason = clean_message(e)
        raise UserError(
            f"checkpoint {path} is corrupt or not a torch checkpoint ({type(e).__name__}: {reason})",
            fix=fix or "pass a checkpoint saved by rbr-run or a file written by torch.save(model.state_dict(), path)",
        ) from e
    if not isinstance(obj, dict):
        raise UserError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict", fix="pass a checkpoint saved by rbr-run or a model state_dict")
    return obj


# -- the run lock -------------------------------------------------------------------------------


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """Exclusive lock on a run directory, so two processes never write the same run.

    On the way out, a folder that did not become a run directory (no manifest: the command
    failed before writing anything) loses the ``.lock`` it got here, and is removed if that
    leaves it empty. The lock file is unlinked while still locked, and a process that locked
    a file that was meanwhile unlinked retries, so two processes never both hold the lock."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / LOCK
    while True:
        f = open(lock, "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise UserError(
                f"another process is running {run_dir}",
                fix="wait for it to finish (or stop it) before starting this run again",
            ) from None
        try:
            same = os.fstat(f.fileno()).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        f.close()  # locked a file another process had just removed: lock the new one
    try:
        yield
    finally:
        try:
            if not (run_dir / MANIFEST).exists():
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                with contextlib.suppress(OSError):
                    run_dir.rmdir()  # only if empty
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()


# -- the manifest of files a run wrote ---------------------------------------------------------

_RECORDING: dict = {"dir": None, "seen": set()}


def _abs(path: str | Path) -> str:
    """Absolute path without resolving symlinks (a symlinked ``ckpt/`` stays inside the run)."""
    return os.path.abspath(os.fspath(path))


def read_manifest(run_dir: str | Path) -> list[str]:
    """The relative paths a run recorded; a torn last line (no newline) and any entry that
    would leave the run directory are ignored."""
    p = Path(run_dir) / MANIFEST
    if not p.is_file() or p.is_symlink():
        return []
    text = p.read_text(errors="replace")
    lines = text.split("\n")[:-1]  # the part after the last newline is a torn write
    out = []
    for line in lines:
        parts = line.split("/")
        if not line or line.startswith("/") or any(part in ("", ".", "..") for part in parts):
            continue
        if line not in out:
            out.append(line)
    return out


@contextlib.contextmanager
def recording(run_dir: str | Path):
    """While active, every atomic write under ``run_dir`` is added to its manifest."""
    prev = dict(_RECORDING)
    _RECORDING["dir"] = _abs(run_dir)
    _RECORDING["seen"] = set(read_manifest(run_dir))
    try:
        yield
    finally:
        _RECORDING.clear()
        _RECORDING.update(prev)


def record_written(path: str | Path) -> None:
    """Add ``path`` to the active run's manifest (no-op outside :func:`recording` or for a
    path outside the run directory). Also for writers that do not use the atomic helpers
    (e.g. a tracker writing its own files into the run)."""
    root = _RECORDING["dir"]
    if root is None:
        return
    full = _abs(path)
    if not full.startswith(root + os.sep):
        return
    rel = Path(os.path.relpath(full, root)).as_posix()
    if rel in _RECORDING["seen"] or rel in (MANIFEST, LOCK):
        return
    manifest = Path(root) / MANIFEST
    try:
        with open(manifest, "a") as f:
            f.write(rel + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        err = _disk_error(e, manifest)
        if err is not None:
            raise err from e
        raise
    _RECORDING["seen"].add(rel)


def _unlink_no_follow(root: Path, rel: str) -> None:
    """Delete ``root/rel`` without following a symlink anywhere below ``root``: a symlinked
    folder on the way (e.g. ``ckpt/`` -> scratch space) is unlinked itself, never entered."""
    cur = root
    parts = rel.split("/")
    for part in parts[:-1]:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            cur.unlink()
            return
        if not stat.S_ISDIR(st.st_mode):
            return
    target = cur / parts[-1]
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        target.unlink()
    # temp files of this name left by a kill mid-write (``.<name>.<random>.tmp``)
    for tmp in cur.glob(f".{glob_escape(parts[-1])}.*.tmp"):
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink()


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def wipe_recorded(run_dir: str | Path, entries: Iterable[str], first: Sequence[str] = ("DONE",), last: Sequence[str] = ("run.json",)) -> None:
    """Delete the files ``entries`` names (relative to ``run_dir``), ``first`` ones first
    (``DONE``: a wipe that dies half-way never leaves a "finished" run), ``last`` ones and
    the manifest at the end; then remove the folders this left empty. Symlinks are removed,
    never followed; folders are removed only when empty."""
    root = Path(run_dir)
    entries = list(dict.fromkeys(entries))
    ordered = [e for e in first if e in entries] + [e for e in entries if e not in first and e not in last] + [e for e in last if e in entries]
    for rel in ordered:
        _unlink_no_follow(root, rel)
    folders = sorted({str(Path(rel).parent) for rel in entries if "/" in rel}, key=lambda s: -s.count("/"))
    for rel in folders:
        for d in [root / rel, *list((root / rel).parents)]:
            if d == root or root not in d.parents:
                break
            with contextlib.suppress(OSError):
                if not d.is_symlink():
                    d.rmdir()
    with contextlib.suppress(FileNotFoundError):
        (root / MANIFEST).unlink()
