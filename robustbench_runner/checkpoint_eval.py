"""Evaluating one checkpoint, and keeping the best one.

- :class:`CheckpointEvaluator`: attacks one checkpoint's weights with the run's attack suite
  on the fixed evaluation subset (:func:`eval_subset`), runs the configured per-checkpoint
  analyses, and writes the rows of ``metrics.csv`` and ``confusion.csv``; what is already
  written is skipped, so an evaluation killed half-way resumes;
- :class:`BestSelector`: the ``select`` score after each epoch, which decides ``ckpt/best.pt``;
- :func:`identity`: the run columns every ``metrics.csv`` row carries.

Used by both run types (:mod:`.train_run`, :mod:`.eval_run`).
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from . import progress
from .analysis.checkpoint import AnalysisContext
from .attacks.precision import tf32 as tf32_precision
from .build import build_analyses, build_attack, build_attacks
from .data.base import ArraySplit, DataBundle
from .data.splits import limit
from .errors import Diverged, NonFiniteOutputs
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
from .results import RunFiles, RunIdentity
from .seeding import preserved_rng


def eval_subset(bundle: DataBundle, cfg: DictConfig) -> ArraySplit:
    """The fixed, seeded, stratified subset of ``eval.split`` given to the attacks."""
    return limit(bundle.split(cfg.eval.split), cfg.eval.n_eval, int(cfg.eval.subset_seed))


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
                with tf32_precision(eval_tf32(self.cfg)):  # as the attacks' clean predictions
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
                state_dir=self.files.eval_state_dir(label), on_attack_done=write, tf32=eval_tf32(self.cfg),
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


def eval_tf32(cfg: DictConfig) -> bool:
    """``eval.tf32``: whether evaluation may use TF32 in CUDA matmuls and cuDNN convolutions
    (SPSA never does: :mod:`.attacks.precision`)."""
    return bool(cfg.eval.get("tf32", False))


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


class BestSelector:
    """Keeps ``ckpt/best.pt``: the epoch with the highest robust accuracy under the selection
    attack on the selection split (paper irat: best PGD-20 accuracy on validation data; some
    papers selected on the test set: ``select.split=test``). Ties keep the earlier epoch."""

    def __init__(self, select_cfg: DictConfig, bundle: DataBundle, model: torch.nn.Module, device, tf32: bool = False):
        self.model, self.device, self.tf32 = model, device, bool(tf32)
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
            clean, results = run_suite(self.model, self.x, self.y, self.attacks, batch_size=self.batch_size, device=self.device, tf32=self.tf32)
        if not results:
            return fraction(clean == self.y)
        (preds,) = results.values()
        return fraction(next(iter(preds.values())) == self.y)
