"""Config -> objects: model, scheme, optimizer + schedule, attack suite (``_target_`` +
``_partial_`` instantiation, with a UserError naming the config key when it fails)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from .attacks.base import Attack
from .data.base import DataBundle
from .errors import UserError
from .schemes.base import Scheme


def _instantiate(node: DictConfig, key: str, **kwargs):
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__ if e.__cause__ is not None else e
        if isinstance(cause, UserError):
            raise cause from e
        msg = " ".join(str(cause).split())
        raise UserError(f"cannot build {key}: {msg}", fix=f"check the {key}.* overrides") from e
    except (TypeError, ValueError) as e:
        raise UserError(f"cannot build {key}: {' '.join(str(e).split())}", fix=f"check the {key}.* overrides") from e


def model_dims(bundle: DataBundle) -> dict:
    return {"num_classes": bundle.num_classes, "in_channels": bundle.in_channels, "image_size": bundle.image_size}


def build_model(model_cfg: DictConfig, dims: Mapping, init_seed: int) -> nn.Module:
    """The network with weights drawn from ``init_seed`` (separate from the data-order seed,
    so the same initial weights can train on several datasets: paper auc). A ``_target_`` other
    than rbr's registry (``model=custom``) is built by :mod:`.models.custom`."""
    from .models.by_name import build_by_name, is_by_name
    from .models.custom import build_user_model, is_user_model

    state = torch.get_rng_state()
    torch.manual_seed(init_seed)
    try:
        if is_by_name(model_cfg):  # model=timm | torchvision model.name=<the library's name>
            model = build_by_name(model_cfg, dims)
        elif is_user_model(model_cfg):  # model=custom: keys rbr reserves are not passed on
            model = build_user_model(model_cfg, dims)
        else:
            return _instantiate(model_cfg, "model", **dict(dims))
        probe_forward(model, dims)  # sizes lazy modules (seeded like the rest); a wrong input size is one line
        return model
    finally:
        torch.set_rng_state(state)


def probe_forward(model: nn.Module, dims: Mapping) -> None:
    """One forward pass of zeros shaped like the dataset's inputs, for a model rbr did not
    write (``model=timm|torchvision|custom``; rbr's own models check their input size when
    built), before the optimizer, the summary or a checkpoint load see the parameters:

    - lazy modules (``nn.LazyLinear``, ``nn.LazyConv2d``, ...) get their shapes (an
      uninitialized parameter cannot be optimized, copied or loaded into);
    - a model that cannot take the inputs (e.g. torchvision's VGG, five max-pools, on 16x16
      digits) is one line naming the shape, not a raw ``RuntimeError`` in the first batch.

    In eval mode (no BatchNorm statistics change, no dropout draw), without gradients, so the
    weights and the random streams are what they were without it."""
    from torch.nn.modules.lazy import LazyModuleMixin

    from .models.custom import data_shape

    lazy = any(isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in model.modules())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(2, *data_shape(dims)))
    except Exception as e:
        what = "the model has lazy modules (e.g. nn.LazyLinear) and a forward pass" if lazy else "the model's forward pass"
        raise UserError(
            f"{what} on inputs of shape {data_shape(dims)} failed: {' '.join(str(e).split())[:200]}",
            fix="pick a model that takes the dataset's input size (e.g. data.image_size=32 for models with five poolings); model.input_size documents it",
        ) from e
    finally:
        model.train(was_training)


def build_scheme(scheme_cfg: DictConfig) -> Scheme:
    return _instantiate(scheme_cfg, "scheme")


def build_optimizer(optim_cfg: DictConfig, model: nn.Module):
    """``optim.optimizer`` and ``optim.schedule`` are ``_partial_`` configs completed here."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _call(_instantiate(optim_cfg.optimizer, "optim.optimizer"), "optim.optimizer", params)
    sched = None
    if optim_cfg.get("schedule") is not None:
        sched = _call(_instantiate(optim_cfg.schedule, "optim.schedule"), "optim.schedule", opt)
    return opt, sched


def _call(partial, key: str, *args, **kwargs):
    try:
        return partial(*args, **kwargs)
    except (TypeError, ValueError) as e:
        raise UserError(f"cannot build {key}: {' '.join(str(e).split())}", fix=f"check the {key}.* overrides") from e


def build_attack(node: DictConfig, key: str, model: nn.Module) -> Attack:
    """One attack config (``_partial_``) bound to ``model``; ``key`` names it in errors."""
    return _call(_instantiate(node, key), key, model=model)


def build_attacks(attacks_cfg: DictConfig | None, model: nn.Module) -> dict[str, Attack]:
    """The evaluation suite: ``{config key: attack}`` in config order (null entries dropped)."""
    out: dict[str, Attack] = {}
    for key, node in (attacks_cfg or {}).items():
        if node is None:
            continue
        out[str(key)] = build_attack(node, f"attacks.{key}", model)
    labels = [a.name for a in out.values()]
    dup = {n for n in labels if labels.count(n) > 1}
    if dup:
        raise UserError(f"attacks of the suite share the label(s) {sorted(dup)}", fix="give each attack its own name: attacks.<key>.name=...")
    return out


def build_analyses(analysis_cfg: DictConfig | None) -> dict:
    """Per-checkpoint analyses (``analysis=[prs,denseness]``): ``{key: analysis}``."""
    from .analysis.checkpoint import CheckpointAnalysis

    out = {}
    for key, node in (analysis_cfg or {}).items():
        if node is None:
            continue
        obj = _instantiate(node, f"analysis.{key}")
        if not isinstance(obj, CheckpointAnalysis):
            raise UserError(f"analysis.{key} built a {type(obj).__name__}, not a CheckpointAnalysis", fix=f"point analysis.{key}._target_ at an analysis class")
        out[str(key)] = obj
    return out


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)
