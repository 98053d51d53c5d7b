"""Images/s of the training-batch paths on CIFAR-shaped random uint8 data (``data.loader``).

Paths (all yield float32 batches in [0, 1] on ``--device`` with the same augmentation):

- ``gpu_resident``: ``data.on_gpu=true`` -- the split is moved to the device once; indexing,
  uint8 -> float and crop_flip all happen there (on a CPU device this is the tensor path);
- ``cpu_tensor``: ``data.loader=tensor`` -- index the CPU tensors, copy each batch over;
- ``dataloader``: ``data.loader=dataloader`` -- torch DataLoader workers gather whole batches
  (``--num-workers``, pinned memory on CUDA), augmentation on the device;
- ``dataloader_per_sample`` (``--per-sample``): the textbook TensorDataset + DataLoader with
  per-sample fetch and default collation, for reference (not a path the runner uses).

Usage: ``python scripts/bench_data.py --device cuda --n 50000 --epochs 3``. Each path runs one
warm-up pass, then ``--epochs`` timed passes; ratios are printed against ``dataloader``.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from robustbench_runner.data.augment import make_augment
from robustbench_runner.data.base import ArraySplit, to_float
from robustbench_runner.data.loader import batches


def consume(it, device: torch.device) -> int:
    """Iterate a pass, touching every batch (a reduction) so lazy work is really done."""
    seen = 0
    acc = torch.zeros((), device=device)
    for x, _ in it:
        acc += x.mean()
        seen += len(x)
    float(acc)  # synchronizes CUDA
    return seen


def per_sample_pass(split: ArraySplit, args, device, augment, gen):
    loader = DataLoader(
        TensorDataset(split.x, split.y), batch_size=args.batch_size, shuffle=True, generator=gen,
        num_workers=args.num_workers, pin_memory=device.type == "cuda",
    )  # fmt: skip
    for x, y in loader:
        x = to_float(x.to(device, non_blocking=True))
        yield (augment(x, gen) if augment else x), y.to(device, non_blocking=True)


def run_path(name: str, split: ArraySplit, args, device, augment) -> float:
    def one_pass(epoch: int):
        gen = torch.Generator().manual_seed(epoch)
        kw = dict(shuffle=True, generator=gen, device=device, augment=augment, drop_last=False)
        if name == "gpu_resident":
            return batches(split_dev, args.batch_size, **kw)
        if name == "cpu_tensor":
            return batches(split, args.batch_size, **kw)
        if name == "dataloader":
            return batches(split, args.batch_size, loader="dataloader", num_workers=args.num_workers, **kw)
        return per_sample_pass(split, args, device, augment, gen)

    split_dev = split.to(device) if name == "gpu_resident" else split
    consume(one_pass(0), device)  # warm-up (CUDA context, worker start, allocator)
    t0 = time.perf_counter()
    seen = sum(consume(one_pass(e), device) for e in range(1, args.epochs + 1))
    return seen / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--n", type=int, default=20_000, help="images (CIFAR-10 has 50,000)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2, help="timed passes per path")
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--augment", default="crop_flip", help="none | crop_flip")
    p.add_argument("--per-sample", action="store_true", help="also time the per-sample DataLoader")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    g = torch.Generator().manual_seed(0)
    split = ArraySplit(torch.randint(0, 256, (args.n, 3, 32, 32), generator=g, dtype=torch.uint8), torch.randint(0, 10, (args.n,), generator=g))
    augment = make_augment(args.augment)
    names = ["gpu_resident", "cpu_tensor", "dataloader"] + (["dataloader_per_sample"] if args.per_sample else [])
    print(f"device={device} n={args.n} batch={args.batch_size} epochs={args.epochs} workers={args.num_workers} augment={args.augment} torch_threads={torch.get_num_threads()}")
    rates = {name: run_path(name, split, args, device, augment) for name in names}
    base = rates["dataloader"]
    print(f"{'path':<24}{'images/s':>12}{'vs dataloader':>16}")
    for name, r in rates.items():
        print(f"{name:<24}{r:>12,.0f}{r / base:>15.2f}x")


if __name__ == "__main__":
    main()
