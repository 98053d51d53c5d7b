"""What ``rbr-run`` does, step by step:

1. validate the config, pick the device, lock and claim the run directory (a directory that
   holds a different config, or a non-empty folder that is not a run directory, is refused;
   ``overwrite=true`` deletes only the files in the run's manifest);
2. build the dataset, the model (from ``init_seed``), the scheme, the optimizer and the
   attack suite;
3. resume from ``ckpt/last.pt`` if present (its config hash must match), else from the newest
   loadable grid checkpoint; evaluate any grid checkpoint whose results are missing (a kill
   during evaluation); a NaN/inf loss, weight or logit stops the run (:class:`Diverged`);
4. train epoch by epoch; after each epoch append ``train_log.csv``, save the grid checkpoint
   ``ckpt/epoch_XXX.pt`` and ``ckpt/last.pt`` (atomically), then attack the grid checkpoint
   and append its rows to ``metrics.csv``;
5. write ``DONE``, drop the optimizer/schedule state from ``ckpt/last.pt`` unless
   ``train.keep_optimizer_state=true``, and print a summary table.

``mode=eval`` runs step 2's attack suite on existing checkpoints only.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import sys
import time
import warnings
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from . import __version__, progress, warmup
from .analysis.checkpoint import AnalysisContext
from .build import (
    build_analyses,
    build_attack,
    build_attacks,
    build_model,
    build_optimizer,
    build_scheme,
    model_dims,
    to_yaml,
)
from .checkpoint_formats import describe as describe_checkpoint
from .checkpoint_formats import (
    fit_state_dict,
    honour_group_choices,
    open_checkpoints,
    read_checkpoint,
)
from .config import config_diff, config_hash, semantic_dict, validate
from .data import load_dataset, make_augment
from .data.base import ArraySplit, DataBundle
from .data.splits import limit
from .errors import Diverged, NonFiniteOutputs, UserError
from .evaluate import (
    CLEAN,
    WORST,
    accuracy_rows,
    attacked_clean_rows,
    confusion_rows,
    fraction,
    predict,
    run_suite,
    worst_case_rows,
)
from .io import (
    LOCK,
    MANIFEST,
    atomic_write_text,
    load_checkpoint,
    read_manifest,
    recording,
    run_lock,
    save_checkpoint,
    wipe_recorded,
)
from .loggers import open_tracker
from .model_summary import write_model_summary
from .plots import write_curves
from .results import RunFiles, RunIdentity
from .schemes.reweighted import ReweightedScheme
from .seeding import preserved_rng, set_deterministic
from .summary import print_summary
from .targets import check_stored_config
from .train import non_finite_tensors, train_one_epoch

CKPT_FORMAT = "rbr-checkpoint-v1"


def resolve_device(name: str) -> torch.device:
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name} but no CUDA device is available", fix="use device=auto or device=cpu")
    return torch.device(name)


def execute(cfg: DictConfig, run_dir: str | Path, overrides: list[str] | None = None) -> Path:
    """Run the pipeline the config describes in ``run_dir``; returns the run directory.

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
    with run_lock(run_dir), recording(run_dir):
        try:
            if cfg.mode == "eval":
                EvalRun(cfg, run_dir, device, overrides).run()
            else:
                TrainRun(cfg, run_dir, device).run()
        except BaseException:
            forget_if_empty(RunFiles(run_dir))
            raise
    return run_dir


# -- run directory ---------------------------------------------------------------------------


def use_channels_last(setting, device: torch.device, dims) -> bool:
    """``train.channels_last``: true | false | auto. ``auto`` turns it on for image models on
    CPU, where oneDNN runs channels-last convolutions markedly faster (scripts/bench_training.py
    measures it), and leaves CUDA runs to opt in (with ``train.amp``)."""
    if str(setting).lower() == "auto":
        return device.type == "cpu" and int(dims["image_size"]) > 0
    return bool(setting)


#: Entries of a folder that do not make it "not empty" when a run claims it: the lock, and
#: Hydra's own ``.hydra/`` (when ``hydra.output_subdir`` is set).
NOT_CONTENT = {LOCK, ".hydra"}

