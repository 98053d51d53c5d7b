"""Crash points for testing resume: ``RBR_CRASH_AT=<point>:<n>`` SIGKILLs the process the
n-th time execution reaches ``crash_point(<point>)`` (n defaults to 1). Points: ``batch``
(inside a training epoch), ``attack_batch`` (inside an attack), ``metrics`` (after a
metrics.csv write), ``checkpoint`` (after a checkpoint write), ``wipe`` (after each file an ``overwrite=true``
wipe deletes). Unset in normal use: the
check is one dict lookup."""

from __future__ import annotations

import os
import signal

_COUNTS: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get("RBR_CRASH_AT")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _COUNTS[name] = _COUNTS.get(name, 0) + 1
    if _COUNTS[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
