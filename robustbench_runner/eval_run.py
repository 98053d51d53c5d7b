"""An evaluation run (``rbr-run mode=eval checkpoint=<path> attacks=<suite>``): :class:`EvalRun`
attacks existing checkpoints (an rbr run directory or checkpoint, a user's file:
:mod:`.user_checkpoints`, or a RobustBench zoo id) into its own run directory under
``evals/``, with the same per-checkpoint evaluation as training runs (:mod:`.checkpoint_eval`).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from . import runtime
from .build import build_model, model_dims
from .checkpoint_eval import CheckpointEvaluator, identity
from .checkpoints import checkpoint_paths
from .config import config_hash
from .data import load_dataset
from .loggers import open_tracker
from .model_summary import write_model_summary
from .plots import write_curves
from .results import RunFiles
from .run_dir import claim_run_dir, write_done
from .summary import print_summary
from .targets import check_stored_config
from .user_checkpoints import describe as describe_checkpoint
from .user_checkpoints import honour_group_choices, load_weights, open_checkpoints


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
        ``user_checkpoints.honour_group_choices``."""
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
        extra = runtime.record(self.files, runtime.runtime_info(cfg, self.device), chash)  # device, precision
        if claim_run_dir(self.files, cfg, chash, extra=extra):
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
        write_done(self.files, chash, [(ck.label, a) for ck in loaded for a in evaluator.expected()])
        tracker.close()  # [trackers]
        write_curves(self.files)  # curves.png beside metrics.csv
        print_summary(self.files)
        if loaded[0].after_eval is not None:  # e.g. the RobustBench leaderboard beside this run
            loaded[0].after_eval(self.files)
