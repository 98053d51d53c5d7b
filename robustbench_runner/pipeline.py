"""What ``rbr-run`` does, step by step (architecture.md "The data flow"):

1. validate the config, pick the device, lock and claim the run directory (a directory that
   holds a different config is refused unless ``overwrite=true``);
2. build the dataset, the model (from ``init_seed``), the scheme, the optimizer and the
   attack suite;
3. resume from ``ckpt/last.pt`` if present; evaluate any grid checkpoint whose results are
   missing (a kill during evaluation);
4. train epoch by epoch; after each epoch append ``train_log.csv``, save the grid checkpoint
   ``ckpt/epoch_XXX.pt`` and ``ckpt/last.pt`` (atomically), then attack the grid checkpoint
   and append its rows to ``metrics.csv``;
5. write ``DONE``, drop the optimizer/schedule state from ``ckpt/last.pt`` unless
   ``train.keep_optimizer_state=true``, and print a summary table.

``mode=eval`` runs step 2's attack suite on existing checkpoints only.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from . import __version__, progress
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
from .config import config_diff, config_hash, semantic_dict, validate
from .data import load_dataset, make_augment
from .data.base import ArraySplit, DataBundle
from .data.splits import limit
from .errors import UserError
from .evaluate import (
    CLEAN,
    accuracy_rows,
    confusion_rows,
    fraction,
    predict,
    run_suite,
    worst_case_rows,
)
from .io import atomic_write_text, load_checkpoint, run_lock, save_checkpoint
from .loggers import open_tracker
from .model_summary import write_model_summary
from .plots import write_curves
from .results import RunFiles, RunIdentity
from .seeding import preserved_rng, set_deterministic
from .summary import print_summary
from .train import train_one_epoch

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
    validate(cfg)
    progress.configure(cfg.progress, cfg.get("progress_every"))
    set_deterministic(bool(cfg.deterministic))
    device = resolve_device(cfg.device)
    run_dir = Path(run_dir)
    with run_lock(run_dir):
        if cfg.mode == "eval":
            EvalRun(cfg, run_dir, device, overrides).run()
        else:
            TrainRun(cfg, run_dir, device).run()
    return run_dir


# -- run directory ---------------------------------------------------------------------------


def use_channels_last(setting, device: torch.device, dims) -> bool:
    """``train.channels_last``: true | false | auto. ``auto`` turns it on for image models on
    CPU, where oneDNN runs channels-last convolutions markedly faster (scripts/bench_training.py
    measures it), and leaves CUDA runs to opt in (with ``train.amp``)."""
    if str(setting).lower() == "auto":
        return device.type == "cpu" and int(dims["image_size"]) > 0
    return bool(setting)


def claim_run_dir(files: RunFiles, cfg: DictConfig, chash: str, extra: dict | None = None) -> bool:
    """Refuse a directory that holds another config; returns True when the run is finished."""
    if files.info.exists():
        info = json.loads(files.info.read_text())
        if info.get("config_hash") != chash or cfg.overwrite:
            if not cfg.overwrite and has_results(files):
                diff = config_diff(info.get("config", {}), semantic_dict(cfg))
                shown = "; ".join(diff[:3]) + (f"; and {len(diff) - 3} more" if len(diff) > 3 else "")
                raise UserError(
                    f"{files.dir} holds a run with a different config ({shown})",
                    fix="add tag=<name> to start a separate run, or overwrite=true to delete this one and start again",
                )
            wipe_run_dir(files)
        elif files.done.exists():
            return True
    info = {"config_hash": chash, "rbr_version": __version__, "config": semantic_dict(cfg), **(extra or {})}
    atomic_write_text(files.config, to_yaml(cfg))
    atomic_write_text(files.info, json.dumps(info, indent=1, sort_keys=True, default=str))
    return False


def has_results(files: RunFiles) -> bool:
    """Whether the run computed anything (a directory whose run stopped before its first
    checkpoint or metric, e.g. on a config error, may be claimed by another config)."""
    has_ckpt = files.ckpt_dir.is_dir() and any(files.ckpt_dir.glob("*.pt"))
    return files.metrics.exists() or has_ckpt


def wipe_run_dir(files: RunFiles) -> None:
    for child in files.dir.iterdir():
        if child.name == ".lock":
            continue
        shutil.rmtree(child) if child.is_dir() else child.unlink()


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

    def evaluate(self, label: str, epoch: int | None, state_dict: dict) -> None:
        with progress.scope(label):  # names the checkpoint in progress lines
            self._evaluate(label, epoch, state_dict)

    def _evaluate(self, label: str, epoch: int | None, state_dict: dict) -> None:
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

            _, results = run_suite(
                self.model, xs, ys, self.attacks, batch_size=bs, device=self.device,
                state_dir=self.files.eval_dir / label, on_attack_done=write,
            )  # fmt: skip
            self.files.add_metrics(self.ident, epoch, label, self.split_name, worst_case_rows(results, ys))


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


def resolve_parent(init_from) -> tuple[Path, dict] | None:
    """The checkpoint whose weights start this run (``init_from``: a .pt file, or a run
    directory, meaning its final ``ckpt/last.pt``), and the facts recorded about it."""
    if not init_from:
        return None
    path = Path(str(init_from))
    if path.is_dir():
        path = path / "ckpt" / "last.pt" if (path / "ckpt").is_dir() else path / "last.pt"
    payload = load_checkpoint(path)
    state, cfg, epoch = split_payload(payload)
    info = {"checkpoint": str(path.resolve()), "epoch": epoch, "config_hash": payload.get("config_hash")}
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
        parent = resolve_parent(cfg.get("init_from"))
        if claim_run_dir(files, cfg, self.chash, extra={"parent": parent[1]["info"]} if parent else None):
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

        start = self.restore(model, optimizer, schedule)
        # Grid checkpoints saved before a kill but not (fully) evaluated yet.
        for e in self.grid:
            if e <= start and files.ckpt(ckpt_label(e)).exists():
                evaluator.evaluate(ckpt_label(e), e, load_checkpoint(files.ckpt(ckpt_label(e)))["model"])
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

    def restore(self, model, optimizer, schedule) -> int:
        """Resume from ``ckpt/last.pt`` (returns its epoch), else start at epoch 0."""
        last = self.files.ckpt("last")
        if not last.exists():
            if 0 in self.grid:
                save_checkpoint(self.files.ckpt(ckpt_label(0)), self.checkpoint_payload(0, model))
            return 0
        state = load_checkpoint(last, map_location=self.device)
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
        model.load_state_dict(state)
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


def split_payload(payload: dict) -> tuple[dict, DictConfig | None, int | None]:
    """(state_dict, saved config or None, epoch or None) for an rbr checkpoint or a plain state dict."""
    if payload.get("format") == CKPT_FORMAT:
        return payload["model"], OmegaConf.create(payload["config"]), int(payload["epoch"])
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(payload.get(key), dict):
            return payload[key], None, None
    return payload, None, None


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
        (``data.eps=0.1``, ``+data.x=1``); group choices (``dataset=mnist``) are not among
        them: the checkpoint's own dataset and model are what it was trained with."""
        from hydra.core.override_parser.overrides_parser import OverridesParser

        keys = []
        for ov in OverridesParser.create().parse_overrides(self.overrides):
            key = ov.key_or_group
            if ov.package is None and "." in key and key.split(".")[0] in self.SAVED_SECTIONS:
                keys.append(key)
        return keys

    def run(self) -> None:
        cfg = self.cfg
        paths = checkpoint_paths(Path(str(cfg.checkpoint)))
        loaded = [(p, *split_payload(load_checkpoint(p))) for p in paths]
        saved_cfg = loaded[0][2]
        cfg = copy.deepcopy(cfg)
        if saved_cfg is not None:
            OmegaConf.set_struct(cfg, False)
            for key in self.SAVED_SECTIONS:
                if key in saved_cfg:
                    cfg[key] = saved_cfg[key]
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
        model = build_model(cfg.model, dims, 0).to(self.device)
        if not self.files.model_summary.exists():
            write_model_summary(model, dims, self.files.model_summary)
        ident = identity(cfg, self.files.dir.name, chash)
        evaluator = CheckpointEvaluator(cfg, self.files, bundle, model, self.device, ident)
        for path, state, _, epoch in loaded:
            load_weights(model, state, path, cfg)
            evaluator.evaluate(path.stem, epoch, state)
            tracker.sync()  # [trackers]
        atomic_write_text(self.files.done, f"finished {time.strftime('%Y-%m-%d %H:%M:%S')} config_hash {chash}\n")
        tracker.close()  # [trackers]
        write_curves(self.files)  # curves.png beside metrics.csv
        print_summary(self.files)
