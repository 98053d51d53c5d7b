"""One training epoch: the scheme turns each batch into a loss, the optimizer steps.

Randomness is drawn from generators seeded by (run seed, epoch), so an epoch redone after a
kill sees the same batches, augmentations, dropout masks and attack starts.

The loop does not wait for the device at every step: the running loss, the correct count
and the weight statistics are summed on the device (in float64 / int64, the arithmetic
the host did before, so the numbers are the same), and whether the loss stayed finite is
read on the host every :data:`CHECK_EVERY` steps and at the end of the epoch (a NaN step is
still named exactly; the steps after it until the check are wasted, nothing of the epoch
is written either way). cuDNN autotuning is on for the epoch when ``deterministic: false``
(the batch shape is the same for every step but the last).
"""

from __future__ import annotations

import contextlib
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
from .seeding import autotune_allowed, cudnn_autotune, derive_seed, make_generator, seed_everything

#: steps between two host reads of "is the loss still finite" (each one waits for the device)
CHECK_EVERY = 32


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
    """Per-epoch distribution of per-sample weights (paper vir fig. 3: sum of weights per
    class), summed on the weights' device in float64 (no host sync per batch)."""

    def __init__(self, num_classes: int):
        self.k = num_classes
        self.count = 0
        self.total: torch.Tensor | None = None  # float64 sums, on the weights' device
        self.min: torch.Tensor | None = None
        self.max: torch.Tensor | None = None
        self.class_sum: torch.Tensor | None = None

    def add(self, w: torch.Tensor, y: torch.Tensor) -> None:
        w = w.detach().double()
        if self.total is None:
            zero = torch.zeros((), dtype=torch.float64, device=w.device)
            self.total, self.min, self.max = zero.clone(), zero + float("inf"), zero - float("inf")
            self.class_sum = torch.zeros(self.k, dtype=torch.float64, device=w.device)
        self.count += w.numel()
        self.total += w.sum()
        self.min = torch.minimum(self.min, w.min())
        self.max = torch.maximum(self.max, w.max())
        if not y.is_floating_point():
            if w.device.type == "cpu":
                self.class_sum += torch.bincount(y, weights=w, minlength=self.k)[: self.k]
            else:  # CUDA's bincount adds with atomics (run-to-run float differences): a reduction
                self.class_sum += (torch.nn.functional.one_hot(y, self.k).to(w.dtype) * w[:, None]).sum(0)

    def row(self) -> dict:
        if not self.count:
            return {}
        out = {"mean": float(self.total) / self.count, "min": float(self.min), "max": float(self.max)}
        out.update({f"sum_class_{c}": float(s) for c, s in enumerate(self.class_sum.cpu())})
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
    sums = _DeviceSums(device)
    seen = 0
    t0 = time.perf_counter()
    it = batches(split, batch_size, shuffle=True, generator=gen, device=device, augment=augment, drop_last=drop_last, **(loader_kwargs or {}))
    n_steps = num_batches(len(split), batch_size, drop_last)
    with cudnn_autotune(autotune_allowed()):  # stable shapes here; never while attacking
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
            sums.add(out.loss.detach(), bs, step, None if y.is_floating_point() else (out.logits.detach().argmax(1) == y))
            seen += bs
            if out.weights is not None:
                tally.add(out.weights, y)
            if step % CHECK_EVERY == 0:
                sums.check(epoch, n_steps)
    sums.check(epoch, n_steps)  # the one sync the epoch needs: it returns its numbers
    return EpochStats(
        epoch=epoch,
        loss=sums.loss() / max(seen, 1),
        acc=sums.correct() / max(seen, 1),
        lr=float(optimizer.param_groups[0]["lr"]),
        seconds=time.perf_counter() - t0,
        n=seen,
        weights=tally.row(),
    )


class _DeviceSums:
    """The epoch's running sums on the device: loss * batch size (float64, as the host summed
    Python floats), correct predictions (int64), and the first step whose loss was not finite."""

    def __init__(self, device: torch.device):
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.right = torch.zeros((), dtype=torch.int64, device=device)
        self.bad = torch.zeros((), dtype=torch.int64, device=device)  # 0: none yet, else the step
        self.bad_loss = torch.zeros((), dtype=torch.float64, device=device)

    def add(self, loss: torch.Tensor, bs: int, step: int, hits: torch.Tensor | None) -> None:
        value = loss.double()  # exactly the Python float the host used to add
        self.total += value * bs
        first = (self.bad == 0) & ~torch.isfinite(value)
        self.bad = torch.where(first, step, self.bad)
        self.bad_loss = torch.where(first, value, self.bad_loss)
        if hits is not None:
            self.right += hits.sum()

    def check(self, epoch: int, n_steps: int) -> None:
        step = int(self.bad)
        if step:
            raise Diverged(
                f"training diverged: the loss is {float(self.bad_loss)} at epoch {epoch}, step {step} of {n_steps} "
                f"(nothing of epoch {epoch} was written; the files of earlier epochs are kept, no DONE)",
                fix="lower optim.optimizer.lr (or change what made it diverge) and rerun with tag=<name> or overwrite=true",
            )

    def loss(self) -> float:
        return float(self.total)

    def correct(self) -> int:
        return int(self.right)
