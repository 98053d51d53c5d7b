"""Your own data (``dataset=custom data._target_=mypkg.load_my_data``).

Your function gets every ``data.*`` key that is neither handled for all datasets
(``data.COMMON_KEYS``: eps, limits, validation split...) nor declared here
(:data:`USER_DATA_KEYS`), and returns either

- a :class:`~robustbench_runner.data.base.DataBundle`, or
- ``{"train": (x, y), "test": (x, y)}`` (optionally ``"val"`` and ``"class_names"``), or
- a tuple ``(x_train, y_train, x_test, y_test)``,

with ``x`` torch tensors or numpy arrays: images ``(N, C, H, W)`` as uint8 (0-255) or floats
in [0, 1], tabular rows ``(N, D)`` floats in [0, 1]; ``y`` integer class indices. Inputs must be
in pixel space: the attacks' eps is measured there, and normalization belongs to the model
(``model.mean`` / ``model.std``). Declared in ``conf/dataset/custom.yaml``:

- ``num_classes``: null = largest label + 1 (over train and test);
- ``input_size``: ``[C, H, W]`` (or ``[D]``) the function must return; null = not checked.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..errors import UserError
from .base import ArraySplit, DataBundle

#: Keys of ``conf/dataset/custom.yaml`` read here and never passed to the user's function.
USER_DATA_KEYS = ("num_classes", "input_size")


def is_user_loader(target: str) -> bool:
    return not str(target).startswith("robustbench_runner.")


def as_bundle(result, declared: Mapping, name: str | None, target: str) -> DataBundle:
    """The :class:`DataBundle` of what the user's loader returned (checked: dtype, range,
    shapes against ``input_size``, labels against ``num_classes``)."""
    name = name or "custom"
    if isinstance(result, DataBundle):
        bundle = result
    else:
        splits = _splits(result, target)
        ys = [s.y for s in splits.values() if isinstance(s, ArraySplit)]
        n_cls = declared.get("num_classes")
        n_cls = int(max(int(y.max()) for y in ys if len(y)) + 1) if n_cls is None else int(n_cls)
        x = splits["train"].x
        image = x.dim() == 4
        bundle = DataBundle(
            name=name, train=splits["train"], test=splits["test"], val=splits.get("val"),
            num_classes=n_cls, in_channels=int(x.shape[1]), image_size=int(x.shape[2]) if image else 0,
            class_names=splits.get("class_names"),
        )  # fmt: skip
    _check(bundle, declared, target)
    return bundle


def _splits(result, target: str) -> dict:
    if isinstance(result, tuple) and len(result) == 4:
        result = {"train": result[:2], "test": result[2:]}
    if not isinstance(result, Mapping) or not {"train", "test"} <= set(result):
        raise UserError(
            f"data._target_={target} returned a {type(result).__name__}",
            fix='return a DataBundle, {"train": (x, y), "test": (x, y)} or (x_train, y_train, x_test, y_test) (docs/byo.md)',
        )
    out = {
        k: _split(result[k], k, target)
        for k in ("train", "test", "val")
        if result.get(k) is not None
    }
    if result.get("class_names") is not None:
        out["class_names"] = [str(c) for c in result["class_names"]]
    return out


def _split(pair, key: str, target: str) -> ArraySplit:
    try:
        x, y = pair
    except (TypeError, ValueError):
        raise UserError(
            f"data._target_={target}: {key!r} must be a pair (x, y)",
            fix="return (inputs, labels) for each split",
        ) from None
    x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    y = torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y
    if x.dtype == torch.float64:
        x = x.float()
    if x.dtype not in (torch.uint8, torch.float32):
        raise UserError(
            f"data._target_={target}: {key} inputs are {x.dtype}",
            fix="return uint8 images (0-255) or floats in [0, 1]",
        )
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise UserError(
            f"data._target_={target}: {key} labels are {y.dtype}, not class indices",
            fix="return integer labels 0..num_classes-1",
        )
    if x.dim() not in (2, 4):
        raise UserError(
            f"data._target_={target}: {key} inputs have shape {tuple(x.shape)}",
            fix="return images (N, C, H, W) or rows (N, D)",
        )
    if x.dim() == 4 and x.shape[2] != x.shape[3]:
        raise UserError(
            f"data._target_={target}: {key} images are {x.shape[2]}x{x.shape[3]}; rbr expects square images",
            fix="crop or resize to H = W",
        )
    try:
        return ArraySplit(x.contiguous(), y.long())
    except ValueError as e:
        raise UserError(
            f"data._target_={target}: {key} split: {e}", fix="return as many labels as inputs"
        ) from e


def _check(bundle: DataBundle, declared: Mapping, target: str) -> None:
    for key, split in (("train", bundle.train), ("test", bundle.test), ("val", bundle.val)):
        if split is None or not len(split):
            if key != "val":
                raise UserError(
                    f"data._target_={target}: the {key} split is empty",
                    fix="return at least one sample per split",
                )
            continue
        x = split.x
        if x.dtype == torch.float32 and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
            raise UserError(
                f"data._target_={target}: {key} inputs range over [{float(x.min()):.3g}, {float(x.max()):.3g}], not [0, 1]",
                fix="return pixels in [0, 1] (divide by 255; no normalization: put it in model.mean/model.std)",
            )
        if int(split.y.min()) < 0 or int(split.y.max()) >= bundle.num_classes:
            raise UserError(
                f"data._target_={target}: {key} labels range over [{int(split.y.min())}, {int(split.y.max())}] with num_classes={bundle.num_classes}",
                fix="use labels 0..num_classes-1 or correct data.num_classes",
            )
    shape = (
        [bundle.in_channels]
        if bundle.image_size == 0
        else [bundle.in_channels, bundle.image_size, bundle.image_size]
    )
    want = declared.get("input_size")
    if want is not None and [int(v) for v in want] != shape:
        raise UserError(
            f"data.input_size={list(want)} but data._target_={target} returned inputs of shape {shape}",
            fix="correct data.input_size, or null to skip the check",
        )
