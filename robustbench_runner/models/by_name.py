"""Models picked by name from timm or torchvision: ``model=timm model.name=resnet18``,
``model=torchvision model.name=resnet18`` (``conf/model/timm.yaml``, ``torchvision.yaml``).

The dataset's dimensions reach each library under its own argument names:

- timm: ``timm.create_model(name, num_classes=..., in_chans=..., pretrained=...)``; timm
  itself adapts the stem to ``in_chans`` (also for pretrained weights, summing the RGB
  kernels for one channel);
- torchvision: ``torchvision.models.get_model(name, weights=..., num_classes=...)``; it has no
  channel argument, so for ``in_channels != 3`` the first ``Conv2d`` reading 3 channels is
  rebuilt with the same geometry (fresh weights, or with pretrained weights the RGB kernels
  summed, as timm does). With pretrained weights the classifier keeps the weights' classes and
  the last ``Linear`` is replaced by a fresh one when the dataset has another number of classes.

``image_size`` is not an argument of either library: both build size-agnostic networks
(global pooling); ``model.input_size`` checks the shape when set.

Weights come only from a local file (``model.weights=<file>``: a state_dict, ``.safetensors``,
``{"state_dict": ...}``, Lightning ``.ckpt``, read with ``weights_only=True`` by
:mod:`..user_checkpoints`), unless the user enables a download (``model.download=true``:
timm's ``pretrained=True`` / torchvision's ``weights="DEFAULT"`` or ``model.download=<weights
enum name>``), which needs internet and the libraries' own caches.

Every ``model.*`` key not reserved here (:data:`RESERVED`) is passed on to the library
(``+model.drop_rate=0.1`` for timm). rbr's normalization (``model.mean``/``model.std``) is the
same forward pre-hook ``model=custom`` uses (:func:`.custom.add_normalization`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import nn

from ..errors import UserError
from .custom import add_normalization, check_input_size

#: the builders rbr's conf/model/{timm,torchvision}.yaml name as ``_target_``
TIMM = "robustbench_runner.models.by_name.timm_model"
TORCHVISION = "robustbench_runner.models.by_name.torchvision_model"
#: keys read by rbr, never passed to the library
RESERVED = ("_target_", "name", "library", "run_label", "mean", "std", "input_size", "weights", "download")


def is_by_name(model_cfg: Mapping) -> bool:
    return str(model_cfg.get("_target_")) in (TIMM, TORCHVISION)


def build_by_name(model_cfg: Mapping, dims: Mapping) -> nn.Module:
    """The model ``model_cfg`` names (timm or torchvision), weights, then normalization."""
    conf = OmegaConf.to_container(model_cfg, resolve=True) if not isinstance(model_cfg, dict) else dict(model_cfg)
    name = conf.get("name")
    if not name or name == "???":
        lib = "timm" if conf["_target_"] == TIMM else "torchvision"
        raise UserError(f"model={lib} needs the model's name", fix=f"add model.name=<a {lib} model name>, e.g. model.name=resnet18")
    check_input_size(conf.get("input_size"), dims)
    kwargs = {k: v for k, v in conf.items() if k not in RESERVED}
    builder = timm_model if conf["_target_"] == TIMM else torchvision_model
    model = builder(
        str(name), num_classes=int(dims["num_classes"]), in_channels=int(dims["in_channels"]),
        download=conf.get("download", False), **kwargs,
    )  # fmt: skip
    if conf.get("weights"):
        load_local_weights(model, Path(str(conf["weights"])), f"model.name={name}")
    add_normalization(model, conf.get("mean"), conf.get("std"), int(dims["in_channels"]), int(dims["image_size"]))
    return model


def _check_image(in_channels: int, image_size: int | None) -> None:
    if image_size == 0:
        raise UserError("timm and torchvision models take images, but the dataset is tabular", fix="use model=mlp or model=fcnet for tabular data")


def timm_model(name: str, num_classes: int, in_channels: int = 3, image_size: int | None = None, download=False, **kwargs) -> nn.Module:
    """``timm.create_model(name, num_classes=, in_chans=, pretrained=download)``."""
    _check_image(in_channels, image_size)
    try:
        import timm
    except ImportError as e:
        raise UserError("model=timm needs the timm package", fix="pip install 'robustbench_runner[timm]' (or pip install timm)") from e
    if not timm.is_model(name):
        close = timm.list_models(f"*{name}*")[:8]
        raise UserError(f"timm has no model {name!r}", fix=f"pick a name from timm.list_models(){', e.g. ' + ', '.join(close) if close else ''}")
    try:
        return timm.create_model(name, pretrained=bool(download), num_classes=num_classes, in_chans=in_channels, **kwargs)
    except TypeError as e:
        raise UserError(f"cannot build timm model {name!r}: {' '.join(str(e).split())[:200]}", fix="check the extra model.* keys (they are passed to timm.create_model)") from e


def torchvision_model(name: str, num_classes: int, in_channels: int = 3, image_size: int | None = None, download=False, **kwargs) -> nn.Module:
    """``torchvision.models.get_model(name, weights=None, num_classes=)`` and a stem for
    ``in_channels``; with ``download`` the library's weights (see the module docstring)."""
    _check_image(in_channels, image_size)
    import torchvision

    if name not in torchvision.models.list_models():
        close = [m for m in torchvision.models.list_models() if name.split("_")[0] in m][:8]
        raise UserError(f"torchvision has no model {name!r}", fix=f"pick a name from torchvision.models.list_models(){', e.g. ' + ', '.join(close) if close else ''}")
    pretrained = bool(download)
    try:
        if pretrained:
            weights = "DEFAULT" if download is True or str(download).lower() == "true" else str(download)
            model = torchvision.models.get_model(name, weights=weights, **kwargs)
        else:
            model = torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)
    except (TypeError, ValueError) as e:
        raise UserError(f"cannot build torchvision model {name!r}: {' '.join(str(e).split())[:200]}", fix="check the extra model.* keys (they are passed to torchvision.models.get_model)") from e
    if in_channels != 3:
        adapt_first_conv(model, in_channels, keep_weights=pretrained)
    if pretrained:
        replace_last_linear(model, num_classes)
    return model


