"""The GPU path in one table (run by ``scripts/gpu_check.sh``): one PGD-10 AT epoch of a model on
CIFAR-shaped synthetic data in fp32 (``deterministic`` on, the default, and off: cuDNN
autotuning), channels_last, bf16 autocast and ``torch.compile`` (each figure and its speed-up
over our fp32 path, plus the official TRADES/MAIL-style loop of ``scripts/bench_training.py``),
and the training-batch paths ``data.on_gpu=true`` vs the DataLoader; peak device memory of
each. Prints the table and writes it to ``--csv``.

Every row warms up first on the shapes and in the precision it is timed with (a full batch
and the epoch's last, smaller one; bf16 rows in bf16), so the timed epoch compiles and tunes
nothing; the ``torch.compile`` row reports its compilation time and any recompile that still
happens in the timed epoch. A row that fails (a compile error, an out-of-memory...) is
marked ``FAILED: <reason>`` and the others still run; a speed-up is printed only when both
its row and the row it is measured against were measured. The script exits 1 when any row
failed or gave a non-finite figure, naming each, so ``gpu_check.sh`` fails loudly.

    python scripts/bench_gpu.py --device cuda --csv gpu_check.csv    # ResNet-18, 10,000 images
    python scripts/bench_gpu.py --tiny                               # CPU, LeNet, seconds

``RBR_BENCH_FAIL=<text>`` makes every row whose variant contains <text> fail (tests of the
failure path).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import math
import os
import sys
import time
from pathlib import Path

import torch

from robustbench_runner.data.augment import make_augment
from robustbench_runner.data.base import ArraySplit
from robustbench_runner.data.loader import batches
from robustbench_runner.models import create_model
from robustbench_runner.seeding import set_deterministic

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


class Row(list):
    """[section, variant, seconds, images/s, speed-up, peak MiB, note]; ``failed``: the reason."""

    failed: str | None = None


def injected(variant: str) -> None:
    """``RBR_BENCH_FAIL``: make this row fail (tests of the failure path)."""
    text = os.environ.get("RBR_BENCH_FAIL")
    if text and text in variant:
        raise RuntimeError(f"injected failure (RBR_BENCH_FAIL={text!r})")


def run_row(section: str, variant: str, n: int, device, body) -> Row:
    """Measure ``body() -> (seconds, peak MiB, note)``; a failure becomes a FAILED row."""
    try:
        injected(variant)
        sec, mib, note = body()
        row = Row([section, variant, sec, n / sec, None, mib, note])
        if not math.isfinite(sec) or sec <= 0:
            row.failed = f"non-finite or zero time {sec}"
    except Exception as e:  # report the row, go on with the others
        row = Row([section, variant, float("nan"), float("nan"), None, float("nan"), ""])
        row.failed = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if row.failed:
        row[6] = f"FAILED: {row.failed}"
    print(f"  {section} / {variant}: " + (row[6] if row.failed else f"{row[2]:.2f} s"), flush=True)
    return row


def speedups(rows: list[Row], base_variant: str) -> None:
    """speed-up = base seconds / row seconds, only where both were measured."""
    base = next((r for r in rows if r[1] == base_variant), None)
    for r in rows:
        if base is None or base.failed or r.failed:
            r[4] = None
            if not r.failed:
                r[6] = (r[6] + "; " if r[6] else "") + f"no speed-up: {base_variant} was not measured"
        else:
            r[4] = base[2] / r[2]


def dynamo_graphs() -> int | None:
    """Graphs compiled so far by torch.compile (None when torch does not count them)."""
    with contextlib.suppress(Exception):
        from torch._dynamo.utils import counters

        return int(counters["stats"]["unique_graphs"])
    return None


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

    # (variant, channels_last, bf16, torch.compile, deterministic)
    variants = [
        ("ours fp32", False, False, False, True),
        ("ours fp32, deterministic=false (cuDNN autotuning)", False, False, False, False),
        ("ours channels_last", True, False, False, True),
        ("ours channels_last + bf16 autocast", True, True, False, True),
    ]
    if args.compile:
        variants.append(("ours channels_last + bf16 + torch.compile", True, True, True, True))
    # the warm-up split has the timed epoch's two batch shapes: a full batch and the last one
    tail = args.n % args.batch_size
    warm = ArraySplit(x[: args.batch_size + tail], y[: args.batch_size + tail])
    rows = []

    def official():
        bt.official_style_epoch(fresh(False), warm.x, warm.y, args.batch_size, device, 0)
        sec, mib = measure(lambda: bt.official_style_epoch(fresh(False), x, y, args.batch_size, device, args.workers), device)
        return sec, mib, ""

    rows.append(run_row("AT epoch", "official-style loop (fp32)", args.n, device, official))
    for name, cl, amp, compiled, deterministic in variants:

        def body(cl=cl, amp=amp, compiled=compiled, deterministic=deterministic):
            set_deterministic(deterministic)
            try:
                model = fresh(cl, compiled)
                t_warm, _ = measure(lambda: bt.ours_epoch(model, warm, args.batch_size, device, cl, amp, aug), device)
                graphs = dynamo_graphs()
                sec, mib = measure(lambda: bt.ours_epoch(model, split, args.batch_size, device, cl, amp, aug), device)
            finally:
                set_deterministic(True)
            note = ""
            if compiled:
                after = dynamo_graphs()
                recompiles = "unknown" if graphs is None or after is None else after - graphs
                note = f"warm-up incl. compilation {t_warm:.1f} s; recompiles in the timed epoch: {recompiles}"
            return sec, mib, note

        rows.append(run_row("AT epoch", name, args.n, device, body))
    speedups(rows, "ours fp32")
    return rows


def data_rows(args, device):
    g = torch.Generator().manual_seed(0)
    split = ArraySplit(torch.randint(0, 256, (args.data_n, 3, 32, 32), generator=g, dtype=torch.uint8),
                       torch.randint(0, 10, (args.data_n,), generator=g))  # fmt: skip
    aug = make_augment("crop_flip")
    loader_name = f"data.loader=dataloader ({args.workers} workers)"
    paths = {
        "data.on_gpu=true" if device.type == "cuda" else "data.loader=tensor (on_gpu needs CUDA)": dict(split=split),
        loader_name: dict(split=split, loader="dataloader", num_workers=args.workers),
    }
    rows = []
    for name, kw in paths.items():

        def body(kw=kw):
            kw = dict(kw)
            sp = kw.pop("split")
            sp = sp.to(device) if "loader" not in kw else sp

            def one_pass():
                acc = torch.zeros((), device=device)
                for xb, _ in batches(sp, args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(1),
                                     device=device, augment=aug, drop_last=False, **kw):  # fmt: skip
                    acc += xb.mean()
                float(acc)

            one_pass()  # warm-up (workers, allocator)
            sec, mib = measure(one_pass, device)
            return sec, mib, "crop_flip on the device"

        rows.append(run_row("data pass", name, args.data_n, device, body))
    speedups(rows, loader_name)
    return rows


def fmt(value, spec: str, unit: str = "") -> str:
    """A measured number, or '-' where there is none (never 'nan')."""
    return f"{value:{spec}}{unit}" if value is not None and math.isfinite(value) else "-"


def print_table(rows):
    print(f"{'section':<10} {'variant':<50} {'seconds':>8} {'images/s':>10} {'speed-up':>9} {'peak MiB':>9}  note")
    for s, v, sec, ips, sp, mib, note in rows:
        print(f"{s:<10} {v:<50} {fmt(sec, '.2f'):>8} {fmt(ips, '.1f'):>10} {fmt(sp, '.2f', 'x'):>9} {fmt(mib, '.0f'):>9}  {note}")


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
                w.writerow([name, r[0], r[1], fmt(r[2], ".4f"), fmt(r[3], ".2f"), fmt(r[4], ".3f"), fmt(r[5], ".1f"), r[6]])
        print(f"wrote {args.csv}")
    failed = [r for r in rows if r.failed]
    for r in failed:
        print(f"bench_gpu: FAILED row {r[0]} / {r[1]}: {r.failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