GUARD_FIX = "add tag=<name> to start a separate run, or overwrite=true to delete this one and start again"


def is_run_dir(files: RunFiles) -> bool:
    """A folder rbr-run wrote (it has a manifest or a run.json)."""
    return (files.dir / MANIFEST).exists() or files.info.exists()


def claim_run_dir(files: RunFiles, cfg: DictConfig, chash: str, extra: dict | None = None) -> bool:
    """Refuse a directory that holds another config (or that is not a run directory and not
    empty); returns True when the run is finished."""
    if not is_run_dir(files):
        foreign = sorted(p.name + ("/" if p.is_dir() else "") for p in files.dir.iterdir() if p.name not in NOT_CONTENT)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise UserError(
                f"{files.dir} is not empty ({shown}) and is not an rbr-run run directory, so no run will write into it",
                fix="point hydra.run.dir (or output_root) at a new or empty folder",
            )
    else:
        stored = stored_config(files)
        other = {h for h in stored["hashes"] if h != chash}
        if cfg.overwrite:
            wipe_run_dir(files)
        elif other:
            if has_results(files):
                diff = config_diff(stored["config"], semantic_dict(cfg)) if stored["config"] else []
                shown = "; ".join(diff[:3]) + (f"; and {len(diff) - 3} more" if len(diff) > 3 else "")
                shown = shown or f"config hash {', '.join(sorted(other))} in {stored['source']}, not {chash}"
                raise UserError(f"{files.dir} holds a run with a different config ({shown})", fix=GUARD_FIX)
            wipe_run_dir(files)
        elif files.done.exists():
            return True
    info = {"config_hash": chash, "rbr_version": __version__, "config": semantic_dict(cfg), **(extra or {})}
    atomic_write_text(files.config, to_yaml(cfg))
    atomic_write_text(files.info, json.dumps(info, indent=1, sort_keys=True, default=str))
    return False


def read_info(files: RunFiles) -> dict:
    """``run.json``; a damaged one is a one-line error naming it (the checkpoints and
    ``metrics.csv`` still carry the config hash, so deleting it is safe)."""
    try:
        info = json.loads(files.info.read_text())
        if not isinstance(info, dict):
            raise ValueError(f"holds a {type(info).__name__}, not an object")
        return info
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(
            f"{files.info} is damaged ({type(e).__name__}: {' '.join(str(e).split())[:120]})",
            fix=f"delete {files.info} and rerun: the config hash stored in the run's checkpoints and metrics.csv still guards the run",
        ) from e


def stored_config(files: RunFiles) -> dict:
    """The config hashes a run directory already holds: ``run.json``'s (or, when it is
    missing, the newest loadable checkpoint's) and every ``config_hash`` of
    ``metrics.csv``; with the semantic config they came from, for the error message."""
    hashes: set[str] = set()
    config, source = None, None
    if files.info.exists():
        info = read_info(files)
        hashes.add(str(info.get("config_hash")))
        config, source = info.get("config") or None, files.info
    else:
        found = newest_checkpoint(files, [files.ckpt("last"), *reversed(grid_checkpoints(files))])
        if found is not None:
            path, payload = found
            hashes.add(str(payload.get("config_hash")))
            config, source = semantic_dict(OmegaConf.create(payload["config"])), path
    if files.metrics.exists():
        try:
            in_metrics = {str(h) for h in files.read_metrics()["config_hash"].dropna().unique()}
        except Exception:  # noqa: BLE001 - a damaged metrics.csv is reported where it is read
            in_metrics = set()
        if in_metrics - hashes:
            source = source or files.metrics
        hashes |= in_metrics
    return {"hashes": hashes, "config": config, "source": source}


def grid_checkpoints(files: RunFiles) -> list[Path]:
    """``ckpt/epoch_XXX.pt`` files, oldest first (never through a symlinked file)."""
    if not files.ckpt_dir.is_dir():
        return []
    found = [p for p in files.ckpt_dir.glob("epoch_*.pt") if re.fullmatch(r"epoch_\d+\.pt", p.name)]
    return sorted(found, key=lambda p: int(p.stem.split("_")[1]))


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


