"""An evaluation run (``rbr-run mode=eval checkpoint=<path> attacks=<suite>``): :class:`EvalRun`
attacks existing checkpoints (an rbr run directory or checkpoint, a user's file:
:mod:`.user_checkpoints`, or a RobustBench zoo id) into its own run directory under
``evals/``, with the same per-checkpoint evaluation as training runs (:mod:`.checkpoint_eval`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from . import runtime
from .build import build_model, model_dims
from .callbacks import eval_callbacks
from .checkpoint_eval import CheckpointEvaluator, identity
from .checkpoints import checkpoint_paths
from .config import config_hash
from .data import load_dataset
from .loop import Loop, user_callbacks
from .model_summary import write_model_summary
from .targets import check_stored_config
from .user_checkpoints import describe as describe_checkpoint
from .user_checkpoints import honour_group_choices, load_weights, open_checkpoints


class EvalRun(Loop):
    """``rbr-run mode=eval checkpoint=<path> attacks=<suite>``: attack existing checkpoints.

    An rbr checkpoint carries its config: the model and dataset come from it (the dataset's
    eps then feeds ``${data.eps}`` in the attack configs). A plain state dict is read with the
    model and dataset of the current command (``model=... dataset=...``)."""

    SAVED_SECTIONS = ("data", "model", "scheme", "seed", "train")

    def __init__(self, cfg: DictConfig, run_dir: Path, device: torch.device, overrides: list[str] | None = None):
        super().__init__(cfg, run_dir, device, eval_callbacks(cfg) + user_callbacks(cfg))
        self.command_cfg = cfg  # self.cfg becomes the run's config (:meth:`run_config`)
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
        cfg = self.command_cfg
        # user checkpoint formats, pickled modules (checkpoint_trusted), robustbench:<id>
        self.loaded = loaded = open_checkpoints(str(cfg.checkpoint), cfg, checkpoint_paths)
        self.cfg = cfg = self.run_config(loaded[0])
        self.chash = config_hash(cfg)
        extra = runtime.record(self.files, runtime.runtime_info(cfg, self.device), self.chash)  # device, precision
        if self.claim(cfg, extra):
            return
        self.execute()  # build, on_start, steps, finish (.loop)
        if loaded[0].after_eval is not None:  # e.g. the RobustBench leaderboard beside this run
            loaded[0].after_eval(self.files)

    def run_config(self, first) -> DictConfig:
        """The config of this evaluation: the command's, with the model (and the saved
        sections) of the first checkpoint; explicit command-line keys win."""
        # an untyped copy: the schema's typed nodes (.schema) would refuse a checkpoint's
        # sections written by another version of the package (a key more or less)
        cfg = OmegaConf.create(OmegaConf.to_container(self.command_cfg))
        OmegaConf.set_struct(cfg, True)
        saved_cfg = first.config
        if first.model_cfg is not None:  # the model comes from the file / the zoo, not cfg.model
            OmegaConf.set_struct(cfg, False)
            cfg.model = first.model_cfg
        if saved_cfg is not None:
            explicit = self.explicit_keys()
            allowed = list(self.command_cfg.get("allow_targets") or [])
            for key in self.SAVED_SECTIONS:  # a checkpoint is data: it may not choose imports
                if key in saved_cfg:
                    check_stored_config(saved_cfg[key], str(first.path), key, allowed, skip=explicit)
            OmegaConf.set_struct(cfg, False)
            for key in self.SAVED_SECTIONS:
                if key in saved_cfg:
                    cfg[key] = saved_cfg[key]
            honour_group_choices(cfg, self.command_cfg, saved_cfg, self.overrides)  # dataset=mnist wins; model=<other> is refused
            for key in explicit:  # the command line wins over the checkpoint
                OmegaConf.update(cfg, key, OmegaConf.select(self.command_cfg, key), merge=False, force_add=True)
                print(f"[rbr] mode=eval: {key}={OmegaConf.select(cfg, key)} (command line) replaces the checkpoint's value")
        return cfg

    def build(self) -> None:
        cfg, files = self.cfg, self.files
        self.bundle = bundle = load_dataset(cfg.data)
        dims = model_dims(bundle)
        module = self.loaded[0].module
        self.model = model = (module if module is not None else build_model(cfg.model, dims, 0)).to(self.device)
        if not files.model_summary.exists():
            write_model_summary(model, dims, files.model_summary)
        self.evaluator = CheckpointEvaluator(cfg, files, bundle, model, self.device, identity(cfg, files.dir.name, self.chash))

    def checkpoints(self) -> list[str]:
        return [ck.label for ck in self.loaded]

    def steps(self) -> None:
        for ck in self.loaded:
            print(describe_checkpoint(ck), flush=True)
            load_weights(self.model, ck.state, ck.path, self.cfg)
            self.evaluate(ck.label, ck.epoch, self.model.state_dict())
