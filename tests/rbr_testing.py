"""Test helpers: compose configs with Hydra's compose API, run the pipeline in-process or
as the real console entrypoint in a subprocess, all on a tiny digits setup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

import robustbench_runner.config  # noqa: F401  (resolvers)
from robustbench_runner.run import CONF_DIR
from robustbench_runner.run_dir import run_dir_of  # noqa: F401  (the run directory of a composed config)

REPO = Path(__file__).resolve().parent.parent
#: every config root a composition searches: the package's conf/ and each paper bundle's conf/
#: (robustbench_runner/bundles.py), in search-path order
CONF_ROOTS = [Path(CONF_DIR), *__import__("robustbench_runner.bundles", fromlist=["conf_roots"]).conf_roots()]


def conf_file(rel: str) -> Path:
    """The config file ``rel`` (e.g. ``experiment/prs/candidates.yaml``) of the first root
    that holds it, as Hydra finds it."""
    for root in CONF_ROOTS:
        if (root / rel).exists():
            return root / rel
    raise FileNotFoundError(f"no config root holds {rel}")

#: The device of the end-to-end tests (``TINY``): ``RBR_TEST_DEVICE=cuda`` runs them on a GPU
#: (``make test-gpu`` does); the default is the CPU, whatever the machine has.
TEST_DEVICE = os.environ.get("RBR_TEST_DEVICE", "cpu")

# A run that takes seconds: CNN-6 (with batch norm, so it learns in 40 steps) on 16x16
# digits, 320 training images, 2 epochs, 40 attacked points.
TINY = [
    f"device={TEST_DEVICE}",
    "model.batch_norm=true",
    "data.limit_train=320",
    "data.limit_test=80",
    "data.image_size=16",
    "train.epochs=2",
    "train.batch_size=16",
    "eval.grid=[1,2]",
    "eval.n_eval=40",
    "eval.batch_size=16",
    "attacks.pgd20.steps=5",
    "progress=false",
]


def compose_cfg(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides))


def run_inprocess(overrides: list[str]) -> Path:
    """Compose and execute the pipeline in this process; returns the run directory."""
    from robustbench_runner.execute import execute

    cfg = compose_cfg(overrides)
    return execute(cfg, run_dir_of(cfg), list(overrides))


def cli(args: list[str], env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m robustbench_runner.run`` (the rbr-run entrypoint) in a subprocess."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("RBR_CRASH_AT", None) if not (env and "RBR_CRASH_AT" in env) else None
    return subprocess.run(
        [sys.executable, "-m", "robustbench_runner.run", *args],
        cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def tables_cli(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "robustbench_runner.tables.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip


def reproduce_dry_run(slug: str, scale: str = "smoke", data: str | None = None, launcher: str = "local", warmup: str = "shared") -> list[str]:
    """The commands ``rbr-reproduce <slug> --dry-run`` prints (``make reproduce-<slug>`` runs
    them), one shell line each."""
    from robustbench_runner.reproduce import Options, plan

    return [s.shell() for s in plan(slug, Options(scale=scale, launcher=launcher, data=data, warmup=warmup))]


def make_dry_run(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """``make -n <args>`` in the repository, as a user would run it: without the
    "Entering/Leaving directory" lines a parent make (``make test``) would add, and without
    the install step (``-o .venv/.installed``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", ".venv/.installed", *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


def main_inprocess(args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """``rbr-run <args>`` through its real ``main()`` in this process: (exit status, stderr)."""
    import pytest

    from robustbench_runner import run as rbr_run

    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", ["rbr-run", *args])
    with pytest.raises(SystemExit) as exc:
        rbr_run.main()
    GlobalHydra.instance().clear()
    return exc.value.code, capsys.readouterr().err


def make_model(seed: int = 0):
    """A tiny conv -> BN -> ReLU -> linear net on 1x8x8 inputs (BN makes a scheme's attack
    mode matter), seeded, in train mode."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class TinyBNNet(nn.Module):
        def __init__(self, classes: int = 10):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4 * 8 * 8, classes)

        def forward(self, x):
            return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))

    torch.manual_seed(seed)
    return TinyBNNet().train()
