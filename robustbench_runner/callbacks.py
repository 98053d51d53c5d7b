"""The built-in callbacks of a run (:mod:`.loop`), in the order a training run calls them:

- :class:`WarmupCallback`: branches a fresh run from a shared warm-up state, and keeps a
  warm-up run's branch states (docs/warmup.md, :mod:`.warmup`);
- :class:`BestCheckpoint`: the ``select`` score after each epoch, ``ckpt/best.pt`` and its
  evaluation at the end;
- :class:`GridCheckpoints`: the evaluation of the grid checkpoints ``ckpt/epoch_XXX.pt``
  (also of those a kill left unevaluated);
- :class:`TrackerCallback`: copies the CSV rows to the configured trackers (``logger=``);
- :class:`DropResumeState`: drops the optimizer state from a finished run's ``last.pt``
  (``train.keep_optimizer_state=false``);
- :class:`CurvesCallback`: ``curves.png`` beside ``metrics.csv``.

An evaluation run uses the tracker and the curves.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from . import warmup
from .checkpoint_eval import BestSelector, eval_tf32
from .checkpoints import drop_resume_state
from .io import load_checkpoint, save_checkpoint
from .loggers import open_tracker
from .loop import Callback
from .plots import write_curves
from .run_dir import has_results
from .schemes.reweighted import ReweightedScheme


class TrackerCallback(Callback):
    """``logger=...``: the trackers get copies of the rows of ``train_log.csv`` and
    ``metrics.csv`` as they are written (:mod:`.loggers`)."""

    def on_start(self, loop):
        self.tracker = open_tracker(loop.cfg, loop.files, loop.chash)

    def on_resume(self, loop, epoch):
        self.tracker.sync()

    def on_checkpoint(self, loop, epoch, state):
        self.tracker.sync()  # this epoch's train_log.csv (and metrics.csv) rows

    def on_evaluated(self, loop, label, epoch):
        self.tracker.sync()

    def on_done(self, loop):
        self.tracker.close()


class BestCheckpoint(Callback):
    """``select=...``: scores the model after each epoch (:class:`~.checkpoint_eval.BestSelector`),
    writes the score to the epoch's ``select_<split>_<attack>`` column, keeps the best epoch in
    ``ckpt/best.pt`` (``loop.best``: its epoch and score, part of the resume state), and
    evaluates it before the run is DONE."""

    def on_start(self, loop):
        cfg = loop.cfg
        self.selector = BestSelector(cfg.select, loop.bundle, loop.eval_model, loop.device, eval_tf32(cfg))

    def on_epoch_end(self, loop, epoch, row):
        sel = self.selector
        row[f"select_{sel.split}_{sel.label}"] = value = sel.score(loop.model.state_dict())
        if loop.best is None or value > loop.best["value"]:
            loop.best = {"epoch": epoch, "value": value}
            save_checkpoint(loop.files.ckpt("best"), {**loop.payload(epoch), "select": dict(loop.best)})

    def on_finish(self, loop):
        path = loop.files.ckpt("best")
        if path.exists():
            best = load_checkpoint(path)
            loop.evaluate("best", int(best["epoch"]), best["model"])


class GridCheckpoints(Callback):
    """``eval.grid``: evaluates each grid checkpoint (``ckpt/epoch_XXX.pt``, which the loop
    writes before ``last.pt``, as resuming reads both) once ``last.pt`` is written, so a kill
    during an evaluation does not repeat the epoch. On resuming: the grid checkpoints saved
    but not (fully) evaluated before a kill; one whose rows are all written is not even read
    (a damaged file there costs nothing). A grid epoch whose checkpoint is gone and whose rows
    are missing cannot be evaluated: one warning line names it, and its rows stay missing
    (:meth:`.loop.Loop.expected_rows` lists them)."""

    def on_resume(self, loop, epoch):
        files = loop.files
        for e in loop.grid:
            path, label = files.grid_ckpt(e), files.grid_label(e)
            if e <= epoch and not path.exists() and loop.evaluator.missing(label):
                print(f"[rbr] warning: {path} is missing, so epoch {e}'s results cannot be computed (rerun with overwrite=true to recompute the run)", file=sys.stderr, flush=True)
            elif e <= epoch and path.exists() and loop.evaluator.missing(label):
                payload = load_checkpoint(path, fix=f"delete {path} and rerun to finish the run without that checkpoint's missing results, or rerun with overwrite=true to start again")
                loop.check_hash(payload, path)
                loop.evaluate(label, e, payload["model"])

    def on_checkpoint(self, loop, epoch, state):
        if epoch in loop.grid:
            loop.evaluate(loop.files.grid_label(epoch), epoch, loop.model.state_dict())


class WarmupCallback(Callback):
    """Shared warm-up (docs/warmup.md): a fresh run with ``warmup.from`` starts from a
    warm-up-equivalent run's branch state (:func:`.warmup.find_branch`); a run with
    ``warmup.save_at`` keeps ``ckpt/branch_XXX.pt`` at those epochs."""

    def __init__(self, cfg: DictConfig):
        self.save_at = warmup.save_epochs(cfg)  # checked before the run directory is claimed

    def on_start(self, loop):
        files = loop.files
        if files.ckpt("last").exists() or has_results(files):
            return  # not fresh: the ordinary resume path continues
        branch = warmup.find_branch(loop.cfg, files.dir)
        if branch is None:
            return
        warmup.seed_from_branch(
            files, loop.grid, loop.payload, branch, loop.model, loop.bundle,
            weights_from_one=isinstance(loop.scheme, ReweightedScheme),
        )  # fmt: skip
        warmup.record_branch(files, branch.info())
        print(f"[rbr] warmup: branching from {branch.run_dir.name} after epoch {branch.epoch}", flush=True)

    def on_checkpoint(self, loop, epoch, state):
        if epoch in self.save_at:  # a warm-up run's branch state
            warmup.save_branch_state(loop.files.branch_ckpt(epoch), state, loop.files.ckpt("best"))


class DropResumeState(Callback):
    """``train.keep_optimizer_state=false``: rewrites ``ckpt/last.pt`` without the optimizer
    and schedule state once the run is DONE (a kill before DONE leaves a resumable last.pt)."""

    def on_done(self, loop):
        drop_resume_state(loop.files.ckpt("last"))


class CurvesCallback(Callback):
    """``curves.png`` beside ``metrics.csv`` (:func:`.plots.write_curves`)."""

    def on_done(self, loop):
        write_curves(loop.files)


def train_callbacks(cfg: DictConfig) -> list[Callback]:
    """The built-in callbacks of a training run, in the order they are called."""
    out: list[Callback] = [WarmupCallback(cfg)]
    if cfg.get("select"):
        out.append(BestCheckpoint())
    out += [GridCheckpoints(), TrackerCallback()]
    if not cfg.train.get("keep_optimizer_state", True):
        out.append(DropResumeState())
    out.append(CurvesCallback())
    return out


def eval_callbacks(cfg: DictConfig) -> list[Callback]:
    """The built-in callbacks of an evaluation run."""
    return [TrackerCallback(), CurvesCallback()]


__all__ = [
    "BestCheckpoint",
    "CurvesCallback",
    "DropResumeState",
    "GridCheckpoints",
    "TrackerCallback",
    "WarmupCallback",
    "eval_callbacks",
    "train_callbacks",
]


def backfill_trackers(cfg, files, chash: str) -> None:
    """``logger=...`` asked for on a finished run: the trackers copy the rows of its
    ``train_log.csv`` and ``metrics.csv`` (what a running run sends them epoch by epoch), so
    the finished run appears in TensorBoard/MLflow/W&B as if it had been tracked all along."""
    if not cfg.get("logger"):
        return
    tracker = open_tracker(cfg, files, chash)
    tracker.sync()
    tracker.close()
    print(f"[rbr] logger={','.join(cfg.logger)}: copied this finished run's train_log.csv and metrics.csv rows into the tracker(s)", flush=True)
