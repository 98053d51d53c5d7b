"""tqdm progress bars that stay quiet where nobody watches (not a TTY: SLURM logs, CI)."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

_ENABLED: bool | None = None


def configure(progress: str | bool) -> None:
    """``auto``: bars only when stderr is a terminal; ``true``/``false`` force it."""
    global _ENABLED
    if isinstance(progress, bool):
        _ENABLED = progress
    else:
        _ENABLED = {"true": True, "false": False}.get(str(progress).lower(), None)


def enabled() -> bool:
    return sys.stderr.isatty() if _ENABLED is None else _ENABLED


def bar(iterable=None, **kw):
    kw.setdefault("dynamic_ncols", True)
    kw.setdefault("leave", False)
    return tqdm(iterable, disable=not enabled(), **kw)
