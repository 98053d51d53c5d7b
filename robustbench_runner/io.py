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
import socket
import stat
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from .errors import UserError
from .reading.files import LIMITS, BadFile, read_bytes

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
    """Read a CSV a run wrote (:func:`upsert_csv`) with floats round-tripped exactly, through
    the reading layer (a bounded regular file, a symlink not followed: one line naming it)."""
    from .reading.csvs import load_csv  # here: the reading layer imports nothing of io

    return load_csv(path, follow_symlinks=False)


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
    """Load with ``weights_only=True`` (no arbitrary code) through
    :func:`reading.load_torch` (a bounded regular file); a corrupt file is a UserError.

    ``fix``: what to do about a damaged file. Callers pass it for the run's own files (where
    deleting and rerunning is the remedy and they know what the rerun then does); a file the
    user passed gets advice that never suggests deleting it."""
    import os

    from .reading import BadFile, load_torch

    path = Path(path)
    if not os.path.lexists(path):
        raise UserError(f"checkpoint {path} does not exist", fix="check the path")
    fix = fix or "pass a checkpoint saved by rbr-run or a file written by torch.save(model.state_dict(), path)"
    try:
        obj = load_torch(path, map_location=map_location, fix=fix)
    except BadFile as e:  # truncated zip, wrong format, unpickling refused, a FIFO...
        raise UserError(f"checkpoint {path} is corrupt or not a torch checkpoint ({e.problem})", fix=fix) from None
    if not isinstance(obj, dict):
        raise UserError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict", fix="pass a checkpoint saved by rbr-run or a model state_dict")
    return obj


# -- folders --------------------------------------------------------------------------------


def make_dirs(path: str | Path, what: str = "output folder", key: str = "output_root") -> Path:
    """``mkdir -p`` whose failure (a file on the way, ``/proc``, no permission, a read-only
    or full disk) is one :class:`UserError` naming the folder and ``key`` to change."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise folder_error(e, path, what, key) from e
    return path


def folder_error(e: OSError, path: str | Path, what: str = "output folder", key: str = "output_root") -> UserError:
    """The one line for a folder that cannot be created (also for Hydra's own ``mkdir`` of
    the run directory, which fails before any of our code runs: :func:`.run.main`)."""
    disk = _disk_error(e, Path(path))
    if disk is not None:
        return disk
    where = str(e.filename or path)
    reason = e.strerror or type(e).__name__
    at = "" if where == str(path) else f" at {where}"
    return UserError(
        f"cannot create the {what} {path} ({reason}{at})",
        fix=f"set {key} to a folder you can write to (an existing file, /proc, /sys or a read-only disk cannot hold one)",
    )


# -- the run lock -------------------------------------------------------------------------------

#: First line of every lock file the tool writes; a ``.lock`` without it is not the tool's
#: and is never touched.
LOCK_MAGIC = "rbr-run lock v1"
_LOCK_MAX = 4096


def _lock_marker(token: str) -> bytes:
    return f"{LOCK_MAGIC}\npid {os.getpid()}\nhost {socket.gethostname()}\ntoken {token}\n".encode()


def own_file_bytes(path: str | Path, max_bytes: int) -> bytes | None:
    """A small file the tool itself writes (lock marker, manifest, wipe journal), read through
    the reading layer: a regular file, a symlink not followed, a FIFO never blocking, at most
    ``max_bytes``. None when it is absent or is not such a file (the caller then treats it as
    not the tool's and leaves it alone)."""
    try:
        return read_bytes(path, max_bytes=max_bytes, follow_symlinks=False)
    except (BadFile, OSError):
        return None


def read_lock_marker(path: str | Path) -> dict | None:
    """The fields of a lock file the tool wrote (``pid``, ``host``, ``token``); None when
    ``path`` is not a regular file holding the tool's marker. Reads at most 4 KB, never
    follows a symlink, never blocks on a FIFO."""
    data = own_file_bytes(path, _LOCK_MAX)
    if data is None:
        return None
    lines = data.decode("utf-8", "replace").split("\n")
    if not lines or lines[0] != LOCK_MAGIC:
        return None
    fields = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
    return fields if "token" in fields else None


def _refuse_lock(lock: Path, why: str) -> UserError:
    return UserError(
        f"{lock} {why}, so rbr-run will not use this folder (the file is left untouched)",
        fix=f"point hydra.run.dir (or output_root) at another folder, or remove {lock} yourself if nothing uses it",
    )


def _legacy_lock(lock: Path) -> bool:
    """An empty ``.lock`` beside a manifest: what versions before the lock marker left in
    every run directory (they created it with ``open(lock, 'a')``)."""
    try:
        st = os.lstat(lock)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == 0 and (lock.parent / MANIFEST).is_file()


def _new_lock_file(run_dir: Path, token: str) -> tuple[int, str]:
    """A flocked temp file holding the marker (created with ``O_EXCL`` by ``mkstemp``)."""
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".lock.", suffix=".tmp")
    try:
        os.write(fd, _lock_marker(token))
        os.fsync(fd)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)  # our own temp file
        raise
    return fd, tmp


