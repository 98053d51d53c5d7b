"""Seeded, stratified splits: train/test for datasets without an official split, the
validation hold-out for "best checkpoint" selection, and size limits for smoke runs."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from .base import ArraySplit


def stratified_indices(
    y: torch.Tensor | np.ndarray, size: int | float, seed: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(len(y))`` into (rest, held_out) with ``size`` held out (a count, or a
    fraction when < 1), stratified by label when ``stratify`` (scikit-learn's
    ``train_test_split``; seeded, so the same seed gives the same split everywhere)."""
    y_np = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    idx = np.arange(len(y_np))
    strat = y_np if stratify else None
    if strat is not None:
        _, counts = np.unique(strat, return_counts=True)
        n_held = size if size >= 1 else int(np.ceil(size * len(idx)))
        if counts.min() < 2 or n_held < len(counts) or len(idx) - n_held < len(counts):
            strat = None  # too few samples per class to stratify: fall back to a plain seeded split
    rest, held = train_test_split(idx, test_size=size, random_state=seed, stratify=strat)
    return np.sort(rest), np.sort(held)


def hold_out(split: ArraySplit, size: int | float, seed: int, stratify: bool = True) -> tuple[ArraySplit, ArraySplit]:
    """Carve ``size`` samples out of ``split``: returns (remaining, held_out)."""
    classification = not split.y.is_floating_point()
    rest, held = stratified_indices(split.y, size, seed, stratify=stratify and classification)
    return split.subset(torch.from_numpy(rest)), split.subset(torch.from_numpy(held))


def limit(split: ArraySplit, n: int | None, seed: int) -> ArraySplit:
    """A seeded stratified subset of ``n`` samples (the whole split when n is None or >= len)."""
    if n is None or n >= len(split):
        return split
    _, keep = hold_out(split, int(n), seed)
    return keep
