"""``model_summary.csv``: every leaf layer with its output shape and parameter count."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from .io import atomic_write_text
from .reading.csvs import spreadsheet_csv


def dummy_input(dims: Mapping, device) -> torch.Tensor:
    c, s = int(dims["in_channels"]), int(dims["image_size"])
    shape = (1, c) if s == 0 else (1, c, s, s)  # image_size 0: tabular input (B, D)
    return torch.zeros(shape, device=device)


def layer_table(model: nn.Module, dims: Mapping) -> pd.DataFrame:
    rows: list[dict] = []
    hooks = []
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]

    def hook_for(name):
        def hook(module, _inp, out):
            shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else ""
            rows.append({
                "layer": name,
                "type": type(module).__name__,
                "output_shape": "x".join(map(str, shape)),
                "params": sum(p.numel() for p in module.parameters(recurse=False)),
            })  # fmt: skip

        return hook

    for name, m in leaves:
        hooks.append(m.register_forward_hook(hook_for(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            first = next(model.parameters(), None)  # a model without parameters runs on the CPU
            model(dummy_input(dims, first.device if first is not None else "cpu"))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    df = pd.DataFrame(rows, columns=["layer", "type", "output_shape", "params"])
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    extra = pd.DataFrame([
        {"layer": "TOTAL", "type": type(model).__name__, "output_shape": "", "params": total},
        {"layer": "TRAINABLE", "type": "", "output_shape": "", "params": trainable},
    ])  # fmt: skip
    return pd.concat([df, extra], ignore_index=True)


def write_model_summary(model: nn.Module, dims: Mapping, path: str | Path) -> pd.DataFrame:
    df = layer_table(model, dims)
    atomic_write_text(path, spreadsheet_csv(df))  # layer names are the user's (a ModuleDict key can be any text)
    return df