def _busy(run_dir: Path, marker: dict | None) -> UserError:
    who = f" (pid {marker.get('pid')} on {marker.get('host')})" if marker else ""
    return UserError(
        f"another process{who} is running {run_dir}",
        fix="wait for it to finish (or stop it) before starting this run again",
    )


def _acquire(run_dir: Path, lock: Path, token: str) -> int:
    """Take the lock; returns the flocked descriptor of the file now at ``lock``.

    A new lock is a temp file with the marker, flocked, then hard-linked to ``.lock``
    (``link`` fails when the name exists: exclusive creation that never shows a half-written
    marker). An existing tool lock is alive while its creator holds its ``flock`` (released
    when that process dies, also by SIGKILL); a dead one is replaced (``os.replace``) while
    flocked. A ``.lock`` the tool did not write is refused and left untouched."""
    for _ in range(100):
        fd, tmp = _new_lock_file(run_dir, token)
        taken = False
        try:
            taken = _take(run_dir, lock, tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # our own temp file (now also linked as .lock, or unused)
            if not taken:
                os.close(fd)
        if taken:
            return fd
    raise _busy(run_dir, None)


def _take(run_dir: Path, lock: Path, tmp: str) -> bool:
    """One try of :func:`_acquire`: True when ``tmp`` is now the lock, False to try again."""
    try:
        os.link(tmp, lock)
        return True
    except FileExistsError:
        pass  # someone holds ``.lock``: below, whose it is decides (take over a dead one, or refuse)
    marker = read_lock_marker(lock)
    if marker is None and not _legacy_lock(lock):
        if not os.path.lexists(lock):
            return False  # removed meanwhile
        regular = stat.S_ISREG(os.lstat(lock).st_mode)
        raise _refuse_lock(lock, "was not created by rbr-run (it lacks rbr-run's lock marker)" if regular else "is not a regular file")
    try:
        old = os.open(lock, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(old, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(run_dir, marker) from None
        try:
            same = os.fstat(old).st_ino == os.lstat(lock).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            return False  # its creator removed it meanwhile
        os.replace(tmp, lock)  # a dead process's lock (the tool's marker, no flock holder)
        return True
    finally:
        os.close(old)


def _release(lock: Path, fd: int, token: str) -> None:
    """Remove ``lock`` only when it is still the file this process created (same inode,
    our token), while still holding its flock; then release."""
    try:
        marker = read_lock_marker(lock)
        try:
            ours = os.fstat(fd).st_ino == os.lstat(lock).st_ino and marker is not None and marker.get("token") == token
        except FileNotFoundError:
            ours = False
        if ours:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """Exclusive lock on a run directory, so two processes never write the same run.

    The lock is ``<run dir>/.lock``, created exclusively with a marker (``rbr-run lock v1``,
    pid, host, a random token) and held with ``flock`` while the run works (:func:`_acquire`).
    On the way out the lock is removed only if it is still the file this process created
    (:func:`_release`); a ``.lock`` the tool did not write is refused and never touched.
    A folder that did not become a run directory (no manifest: the command failed before
    writing anything) is removed if that leaves it empty."""
    run_dir = make_dirs(run_dir, "run folder", "output_root=... (or hydra.run.dir=...)")
    lock = run_dir / LOCK
    token = uuid.uuid4().hex
    try:
        fd = _acquire(run_dir, lock, token)
    except OSError as e:
        raise folder_error(e, run_dir, "lock in the run folder", "output_root=... (or hydra.run.dir=...)") from e
    try:
        yield
    finally:
        _release(lock, fd, token)
        if not (run_dir / MANIFEST).exists():
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only if empty


# -- the manifest of files a run wrote ---------------------------------------------------------

#: First line of every manifest the tool starts (older run directories have none: see
#: :func:`manifest_state`).
MANIFEST_HEADER = "# rbr manifest v1"
#: The manifest of an output folder of rbr-tables / rbr-report / figures (``--out``).
OUT_MANIFEST = ".rbr-out-manifest"

_RECORDING: dict = {"dir": None, "seen": set(), "manifest": MANIFEST, "strict": False, "what": ""}


def _abs(path: str | Path) -> str:
    """Absolute path without resolving symlinks (a symlinked ``ckpt/`` stays inside the run)."""
    return os.path.abspath(os.fspath(path))


def _manifest_lines(path: Path) -> list[str] | None:
    """The complete lines of a manifest (None when it is absent or not a regular file)."""
    data = own_file_bytes(path, LIMITS["text"])
    if data is None:
        return None
    return data.decode("utf-8", "replace").split("\n")[:-1]  # after the last newline: a torn write


def read_manifest(run_dir: str | Path, name: str = MANIFEST) -> list[str]:
    """The relative paths a run (or an output folder) recorded; the header, a torn last line
    (no newline) and any entry that would leave the folder are ignored."""
    lines = _manifest_lines(Path(run_dir) / name) or []
    return list(dict.fromkeys(line for line in lines if not line.startswith("#") and _safe_rel(line)))


def manifest_state(folder: str | Path, name: str = MANIFEST) -> str:
    """``absent``; ``tool`` (starts with :data:`MANIFEST_HEADER`); ``legacy`` (a manifest of a
    version before the header: relative paths only); ``foreign`` (anything else: not a
    regular file, or lines that are no relative path)."""
    path = Path(folder) / name
    if not os.path.lexists(path):
        return "absent"
    lines = _manifest_lines(path)
    if lines is None:
        return "foreign"
    if lines and lines[0] == MANIFEST_HEADER:
        return "tool"
    return "legacy" if all(_safe_rel(ln) for ln in lines) else "foreign"


@contextlib.contextmanager
def recording(out_dir: str | Path, manifest_name: str = MANIFEST, strict: bool | None = None, what: str = "rbr"):
    """While active, every atomic write under ``out_dir`` is first added to its manifest
    (``manifest_name``: a run's :data:`MANIFEST`, or :data:`OUT_MANIFEST` for the ``--out``
    folder of rbr-tables / rbr-report / figures).

    ``strict`` (the default for every manifest but a run's, whose folder the run claims as a
    whole): a file already at a path about to be written that the manifest does not list was
    not written by the tool, and is refused (one-line :class:`UserError`), never replaced. A
    manifest that is not the tool's is refused the same way."""
    strict = manifest_name != MANIFEST if strict is None else strict
    if strict and manifest_state(out_dir, manifest_name) not in ("absent", "tool"):
        raise UserError(
            f"{Path(out_dir) / manifest_name} was not written by {what}, so {what} will not write into {out_dir} (the file is left untouched)",
            fix="write the outputs elsewhere (--out <another folder>)",
        )
    prev = dict(_RECORDING)
    _RECORDING.update(dir=_abs(out_dir), seen=set(read_manifest(out_dir, manifest_name)), manifest=manifest_name, strict=strict, what=what)
    try:
        yield
    finally:
        _RECORDING.clear()
        _RECORDING.update(prev)


def refuse_foreign_targets(out_dir: str | Path, targets, manifest_name: str = OUT_MANIFEST, what: str = "rbr") -> None:
    """Before anything is written: refuse (one-line :class:`UserError`, nothing written) when
    one of ``targets`` (paths under ``out_dir`` about to be written) exists and is not listed
    in the folder's manifest, so a command never leaves half its outputs beside a file it
    then refuses to replace (:func:`record_written` refuses the same file, mid-way)."""
    root = _abs(out_dir)
    listed = set(read_manifest(out_dir, manifest_name))
    for target in targets:
        full = _abs(target)
        rel = Path(os.path.relpath(full, root)).as_posix()
        if os.path.lexists(full) and rel not in listed:
            raise UserError(
                f"{full} exists and was not written by {what} (it is not listed in {Path(root) / manifest_name}), so {what} will not replace it; nothing was written",
                fix="move that file away (a folder written by a version before the manifest: move it all away once), or write the outputs elsewhere (--out <another folder>)",
            )


def record_written(path: str | Path) -> None:
    """Add ``path`` to the active manifest (no-op outside :func:`recording` or for a path
    outside its folder). Also for writers that do not use the atomic helpers (e.g. a tracker
    writing its own files into the run). In a strict recording, a file already there that the
    manifest does not list is refused."""
    root = _RECORDING["dir"]
    if root is None:
        return
    full = _abs(path)
    if not full.startswith(root + os.sep):
        return
    rel = Path(os.path.relpath(full, root)).as_posix()
    name = _RECORDING["manifest"]
    if rel in _RECORDING["seen"] or rel in (name, LOCK, WIPE_JOURNAL):
        return
    if _RECORDING["strict"] and os.path.lexists(full):
        what = _RECORDING["what"]
        raise UserError(
            f"{full} exists and was not written by {what} (it is not listed in {Path(root) / name}), so {what} will not replace it",
            fix="move that file away (a folder written by a version before the manifest: move it all away once), or write the outputs elsewhere (--out <another folder>)",
        )
    manifest = Path(root) / name
    try:
        new = not os.path.lexists(manifest)
        with open(manifest, "a") as f:
            f.write((MANIFEST_HEADER + "\n" if new else "") + rel + "\n")
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


#: The journal of an ``overwrite=true`` wipe: written (atomically) before the first file is
#: deleted, removed after the last; a wipe killed half-way is finished by the next command
#: that takes the run's lock (:func:`finish_wipe`), before anything else.
WIPE_JOURNAL = ".rbr-wipe"
WIPE_MAGIC = "rbr-run wipe v1"


def wipe_recorded(run_dir: str | Path, entries: Iterable[str], first: Sequence[str] = ("DONE",), last: Sequence[str] = ("run.json",)) -> None:
    """Delete the files ``entries`` names (relative to ``run_dir``), ``first`` ones first
    (``DONE``: a wipe that dies half-way never leaves a "finished" run), ``last`` ones and
    the manifest at the end; then remove the folders this left empty. Symlinks are removed,
    never followed; folders are removed only when empty. The list is journaled first
    (:data:`WIPE_JOURNAL`), so a kill half-way leaves a wipe the next command finishes."""
    root = Path(run_dir)
    entries = [e for e in dict.fromkeys(entries) if _safe_rel(e)]
    ordered = [e for e in first if e in entries] + [e for e in entries if e not in first and e not in last] + [e for e in last if e in entries]
    atomic_write_text(root / WIPE_JOURNAL, WIPE_MAGIC + "\n" + "".join(e + "\n" for e in ordered))
    _run_wipe(root, ordered)


def _safe_rel(line: str) -> bool:
    """A manifest / journal entry that stays inside the run directory."""
    parts = line.split("/")
    return bool(line) and not line.startswith("/") and "\0" not in line and not any(part in ("", ".", "..") for part in parts)


def _run_wipe(root: Path, ordered: list[str]) -> None:
    from .faults import crash_point

    for rel in ordered:
        _unlink_no_follow(root, rel)
        crash_point("wipe")
    folders = sorted({str(Path(rel).parent) for rel in ordered if "/" in rel}, key=lambda s: -s.count("/"))
    for rel in folders:
        for d in [root / rel, *list((root / rel).parents)]:
            if d == root or root not in d.parents:
                break
            with contextlib.suppress(OSError):
                if not d.is_symlink():
                    d.rmdir()
    with contextlib.suppress(FileNotFoundError):
        (root / MANIFEST).unlink()
    if _RECORDING["dir"] == _abs(root):
        _RECORDING["seen"] = set()  # the manifest is gone: what is written next is recorded anew
    with contextlib.suppress(FileNotFoundError):
        (root / WIPE_JOURNAL).unlink()


def read_wipe_journal(run_dir: str | Path) -> list[str] | None:
    """The entries of an unfinished wipe's journal (None when there is none). A
    :data:`WIPE_JOURNAL` the tool did not write (no marker, not a regular file) is a
    :class:`UserError`, and is left alone."""
    path = Path(run_dir) / WIPE_JOURNAL
    if not os.path.lexists(path):
        return None
    data = own_file_bytes(path, LIMITS["text"])
    lines = None if data is None else data.decode("utf-8", "replace").split("\n")
    if not lines or lines[0] != WIPE_MAGIC:
        raise UserError(
            f"{path} was not written by rbr-run, so rbr-run will not use this folder (the file is left untouched)",
            fix="point hydra.run.dir (or output_root) at another folder, or remove that file yourself",
        )
    return [ln for ln in lines[1:-1] if _safe_rel(ln)]  # the part after the last newline: none (atomic write)


def finish_wipe(run_dir: str | Path) -> bool:
    """Finish an ``overwrite=true`` wipe that was killed half-way (its journal is still
    there): delete the rest of what it listed. Called under the run's lock before anything
    else reads the run directory; returns whether there was one."""
    entries = read_wipe_journal(run_dir)
    if entries is None:
        return False
    sys.stderr.write(f"[rbr] warning: {run_dir} holds an overwrite=true wipe that was interrupted; finishing it first ({len(entries)} files the run had written)\n")
    _run_wipe(Path(run_dir), entries)
    return True