def has_results(files: RunFiles) -> bool:
    """Whether the run computed anything (a directory whose run stopped before its first
    checkpoint or metric, e.g. on a config error, may be claimed by another config)."""
    has_ckpt = files.ckpt_dir.is_dir() and any(files.ckpt_dir.glob("*.pt"))
    return files.metrics.exists() or has_ckpt


#: What a run directory written before manifests existed may hold (``overwrite=true`` on
#: such a directory deletes these names only).
LEGACY_FILES = ("DONE", "config.yaml", "run.json", "metrics.csv", "confusion.csv", "train_log.csv", "weights_log.csv", "model_summary.csv")


def legacy_entries(files: RunFiles) -> list[str]:
    out = [n for n in LEGACY_FILES if (files.dir / n).exists()]
    if files.ckpt_dir.is_dir() and not files.ckpt_dir.is_symlink():
        out += [f"ckpt/{p.name}" for p in files.ckpt_dir.iterdir() if re.fullmatch(r"(epoch_\d+|last|best)\.pt", p.name)]
    if files.eval_dir.is_dir() and not files.eval_dir.is_symlink():
        for d in files.eval_dir.iterdir():
            if d.is_dir() and not d.is_symlink():
                out += [f"eval/{d.name}/{p.name}" for p in d.glob("*.pt")]
    return out


def wipe_run_dir(files: RunFiles) -> None:
    """Delete what the run wrote (its manifest; for an older run directory without one, the
    fixed names of the run layout), ``DONE`` first; never a user's file, never through a
    symlink (a symlinked ``ckpt/`` is unlinked, not entered)."""
    entries = read_manifest(files.dir) if (files.dir / MANIFEST).exists() else legacy_entries(files)
    wipe_recorded(files.dir, entries, first=("DONE",), last=("run.json",))


def forget_if_empty(files: RunFiles) -> None:
    """After a failed command: a run directory in which nothing was computed (only its
    config, run.json or model summary were written) is removed again, so failed commands
    leave no half-made runs (and :func:`run_lock` then drops the ``.lock``)."""
    if not (files.dir / MANIFEST).exists() or has_results(files) or files.done.exists():
        return
    entries = read_manifest(files.dir)
    present = {p.name for p in files.dir.iterdir()} - NOT_CONTENT - {MANIFEST}
    if set(entries) <= {"config.yaml", "run.json", "model_summary.csv"} and present <= set(entries):
        wipe_recorded(files.dir, entries, first=(), last=("run.json",))


def ckpt_label(epoch: int) -> str:
    return f"epoch_{epoch:03d}"


def eval_subset(bundle: DataBundle, cfg: DictConfig) -> ArraySplit:
    """The fixed, seeded, stratified subset of ``eval.split`` given to the attacks."""
    return limit(bundle.split(cfg.eval.split), cfg.eval.n_eval, int(cfg.eval.subset_seed))


# -- shared evaluation of one checkpoint --------------------------------------------------------


