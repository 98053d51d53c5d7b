"""A training run (``rbr-run``, ``mode=train``): :class:`TrainRun`, a :class:`.loop.Loop`.

:meth:`TrainRun.run` claims the run directory (:mod:`.run_dir`; the parent run of
``init_from``: :func:`resolve_parent`), builds the dataset, the model, the scheme, the
optimizer and the evaluator, resumes (:meth:`TrainRun.restore`: ``ckpt/last.pt`` if present,
its config hash must match; else the newest loadable grid checkpoint), then trains epoch by
epoch: the ``train_log.csv`` row and ``ckpt/last.pt`` (:mod:`.checkpoints`). A NaN/inf loss,
weight or logit stops the run (:class:`Diverged`). Everything else is a callback
(:mod:`.callbacks`): the shared warm-up, the best checkpoint, the grid checkpoints and their
evaluation (:mod:`.checkpoint_eval`), trackers, dropping the optimizer state, the curves.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import warnings
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from . import progress, runlog, runtime
from .build import build_model, build_optimizer, build_scheme, model_dims
from .callbacks import train_callbacks
from .checkpoint_eval import CheckpointEvaluator, identity
from .checkpoints import (
    CKPT_FORMAT,
    checkpoint_epoch,
    checkpoint_payload,
    grid_checkpoints,
    newest_checkpoint,
    schedule_state,
)
from .config import config_diff, config_hash, semantic_dict, shown_diff
from .data import load_dataset, make_augment
from .errors import Diverged, UserError
from .io import load_checkpoint, save_checkpoint
from .loop import Loop, user_callbacks
from .model_summary import write_model_summary
from .results import RunFiles
from .run_dir import GUARD_FIX, read_info
from .train import non_finite_tensors, train_one_epoch
from .user_checkpoints import load_weights, read_checkpoint


def use_channels_last(setting, device: torch.device, dims) -> bool:
    """``train.channels_last``: true | false | auto. ``auto`` turns it on for image models on
    CPU, where oneDNN runs channels-last convolutions markedly faster (scripts/bench_training.py
    measures it), and leaves CUDA runs to opt in (with ``train.amp``)."""
    if str(setting).lower() == "auto":
        return device.type == "cpu" and int(dims["image_size"]) > 0
    return bool(setting)


def resolve_parent(init_from, trusted: bool = False) -> tuple[Path, dict] | None:
    """The checkpoint whose weights start this run (``init_from``: a .pt file, or a run
    directory, meaning its final ``ckpt/last.pt``), and the facts recorded about it."""
    if not init_from:
        return None
    path = Path(str(init_from))
    if path.is_dir():
        files = RunFiles(path)
        path = files.ckpt("last") if files.ckpt_dir.is_dir() else path / files.ckpt("last").name
    ck = read_checkpoint(path, trusted)  # a user's file too: state_dict, Lightning, ... (user_checkpoints)
    state, cfg, epoch = ck.state, ck.config, ck.epoch
    info = {"checkpoint": str(path.resolve()), "epoch": epoch, "config_hash": ck.config_hash}
    if cfg is not None:
        info.update({"run": path.parent.parent.name, "dataset": OmegaConf.select(cfg, "data.name"), "scheme": OmegaConf.select(cfg, "scheme.name")})
    return path, {"info": info, "state": state}


class TrainRun(Loop):
    """``rbr-run`` (``mode=train``) in ``run_dir``: see the module docstring. A :class:`.loop.Loop`
    whose steps are the epochs; its callbacks (:func:`.callbacks.train_callbacks`, then the
    user's) do the rest."""

    def __init__(self, cfg: DictConfig, run_dir: Path, device: torch.device):
        super().__init__(cfg, run_dir, device)
        self.chash = config_hash(cfg)
        self.grid = sorted(int(e) for e in cfg.eval.grid)
        self.init_seed = int(cfg.seed if cfg.init_seed is None else cfg.init_seed)
        self.best: dict | None = None  # {"epoch", "value"} of ckpt/best.pt (BestCheckpoint)
        self.callbacks = train_callbacks(cfg) + user_callbacks(cfg)

    def payload(self, epoch: int) -> dict:
        """This run's checkpoint of its model after ``epoch`` (:func:`.checkpoints.checkpoint_payload`)."""
        return checkpoint_payload(self.cfg, self.chash, self.dims, epoch, self.model)

    def run(self) -> None:
        cfg = self.cfg
        self.parent = resolve_parent(cfg.get("init_from"), bool(cfg.get("checkpoint_trusted", False)))
        if not self.claim(cfg, self.provenance()):
            self.execute()  # build, on_start, steps, finish (.loop)

    def provenance(self) -> dict:
        """What run.json records besides the config: the parent run, the warm-up branch (a
        branched run resuming keeps it), the device and precision."""
        files, extra = self.files, {"parent": self.parent[1]["info"]} if self.parent else {}
        if files.info.exists() and files.ckpt("last").exists():
            with contextlib.suppress(UserError):
                if read_info(files).get("warmup"):
                    extra["warmup"] = read_info(files)["warmup"]
        extra.update(runtime.record(files, runtime.runtime_info(self.cfg, self.device), self.chash))
        return extra

    def build(self) -> None:
        """The dataset, the model (its initial or parent weights), the scheme, the optimizer
        and schedule, the evaluator (on a copy of the model)."""
        cfg, files = self.cfg, self.files
        self.bundle = bundle = load_dataset(cfg.data, device=self.device)
        if bundle.task != "classification":
            raise UserError(
                f"dataset {bundle.name!r} is a {bundle.task} set; rbr-run trains and attacks classifiers",
                fix="use it through the samplerob studies (rbr-samplerob), or pick a classification dataset",
            )
        self.augment = make_augment(cfg.data.get("augment"))
        self.dims = model_dims(bundle)
        model = build_model(cfg.model, self.dims, self.init_seed).to(self.device)
        if self.parent is not None:
            load_weights(model, self.parent[1]["state"], self.parent[0], cfg)
        self.channels_last = use_channels_last(cfg.train.channels_last, self.device, self.dims)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        if not files.model_summary.exists():
            write_model_summary(model, self.dims, files.model_summary)
        self.scheme = build_scheme(cfg.scheme)
        self.scheme.bind(model)
        self.optimizer, self.schedule = build_optimizer(cfg.optim, model)
        self.eval_model = copy.deepcopy(model)
        self.evaluator = CheckpointEvaluator(cfg, files, bundle, self.eval_model, self.device, identity(cfg, files.dir.name, self.chash))

    def checkpoints(self) -> list[str]:
        """The grid epochs' labels, and ``best`` when a ``select`` keeps one."""
        best = ["best"] if self.cfg.get("select") else []
        return [self.files.grid_label(e) for e in self.grid] + best

    def steps(self) -> None:
        start = self.restore()
        self.call("on_resume", start)
        epochs = int(self.cfg.train.epochs)
        self.epoch_bar = progress.bar(range(start + 1, epochs + 1), desc="epochs", unit="epoch", initial=start, total=epochs, leave=True)
        for epoch in self.epoch_bar:
            self.train_epoch(epoch)

    def train_epoch(self, epoch: int) -> None:
        """Train one epoch; ``on_epoch_end`` (its train_log.csv row), the row, the grid
        checkpoint (on the grid) and ``ckpt/last.pt``, ``on_checkpoint``. A non-finite weight
        stops the run before anything of the epoch is written."""
        cfg, files, model = self.cfg, self.files, self.model
        stats = train_one_epoch(
            model, self.scheme, self.optimizer, self.bundle.train_for_epoch(epoch),
            epoch=epoch, seed=int(cfg.seed), batch_size=int(cfg.train.batch_size), device=self.device,
            num_classes=self.bundle.num_classes, amp=bool(cfg.train.amp), channels_last=self.channels_last,
            augment=self.augment, loader_kwargs=self.bundle.loader_kwargs(),
        )  # fmt: skip
        if self.schedule is not None:
            self.schedule.step()
        bad = non_finite_tensors(model)
        if bad:
            raise Diverged(
                f"training diverged: {len(bad)} weight tensor(s) ({', '.join(bad[:2])}) are not finite after the last step of epoch {epoch} "
                f"(nothing of epoch {epoch} was written; the files of earlier epochs are kept, no DONE)",
                fix="lower optim.optimizer.lr (or change what made it diverge) and rerun with tag=<name> or overwrite=true",
            )
        row = stats.log_row()
        self.call("on_epoch_end", epoch, row)
        files.add_train_log(row)
        files.add_weights_log(epoch, stats.weights)
        # the checkpoints resuming reads (restore, resume_plan): the grid one first, so a kill
        # between the two never leaves a grid epoch without its checkpoint
        if epoch in self.grid:
            save_checkpoint(files.grid_ckpt(epoch), self.payload(epoch))
        state = self.payload(epoch)
        state.update(optimizer=self.optimizer.state_dict(), schedule=schedule_state(self.schedule), best=self.best)
        save_checkpoint(files.ckpt("last"), state)
        line = f"[rbr] epoch {epoch}/{int(cfg.train.epochs)} loss {stats.loss:.4f} acc {stats.acc:.4f} ({stats.seconds:.1f}s)"
        if not progress.enabled() or getattr(self, "epoch_bar", None) is None:
            print(line, flush=True)
        else:  # the bar shows the last epoch's loss and accuracy; run.log gets the line
            self.epoch_bar.set_postfix(loss=f"{stats.loss:.4f}", acc=f"{stats.acc:.4f}")
            runlog.file_only(line)
        self.call("on_checkpoint", epoch, state)

    def check_hash(self, payload: dict, path: Path) -> None:
        """A checkpoint of this run directory must come from this config (run.json may be
        missing or replaced: the checkpoint's own hash is what its weights were trained with)."""
        stored = payload.get("config_hash")
        if payload.get("format") == CKPT_FORMAT and stored != self.chash:
            shown = shown_diff(config_diff(semantic_dict(OmegaConf.create(payload["config"])), semantic_dict(self.cfg)))
            raise UserError(f"{path} was trained with a different config ({shown or f'config hash {stored}, not {self.chash}'})", fix=GUARD_FIX)

    def resume_plan(self) -> tuple[int, Path | None, dict | None, str]:
        """Where training continues when ``ckpt/last.pt`` is missing (or unreadable): the
        newest loadable grid checkpoint after epoch 1 (weights only: the optimizer restarts,
        the schedule is advanced to that epoch), else epoch 0 (exact: a kill before the first
        ``last.pt`` leaves at most ``epoch_001.pt``). Not when results of a later epoch are
        written (they would mix two trajectories): then epoch -1.
        Returns (epoch, path, payload, what a rerun does) for the messages."""
        files = self.files
        metrics = files.read_metrics()
        written = sorted({int(e) for e in metrics.epoch.dropna().unique()}) if len(metrics) else []
        grid = [p for p in grid_checkpoints(files) if checkpoint_epoch(p) >= 2]
        found = newest_checkpoint(files, list(reversed(grid)))
        epoch = int(found[1]["epoch"]) if found else 0
        later = [e for e in written if e > max(epoch, 1)]
        if later:
            return -1, None, None, f"results of epoch {later[0]} are written but no checkpoint that far loads, so the run cannot continue consistently"
        if found is None:
            return 0, None, None, "training restarts at epoch 0"
        path, payload = found
        return epoch, path, payload, (
            f"training resumes from {path.name} (epoch {epoch}, the newest loadable grid checkpoint) with a fresh optimizer state, "
            "so later epochs can differ from an uninterrupted run"
        )

    def restore(self) -> int:
        """Resume from ``ckpt/last.pt`` (returns its epoch); without one, from the newest
        loadable grid checkpoint (:meth:`resume_plan`), else start at epoch 0 (writing the
        epoch-0 grid checkpoint)."""
        model, optimizer, schedule = self.model, self.optimizer, self.schedule
        last = self.files.ckpt("last")
        if not last.exists():
            epoch, path, payload, what = self.resume_plan()
            if epoch < 0:
                raise UserError(f"{last} is missing and {what}", fix="rerun with overwrite=true to start again, or tag=<name> for a separate run")
            if path is None:
                if 0 in self.grid:  # the initial weights' grid checkpoint
                    save_checkpoint(self.files.grid_ckpt(0), self.payload(0))
                return 0
            self.check_hash(payload, path)
            model.load_state_dict(payload["model"])
            if schedule is not None:
                with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()"
                    warnings.simplefilter("ignore")
                    for _ in range(epoch):
                        schedule.step()
            best = self.files.ckpt("best")
            if best.exists():
                found = newest_checkpoint(self.files, [best])
                sel = found[1].get("select") if found else None
                self.best = dict(sel) if sel and int(sel["epoch"]) <= epoch else None
            print(f"[rbr] warning: {last} is missing; {what}", file=sys.stderr, flush=True)
            return epoch
        try:
            state = load_checkpoint(last, map_location=self.device)
        except UserError as e:
            epoch, _, _, what = self.resume_plan()
            fix = f"delete {last} and rerun: {what}" if epoch >= 0 else f"{what}: rerun with overwrite=true to start again"
            raise UserError(e.message, fix=fix) from e
        self.check_hash(state, last)
        if "optimizer" not in state:
            raise UserError(
                f"{last} holds no optimizer state (dropped when the run finished: train.keep_optimizer_state=false), "
                "so this run cannot resume",
                fix="restore the DONE file if the run had finished, or start again with overwrite=true",
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if schedule is not None and state.get("schedule") is not None:
            schedule.load_state_dict(state["schedule"])
        self.best = state.get("best")
        print(f"[rbr] resuming {self.files.dir.name} after epoch {int(state['epoch'])}")
        return int(state["epoch"])
