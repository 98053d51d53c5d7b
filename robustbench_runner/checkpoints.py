"""The checkpoint files ``rbr-run`` writes into a run's ``ckpt/`` (checkpoints users bring
from elsewhere are read by :mod:`.user_checkpoints`).

What a checkpoint holds (:func:`checkpoint_payload`): ``format`` (:data:`CKPT_FORMAT`),
``epoch``, ``model`` (the state dict), ``config`` (the resolved config as YAML),
``config_hash`` and ``dims`` (the model's input dimensions); ``ckpt/last.pt`` adds
``optimizer``, ``schedule`` and ``best`` while the run can still resume
(:data:`RESUME_STATE_KEYS`, dropped by :func:`drop_resume_state`), and ``ckpt/best.pt`` adds
``select`` (the epoch and score that made it the best).

File names: ``epoch_XXX.pt`` on the evaluation grid (:func:`ckpt_label`,
:func:`grid_checkpoints`), ``last.pt`` after every epoch, ``best.pt`` when a ``select``
attack keeps the best epoch. Files are written atomically by :func:`.io.save_checkpoint`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from .build import to_yaml
from .errors import UserError
from .io import load_checkpoint, save_checkpoint
from .results import RunFiles

#: The ``format`` entry of every checkpoint rbr-run writes.
CKPT_FORMAT = "rbr-checkpoint-v1"
#: Entries of ``ckpt/last.pt`` that only resuming an unfinished run needs.
RESUME_STATE_KEYS = ("optimizer", "schedule", "best")


def ckpt_label(epoch: int) -> str:
    """The label (file stem, ``checkpoint`` column) of the grid checkpoint of ``epoch``
    (:meth:`.results.RunFiles.grid_label`)."""
    return RunFiles.grid_label(epoch)


def checkpoint_epoch(path: Path) -> int:
    """The epoch in a grid checkpoint's name (``epoch_012.pt`` -> 12)."""
    epoch = RunFiles.grid_epoch(path)
    if epoch is None:
        raise ValueError(f"{path} is not a grid checkpoint")
    return epoch


def checkpoint_payload(cfg: DictConfig, chash: str, dims, epoch: int, model: torch.nn.Module) -> dict:
    """What a checkpoint of ``model`` after ``epoch`` holds (see the module docstring)."""
    return {
        "format": CKPT_FORMAT,
        "epoch": epoch,
        "model": model.state_dict(),
        "config": to_yaml(cfg),
        "config_hash": chash,
        "dims": dict(dims),
    }


def grid_checkpoints(files: RunFiles) -> list[Path]:
    """``ckpt/epoch_XXX.pt`` files, oldest first (never through a symlinked file)."""
    return files.grid_checkpoints()


def newest_checkpoint(files: RunFiles, candidates: list[Path]) -> tuple[Path, dict] | None:
    """The first of ``candidates`` that is an rbr checkpoint and loads."""
    for path in candidates:
        if not path.is_file():
            continue
        try:
            payload = load_checkpoint(path)
        except UserError:
            continue
        if payload.get("format") == CKPT_FORMAT:
            return path, payload
    return None


def drop_resume_state(path: Path) -> None:
    """Rewrite a finished run's ``last.pt`` (atomically) without what only resuming needs
    (:data:`RESUME_STATE_KEYS`); weights, epoch and config stay, so ``init_from`` and
    ``mode=eval`` on the run directory work as before."""
    payload = load_checkpoint(path)
    if any(k in payload for k in RESUME_STATE_KEYS):
        save_checkpoint(path, {k: v for k, v in payload.items() if k not in RESUME_STATE_KEYS})


def schedule_state(schedule) -> dict | None:
    """A learning-rate schedule's state as ``ckpt/last.pt`` stores it."""
    if schedule is None:
        return None
    state = schedule.state_dict()
    # MultiStepLR keeps a collections.Counter, which weights_only loading refuses.
    return {k: (dict(v) if type(v).__name__ == "Counter" else v) for k, v in state.items()}


def checkpoint_paths(path: Path) -> list[Path]:
    """A file, or every ``ckpt/epoch_*.pt`` (+ ``best.pt``) of a run directory."""
    if path.is_file():
        return [path]
    found = RunFiles.checkpoints_in(RunFiles(path).ckpt_dir if (path / RunFiles.CKPT).is_dir() else path)
    if not found:
        raise UserError(f"no checkpoint found at {path}", fix="pass checkpoint=<a .pt file> or a run directory with ckpt/epoch_*.pt")
    return found
