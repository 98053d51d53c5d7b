"""A researcher's first hour (issue 24): defaults that follow what is asked, models by name,
schedules, the run's own log, and the small errors that stay on the one-line exit-2 contract.
Fast tests; the README walk is tests/test_readme_walk.py (slow)."""

from __future__ import annotations

import pytest
from rbr_testing import compose_cfg

from robustbench_runner.config import config_hash, validate
from robustbench_runner.errors import UserError
from robustbench_runner.grids import every_and_last

# -- item 3/4: eval.grid follows train.epochs -----------------------------------------------


@pytest.mark.parametrize(
    ("k", "epochs", "grid"),
    [(2, 8, [2, 4, 6, 8]), (2, 1, [1]), (2, 3, [2, 3]), (4, 10, [4, 8, 10]), (1, 3, [1, 2, 3]), (5, 5, [5])],
)
def test_every_and_last(k, epochs, grid):
    assert every_and_last(k, epochs) == grid


def test_every_and_last_refuses_step_zero():
    with pytest.raises(UserError):
        every_and_last(0, 8)


@pytest.mark.parametrize("epochs", [1, 3, 8])
def test_default_grid_follows_train_epochs(epochs):
    cfg = compose_cfg([f"train.epochs={epochs}"])
    grid = list(cfg.eval.grid)
    assert grid[-1] == epochs and all(1 <= e <= epochs for e in grid)
    validate(cfg)  # train.epochs=1 used to fail: the default grid held epoch 2


def test_default_grid_keeps_the_default_experiment_hash():
    """The default experiment (8 epochs) keeps its grid [2, 4, 6, 8], spelled out or derived:
    the same config hash, so existing run folders stay valid."""
    derived = compose_cfg([])
    spelled = compose_cfg(["eval.grid=[2,4,6,8]"])
    assert list(derived.eval.grid) == [2, 4, 6, 8]
    assert config_hash(derived) == config_hash(spelled)


def test_explicit_grid_still_wins():
    cfg = compose_cfg(["train.epochs=4", "eval.grid=[1,3]"])
    assert list(cfg.eval.grid) == [1, 3]
