"""One training epoch: the scheme turns each batch into a loss, the optimizer steps.

Randomness is drawn from generators seeded by (run seed, epoch), so an epoch redone after a
kill sees the same batches, augmentations, dropout masks and attack starts.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from . import progress
from .data.base import ArraySplit
from .data.loader import batches, num_batches
from .errors import Diverged
from .faults import crash_point
from .schemes.base import Scheme
from .seeding import derive_seed, make_generator, seed_everything


@dataclass
class EpochStats:
    epoch: int
    loss: float
    acc: float
    lr: float
    seconds: float
    n: int
    weights: dict = field(default_factory=dict)  # mean/min/max and per-class sums of weights

    def log_row(self) -> dict:
        return {"epoch": self.epoch, "loss": self.loss, "acc": self.acc, "lr": self.lr, "seconds": self.seconds, "n": self.n}


class WeightTally:
    """Per-epoch distribution of per-sample weights (paper vir fig. 3: sum of weights per class)."""

    def __init__(self, num_classes: int):
        self.k = num_classes
        self.count = 0
        self.total = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.class_sum = torch.zeros(num_classes, dtype=torch.float64)

    def add(self, w: torch.Tensor, y: torch.Tensor) -> None:
        w = w.detach().double().cpu()
        self.count += w.numel()
        self.total += float(w.sum())
        self.min = min(self.min, float(w.min()))
        self.max = max(self.max, float(w.max()))
        if not y.is_floating_point():
            self.class_sum += torch.bincount(y.cpu(), weights=w, minlength=self.k)[: self.k]

    def row(self) -> dict:
        if not self.count:
            return {}
        out = {"mean": self.total / self.count, "min": self.min, "max": self.max}
        out.update({f"sum_class_{c}": float(s) for c, s in enumerate(self.class_sum)})
        return out


def non_finite_tensors(model: nn.Module) -> list[str]:
    """Names of the floating-point parameters/buffers of ``model`` holding NaN or inf."""
    return [k for k, t in model.state_dict().items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA (and on CPU when asked); a no-op context when disabled."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def train_one_epoch(
    model: nn.Module,
    scheme: Scheme,
    optimizer: torch.optim.Optimizer,
    split: ArraySplit,
    *,
    epoch: int,
    seed: int,
    batch_size: int,
    device: torch.device,
    num_classes: int,
    augment=None,
    amp: bool = False,
    channels_last: bool = False,
    drop_last: bool = False,
    loader_kwargs: dict | None = None,
) -> EpochStats:
    seed_everything(derive_seed(seed, "epoch", epoch))  # dropout, in-model noise
    gen = make_generator(derive_seed(seed, "order", epoch))  # data order and augmentation
    if hasattr(scheme, "reseed"):  # training-attack random starts
        scheme.reseed(derive_seed(seed, "attack", epoch))
    model.train()
    tally = WeightTally(num_classes)
    total_loss, correct, seen = 0.0, 0, 0
    t0 = time.perf_counter()
    it = batches(split, batch_size, shuffle=True, generator=gen, device=device, augment=augment, drop_last=drop_last, **(loader_kwargs or {}))
    n_steps = num_batches(len(split), batch_size, drop_last)
    for step, (x, y) in enumerate(progress.bar(it, total=n_steps, desc=f"epoch {epoch}", unit="batch"), start=1):
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            out = scheme.step(model, x, y, epoch)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        crash_point("batch")
        bs = len(y)
        loss = float(out.loss.detach())  # the host sync the running mean needs anyway
        if not math.isfinite(loss):
            raise Diverged(
                f"training diverged: the loss is {loss} at epoch {epoch}, step {step} of {n_steps} "
                f"(nothing of epoch {epoch} was written; the files of earlier epochs are kept, no DONE)",
                fix="lower optim.optimizer.lr (or change what made it diverge) and rerun with tag=<name> or overwrite=true",
            )
        total_loss += loss * bs
        if not y.is_floating_point():
            correct += int((out.logits.detach().argmax(1) == y).sum())
        seen += bs
        if out.weights is not None:
            tally.add(out.weights, y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return EpochStats(
        epoch=epoch,
        loss=total_loss / max(seen, 1),
        acc=correct / max(seen, 1),
        lr=float(optimizer.param_groups[0]["lr"]),
        seconds=time.perf_counter() - t0,
        n=seen,
        weights=tally.row(),
    )
