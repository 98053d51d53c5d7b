"""A run is a loop with hooks: :class:`Loop` (the orchestration both run types share) and
:class:`Callback` (the hooks it calls), in the spirit of PyTorch Lightning's callbacks.

    claim the run directory ── finished (DONE)? ── print the summary, stop
        │
    build (dataset, model, ...; the run type's own)        on_start(loop)
        │
    steps: train ─ restore ─────────────────────────────── on_resume(loop, epoch)
             └ per epoch: train one epoch ──────────────── on_epoch_end(loop, epoch, row)
                          train_log.csv row, grid checkpoint,
                          ckpt/last.pt ──────────────────── on_checkpoint(loop, epoch, state)
           eval ─ per checkpoint: evaluate
        (every evaluated checkpoint) ───────────────────── on_evaluated(loop, label, epoch)
        │
    finish ─────────────────────────────────────────────── on_finish(loop)
        DONE ───────────────────────────────────────────── on_done(loop)
        summary table

Callbacks run in list order at each hook; the built-in ones (:mod:`.callbacks`) come first, a
user's (``+callbacks.<name>._target_=...``, docs/byo.md) after them. A hook sees the loop:
``loop.cfg``, ``loop.files`` (:class:`~.results.RunFiles`), ``loop.chash``, ``loop.device``,
and what the run type built (``loop.model``, ``loop.bundle``, ``loop.evaluator``; a training
loop also ``loop.optimizer``, ``loop.schedule``, ``loop.grid``, ``loop.payload(epoch)``).
A hook writes its own files through ``loop.files`` and never changes what the loop computes
unless that is its job (``BestCheckpoint`` adds a column to the row it is given).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from .errors import UserError
from .results import RunFiles
from .run_dir import claim_run_dir, write_done
from .summary import print_summary


class Callback:
    """A hook set for a :class:`Loop`; every hook does nothing unless overridden."""

    def on_start(self, loop: Loop) -> None:
        """The run is claimed and built; nothing is computed yet (training: before resuming)."""

    def on_resume(self, loop: Loop, epoch: int) -> None:
        """Training continues after ``epoch`` (0: from the start)."""

    def on_epoch_end(self, loop: Loop, epoch: int, row: dict) -> None:
        """``epoch`` is trained; ``row`` (its train_log.csv row) is not written yet: a hook may
        add columns to it."""

    def on_checkpoint(self, loop: Loop, epoch: int, state: dict) -> None:
        """``ckpt/last.pt`` of ``epoch`` is written; ``state`` is its payload (model,
        optimizer, schedule, best-so-far)."""

    def on_evaluated(self, loop: Loop, label: str, epoch: int | None) -> None:
        """The metrics rows of checkpoint ``label`` are written."""

    def on_finish(self, loop: Loop) -> None:
        """Every step is done; ``DONE`` is not written yet (last results belong here)."""

    def on_done(self, loop: Loop) -> None:
        """``DONE`` is written (clean-ups and figures belong here)."""


HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


class Loop(ABC):
    """One run: claim its directory, build, run its steps, finish (module docstring). A run
    type (:class:`~.train_run.TrainRun`, :class:`~.eval_run.EvalRun`) says what it builds
    (:meth:`build`) and what its steps are (:meth:`steps`)."""

    def __init__(self, cfg: DictConfig, run_dir: Path, device: torch.device, callbacks: list[Callback] | None = None):
        self.cfg, self.device = cfg, device
        self.files = RunFiles(run_dir)
        self.callbacks: list[Callback] = list(callbacks or [])
        self.chash = ""  # set by the run type before claiming
        self.evaluator: Any = None

    def call(self, hook: str, *args) -> None:
        """Call ``hook`` on every callback, in order."""
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def claim(self, cfg: DictConfig, extra: dict | None) -> bool:
        """Claim the run directory (:func:`.run_dir.claim_run_dir`); True when the run is
        finished already (then its summary is printed and there is nothing to do)."""
        if claim_run_dir(self.files, cfg, self.chash, extra=extra or None):
            print(f"[rbr] {self.files.dir} is complete (DONE); nothing to do.")
            from .callbacks import backfill_trackers  # here: callbacks.py imports this module

            backfill_trackers(cfg, self.files, self.chash)  # logger=... asked for on a finished run
            print_summary(self.files)
            return True
        return False

    def execute(self) -> None:
        """Build, run the steps, finish (the directory is claimed)."""
        self.build()
        self.call("on_start")
        self.steps()
        self.finish()

    @abstractmethod
    def build(self) -> None:
        """Build what the run needs (data, model, evaluator...) once its folder is claimed."""

    @abstractmethod
    def steps(self) -> None:
        """The run's work: the epochs of a training run, the checkpoints of an eval run."""

    def evaluate(self, label: str, epoch: int | None, state_dict: dict) -> None:
        """Attack one checkpoint's weights (:class:`~.checkpoint_eval.CheckpointEvaluator`),
        then ``on_evaluated``."""
        self.evaluator.evaluate(label, epoch, state_dict)
        self.call("on_evaluated", label, epoch)

    @abstractmethod
    def checkpoints(self) -> list[str]:
        """The labels of the checkpoints this run evaluates (the ``checkpoint`` column)."""

    def expected_rows(self) -> set[tuple[str, str]]:
        """Every (checkpoint, attack) a finished run has ``metrics.csv`` rows for: each of
        :meth:`checkpoints` under each label of the evaluator's suite
        (:meth:`~.checkpoint_eval.CheckpointEvaluator.expected`)."""
        labels = self.evaluator.expected()
        return {(ck, a) for ck in self.checkpoints() for a in labels}

    def finish(self) -> None:
        """``on_finish``, ``DONE`` (:func:`.run_dir.write_done`), ``on_done``, the summary."""
        self.call("on_finish")
        # DONE's precondition (every expected_rows() row written) plugs in here
        write_done(self.files, self.chash, self.expected_rows())  # DONE only when every (checkpoint, attack) row is there
        self.call("on_done")
        print_summary(self.files)


def user_callbacks(cfg: DictConfig) -> list[Callback]:
    """The callbacks a user adds from the config (``+callbacks.<name>._target_=pkg.mod.Class``
    and its keyword arguments; docs/byo.md), in name order. Each must be a :class:`Callback`."""
    chosen = cfg.get("callbacks") or {}
    if not chosen:
        return []
    from hydra.utils import instantiate

    out = []
    for name in sorted(chosen):
        spec = chosen[name]
        if spec is None:  # ~callbacks.<name> / callbacks.<name>=null switches one off
            continue
        if not hasattr(spec, "get") or not spec.get("_target_"):
            raise UserError(f"callbacks.{name} names no _target_", fix=f"set +callbacks.{name}._target_=<module.Class> (a robustbench_runner.loop.Callback)")
        try:
            cb = instantiate(spec)
        except Exception as e:  # noqa: BLE001 - Hydra wraps import and call errors alike
            raise UserError(f"callbacks.{name}: cannot create {spec.get('_target_')} ({' '.join(str(e).split())[:200]})", fix="check the class path and its arguments") from None
        if not isinstance(cb, Callback):
            raise UserError(f"callbacks.{name}: {spec.get('_target_')} is not a robustbench_runner.loop.Callback", fix="subclass robustbench_runner.loop.Callback (docs/byo.md)")
        out.append(cb)
    return out


__all__ = ["HOOKS", "Callback", "Loop", "user_callbacks"]
