"""Kernel settings of a run (robustbench_runner/seeding.py, run.py): CUBLAS_WORKSPACE_CONFIG is
set before any job can initialise cuBLAS, and cuDNN autotuning is on only inside training
epochs of a non-deterministic run, never while attacking."""

from __future__ import annotations

import sys

import pytest
import torch

from robustbench_runner import run as rbr_run
from robustbench_runner.seeding import (
    CUBLAS_WORKSPACE,
    autotune_allowed,
    cudnn_autotune,
    set_deterministic,
)


def test_rbr_run_sets_the_cublas_workspace_before_any_job(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seen = []
    monkeypatch.setattr(rbr_run, "_app", lambda: seen.append(rbr_run.os.environ.get("CUBLAS_WORKSPACE_CONFIG")))
    monkeypatch.setattr(sys, "argv", ["rbr-run", "-m", "seed=0,1"])
    rbr_run.main()
    assert seen == [CUBLAS_WORKSPACE]  # set before Hydra launched the first job
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")  # a user's own setting is kept
    rbr_run.main()
    assert seen[-1] == ":16:8"


def test_autotuning_only_where_allowed_and_restored():
    saved = torch.backends.cudnn.benchmark
    try:
        set_deterministic(False)
        assert autotune_allowed() and torch.backends.cudnn.benchmark is False  # never globally
        with cudnn_autotune(True):
            assert torch.backends.cudnn.benchmark is True
            with pytest.raises(RuntimeError), cudnn_autotune(False):
                assert torch.backends.cudnn.benchmark is False
                raise RuntimeError("boom")
            assert torch.backends.cudnn.benchmark is True
        assert torch.backends.cudnn.benchmark is False
        set_deterministic(True)
        assert not autotune_allowed() and torch.backends.cudnn.deterministic
    finally:
        set_deterministic(True)
        torch.backends.cudnn.benchmark = saved


def test_training_epochs_autotune_and_evaluation_does_not(monkeypatch):
    """A non-deterministic run tunes cuDNN for its training steps (stable shapes), and the
    evaluation engine switches it off while attacking (compaction makes new shapes)."""
    from torch import nn

    from robustbench_runner.data.base import ArraySplit
    from robustbench_runner.evaluate import evaluate
    from robustbench_runner.schemes.base import Standard
    from robustbench_runner.train import train_one_epoch

    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            seen.append(torch.backends.cudnn.benchmark)
            return self.lin(x.flatten(1))

    model, split = Probe(), ArraySplit(torch.rand(8, 4), torch.arange(8) % 3)
    try:
        set_deterministic(False)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        train_one_epoch(model, Standard(), opt, split, epoch=1, seed=0, batch_size=4, device=torch.device("cpu"), num_classes=3)
        assert seen == [True, True]
        seen.clear()
        with cudnn_autotune(True):  # even if a caller left it on
            evaluate(model, split.x, split.y, {})
        assert seen and not any(seen)
    finally:
        set_deterministic(True)
