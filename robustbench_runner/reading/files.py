"""Opening a file that came from outside the tool: a regular file, of bounded size, read
through one descriptor, never a FIFO, a device or a folder.

Every reader of :mod:`robustbench_runner.reading` starts here. :func:`open_regular` opens
with ``O_NONBLOCK`` (a FIFO with no writer would otherwise block the open forever) and, for
files a run wrote itself, ``O_NOFOLLOW`` (a symlink planted in a shared run folder is not
followed), then checks ``fstat`` *of the descriptor it will read* (no window between the
check and the read). A problem is a :class:`BadFile`: one line naming the file, what is wrong
and what to do.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..errors import UserError

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

#: Size bounds by kind of file (bytes). Generous for the real files (CIFAR-100's ``train``
#: pickle is 155 MiB, SVHN's ``extra_32x32.mat`` 1.3 GiB, Tiny ImageNet's decoded cache
#: 1.2 GiB, a WRN-34-10 checkpoint ~190 MiB), small for the text files a run writes.
LIMITS = {
    "config": 16 * MiB,  # config.yaml, run.json, table specs, zoo/user YAML
    "text": 64 * MiB,  # wnids.txt, val_annotations.txt, index lists
    "csv": 2 * GiB,  # result CSVs, tabular datasets
    "image": 32 * MiB,  # one encoded image file
    "data": 8 * GiB,  # dataset arrays, pickled batches, .mat, caches
    "checkpoint": 16 * GiB,  # torch / safetensors weights
}


class BadFile(UserError):
    """A file that cannot be read as what it should be: names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str, fix: str | None = None, what: str | None = None):
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())
        prefix = f"{what}: " if what else ""
        super().__init__(f"{prefix}{self.path}: {self.problem}", fix=fix or "replace it with an intact copy of the file the tool expects there")


_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFLNK: "a symbolic link",
}


def kind_of(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular(
    path: str | os.PathLike,
    *,
    max_bytes: int,
    follow_symlinks: bool = True,
    what: str | None = None,
    fix: str | None = None,
) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file of at most ``max_bytes``.

    ``follow_symlinks=False`` for files the tool wrote into a run folder (it never writes
    symlinks there): a symlink as the last component is refused. Raises :class:`BadFile`
    (missing, unreadable, a FIFO/device/folder, too large)."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise BadFile(path, "does not exist", fix=fix or "check the path", what=what) from None
    except PermissionError:
        raise BadFile(path, "cannot be read (permission denied)", fix="give your user read permission on it (chmod u+r), or point the tool at a copy you can read", what=what) from None
    except OSError as e:
        if e.errno == errno.ELOOP and not follow_symlinks:
            raise BadFile(path, "is a symbolic link where the tool wrote a regular file; it is not followed", fix="replace the link with the file itself", what=what) from None
        if e.errno in (errno.ENXIO, errno.ENODEV):  # a socket or a device without a driver
            raise BadFile(path, "is not a regular file (a socket or device)", fix=fix, what=what) from None
        raise BadFile(path, f"cannot be opened ({os.strerror(e.errno or 0) or type(e).__name__})", fix=fix, what=what) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadFile(path, f"is {kind_of(st.st_mode)}, not a regular file", fix=fix or "point the tool at the file itself", what=what)
        if st.st_size > max_bytes:
            raise BadFile(path, f"is {st.st_size:,} bytes, over the {max_bytes:,}-byte bound for this kind of file", fix=fix, what=what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(
    path: str | os.PathLike,
    *,
    max_bytes: int,
    follow_symlinks: bool = True,
    what: str | None = None,
    fix: str | None = None,
) -> bytes:
    """The whole content of a regular file of at most ``max_bytes`` (:func:`open_regular`).
    Reads at most ``max_bytes + 1`` bytes, so a file that grows while being read is refused
    too, never read without bound."""
    with open_regular(path, max_bytes=max_bytes, follow_symlinks=follow_symlinks, what=what, fix=fix) as f:
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            raise BadFile(path, f"cannot be read ({os.strerror(e.errno or 0) or type(e).__name__})", fix=fix, what=what) from None
    if len(data) > max_bytes:
        raise BadFile(path, f"grew past the {max_bytes:,}-byte bound while being read", fix=fix, what=what)
    return data


def read_text(
    path: str | os.PathLike,
    *,
    max_bytes: int = LIMITS["config"],
    follow_symlinks: bool = True,
    what: str | None = None,
    fix: str | None = None,
) -> str:
    """:func:`read_bytes` decoded as UTF-8 (a file that is not text is a :class:`BadFile`)."""
    data = read_bytes(path, max_bytes=max_bytes, follow_symlinks=follow_symlinks, what=what, fix=fix)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadFile(path, f"is not UTF-8 text (byte {e.start}: {data[e.start:e.start + 1].hex()})", fix=fix, what=what) from None


def is_regular_file(path: str | os.PathLike, follow_symlinks: bool = True) -> bool:
    """Whether ``path`` is a regular file (``lstat`` when not following symlinks); never
    opens it, so a FIFO cannot block."""
    try:
        st = os.stat(path) if follow_symlinks else os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode)


def source_stamp(paths) -> list[list]:
    """What a cache derived from user files is keyed by: per source, its name, size and
    modification time in nanoseconds (a file replaced or edited in place changes one of
    them, also when its name stays: ``tests/hostile`` checks the TinyImageNet cache)."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([os.fspath(p), int(st.st_size), int(st.st_mtime_ns)])
    return out