class CheckpointEvaluator:
    """Attacks one checkpoint's weights and writes its metrics and confusion rows; skips
    whatever ``metrics.csv`` already holds and reuses finished attacks' state files."""

    def __init__(self, cfg, files: RunFiles, bundle: DataBundle, model: torch.nn.Module, device, ident: RunIdentity):
        self.cfg, self.files, self.bundle, self.device, self.ident = cfg, files, bundle, device, ident
        self.model = model.eval()  # evaluation copy: always in eval mode
        self.attacks = build_attacks(cfg.attacks, model)
        self.analyses = build_analyses(cfg.get("analysis"))
        self.split_name = str(cfg.eval.split)
        self.full = bundle.split(self.split_name)
        self.sub = eval_subset(bundle, cfg)

    def expected(self) -> set[str]:
        """The ``attack`` labels a fully evaluated checkpoint has rows for."""
        need = {CLEAN} | {a.name for a in self.analyses.values()} | {a.name for a in self.attacks.values()}
        eps_seen: dict[float, int] = {}
        for attack in self.attacks.values():
            for eps in attack.eps_list:
                eps_seen[float(eps)] = eps_seen.get(float(eps), 0) + 1
        if any(n >= 2 for n in eps_seen.values()):
            need.add(WORST)
        return need

    def missing(self, label: str) -> set[str]:
        have = self.files.read_metrics()
        return self.expected() - set(have.loc[have.checkpoint == label, "attack"])

    def evaluate(self, label: str, epoch: int | None, state_dict: dict) -> None:
        """Attack one checkpoint; a model with non-finite logits is a :class:`Diverged`
        error before any of its rows is written."""
        try:
            with progress.scope(label):  # names the checkpoint in progress lines
                self._evaluate(label, epoch, state_dict)
        except NonFiniteOutputs as e:
            at = f" (epoch {epoch})" if epoch is not None and epoch >= 0 else ""
            raise Diverged(
                f"checkpoint {label}{at} gives non-finite logits: the model diverged, so no metric was written for it (no DONE)",
                fix="lower optim.optimizer.lr (or change what made it diverge) and rerun with tag=<name> or overwrite=true",
            ) from e

    def _evaluate(self, label: str, epoch: int | None, state_dict: dict) -> None:
        if not self.missing(label):
            return  # everything written: no attack state file (or checkpoint) is needed
        self.model.load_state_dict(state_dict)
        have = self.files.read_metrics()
        have = have[(have.checkpoint == label)]
        done_attacks = set(have.attack)
        y_full = self.full.y
        bs = int(self.cfg.eval.batch_size)
        with preserved_rng():
            if CLEAN not in done_attacks:
                pred = predict(self.model, self.full.float_x(), bs, self.device)
                acc = fraction(pred == y_full)
                self.files.add_metrics(self.ident, epoch, label, self.split_name, [{"attack": CLEAN, "eps": 0.0, "metric": "acc", "value": acc, "n": len(y_full)}])
            self.analyze(label, epoch, done_attacks)
            if not self.attacks:
                return
            xs, ys = self.sub.float_x(), self.sub.y

            def write(attack, preds):
                # Upserts keep rows already written, so a resumed evaluation fills in only what
                # is missing; confusion first, so metrics rows imply their confusion rows.
                self.files.add_confusion(epoch, label, self.split_name, confusion_rows(attack.name, preds, ys, self.bundle.num_classes))
                if attack.name not in done_attacks:
                    self.files.add_metrics(self.ident, epoch, label, self.split_name, accuracy_rows(attack.name, preds, ys))

            clean_sub, results = run_suite(
                self.model, xs, ys, self.attacks, batch_size=bs, device=self.device,
                state_dir=self.files.eval_dir / label, on_attack_done=write,
            )  # fmt: skip
            # clean accuracy on the attacked points too (eval-protocol, issue 12 item 9)
            self.files.add_metrics(self.ident, epoch, label, self.split_name, attacked_clean_rows(clean_sub, ys) + worst_case_rows(results, ys))


    def analyze(self, label: str, epoch: int | None, done: set) -> None:
        """Run the configured per-checkpoint analyses whose rows are not written yet."""
        todo = [a for a in self.analyses.values() if a.name not in done]
        if not todo:
            return
        ctx = AnalysisContext(self.model, self.bundle, self.device, self.cfg, label, epoch, int(self.cfg.eval.batch_size))
        for analysis in todo:
            rows = [{"attack": analysis.name, **r} for r in analysis.rows(ctx)]
            self.files.add_metrics(self.ident, epoch, label, self.split_name, rows)


def identity(cfg: DictConfig, run_name: str, chash: str) -> RunIdentity:
    return RunIdentity(
        run=run_name,
        dataset=str(cfg.data.name),
        model=str(cfg.model.name),
        scheme=str(cfg.scheme.name),
        seed=int(cfg.seed),
        batch_size=int(cfg.train.batch_size),
        config_hash=chash,
    )


