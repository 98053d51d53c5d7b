"""Forward-only access to a model, for query (black-box) attacks (Square, SPSA).

Square (Andriushchenko et al. 2020) and SPSA (Uesato et al. 2018) are black-box attacks:
they may only use model outputs. Giving them a
:class:`QueryModel` instead of the network makes that structural: every call runs under
``torch.no_grad()``, so no gradient can be taken through it, and it counts queries.
"""

from __future__ import annotations

import torch
from torch import nn


class QueryModel:
    """``x -> logits`` under ``torch.no_grad()``, in chunks of ``batch_size`` rows.

    Args:
        model: the network.
        batch_size: most rows per forward pass (None: everything at once).
    """

    def __init__(self, model: nn.Module, batch_size: int | None = None):
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.batch_size = batch_size
        self.queries = 0  # points sent to the model so far

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.queries += len(x)
        if self.batch_size is None or len(x) <= self.batch_size:
            return self.model(x)
        return torch.cat([self.model(chunk) for chunk in x.split(self.batch_size)])