def adapt_first_conv(model: nn.Module, in_channels: int, keep_weights: bool = False) -> None:
    """Rebuild the first ``Conv2d`` that reads 3 channels to read ``in_channels`` (same
    kernel, stride, padding, dilation, groups, bias). ``keep_weights``: one channel gets the
    sum of the RGB kernels (a grey image g = r = g = b gives the same response), other counts
    the RGB kernels repeated and scaled by 3/in_channels (timm's ``adapt_input_conv`` rule)."""
    for parent in model.modules():
        for child_name, conv in parent.named_children():
            if isinstance(conv, nn.Conv2d) and conv.in_channels == 3:
                new = nn.Conv2d(
                    in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                    dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None, padding_mode=conv.padding_mode,
                )  # fmt: skip
                if keep_weights:
                    with torch.no_grad():
                        w = conv.weight
                        if in_channels == 1:
                            new.weight.copy_(w.sum(1, keepdim=True))
                        else:
                            reps = -(-in_channels // 3)
                            new.weight.copy_(w.repeat(1, reps, 1, 1)[:, :in_channels] * (3 / in_channels))
                        if conv.bias is not None:
                            new.bias.copy_(conv.bias)
                setattr(parent, child_name, new)
                return
    raise UserError(
        f"found no 3-channel convolution to adapt to in_channels={in_channels}",
        fix="use a dataset with 3 channels (e.g. data.channels=3 for MNIST) or another model",
    )


def replace_last_linear(model: nn.Module, num_classes: int) -> None:
    """A fresh last ``Linear`` with ``num_classes`` outputs when the weights have another count."""
    last = None
    for parent in model.modules():
        for child_name, mod in parent.named_children():
            if isinstance(mod, nn.Linear):
                last = (parent, child_name, mod)
    if last is None:
        raise UserError("found no final Linear layer to fit the dataset's classes", fix="use model.download=false, or another model")
    parent, child_name, mod = last
    if mod.out_features != num_classes:
        setattr(parent, child_name, nn.Linear(mod.in_features, num_classes, bias=mod.bias is not None))


def load_local_weights(model: nn.Module, path: Path, what: str) -> None:
    """Weights from a local file (``weights_only``; the formats of :mod:`..user_checkpoints`)."""
    from ..user_checkpoints import fit_state_dict, read_checkpoint

    if not path.is_file():
        raise UserError(f"model.weights={path} is not a file", fix="pass the path of a saved state_dict (.pt/.pth/.safetensors)")
    state = read_checkpoint(path).state
    try:
        model.load_state_dict(fit_state_dict(model, state))
    except RuntimeError as e:
        raise UserError(
            f"model.weights={path} does not fit {what} ({' '.join(str(e).split())[:200]})",
            fix="pass weights saved from the same architecture with the dataset's classes and channels",
        ) from e
