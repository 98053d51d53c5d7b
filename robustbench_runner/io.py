"""Files that survive a kill at any moment: atomic writes, idempotent tidy-CSV upserts,
checkpoints loaded with ``weights_only=True``, and a per-run lock."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from .errors import UserError


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``: readers
    see the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
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
) -> int:
    """Merge ``rows`` into the CSV at ``path`` atomically; a row whose ``key`` is already
    present is not written twice. ``keep='first'`` keeps what was written before (results
    are never recomputed), ``'last'`` replaces it (e.g. a redone epoch's timing).
    Returns the number of new keys written."""
    path = Path(path)
    if rows.empty:
        return 0
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
    merged.to_csv(buf, index=False)
    atomic_write_text(path, buf.getvalue())
    return n_new


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """``torch.save`` through a temp file + rename (a kill never leaves a torn checkpoint)."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())
    from .faults import crash_point

    crash_point("checkpoint")


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load with ``weights_only=True`` (no arbitrary code); a corrupt file is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist", fix="check the path")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, wrong format, unpickling refused...
        reason = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(e)).split())[:160]  # no terminal colour codes
        raise UserError(
            f"checkpoint {path} is corrupt or not a torch checkpoint ({type(e).__name__}: {reason})",
            fix=f"delete {path} and rerun (training resumes from the previous checkpoint), or pass another checkpoint",
        ) from e
    if not isinstance(obj, dict):
        raise UserError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict", fix="pass a checkpoint saved by rbr-run or a model state_dict")
    return obj


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """Exclusive lock on a run directory, so two processes never write the same run."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"another process is running {run_dir}",
                fix="wait for it to finish (or stop it) before starting this run again",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
