"""Run-like folders for the studies that are not ``rbr-run`` runs (sample robustness, the
scikit-learn models): the same files as a run (``config.yaml``, ``run.json`` with the config
hash, ``metrics.csv`` with ``results.METRIC_COLUMNS``, ``DONE``), so ``rbr-tables`` collects
them like any run, and the same guard: a folder holding another config is refused unless
``overwrite``; a finished folder with the same config is left alone (the command is a no-op).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ...config import config_hash
from ...io import run_lock
from ...results import RunFiles, RunIdentity
from ...run_dir import claim_run_dir, write_done


class StudyRun:
    """One run-like folder. ``cfg`` must hold ``overwrite`` (bool) besides what the study is."""

    def __init__(self, run_dir: str | Path, cfg: DictConfig | dict):
        self.cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
        self.files = RunFiles(run_dir)
        self.chash = config_hash(self.cfg)
        self.expected: set[tuple[str, str]] = set()  # (checkpoint, attack) of every row this process computed

    @property
    def dir(self) -> Path:
        return self.files.dir

    @contextmanager
    def claim(self, kind: str) -> Iterator[bool]:
        """Lock the folder and claim it; yields True when it is already complete (skip)."""
        with run_lock(self.files.dir):
            yield claim_run_dir(self.files, self.cfg, self.chash, extra={"kind": kind})

    def identity(self, dataset: str, model: str, scheme: str, seed: int = 0) -> RunIdentity:
        return RunIdentity(
            run=self.files.dir.name,
            dataset=dataset,
            model=model,
            scheme=scheme,
            seed=int(seed),
            batch_size=0,
            config_hash=self.chash,
        )

    def add_metrics(
        self, ident: RunIdentity, epoch: int, checkpoint: str, rows: list[dict]
    ) -> None:
        """Rows with keys split, attack, eps, metric, value, n (see ``results.RunFiles``)."""
        self.files.add_metrics(ident, epoch, checkpoint, "test", rows)
        self.expected |= {(str(checkpoint), str(r["attack"])) for r in rows}

    def finish(self) -> None:
        """``DONE`` once every (checkpoint, attack) this study computed is in ``metrics.csv``
        (:func:`.run_dir.write_done`: a wipe or a damaged file that lost rows is one line)."""
        write_done(self.files, self.chash, sorted(self.expected))
