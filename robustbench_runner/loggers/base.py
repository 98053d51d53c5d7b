"""The tracker interface and the fan-out the pipeline calls.

The pipeline opens one :class:`Tracker` per run (``open_tracker`` in ``__init__``) and calls
:meth:`Tracker.sync` after it writes rows to ``train_log.csv`` / ``metrics.csv``. ``sync``
re-reads those files and hands every backend the points it does not hold yet: each backend
knows what it holds (TensorBoard and MLflow read their own store back; W&B offline runs keep
a ledger in the run directory), so a resumed run continues the same tracker run without
duplicate points.

Tracker run ids live in ``<run dir>/trackers.json`` (a resumed run reopens the same run).
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..io import atomic_write_text
from ..reading import BadFile, load_json
from ..results import RunFiles
from .points import Point, run_points

STATE_FILE = "trackers.json"


@dataclass
class RunInfo:
    """What every backend is told about the run."""

    dir: Path
    name: str
    config_hash: str
    params: dict[str, str]  # flattened resolved config (the hashed part)
    config_yaml: str
    nested: dict = field(default_factory=dict)  # the same config, nested (W&B's config)

    @property
    def tags(self) -> dict[str, str]:
        return {"rbr.run": self.name, "rbr.config_hash": self.config_hash, "rbr.run_dir": str(self.dir.resolve())}

    # -- ids of tracker runs, kept in the run directory ----------------------------------------
    def _states(self) -> dict:
        """``trackers.json`` (the tracker run ids this run keeps) through the reading layer:
        a regular file the run wrote (no symlink followed), an object of objects; {} when
        absent, else one line naming it."""
        path = self.dir / STATE_FILE
        if not os.path.lexists(path):
            return {}
        fix = f"delete {path}: the trackers start new runs"
        data = load_json(path, follow_symlinks=False, what="tracker state", fix=fix)
        if not all(isinstance(v, dict) for v in data.values()):
            raise BadFile(path, "holds an entry that is not an object", what="tracker state", fix=fix)
        return data

    def state(self, backend: str) -> dict:
        return dict(self._states().get(backend, {}))

    def save_state(self, backend: str, value: dict) -> None:
        path = self.dir / STATE_FILE
        data = self._states()
        data[backend] = value
        atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))


class Backend(ABC):
    """One tracker (an abstract interface: each backend implements both methods). Subclasses open (or reopen) their run in ``__init__`` and fill
    :attr:`seen` with the ``(key, step)`` pairs their store already holds."""

    name = "tracker"
    extra = ""  # pyproject extra that installs it

    def __init__(self, settings: dict, run: RunInfo):
        self.settings, self.run = dict(settings or {}), run
        self.seen: set[tuple[str, int]] = set()

    @abstractmethod
    def log_points(self, points: list[Point]) -> None:
        """Send the points the store does not hold yet."""

    @abstractmethod
    def close(self) -> None:
        """Flush and close the tracker's run."""

    @classmethod
    def missing(cls, package: str) -> UserError:
        return UserError(
            f"logger={cls.name} needs the {package!r} package, which is not installed",
            fix=f"pip install 'robustbench_runner[{cls.extra or cls.name}]' (or pip install {package}), or drop logger={cls.name}",
        )


class Tracker:
    """Fans each new point out to every configured backend."""

    def __init__(self, files: RunFiles, backends: list[Backend]):
        self.files, self.backends = files, backends

    def sync(self) -> int:
        """Send the points the CSVs hold and a backend lacks; returns how many were sent."""
        if not self.backends:
            return 0
        points = run_points(self.files)
        sent = 0
        for b in self.backends:
            new = [p for p in points if (p.key, p.step) not in b.seen]
            if new:
                b.log_points(new)
                b.seen.update((p.key, p.step) for p in new)
                sent += len(new)
        return sent

    def close(self) -> None:
        self.sync()
        for b in self.backends:
            b.close()
        self.backends = []
