"""Seeds and RNG state.

Every source of randomness is derived from the run's seed and *where* it is used
(``derive_seed(seed, "epoch", 7)``), so a run resumed at epoch 7 draws exactly what an
uninterrupted run draws there, and evaluation never shifts the training RNG stream
(docs/papers/README.md, "Conventions": RNG state is saved and restored around evaluation).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import sys

import numpy as np
import torch


def derive_seed(*parts) -> int:
    """A 31-bit seed from any parts (stable across processes and Python versions)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


#: cuBLAS workspace setting that deterministic cuBLAS needs; read once, when cuBLAS is
#: initialised in the process (the first CUDA matmul), so it is set before any job runs
CUBLAS_WORKSPACE = ":4096:8"


def configure_cublas_workspace() -> None:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` (unless the user set it) before cuBLAS is initialised:
    ``rbr-run`` calls this first thing, so every job of a ``-m`` sweep run in one process
    sees it, whichever job touches CUDA first."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


def set_deterministic(enabled: bool) -> None:
    """Deterministic kernels (bit-identical metrics on CPU; on CUDA as far as torch allows).

    cuDNN autotuning stays off here; training turns it on for its epochs when not
    deterministic (:func:`autotune_allowed`, :func:`cudnn_autotune`), where batch shapes are
    stable, and evaluation keeps it off (compaction makes a new shape almost every step)."""
    global _AUTOTUNE
    if enabled:
        if "CUBLAS_WORKSPACE_CONFIG" not in os.environ and torch.cuda.is_available() and torch.cuda.is_initialized():
            print(
                "[rbr] warning: CUDA was initialised before CUBLAS_WORKSPACE_CONFIG was set: cuBLAS may not be "
                f"deterministic in this process (set CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE} before starting)",
                file=sys.stderr,
                flush=True,
            )
        configure_cublas_workspace()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = False
    _AUTOTUNE = not enabled


_AUTOTUNE = False


def autotune_allowed() -> bool:
    """Whether the last :func:`set_deterministic` allows cuDNN autotuning (``deterministic: false``)."""
    return _AUTOTUNE


@contextlib.contextmanager
def cudnn_autotune(enabled: bool):
    """``torch.backends.cudnn.benchmark`` set to ``enabled`` for the block, then restored."""
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = bool(enabled)
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


def get_rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def preserved_rng():
    """Run a block (e.g. an attack that reseeds the global RNG) without changing the caller's
    RNG streams: python, numpy, torch CPU and CUDA states are restored afterwards."""
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
