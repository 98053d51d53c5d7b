"""Plumbing shared by the thin wrappers around the official AutoAttack code (PyPI
``pyautoattack``, Croce & Hein 2020): APGD, APGD-T, FAB, Square and AutoAttack itself.

Two things every call into the library needs:

- The library reseeds the *global* torch RNG (``torch.random.manual_seed(seed)`` and
  ``torch.cuda.random.manual_seed(seed)`` at the start of every ``perturb``).
  Our convention: attacks that reseed the global RNG must not change the
  training RNG stream, so :func:`library_call` saves and restores the torch CPU and
  CUDA, numpy and python ``random`` states around the call
  (:func:`robustbench_runner.seeding.preserved_rng`).
- The library logs through the ``auto-attack`` logger (debug lines, sanity-check
  warnings) and prints when ``verbose``; :func:`quiet_library` silences both, and its
  ``warnings.warn`` sanity checks, unless the attack config asks for ``verbose: true``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from collections.abc import Iterator

import torch
from torch import nn

from .. import progress
from ..errors import UserError
from ..seeding import preserved_rng

LIBRARY_LOGGER = "auto-attack"


@contextlib.contextmanager
def quiet_library(verbose: bool) -> Iterator[None]:
    """Silence the library's logger, prints and warnings (``verbose=False``), or show its
    log lines on stderr (``verbose=True``)."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    saved_disabled, saved_level = logger.disabled, logger.level
    handler = None
    try:
        if verbose:
            if not logger.handlers:
                handler = logging.StreamHandler(sys.stderr)
                logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
            yield
        else:
            if progress.log_lines():  # progress lines (no TTY): forward its per-attack lines only
                saved_handlers, saved_propagate = logger.handlers[:], logger.propagate
                logger.handlers, logger.propagate = [progress.LibraryLogForwarder()], False
                logger.setLevel(logging.DEBUG)
                handler = _Restore(logger, saved_handlers, saved_propagate)
            else:
                logger.disabled = True
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                yield
    finally:
        if isinstance(handler, _Restore):
            handler.restore()
        elif handler is not None:
            logger.removeHandler(handler)
        logger.disabled = saved_disabled
        logger.setLevel(saved_level)


class _Restore:
    """The logger's own handlers and propagation, put back after a forwarded call."""

    def __init__(self, logger, handlers, propagate):
        self.logger, self.handlers, self.propagate = logger, handlers, propagate

    def restore(self) -> None:
        self.logger.handlers, self.logger.propagate = self.handlers, self.propagate


@contextlib.contextmanager
def library_call(verbose: bool = False) -> Iterator[None]:
    """Context for one call into ``pyautoattack``: global RNG restored, output silenced."""
    with preserved_rng(), quiet_library(verbose):
        yield


@torch.no_grad()
def num_classes(model: nn.Module, x: torch.Tensor) -> int:
    """Number of model outputs, from one forward pass on one point."""
    return int(model(x[:1]).shape[1])


def target_count(requested: int, classes: int, attack_name: str) -> int:
    """Targeted attacks can aim at most at the ``classes - 1`` wrong classes."""
    if requested < 1:
        raise UserError(
            f"{attack_name}: n_target_classes must be >= 1, got {requested}",
            fix="use n_target_classes: 9 (AutoAttack's value for 10 classes)",
        )
    return min(int(requested), classes - 1)