# -- training runs ---------------------------------------------------------------------------------


class BestSelector:
    """Keeps ``ckpt/best.pt``: the epoch with the highest robust accuracy under the selection
    attack on the selection split (paper B: best PGD-20 accuracy on validation data; some
    papers selected on the test set: ``select.split=test``). Ties keep the earlier epoch."""

    def __init__(self, select_cfg: DictConfig, bundle: DataBundle, model: torch.nn.Module, device):
        self.model, self.device = model, device
        self.split = str(select_cfg.split)
        sub = limit(bundle.split(self.split), select_cfg.n_eval, int(select_cfg.subset_seed))
        self.x, self.y = sub.float_x(), sub.y
        self.batch_size = int(select_cfg.batch_size)
        attack = select_cfg.get("attack")
        self.attacks = {"select": build_attack(attack, "select.attack", model)} if attack is not None else {}
        self.label = next(iter(self.attacks.values())).name if self.attacks else CLEAN

    def score(self, state_dict: dict) -> float:
        self.model.load_state_dict(state_dict)
        with preserved_rng():
            clean, results = run_suite(self.model, self.x, self.y, self.attacks, batch_size=self.batch_size, device=self.device)
        if not results:
            return fraction(clean == self.y)
        (preds,) = results.values()
        return fraction(next(iter(preds.values())) == self.y)


def resolve_parent(init_from, trusted: bool = False) -> tuple[Path, dict] | None:
    """The checkpoint whose weights start this run (``init_from``: a .pt file, or a run
    directory, meaning its final ``ckpt/last.pt``), and the facts recorded about it."""
    if not init_from:
        return None
    path = Path(str(init_from))
    if path.is_dir():
        path = path / "ckpt" / "last.pt" if (path / "ckpt").is_dir() else path / "last.pt"
    ck = read_checkpoint(path, trusted)  # a user's file too: state_dict, Lightning, ... (checkpoint_formats)
    state, cfg, epoch = ck.state, ck.config, ck.epoch
    info = {"checkpoint": str(path.resolve()), "epoch": epoch, "config_hash": ck.config_hash}
    if cfg is not None:
        info.update({"run": path.parent.parent.name, "dataset": OmegaConf.select(cfg, "data.name"), "scheme": OmegaConf.select(cfg, "scheme.name")})
    return path, {"info": info, "state": state}


