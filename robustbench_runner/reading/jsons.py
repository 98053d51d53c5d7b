"""JSON from outside the tool (``run.json``, ``trackers.json``, samplerob's ``sets.json``):
a bounded regular file, UTF-8, strict JSON (no ``NaN``/``Infinity`` literals), nested at most
:data:`MAX_DEPTH` levels, of the top-level type the caller expects."""

from __future__ import annotations

import json
from pathlib import Path

from .files import LIMITS, BadFile, read_text

MAX_DEPTH = 64


def _depth(obj, limit: int) -> None:
    stack = [(obj, 0)]
    while stack:
        o, d = stack.pop()
        if d > limit:
            raise ValueError(f"it nests deeper than {limit} levels")
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str, *, source: str | Path = "<text>", expect: type | tuple = dict, what: str | None = None, fix: str | None = None):
    """``text`` parsed as strict JSON whose top level is an ``expect`` (default: an object)."""
    try:
        obj = json.loads(text, parse_constant=_no_constant)
        _depth(obj, MAX_DEPTH)
    except RecursionError:
        raise BadFile(source, f"is refused: it nests deeper than {MAX_DEPTH} levels", fix=fix, what=what) from None
    except ValueError as e:
        raise BadFile(source, f"is not valid JSON ({' '.join(str(e).split())[:120]})", fix=fix, what=what) from None
    if not isinstance(obj, expect):
        names = " or ".join(t.__name__ for t in (expect if isinstance(expect, tuple) else (expect,)))
        raise BadFile(source, f"holds a JSON {type(obj).__name__}, not a {names}", fix=fix, what=what)
    return obj


def load_json(path: str | Path, *, expect: type | tuple = dict, max_bytes: int = LIMITS["config"], follow_symlinks: bool = True, what: str | None = None, fix: str | None = None):
    """A JSON file (:func:`parse_json` of a bounded regular file)."""
    text = read_text(path, max_bytes=max_bytes, follow_symlinks=follow_symlinks, what=what, fix=fix)
    return parse_json(text, source=path, expect=expect, what=what, fix=fix)
