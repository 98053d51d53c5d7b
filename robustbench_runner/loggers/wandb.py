"""Weights & Biases (``logger=wandb``), offline unless configured (``mode: online`` or
``WANDB_MODE=online``).

The run is named after the rbr run, tagged with its config hash, and gets the resolved config;
each series is logged against an ``epoch`` x-axis (``define_metric``), so per-checkpoint
metrics of ``best`` (an earlier epoch) are accepted. The W&B run id is kept in
``trackers.json`` and reopened with ``resume="allow"``; offline runs cannot be queried, so the
points already sent are kept in ``<run dir>/wandb_logged.json`` and skipped on resume.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from ..io import atomic_write_text
from ..reading import BadFile, load_json
from .base import Backend, RunInfo

LEDGER = "wandb_logged.json"


def _import():
    try:
        import wandb
    except ImportError as e:
        raise WandbBackend.missing("wandb") from e
    return wandb


def read_ledger(path: Path) -> set[tuple[str, int]]:
    """The ``(key, step)`` pairs already sent (the ledger this backend writes in the run):
    a regular file (no symlink followed), a JSON list of ``[key, step]`` pairs; else one
    line naming it."""
    fix = f"delete {path}: points are sent again (W&B keeps the first of a step)"
    pairs = load_json(path, expect=list, follow_symlinks=False, what="W&B ledger", fix=fix)
    ok = all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], int) and not isinstance(p[1], bool) for p in pairs)
    if not ok:
        raise BadFile(path, "holds an entry that is not a [key, step] pair", what="W&B ledger", fix=fix)
    return {(k, s) for k, s in pairs}


class WandbBackend(Backend):
    name = "wandb"

    def __init__(self, settings: dict, run: RunInfo):
        super().__init__(settings, run)
        wandb = _import()
        state = run.state(self.name)
        run_id = state.get("id") or secrets.token_hex(6)  # W&B ids: lowercase letters and digits
        if not state:
            run.save_state(self.name, {"id": run_id})
        self.ledger = run.dir / LEDGER
        if os.path.lexists(self.ledger):
            self.seen = read_ledger(self.ledger)
        self.wb = wandb.init(
            project=self.settings.get("project") or "robustbench_runner",
            entity=self.settings.get("entity"),
            name=run.name,
            id=run_id,
            resume="allow",
            mode=str(self.settings.get("mode") or "offline"),
            dir=str(self.settings.get("dir") or run.dir),
            config=run.nested,
            tags=[f"config_hash:{run.config_hash}"],
            reinit="finish_previous",
        )
        self.wb.define_metric("epoch")
        self.wb.define_metric("*", step_metric="epoch")

    def log_points(self, points) -> None:
        by_step: dict[int, dict] = {}
        for p in points:
            by_step.setdefault(p.step, {})[p.key] = p.value
        for step in sorted(by_step):
            self.wb.log({"epoch": step, **by_step[step]})
        seen = sorted(self.seen | {(p.key, p.step) for p in points})
        atomic_write_text(self.ledger, json.dumps(seen))

    def close(self) -> None:
        self.wb.finish()
