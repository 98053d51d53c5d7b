"""Checkpoints users bring (``rbr-run mode=eval checkpoint=<file>``, ``init_from=<file>``),
whatever wrote them; the files rbr-run itself writes into ``ckpt/`` are :mod:`.checkpoints`.

Read with ``torch.load(weights_only=True)`` (tensors and plain containers only: no code runs):

- an rbr checkpoint (``ckpt/*.pt`` of a run: weights, epoch and the run's config);
- a plain ``state_dict`` (``torch.save(model.state_dict(), f)``);
- a dict holding one under ``"state_dict"``, ``"model_state_dict"``, ``"model"``, ``"net"`` or
  ``"ema"`` (the usual training-script layouts);
- a PyTorch Lightning ``.ckpt`` (``"state_dict"`` + ``"pytorch-lightning_version"``; the keys
  carry the LightningModule's attribute prefix, e.g. ``model.``);
- a ``.safetensors`` file (needs the ``safetensors`` package).

Prefixes such as ``module.`` (DataParallel), ``model.`` (Lightning), ``_orig_mod.``
(``torch.compile``) are stripped when the stripped keys are exactly the model's
(:func:`fit_state_dict`).

A whole pickled module (``torch.save(model)``) can only be loaded with
``weights_only=False``, which runs code named by the file. rbr refuses it unless the command
says ``checkpoint_trusted=true``, and then prints that it runs code from that file.

Errors about a user's file say what the file is and how to load it; they never suggest
deleting it (that advice is only for a run's own ``ckpt/`` files).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from .checkpoints import CKPT_FORMAT
from .errors import UserError
from .reading import (
    BadFile,
    WeightsOnlyRefused,
    checkpoint_format,
    file_head,
    load_safetensors,
    load_torch,
    load_torch_trusted,
)

#: advice for a checkpoint the user brought (never "delete it": it is theirs)
USER_FIX = "pass a file written by torch.save (a state_dict, a training checkpoint, a Lightning .ckpt), a .safetensors file or a run directory"

#: Keys under which training scripts store the model's state dict (checked in this order).
STATE_KEYS = ("state_dict", "model_state_dict", "model", "net", "ema")
#: Key prefixes stripped by :func:`fit_state_dict` (DataParallel, Lightning, torch.compile...).
PREFIXES = ("module.", "model.", "net.", "_orig_mod.", "network.", "backbone.")
ZOO_SCHEME = "robustbench:"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class UserCheckpoint:
    """One checkpoint to attack: its weights, and what is known about where they came from."""

    label: str  # the ``checkpoint`` column of metrics.csv
    state: dict  # the state dict to load
    config: DictConfig | None = None  # an rbr checkpoint's own config
    epoch: int | None = None
    kind: str = "state_dict"  # rbr | state_dict | state_dict['<key>'] | lightning | pickled module | safetensors | robustbench
    path: Path | None = None
    module: nn.Module | None = (
        None  # the model itself (pickled module, RobustBench zoo): used as is
    )
    model_cfg: dict | None = None  # replaces cfg.model when the model does not come from it
    after_eval: Callable | None = None  # called with the run's RunFiles after the evaluation
    config_hash: str | None = None  # an rbr checkpoint's config hash


def open_checkpoints(
    spec: str, cfg: DictConfig, find_paths: Callable[[Path], list[Path]]
) -> list[UserCheckpoint]:
    """What ``checkpoint=<spec>`` names: a RobustBench zoo id (``robustbench:<id>``), a file,
    or a run directory (``find_paths`` lists its checkpoints)."""
    spec = str(spec)
    if spec.startswith(ZOO_SCHEME):
        from .models.robustbench_zoo import open_zoo_model

        return [open_zoo_model(spec[len(ZOO_SCHEME) :], cfg)]
    trusted = bool(cfg.get("checkpoint_trusted", False))
    return [read_checkpoint(p, trusted) for p in find_paths(Path(spec))]


def read_checkpoint(path: str | Path, trusted: bool = False) -> UserCheckpoint:
    path = Path(path)
    return interpret(load_file(path, trusted), path)


# -- reading the file -------------------------------------------------------------------------


def load_file(path: Path, trusted: bool = False):
    """The object a checkpoint file holds, loaded without running code unless ``trusted``.

    The format is told by the file's magic bytes (:func:`reading.checkpoint_format`), not
    its name: a ``torch.save`` file named ``.safetensors`` is read as what it is; a
    safetensors file goes through :func:`reading.load_safetensors` (header checked first)."""
    if not os.path.lexists(path):
        raise UserError(
            f"checkpoint {path} does not exist",
            fix="check the path (a .pt/.pth/.ckpt/.safetensors file or a run directory)",
        )
    fmt = checkpoint_format(path)  # a FIFO, a folder, an unreadable file: one line
    if fmt == "safetensors" or (fmt == "unknown" and path.suffix == ".safetensors"):
        return load_safetensors(path, fix=USER_FIX)
    try:
        return load_torch(path, fix=USER_FIX)
    except WeightsOnlyRefused as e:
        name = e.global_name
        if not trusted:
            raise UserError(
                f"checkpoint {path} is a pickle that names the Python object {name} (e.g. a whole model saved with torch.save(model)); "
                "loading it would run code from the file, so rbr does not load it",
                fix="if you trust the file, add checkpoint_trusted=true; or load it once yourself and save torch.save(model.state_dict(), 'weights.pt'), "
                "then pass checkpoint=weights.pt with the model=... it belongs to (docs/byo.md)",
            ) from None
    except BadFile:
        raise UserError(f"checkpoint {path} is corrupt or not a PyTorch checkpoint: it is {describe_file(path)}", fix=USER_FIX) from None
    print(
        f"[rbr] checkpoint_trusted=true: loading {path} with weights_only=False runs code from that file (it names {name})",
        flush=True,
    )
    try:
        return load_torch_trusted(path)
    except BadFile:
        raise
    except Exception as e:
        raise UserError(
            f"checkpoint {path} could not be unpickled even with checkpoint_trusted=true ({type(e).__name__}: {' '.join(_ANSI.sub('', str(e)).split())[:200]})",
            fix="make the module that defines its classes importable (PYTHONPATH=<folder>) and rerun",
        ) from e


def describe_file(path: Path) -> str:
    """What a file that ``torch.load`` cannot read looks like, in a few words."""
    head, size = file_head(path)
    if size == 0:
        return "an empty file"
    if head.startswith(b"PK\x03\x04"):
        return f"a zip archive ({size} bytes) without a PyTorch data.pkl, or a truncated checkpoint"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (e.g. Keras .h5 weights), which PyTorch cannot read"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy array"
    if head[:1] == b"\x80":
        return f"a pickle ({size} bytes) that torch.load could not read (truncated, or not written by torch.save)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"a binary file of {size} bytes in an unknown format"
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return f"a text file ({size} bytes; first line: {first[:60]!r})"


# -- what the object holds --------------------------------------------------------------------------


def _is_state_dict(obj) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def interpret(obj, path: Path) -> UserCheckpoint:
    """The state dict (or module) inside a loaded checkpoint object, and its format."""
    label = path.stem
    if isinstance(obj, nn.Module):
        return _module_checkpoint(obj, path, "pickled module")
    if not isinstance(obj, Mapping):
        raise UserError(
            f"checkpoint {path} holds a {type(obj).__name__}, not a model's weights",
            fix="pass a file holding a state_dict (torch.save(model.state_dict(), f)) or a training checkpoint dict",
        )
    if obj.get("format") == CKPT_FORMAT:
        return UserCheckpoint(
            label,
            obj["model"],
            OmegaConf.create(obj["config"]),
            int(obj["epoch"]),
            "rbr",
            path,
            config_hash=obj.get("config_hash"),
        )
    if "pytorch-lightning_version" in obj and isinstance(obj.get("state_dict"), Mapping):
        epoch = obj.get("epoch")
        return UserCheckpoint(
            label,
            dict(obj["state_dict"]),
            None,
            int(epoch) if isinstance(epoch, int) else None,
            "lightning",
            path,
        )
    for key in STATE_KEYS:
        value = obj.get(key)
        if isinstance(value, nn.Module):
            return _module_checkpoint(value, path, f"pickled module under {key!r}")
        if _is_state_dict(value):
            return UserCheckpoint(label, dict(value), None, None, f"state_dict[{key!r}]", path)
    if _is_state_dict(obj):
        return UserCheckpoint(label, dict(obj), None, None, "state_dict", path)
    keys = [str(k) for k in list(obj)[:8]]
    raise UserError(
        f"checkpoint {path} is a dict with keys {keys}{' ...' if len(obj) > 8 else ''}, none of which holds a state dict of tensors",
        fix=f"save the weights with torch.save(model.state_dict(), f), or under one of the keys {list(STATE_KEYS)}",
    )


def _module_checkpoint(module: nn.Module, path: Path, kind: str) -> UserCheckpoint:
    cls = type(module)
    name = cls.__name__.lower()
    return UserCheckpoint(
        path.stem, module.state_dict(), None, None, kind, path, module=module.eval(),
        model_cfg={"name": name, "source": kind, "class": f"{cls.__module__}.{cls.__qualname__}", "file": str(path)},
    )  # fmt: skip


def fit_state_dict(model: nn.Module, state: Mapping) -> dict:
    """``state`` with the wrapper prefixes of :data:`PREFIXES` stripped (up to two levels,
    e.g. Lightning's ``model.`` over DataParallel's ``module.``) when that makes its keys
    exactly the model's; otherwise ``state`` unchanged (``load_state_dict`` then names what
    does not fit). Keys of a Lightning module outside the prefix (a loss's buffers, an EMA
    copy) are dropped only when the prefixed ones match the model exactly."""
    want = set(model.state_dict())
    state = dict(state)
    if set(state) == want:
        return state
    frontier = [state]
    for _ in range(2):
        nxt = []
        for cand in frontier:
            for p in PREFIXES:
                stripped = {k[len(p) :]: v for k, v in cand.items() if k.startswith(p)}
                if not stripped:
                    continue
                if set(stripped) == want:
                    return stripped
                nxt.append(stripped)
        frontier = nxt
    return state


def load_weights(model: nn.Module, state: dict, path: Path, cfg: DictConfig) -> None:
    """Load ``state`` into ``model`` (after :func:`fit_state_dict`); a mismatch is a one-line
    error naming the checkpoint, the model and the dataset."""
    try:
        model.load_state_dict(fit_state_dict(model, state))  # module./model. prefixes of user files
    except RuntimeError as e:
        first = " ".join(str(e).split())[:200]
        raise UserError(
            f"checkpoint {path} does not fit model {cfg.model.name!r} on {cfg.data.name!r} ({first})",
            fix="pass the model=... and dataset=... the checkpoint was trained with",
        ) from e


def describe(ck: UserCheckpoint) -> str:
    """One line naming the checkpoint's format, for the run log."""
    where = str(ck.path) if ck.path is not None else ck.label
    return f"[rbr] checkpoint {where}: {ck.kind}" + (
        f", epoch {ck.epoch}" if ck.epoch is not None else ""
    )


