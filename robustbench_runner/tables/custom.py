"""Custom table builders: tables that are not a pivot of metrics rows. Each is registered
under the name a spec's ``builder:`` uses."""

from __future__ import annotations

import pandas as pd

from ..models import create_model
from .build import Context, TableResult
from .registry import builder
from .spec import TableSpec


def execution_order(model, in_channels: int, image_size: int) -> list:
    """Leaf modules in the order a forward pass runs them (registration order can differ)."""
    import torch

    seen: list = []
    hooks = [m.register_forward_hook(lambda mod, i, o: seen.append(mod)) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, in_channels, image_size, image_size))
    finally:
        for h in hooks:
            h.remove()
    return seen


@builder("model_layers")
def model_layers(spec: TableSpec, ctx: Context) -> TableResult:
    """A network's layers as the paper tabulates them (prs/table1: CNN-6), read from the model
    itself: type, channels/size, activation. Options: ``model`` (registry name), ``in_channels``,
    ``image_size``, ``num_classes``."""
    from torch import nn

    opts = spec.options
    model = create_model(opts.get("model", "cnn6"), num_classes=int(opts.get("num_classes", 10)),
                         in_channels=int(opts.get("in_channels", 3)), image_size=int(opts.get("image_size", 32)))  # fmt: skip
    rows: list[dict] = []
    for m in execution_order(model, int(opts.get("in_channels", 3)), int(opts.get("image_size", 32))):
        if isinstance(m, nn.Conv2d):
            rows.append({"Part": "Convolutional Layer", "Type": f"Conv2d [{m.kernel_size[0]} x {m.kernel_size[1]}]", "Channels/size": m.out_channels, "Activation": ""})
        elif isinstance(m, nn.MaxPool2d) and rows:
            rows[-1]["Type"] += ", MaxPool(2)"
        elif isinstance(m, nn.Linear):
            rows.append({"Part": "Classifier", "Type": "Linear", "Channels/size": m.out_features, "Activation": ""})
        elif isinstance(m, nn.ReLU) and rows:
            rows[-1]["Activation"] = "ReLU"
    table = pd.DataFrame(rows, columns=["Part", "Type", "Channels/size", "Activation"])
    sources = pd.DataFrame([{"column": "all", "n": 1, "missing": None, "runs": f"models.create_model({opts.get('model', 'cnn6')!r})"}])
    return TableResult(table, table.copy(), sources)