class TrainRun:
    def __init__(self, cfg: DictConfig, run_dir: Path, device: torch.device):
        self.cfg, self.device = cfg, device
        self.files = RunFiles(run_dir)
        self.chash = config_hash(cfg)
        self.grid = sorted(int(e) for e in cfg.eval.grid)
        self.init_seed = int(cfg.seed if cfg.init_seed is None else cfg.init_seed)
        self.best: dict | None = None  # {"epoch", "value"} of ckpt/best.pt
        self.save_at = warmup.save_epochs(cfg)  # epochs that keep a branch state (docs/warmup.md)

    def checkpoint_payload(self, epoch: int, model) -> dict:
        return {
            "format": CKPT_FORMAT,
            "epoch": epoch,
            "model": model.state_dict(),
            "config": to_yaml(self.cfg),
            "config_hash": self.chash,
            "dims": dict(self.dims),
        }

    def run(self) -> None:
        cfg, files = self.cfg, self.files
        parent = resolve_parent(cfg.get("init_from"), bool(cfg.get("checkpoint_trusted", False)))
        extra = {"parent": parent[1]["info"]} if parent else {}
        if files.info.exists() and files.ckpt("last").exists():  # a branched run resuming keeps its provenance
            with contextlib.suppress(UserError):
                if read_info(files).get("warmup"):
                    extra["warmup"] = read_info(files)["warmup"]
        if claim_run_dir(files, cfg, self.chash, extra=extra or None):
            print(f"[rbr] {files.dir} is complete (DONE); nothing to do.")
            print_summary(files)
            return
        tracker = open_tracker(cfg, files, self.chash)  # [trackers] logger=...: copies of the CSV rows
        bundle = load_dataset(cfg.data, device=self.device)
        if bundle.task != "classification":
            raise UserError(
                f"dataset {bundle.name!r} is a {bundle.task} set; rbr-run trains and attacks classifiers",
                fix="use it through the paper C studies (python -m robustbench_runner.samplerob), or pick a classification dataset",
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
        selector = BestSelector(cfg.select, bundle, eval_model, self.device) if cfg.get("select") else None

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
        for epoch in progress.bar(range(start + 1, epochs + 1), desc="epochs", unit="epoch", initial=start, total=epochs, leave=True):
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
            payload.update(optimizer=optimizer.state_dict(), schedule=_schedule_state(schedule), best=self.best)
            save_checkpoint(files.ckpt("last"), payload)
            if epoch in self.save_at:  # a warm-up run's branch state (docs/warmup.md)
                warmup.save_branch_state(warmup.branch_file(files.dir, epoch), payload, files.ckpt("best"))
            if not progress.enabled():
                print(f"[rbr] epoch {epoch}/{epochs} loss {stats.loss:.4f} acc {stats.acc:.4f} ({stats.seconds:.1f}s)", flush=True)
            if epoch in self.grid:
                evaluator.evaluate(ckpt_label(epoch), epoch, model.state_dict())
            tracker.sync()  # [trackers] this epoch's train_log.csv and metrics.csv rows
        if selector is not None and files.ckpt("best").exists():
            best = load_checkpoint(files.ckpt("best"))
            evaluator.evaluate("best", int(best["epoch"]), best["model"])
        atomic_write_text(files.done, f"finished {time.strftime('%Y-%m-%d %H:%M:%S')} config_hash {self.chash}\n")
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
        grid = [p for p in grid_checkpoints(files) if int(p.stem.split("_")[1]) >= 2]
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


RESUME_STATE_KEYS = ("optimizer", "schedule", "best")


def drop_resume_state(path: Path) -> None:
    """Rewrite a finished run's ``last.pt`` (atomically) without what only resuming needs
    (:data:`RESUME_STATE_KEYS`); weights, epoch and config stay, so ``init_from`` and
    ``mode=eval`` on the run directory work as before."""
    payload = load_checkpoint(path)
    if any(k in payload for k in RESUME_STATE_KEYS):
        save_checkpoint(path, {k: v for k, v in payload.items() if k not in RESUME_STATE_KEYS})


def load_weights(model: torch.nn.Module, state: dict, path: Path, cfg: DictConfig) -> None:
    try:
        model.load_state_dict(fit_state_dict(model, state))  # module./model. prefixes of user files
    except RuntimeError as e:
        first = " ".join(str(e).split())[:200]
        raise UserError(
            f"checkpoint {path} does not fit model {cfg.model.name!r} on {cfg.data.name!r} ({first})",
            fix="pass the model=... and dataset=... the checkpoint was trained with",
        ) from e


def _schedule_state(schedule) -> dict | None:
    if schedule is None:
        return None
    state = schedule.state_dict()
    # MultiStepLR keeps a collections.Counter, which weights_only loading refuses.
    return {k: (dict(v) if type(v).__name__ == "Counter" else v) for k, v in state.items()}


# -- evaluation runs ---------------------------------------------------------------------------------


def checkpoint_paths(path: Path) -> list[Path]:
    """A file, or every ``ckpt/epoch_*.pt`` (+ ``best.pt``) of a run directory."""
    if path.is_file():
        return [path]
    ckpt = path / "ckpt" if (path / "ckpt").is_dir() else path
    found = sorted(ckpt.glob("epoch_*.pt"))
    if (ckpt / "best.pt").exists():
        found.append(ckpt / "best.pt")
    if not found:
        raise UserError(f"no checkpoint found at {path}", fix="pass checkpoint=<a .pt file> or a run directory with ckpt/epoch_*.pt")
    return found


class EvalRun:
    """``rbr-run mode=eval checkpoint=<path> attacks=<suite>``: attack existing checkpoints.

    An rbr checkpoint carries its config: the model and dataset come from it (the dataset's
    eps then feeds ``${data.eps}`` in the attack configs). A plain state dict is read with the
    model and dataset of the current command (``model=... dataset=...``)."""

    SAVED_SECTIONS = ("data", "model", "scheme", "seed", "train")

    def __init__(self, cfg: DictConfig, run_dir: Path, device: torch.device, overrides: list[str] | None = None):
        self.cfg, self.device = cfg, device
        self.files = RunFiles(run_dir)
        self.overrides = list(overrides or [])

    def explicit_keys(self) -> list[str]:
        """Dotted keys inside the saved sections that the command line set explicitly
        (``data.eps=0.1``, ``+data.x=1``); group choices (``dataset=mnist``) are handled by
        ``checkpoint_formats.honour_group_choices``."""
        from hydra.core.override_parser.overrides_parser import OverridesParser

        keys = []
        for ov in OverridesParser.create().parse_overrides(self.overrides):
            key = ov.key_or_group
            if ov.package is None and "." in key and key.split(".")[0] in self.SAVED_SECTIONS:
                keys.append(key)
        return keys

    def run(self) -> None:
        cfg = self.cfg
        # user checkpoint formats, pickled modules (checkpoint_trusted), robustbench:<id>
        loaded = open_checkpoints(str(cfg.checkpoint), cfg, checkpoint_paths)
        saved_cfg = loaded[0].config
        cfg = copy.deepcopy(cfg)
        if loaded[0].model_cfg is not None:  # the model comes from the file / the zoo, not cfg.model
            OmegaConf.set_struct(cfg, False)
            cfg.model = loaded[0].model_cfg
        if saved_cfg is not None:
            explicit = self.explicit_keys()
            allowed = list(self.cfg.get("allow_targets") or [])
            for key in self.SAVED_SECTIONS:  # a checkpoint is data: it may not choose imports
                if key in saved_cfg:
                    check_stored_config(saved_cfg[key], str(loaded[0].path), key, allowed, skip=explicit)
            OmegaConf.set_struct(cfg, False)
            for key in self.SAVED_SECTIONS:
                if key in saved_cfg:
                    cfg[key] = saved_cfg[key]
            honour_group_choices(cfg, self.cfg, saved_cfg, self.overrides)  # dataset=mnist wins; model=<other> is refused
            for key in self.explicit_keys():  # the command line wins over the checkpoint
                OmegaConf.update(cfg, key, OmegaConf.select(self.cfg, key), merge=False, force_add=True)
                print(f"[rbr] mode=eval: {key}={OmegaConf.select(cfg, key)} (command line) replaces the checkpoint's value")
        chash = config_hash(cfg)
        if claim_run_dir(self.files, cfg, chash):
            print(f"[rbr] {self.files.dir} is complete (DONE); nothing to do.")
            print_summary(self.files)
            return
        tracker = open_tracker(cfg, self.files, chash)  # [trackers]
        bundle = load_dataset(cfg.data)
        dims = model_dims(bundle)
        module = loaded[0].module
        model = (module if module is not None else build_model(cfg.model, dims, 0)).to(self.device)
        if not self.files.model_summary.exists():
            write_model_summary(model, dims, self.files.model_summary)
        ident = identity(cfg, self.files.dir.name, chash)
        evaluator = CheckpointEvaluator(cfg, self.files, bundle, model, self.device, ident)
        for ck in loaded:
            print(describe_checkpoint(ck), flush=True)
            load_weights(model, ck.state, ck.path, cfg)
            evaluator.evaluate(ck.label, ck.epoch, model.state_dict())
            tracker.sync()  # [trackers]
        atomic_write_text(self.files.done, f"finished {time.strftime('%Y-%m-%d %H:%M:%S')} config_hash {chash}\n")
        tracker.close()  # [trackers]
        write_curves(self.files)  # curves.png beside metrics.csv
        print_summary(self.files)
        if loaded[0].after_eval is not None:  # e.g. the RobustBench leaderboard beside this run
            loaded[0].after_eval(self.files)
