"""Your own network (``model=custom model._target_=mypkg.MyNet``).

Any ``nn.Module`` class, or function returning one, named by ``model._target_``. rbr keeps
the keys it declares in ``conf/model/custom.yaml`` for itself and never passes them on:

- ``name``: the short name used in run names and result rows;
- ``mean`` / ``std``: per-channel normalization applied *before* your model sees the input
  (null: none; your model then gets pixels in [0, 1], which is what the attacks perturb);
- ``input_size``: the input shape your model expects, ``[C, H, W]`` (or ``[D]`` for tabular
  rows); checked against the dataset before anything is built (null: not checked).

Every other ``model.*`` key is a keyword argument of your class. Of the dataset's dimensions
(``num_classes``, ``in_channels``, ``image_size``) your class receives the ones its signature
names (all of them when it takes ``**kwargs``), so ``MyNet(num_classes=10)`` works unchanged.

Normalization is a forward pre-hook with non-persistent buffers: the model's ``state_dict``
keeps exactly your class's keys, so a checkpoint of your class loads without any mapping.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import torch
from hydra.utils import get_object, instantiate
from omegaconf import OmegaConf
from torch import nn

from ..errors import UserError

#: The builder of the networks rbr ships (``conf/model/<name>.yaml``).
RBR_BUILDER = "robustbench_runner.models.create_model"
#: Keys of ``conf/model/custom.yaml`` that rbr reads and never passes to the user's class.
RESERVED = ("_target_", "name", "mean", "std", "input_size")
DIMS = ("num_classes", "in_channels", "image_size")


def is_user_model(model_cfg: Mapping) -> bool:
    return str(model_cfg.get("_target_")) != RBR_BUILDER


def build_user_model(model_cfg: Mapping, dims: Mapping) -> nn.Module:
    """Build ``model._target_`` with the non-reserved keys, the dimensions its signature
    accepts, and rbr's normalization in front (see the module docstring)."""
    conf = (
        OmegaConf.to_container(model_cfg, resolve=True)
        if not isinstance(model_cfg, dict)
        else dict(model_cfg)
    )
    target = conf.get("_target_")
    if not target or target == "???":
        raise UserError(
            "model=custom needs the class of your model",
            fix="add model._target_=<module>.<Class>, e.g. model._target_=mypkg.MyNet",
        )
    check_input_size(conf.get("input_size"), dims)
    try:
        obj = get_object(str(target))
    except Exception as e:
        raise UserError(
            f"model._target_={target} cannot be imported ({' '.join(str(e).split())[:160]})",
            fix="put the folder holding your module on PYTHONPATH (e.g. PYTHONPATH=$PWD rbr-run ...) and check the dotted path",
        ) from e
    kwargs = {k: v for k, v in conf.items() if k not in RESERVED}
    accepted = accepted_kwargs(obj)
    if accepted is not None:
        extra = sorted(k for k in kwargs if k not in accepted)
        if extra:
            raise UserError(
                f"model._target_={target} takes no argument(s) {extra} (they come from the model.* keys)",
                fix=f"start from model=custom (rbr-run model=custom model._target_={target}), which passes no keys of a built-in model, "
                "or drop those keys with ~model.<key>",
            )
    given = {k: int(dims[k]) for k in DIMS if accepted is None or k in accepted}
    given = {k: v for k, v in given.items() if k not in kwargs}  # an explicit model.* key wins
    try:
        model = instantiate(OmegaConf.create({"_target_": target, **kwargs}), **given)
    except Exception as e:
        cause = e.__cause__ if e.__cause__ is not None else e
        raise UserError(
            f"cannot build model._target_={target}: {' '.join(str(cause).split())[:300]}",
            fix="check your class and the model.* overrides",
        ) from e
    if not isinstance(model, nn.Module):
        raise UserError(
            f"model._target_={target} returned a {type(model).__name__}, not a torch.nn.Module",
            fix="point model._target_ at an nn.Module class or a function returning one",
        )
    add_normalization(
        model, conf.get("mean"), conf.get("std"), int(dims["in_channels"]), int(dims["image_size"])
    )
    return model


def accepted_kwargs(obj) -> set[str] | None:
    """Keyword names ``obj`` accepts (None: anything, it takes ``**kwargs`` or has no signature)."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = sig.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def data_shape(dims: Mapping) -> list[int]:
    c, s = int(dims["in_channels"]), int(dims["image_size"])
    return [c] if s == 0 else [c, s, s]


def check_input_size(input_size, dims: Mapping) -> None:
    if input_size is None:
        return
    want = [int(v) for v in input_size]
    have = data_shape(dims)
    if want != have:
        raise UserError(
            f"model.input_size={want} but the dataset gives inputs of shape {have}",
            fix="pick the dataset your model was built for, resize it (e.g. data.image_size=..., data.channels=...), or correct model.input_size",
        )


def _normalize_input(module: nn.Module, args):
    x = args[0]
    if x.dim() != 4:
        return None  # tabular rows: no per-channel normalization
    return ((x - module._rbr_mean) / module._rbr_std, *args[1:])


def add_normalization(model: nn.Module, mean, std, channels: int, image_size: int) -> None:
    """``model(x)`` computes ``model((x - mean) / std)``; ``mean``/``std`` are per-channel
    values (or one value for all channels). Buffers are non-persistent: no new state_dict keys."""
    if mean is None and std is None:
        return
    from .base import _channel_vector

    m = torch.zeros(channels) if mean is None else _channel_vector(mean, channels)
    s = torch.ones(channels) if std is None else _channel_vector(std, channels)
    if (s <= 0).any():
        raise UserError(
            f"model.std={list(std)} must be positive",
            fix="set model.std to the per-channel standard deviations",
        )
    if image_size == 0:
        raise UserError(
            "model.mean/std normalize image channels, but the dataset is tabular",
            fix="set model.mean=null model.std=null",
        )
    model.register_buffer("_rbr_mean", m.view(1, -1, 1, 1), persistent=False)
    model.register_buffer("_rbr_std", s.view(1, -1, 1, 1), persistent=False)
    model.register_forward_pre_hook(_normalize_input)