# -- mode=eval: group choices on the command line vs an rbr checkpoint's own config ------------------


def group_choices(overrides: list[str]) -> dict[str, str]:
    """``{group: option}`` of the command line's plain group choices (``dataset=mnist``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    out = {}
    for ov in OverridesParser.create().parse_overrides(list(overrides)):
        key = ov.key_or_group
        if ov.package is None and "." not in key and "/" not in key and not ov.is_delete():
            out[key] = str(ov.value())
    return out


def honour_group_choices(
    cfg: DictConfig, live: DictConfig, saved: DictConfig, overrides: list[str]
) -> None:
    """An rbr checkpoint brings its own data and model sections. Decided here (docs/byo.md):

    - ``dataset=<name>`` on the command line is honoured: the checkpoint is attacked on that
      dataset, with that dataset's config (its eps too, unless ``data.eps=`` is also given);
      a model that does not fit its inputs fails to load with a one-line error;
    - ``model=<name>`` other than the checkpoint's model is refused (the weights belong to the
      architecture they were trained with); the same name is accepted and changes nothing.
    """
    choices = group_choices(overrides)
    if "dataset" in choices:
        old = OmegaConf.select(saved, "data.name")
        cfg.data = copy_node(live.data)
        if str(live.data.name) != str(old):
            print(
                f"[rbr] mode=eval: dataset={choices['dataset']} (command line) replaces the checkpoint's dataset {old}",
                flush=True,
            )
    if "model" in choices:
        mine, theirs = str(live.model.get("name")), str(OmegaConf.select(saved, "model.name"))
        if mine != theirs:
            raise UserError(
                f"model={choices['model']} on the command line, but the checkpoint was trained with model {theirs}",
                fix="drop model=... (mode=eval reads the architecture from an rbr checkpoint)",
            )


def copy_node(node: DictConfig) -> DictConfig:
    return OmegaConf.create(OmegaConf.to_container(node, resolve=False))
