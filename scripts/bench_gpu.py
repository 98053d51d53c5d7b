"""The GPU path in one table (run by ``scripts/gpu_check.sh``): one PGD-10 AT epoch of a model on
CIFAR-shaped synthetic data in fp32, channels_last, bf16 autocast and ``torch.compile``
(each figure and its speed-up over our fp32 path, plus the official TRADES/MAIL-style loop of
``scripts/bench_training.py``), and the training-batch paths ``data.on_gpu=true`` vs the
DataLoader; peak device memory of each. Prints the table and writes it to ``--csv``.

    python scripts/bench_gpu.py --device cuda --csv gpu_check.csv    # ResNet-18, 10,000 images
    python scripts/bench_gpu.py --tiny                               # CPU, LeNet, seconds
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
import time
from pathlib import Path

import torch

from robustbench_runner.data.augment import make_augment
from robustbench_runner.data.base import ArraySplit
from robustbench_runner.data.loader import batches
from robustbench_runner.models import create_model

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["section", "variant", "seconds", "images_per_s", "speedup", "peak_mem_mib", "note"]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def measure(fn, device):
    """(seconds, peak MiB) of ``fn()``; peak memory from the CUDA allocator (NaN on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
        return time.perf_counter() - t0, torch.cuda.max_memory_allocated() / 2**20
    return time.perf_counter() - t0, float("nan")


def at_epoch_rows(args, device, bt):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.n, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (args.n,), generator=g)
    split, aug = ArraySplit(x, y), make_augment("crop_flip")

    def fresh(cl: bool, compiled: bool = False):
        torch.manual_seed(0)
        m = create_model(args.model, num_classes=10, in_channels=3, image_size=32).to(device)
        m = m.to(memory_format=torch.channels_last) if cl else m
        return torch.compile(m) if compiled else m

    variants = [
        ("official-style loop (fp32)", lambda m: bt.official_style_epoch(m, x, y, args.batch_size, device, args.workers), False, False),
        ("ours fp32", lambda m: bt.ours_epoch(m, split, args.batch_size, device, False, False, aug), False, False),
        ("ours channels_last", lambda m: bt.ours_epoch(m, split, args.batch_size, device, True, False, aug), True, False),
        ("ours channels_last + bf16 autocast", lambda m: bt.ours_epoch(m, split, args.batch_size, device, True, True, aug), True, False),
    ]
    if args.compile:
        variants.append(("ours channels_last + bf16 + torch.compile",
                         lambda m: bt.ours_epoch(m, split, args.batch_size, device, True, True, aug), True, True))  # fmt: skip
    rows, base = [], None
    warm = ArraySplit(x[: args.batch_size], y[: args.batch_size])
    for name, fn, cl, compiled in variants:
        model = fresh(cl, compiled)
        note = ""
        if compiled:  # compilation happens in the first epoch: report it, time the next one
            t_compile, _ = measure(lambda model=model: bt.ours_epoch(model, warm, args.batch_size, device, True, True, aug), device)
            note = f"first batch incl. compilation {t_compile:.1f} s"
        else:  # kernel selection and allocator warm-up on one batch
            bt.ours_epoch(fresh(cl), warm, args.batch_size, device, cl, False, aug)
        sec, mib = measure(lambda fn=fn, model=model: fn(model), device)
        base = sec if name == "ours fp32" else base
        rows.append(["AT epoch", name, sec, args.n / sec, None, mib, note])
    for r in rows:
        r[4] = base / r[2]
    return rows


def data_rows(args, device):
    g = torch.Generator().manual_seed(0)
    split = ArraySplit(torch.randint(0, 256, (args.data_n, 3, 32, 32), generator=g, dtype=torch.uint8),
                       torch.randint(0, 10, (args.data_n,), generator=g))  # fmt: skip
    aug = make_augment("crop_flip")
    paths = {
        "data.on_gpu=true" if device.type == "cuda" else "data.loader=tensor (on_gpu needs CUDA)": dict(split=split.to(device)),
        f"data.loader=dataloader ({args.workers} workers)": dict(split=split, loader="dataloader", num_workers=args.workers),
    }
    rows = []
    for name, kw in paths.items():
        sp = kw.pop("split")

        def one_pass(sp=sp, kw=kw):
            acc = torch.zeros((), device=device)
            for xb, _ in batches(sp, args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(1),
                                 device=device, augment=aug, drop_last=False, **kw):  # fmt: skip
                acc += xb.mean()
            float(acc)

        one_pass()  # warm-up (workers, allocator)
        sec, mib = measure(one_pass, device)
        rows.append(["data pass", name, sec, args.data_n / sec, None, mib, "crop_flip on the device"])
    base = rows[-1][2]
    for r in rows:
        r[4] = base / r[2]
    return rows


def print_table(rows):
    print(f"{'section':<10} {'variant':<46} {'seconds':>8} {'images/s':>10} {'speed-up':>9} {'peak MiB':>9}  note")
    for s, v, sec, ips, sp, mib, note in rows:
        print(f"{s:<10} {v:<46} {sec:>8.2f} {ips:>10.1f} {sp:>8.2f}x {mib:>9.0f}  {note}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--model", default="resnet18")
    p.add_argument("--n", type=int, default=10_000, help="images in the AT epoch")
    p.add_argument("--data-n", type=int, default=50_000, help="images in the data pass (CIFAR-10 size)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--no-compile", dest="compile", action="store_false")
    p.add_argument("--csv", default=None)
    p.add_argument("--tiny", action="store_true", help="CPU, LeNet, 64 images, no torch.compile")
    args = p.parse_args(argv)
    if args.tiny:
        args.device, args.model, args.n, args.data_n, args.batch_size, args.workers, args.compile = "cpu", "lenet", 64, 256, 32, 0, False
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}), torch {torch.__version__}, model {args.model}, AT epoch n={args.n}, "
          f"batch {args.batch_size}, threads {torch.get_num_threads()}", flush=True)  # fmt: skip
    bt = load_script("bench_training")
    rows = at_epoch_rows(args, device, bt) + data_rows(args, device)
    print_table(rows)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["device", *COLUMNS])
            for r in rows:
                w.writerow([name, r[0], r[1], f"{r[2]:.4f}", f"{r[3]:.2f}", f"{r[4]:.3f}", f"{r[5]:.1f}", r[6]])
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
