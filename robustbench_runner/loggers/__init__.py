"""Experiment trackers (``logger=`` config group): TensorBoard, MLflow, Weights & Biases.

``logger=tensorboard``, ``logger=mlflow``, ``logger=wandb`` or several at once
(``logger=[tensorboard,mlflow]``: each is a key under ``logger`` in the config). Each needs
its optional extra (``pip install 'robustbench_runner[tensorboard]'``); a missing package is
a one-line error with that command. The trackers only copy what the run writes to its own
CSVs (:mod:`.points`), so they never change results and are not part of the config hash.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from ..config import semantic_dict
from ..errors import UserError
from ..results import RunFiles
from .base import Backend, RunInfo, Tracker
from .points import flat_params

#: the trackers rbr knows, by the key they have under ``logger`` (a fixed table: the config
#: names a tracker, it never names code to import)
BACKENDS = ("tensorboard", "mlflow", "wandb")


def backend_class(name: str) -> type[Backend]:
    if name == "tensorboard":
        from .tensorboard import TensorBoardBackend

        return TensorBoardBackend
    if name == "mlflow":
        from .mlflow import MlflowBackend

        return MlflowBackend
    if name == "wandb":
        from .wandb import WandbBackend

        return WandbBackend
    raise UserError(f"logger.{name} is not a tracker rbr knows", fix=f"use logger=<one of {', '.join(BACKENDS)}> or logger=none")


def open_tracker(cfg: DictConfig, files: RunFiles, config_hash: str) -> Tracker:
    """A :class:`Tracker` for the trackers ``cfg.logger`` names (none: one that does nothing)."""
    chosen = cfg.get("logger") or {}
    if not chosen:
        return Tracker(files, [])
    classes = [(backend_class(str(name)), settings) for name, settings in chosen.items()]
    nested = semantic_dict(cfg)
    info = RunInfo(
        dir=files.dir,
        name=files.dir.name,
        config_hash=config_hash,
        params=flat_params(nested),
        config_yaml=OmegaConf.to_yaml(OmegaConf.create(nested)),
        nested=nested,
    )
    backends = []
    for cls, settings in classes:
        backends.append(cls(OmegaConf.to_container(settings, resolve=True) if OmegaConf.is_config(settings) else dict(settings or {}), info))
    return Tracker(files, backends)


__all__ = ["BACKENDS", "Tracker", "open_tracker"]
