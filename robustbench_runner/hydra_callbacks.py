"""Hydra callbacks of the launcher presets (``conf/hydra/launcher/*.yaml``).

:class:`StopWorkersOnSignal` (``hydra/launcher=local_processes``): Hydra's joblib launcher
runs the jobs of a sweep in loky worker processes. Killing the sweep's parent process alone
leaves those workers alive: they finish their job, take the next queued one, and then hang
(about 1 GB each). With this callback, SIGTERM or SIGINT (Ctrl-C) to the parent first stops
every process the parent started (the loky workers, their own children such as DataLoader
workers, loky's resource tracker): SIGTERM, then SIGKILL after a grace period, and then the
parent dies of the same signal (exit status 128 + signal number).

What happens to the jobs: a job that was running stops where it is; its run directory keeps
what it wrote (every file is written atomically) and ``ckpt/last.pt`` of its last finished
epoch, and its lock is released with the process. Relaunching the same command resumes it
after that epoch; finished runs (``DONE``) are skipped; queued jobs that had not started
start then.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

GRACE_S = 10.0  # how long a worker may take to exit on SIGTERM before it gets SIGKILL


def _children_map() -> dict[int, list[int]]:
    """parent pid -> child pids, from /proc (Linux) or ``ps`` elsewhere."""
    out: dict[int, list[int]] = {}
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) ": state ppid ...
            if fields[0] != "Z":
                out.setdefault(int(fields[1]), []).append(int(entry.name))
        return out
    import subprocess

    ps = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,stat="], capture_output=True, text=True, check=False)
    for line in ps.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not parts[2].startswith("Z"):
            out.setdefault(int(parts[1]), []).append(int(parts[0]))
    return out


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children first)."""
    tree = _children_map()
    found, todo = [], list(tree.get(pid, []))
    while todo:
        p = todo.pop(0)
        found.append(p)
        todo += tree.get(p, [])
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():  # a zombie is dead, only not reaped yet
        try:
            text = stat.read_text()
            return text[text.rfind(")") + 2 :].split()[0] != "Z"
        except OSError:
            return False
    return True


def stop_descendants(grace_s: float = GRACE_S) -> int:
    """SIGTERM every descendant of this process, SIGKILL the ones still alive after
    ``grace_s``; returns how many there were."""
    me = os.getpid()
    seen: set[int] = set()
    for _ in range(3):  # again, in case a worker was being started meanwhile
        pids = [p for p in descendants(me) if p not in seen]
        if not pids:
            break
        for p in pids:
            _signal(p, signal.SIGTERM)
        seen.update(pids)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            _reap()
            time.sleep(0.05)
        for p in pids:
            if _alive(p):
                _signal(p, signal.SIGKILL)
        _reap()
    return len(seen)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _reap() -> None:
    """Collect exited children (ours: loky workers), so they do not linger as zombies."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _on_signal(signum: int, frame) -> None:
    for s in (signal.SIGTERM, signal.SIGINT):  # a second signal during the cleanup changes nothing
        signal.signal(s, signal.SIG_IGN)
    name = signal.Signals(signum).name
    n = stop_descendants()
    sys.stderr.write(f"[rbr] {name}: stopped the sweep and its {n} worker processes; rerun the same command to resume (finished runs are skipped, a stopped run resumes after its last saved epoch)\n")
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install() -> None:
    """Handle SIGTERM and SIGINT in this (the sweep's parent) process; main thread only."""
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, _on_signal)


class StopWorkersOnSignal(Callback):
    """``hydra.callbacks``: installs the handlers when a multirun starts, in the parent,
    before the launcher starts any worker."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        install()
