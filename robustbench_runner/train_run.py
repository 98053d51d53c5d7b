"""A training run (``rbr-run``, ``mode=train``): :class:`TrainRun`.

Claims the run directory (:mod:`.run_dir`); builds the dataset, the model (from
``init_seed``, or the weights of ``init_from``: :func:`resolve_parent`), the scheme, the
optimizer and the attack suite; resumes from ``ckpt/last.pt`` if present (its config hash must
match), else from the newest loadable grid checkpoint, or branches from a shared warm-up
(:mod:`.warmup`); evaluates any grid checkpoint whose results are missing (a kill during
evaluation). Then epoch by epoch: append ``train_log.csv``, save the grid checkpoint and
``ckpt/last.pt`` (:mod:`.checkpoints`), attack the grid checkpoint
(:mod:`.checkpoint_eval`). A NaN/inf loss, weight or logit stops the run (:class:`Diverged`).
Finally ``DONE``, the optimizer/schedule state dropped from ``last.pt`` unless
``train.keep_optimizer_state=true``, and a summary table.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import warnings
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from . import progress, runlog, runtime, warmup
from .build import build_model, build_optimizer, build_scheme, model_dims
from .checkpoint_eval import BestSelector, CheckpointEvaluator, eval_tf32, identity
from .checkpoints import (
    CKPT_FORMAT,
    checkpoint_epoch,
    checkpoint_payload,
    ckpt_label,
    drop_resume_state,
    grid_checkpoints,
    newest_checkpoint,
    schedule_state,
)
from .config import config_diff, config_hash, semantic_dict
from .data import load_dataset, make_augment
from .errors import Diverged, UserError
from .io import load_checkpoint, save_checkpoint
from .loggers import open_tracker
from .model_summary import write_model_summary
from .plots import write_curves
from .results import RunFiles
from .run_dir import GUARD_FIX, claim_run_dir, has_results, read_info, write_done
from .schemes.reweighted import ReweightedScheme
from .summary import print_summary
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
        path = path / "ckpt" / "last.pt" if (path / "ckpt").is_dir() else path / "last.pt"
    ck = read_checkpoint(path, trusted)  # a user's file too: state_dict, Lightning, ... (user_checkpoints)
    state, cfg, epoch = ck.state, ck.config, ck.epoch
    info = {"checkpoint": str(path.resolve()), "epoch": epoch, "config_hash": ck.config_hash}
    if cfg is not None:
        info.update({"run": path.parent.parent.name, "dataset": OmegaConf.select(cfg, "data.name"), "scheme": OmegaConf.select(cfg, "scheme.name")})
    return path, {"info": info, "state": state}


def backfill_trackers(cfg: DictConfig, files: RunFiles, chash: str) -> None:
    """``logger=...`` asked for on a finished run: the trackers copy the rows of its
    ``train_log.csv`` and ``metrics.csv`` (what a running run sends them epoch by epoch), so
    the finished run appears in TensorBoard/MLflow/W&B as if it had been tracked all along."""
    if not cfg.get("logger"):
        return
    tracker = open_tracker(cfg, files, chash)
    tracker.sync()
    tracker.close()
    print(f"[rbr] logger={','.join(cfg.logger)}: copied this finished run's train_log.csv and metrics.csv rows into the tracker(s)", flush=True)


class TrainRun:
    """``rbr-run`` (``mode=train``) in ``run_dir``: see the module docstring."""

    def __init__(self, cfg: DictConfig, run_dir: Path, device: torch.device):
        self.cfg, self.device = cfg, device
        self.files = RunFiles(run_dir)
        self.chash = config_hash(cfg)
        self.grid = sorted(int(e) for e in cfg.eval.grid)
        self.init_seed = int(cfg.seed if cfg.init_seed is None else cfg.init_seed)
        self.best: dict | None = None  # {"epoch", "value"} of ckpt/best.pt
        self.save_at = warmup.save_epochs(cfg)  # epochs that keep a branch state (docs/warmup.md)

    def checkpoint_payload(self, epoch: int, model) -> dict:
        """This run's checkpoint of ``model`` after ``epoch`` (:func:`.checkpoints.checkpoint_payload`)."""
        return checkpoint_payload(self.cfg, self.chash, self.dims, epoch, model)

    def run(self) -> None:
        cfg, files = self.cfg, self.files
        parent = resolve_parent(cfg.get("init_from"), bool(cfg.get("checkpoint_trusted", False)))
        extra = {"parent": parent[1]["info"]} if parent else {}
        if files.info.exists() and files.ckpt("last").exists():  # a branched run resuming keeps its provenance
            with contextlib.suppress(UserError):
                if read_info(files).get("warmup"):
                    extra["warmup"] = read_info(files)["warmup"]
        extra.update(runtime.record(files, runtime.runtime_info(cfg, self.device), self.chash))  # device, precision
        if claim_run_dir(files, cfg, self.chash, extra=extra or None):
            print(f"[rbr] {files.dir} is complete (DONE); nothing to do.")
            backfill_trackers(cfg, files, self.chash)
            print_summary(files)
            return
        tracker = open_tracker(cfg, files, self.chash)  # [trackers] logger=...: copies of the CSV rows
        bundle = load_dataset(cfg.data, device=self.device)
        if bundle.task != "classification":
            raise UserError(
                f"dataset {bundle.name!r} is a {bundle.task} set; rbr-run trains and attacks classifiers",
                fix="use it through the samplerob studies (rbr-samplerob), or pick a classification dataset",
            )
        augment = make_augment(cfg.data.get("augment"))
        self.dims = model_dims(bundle)
        model = build_model(cfg.model, self.dims, self.init_seed).to(self.device)
        if parent is not None:
            load_weights(model, parent[1]["state"], parent[0], cfg)
        channels_last = use_channels_last(cfg.train.channels_last, self.device, self.dims)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        if not files.model_summary.exists():
            write_model_summary(model, self.dims, files.model_summary)
        scheme = build_scheme(cfg.scheme)
        scheme.bind(model)
        optimizer, schedule = build_optimizer(cfg.optim, model)
        ident = identity(cfg, files.dir.name, self.chash)
        eval_model = copy.deepcopy(model)
        evaluator = CheckpointEvaluator(cfg, files, bundle, eval_model, self.device, ident)
        selector = BestSelector(cfg.select, bundle, eval_model, self.device, eval_tf32(cfg)) if cfg.get("select") else None

        if not files.ckpt("last").exists() and not has_results(files):  # shared warm-up (docs/warmup.md)
            branch = warmup.find_branch(cfg, files.dir)
            if branch is not None:
                warmup.seed_from_branch(self, branch, model, bundle, isinstance(scheme, ReweightedScheme))
                warmup.record_branch(files, branch.info())
                print(f"[rbr] warmup: branching from {branch.run_dir.name} after epoch {branch.epoch}", flush=True)
        start = self.restore(model, optimizer, schedule)
        # Grid checkpoints saved before a kill but not (fully) evaluated yet; one whose rows
        # are all written is not even read (a damaged file there costs nothing).
        for e in self.grid:
            path = files.ckpt(ckpt_label(e))
            if e <= start and path.exists() and evaluator.missing(ckpt_label(e)):
                payload = load_checkpoint(path, fix=f"delete {path} and rerun to finish the run without that checkpoint's missing results, or rerun with overwrite=true to start again")
                self.check_hash(payload, path)
                evaluator.evaluate(ckpt_label(e), e, payload["model"])
        tracker.sync()  # [trackers]

        epochs = int(cfg.train.epochs)
        epoch_bar = progress.bar(range(start + 1, epochs + 1), desc="epochs", unit="epoch", initial=start, total=epochs, leave=True)
        for epoch in epoch_bar:
            stats = train_one_epoch(
                model, scheme, optimizer, bundle.train_for_epoch(epoch),
                epoch=epoch, seed=int(cfg.seed), batch_size=int(cfg.train.batch_size), device=self.device,
                num_classes=bundle.num_classes, amp=bool(cfg.train.amp), channels_last=channels_last,
                augment=augment, loader_kwargs=bundle.loader_kwargs(),
            )  # fmt: skip
            if schedule is not None:
                schedule.step()
            bad = non_finite_tensors(model)
            if bad:
                raise Diverged(
                    f"training diverged: {len(bad)} weight tensor(s) ({', '.join(bad[:2])}) are not finite after the last step of epoch {epoch} "
                    f"(nothing of epoch {epoch} was written; the files of earlier epochs are kept, no DONE)",
                    fix="lower optim.optimizer.lr (or change what made it diverge) and rerun with tag=<name> or overwrite=true",
                )
            row = stats.log_row()
            if selector is not None:
                row[f"select_{selector.split}_{selector.label}"] = value = selector.score(model.state_dict())
                if self.best is None or value > self.best["value"]:
                    self.best = {"epoch": epoch, "value": value}
                    save_checkpoint(files.ckpt("best"), {**self.checkpoint_payload(epoch, model), "select": dict(self.best)})
            files.add_train_log(row)
            files.add_weights_log(epoch, stats.weights)
            if epoch in self.grid:
                save_checkpoint(files.ckpt(ckpt_label(epoch)), self.checkpoint_payload(epoch, model))
            payload = self.checkpoint_payload(epoch, model)
            payload.update(optimizer=optimizer.state_dict(), schedule=schedule_state(schedule), best=self.best)
            save_checkpoint(files.ckpt("last"), payload)
            if epoch in self.save_at:  # a warm-up run's branch state (docs/warmup.md)
                warmup.save_branch_state(warmup.branch_file(files.dir, epoch), payload, files.ckpt("best"))
            line = f"[rbr] epoch {epoch}/{epochs} loss {stats.loss:.4f} acc {stats.acc:.4f} ({stats.seconds:.1f}s)"
            if not progress.enabled():
                print(line, flush=True)
            else:  # the bar shows the last epoch's loss and accuracy; run.log gets the line
                epoch_bar.set_postfix(loss=f"{stats.loss:.4f}", acc=f"{stats.acc:.4f}")
                runlog.file_only(line)
            if epoch in self.grid:
                evaluator.evaluate(ckpt_label(epoch), epoch, model.state_dict())
            tracker.sync()  # [trackers] this epoch's train_log.csv and metrics.csv rows
        if selector is not None and files.ckpt("best").exists():
            best = load_checkpoint(files.ckpt("best"))
            evaluator.evaluate("best", int(best["epoch"]), best["model"])
        write_done(files, self.chash)
        if not cfg.train.get("keep_optimizer_state", True):
            drop_resume_state(files.ckpt("last"))  # after DONE: a kill before it leaves a resumable last.pt
        tracker.close()  # [trackers]
        write_curves(files)  # curves.png beside metrics.csv
        print_summary(files)

    def check_hash(self, payload: dict, path: Path) -> None:
        """A checkpoint of this run directory must come from this config (run.json may be
        missing or replaced: the checkpoint's own hash is what its weights were trained with)."""
        stored = payload.get("config_hash")
        if payload.get("format") == CKPT_FORMAT and stored != self.chash:
            diff = config_diff(semantic_dict(OmegaConf.create(payload["config"])), semantic_dict(self.cfg))
            shown = "; ".join(diff[:3]) + (f"; and {len(diff) - 3} more" if len(diff) > 3 else "")
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

    def restore(self, model, optimizer, schedule) -> int:
        """Resume from ``ckpt/last.pt`` (returns its epoch); without one, from the newest
        loadable grid checkpoint (:meth:`resume_plan`), else start at epoch 0."""
        last = self.files.ckpt("last")
        if not last.exists():
            epoch, path, payload, what = self.resume_plan()
            if epoch < 0:
                raise UserError(f"{last} is missing and {what}", fix="rerun with overwrite=true to start again, or tag=<name> for a separate run")
            if path is None:
                if 0 in self.grid:
                    save_checkpoint(self.files.ckpt(ckpt_label(0)), self.checkpoint_payload(0, model))
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
