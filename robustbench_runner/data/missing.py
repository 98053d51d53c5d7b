"""The error a loader raises when its files are not on disk, and the download step.

The message names every expected file (by full path) and both fixes: put the files there or
point ``data.root`` at the folder that holds them, or set ``data.download=true`` on a machine
with internet access.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import UserError

#: ``data.root`` default in the configs: ``${oc.env:RBR_DATA,data}``.
ROOT_HELP = "set data.root=<folder> (default: $RBR_DATA, else ./data)"


def missing_data_error(dataset: str, root: str | Path, expected: Sequence[str | Path], *, can_download: bool = True) -> UserError:
    """A :class:`UserError` listing the ``expected`` paths under ``root``."""
    files = ", ".join(str(p) for p in expected)
    fix = f"put the files at those paths (or {ROOT_HELP} to the folder that holds them)"
    if can_download:
        fix += ", or set data.download=true on a machine with internet access"
    return UserError(f"{dataset}: data not found under data.root={root}; expected {files}", fix=fix)


def first_existing(candidates: Sequence[Path]) -> Path | None:
    """The first of ``candidates`` that exists (e.g. ``x.gz`` or ``x``). Whatever is there
    counts, also a FIFO, a folder or a dangling link: the reader then refuses it naming what it
    is (``reading.open_regular``), instead of a misleading "data not found"."""
    for p in candidates:
        if os.path.lexists(p):
            return p
    return None


def ensure_files(
    dataset: str,
    root: str | Path,
    find: Callable[[], dict],
    expected: Sequence[str | Path],
    *,
    download: bool = False,
    fetch: Callable[[], None] | None = None,
) -> dict:
    """``find()`` returns ``{key: Path or None}``; if any is None and ``download`` is set,
    ``fetch()`` downloads and ``find()`` runs again; still missing -> :func:`missing_data_error`."""
    found = find()
    if any(v is None for v in found.values()) and download and fetch is not None:
        try:
            fetch()
        except Exception as e:  # network or archive failure: one clear line
            raise UserError(
                f"{dataset}: download into {root} failed ({' '.join(str(e).split())[:200]})",
                fix=f"check the internet connection, or put the files at {', '.join(str(p) for p in expected)}",
            ) from e
        found = find()
    if any(v is None for v in found.values()):
        raise missing_data_error(dataset, root, expected, can_download=fetch is not None)
    return found
