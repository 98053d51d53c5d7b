"""Starting one ``rbr-run`` run: :func:`execute` (called by the Hydra entrypoint
:mod:`.run`, and by tests in-process).

1. validate the config, pick the device (:func:`resolve_device`), lock the run directory and
   record what the run writes into it (:func:`.io.run_lock`, :func:`.io.recording`);
2. run a :class:`.train_run.TrainRun` (``mode=train``) or an :class:`.eval_run.EvalRun`
   (``mode=eval``), which claim the directory (:mod:`.run_dir`) and write ``DONE`` at the end;
3. every line the run prints is also in ``<run>/run.log`` (:mod:`.runlog`);
4. a failed command that computed nothing leaves no run directory behind
   (:func:`.run_dir.forget_if_empty`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from omegaconf import DictConfig

from . import progress
from .config import validate
from .errors import UserError
from .eval_run import EvalRun
from .io import finish_wipe, recording, run_lock
from .results import RunFiles
from .run_dir import forget_if_empty
from .runlog import run_log
from .seeding import set_deterministic
from .train_run import TrainRun


def resolve_device(name: str) -> torch.device:
    """``device``: auto (CUDA when available, else CPU), cpu, cuda[:N]; CUDA without a GPU is a one-line error."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name} but no CUDA device is available", fix="use device=auto or device=cpu")
    return torch.device(name)


def execute(cfg: DictConfig, run_dir: str | Path, overrides: list[str] | None = None) -> Path:
    """Run what the config describes in ``run_dir``; returns the run directory.

    ``overrides``: the command line's overrides (Hydra's ``overrides.task``); ``mode=eval``
    lets the explicit ``data.* / model.* / scheme.* / train.*`` ones win over the settings
    stored in an rbr checkpoint (e.g. ``data.eps=0.1`` to attack at another eps)."""
    run_dir = Path(run_dir)
    try:
        validate(cfg)
        progress.configure(cfg.progress, cfg.get("progress_every"))
        set_deterministic(bool(cfg.deterministic))
        device = resolve_device(cfg.device)
    except BaseException:
        with contextlib.suppress(OSError):
            run_dir.rmdir()  # the empty folder Hydra made for this run (only if empty)
        raise
    with run_lock(run_dir):
        finish_wipe(run_dir)  # an overwrite=true wipe killed half-way: finish it before anything else
        with recording(run_dir), run_log(run_dir):  # <run>/run.log: the run's lines, once it claimed its folder
            _run(cfg, run_dir, device, overrides)
    return run_dir


def _run(cfg: DictConfig, run_dir: Path, device: torch.device, overrides: list[str] | None) -> None:
    try:
        if cfg.mode == "eval":
            EvalRun(cfg, run_dir, device, overrides).run()
        else:
            TrainRun(cfg, run_dir, device).run()
    except BaseException:
        forget_if_empty(RunFiles(run_dir))
        raise
