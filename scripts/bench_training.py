"""Benchmark: images/s of one PGD-10 adversarial-training epoch.

Our path (``train.train_one_epoch`` with the ``pgd_at`` scheme built from its config, the
batching of ``data.loader``, ``channels_last``/AMP as configured) against a straightforward
reference loop written here (Madry-style PGD-10 inline, NCHW float32, same model
architecture, same data, same device), measured in the same run. Prints images/s and ratios.

    python scripts/bench_training.py                       # CPU, CNN-6, 512 CIFAR-shaped images
    python scripts/bench_training.py --device cuda --model resnet18 --n 10000 --amp
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

import robustbench_runner.config  # noqa: F401  (resolvers)
from robustbench_runner.data.base import ArraySplit
from robustbench_runner.models import create_model
from robustbench_runner.run import CONF_DIR
from robustbench_runner.train import train_one_epoch

EPS, STEP, STEPS = 8 / 255, 2 / 255, 10


def reference_epoch(model, x_all, y_all, batch_size, device):
    """The loop a paper's script would have: PGD-10 (uniform start) then a CE step."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    perm = torch.randperm(len(x_all))
    for i in range(0, len(x_all), batch_size):
        idx = perm[i : i + batch_size]
        x = x_all[idx].to(device).float().div(255)
        y = y_all[idx].to(device)
        x_adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1)
        for _ in range(STEPS):
            x_adv.requires_grad_(True)
            loss = F.cross_entropy(model(x_adv), y)
            (g,) = torch.autograd.grad(loss, x_adv)
            x_adv = torch.min(torch.max(x_adv.detach() + STEP * g.sign(), x - EPS), x + EPS).clamp(0, 1)
        loss = F.cross_entropy(model(x_adv), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def ours_epoch(model, split, batch_size, device, channels_last, amp):
    scheme_cfg = OmegaConf.load(f"{CONF_DIR}/scheme/pgd_at.yaml")
    root = OmegaConf.create({"data": {"eps": EPS}, "scheme": scheme_cfg})
    scheme = instantiate(root.scheme)
    scheme.bind(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    train_one_epoch(model, scheme, opt, split, epoch=1, seed=0, batch_size=batch_size, device=device,
                    num_classes=10, amp=amp, channels_last=channels_last)  # fmt: skip


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--model", default="cnn6")
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--amp", action="store_true", help="bf16 autocast in our path (CUDA)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.n, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (args.n,), generator=g)
    split = ArraySplit(x, y)

    def fresh(cl: bool):
        torch.manual_seed(0)
        m = create_model(args.model, num_classes=10, in_channels=3, image_size=32).to(device)
        return m.to(memory_format=torch.channels_last) if cl else m

    # warm-up (kernel selection, allocator), then measure each path once
    warm = ArraySplit(x[: args.batch_size], y[: args.batch_size])
    ours_epoch(fresh(False), warm, args.batch_size, device, False, False)
    reference_epoch(fresh(False), warm.x, warm.y, args.batch_size, device)
    rows = []
    t_ref = timed(lambda: reference_epoch(fresh(False), x, y, args.batch_size, device), device)
    rows.append(("reference loop (NCHW, fp32)", t_ref))
    t_plain = timed(lambda: ours_epoch(fresh(False), split, args.batch_size, device, False, False), device)
    rows.append(("ours, channels_last off, fp32", t_plain))
    t_cl = timed(lambda: ours_epoch(fresh(True), split, args.batch_size, device, True, False), device)
    rows.append(("ours, channels_last on, fp32", t_cl))
    if args.amp:
        t_amp = timed(lambda: ours_epoch(fresh(True), split, args.batch_size, device, True, True), device)
        rows.append(("ours, channels_last + bf16 AMP", t_amp))
    print(f"PGD-10 AT epoch: model={args.model} n={args.n} batch={args.batch_size} device={device} threads={torch.get_num_threads()}")
    print(f"{'path':36s} {'seconds':>8s} {'images/s':>9s} {'vs reference':>12s}")
    for name, t in rows:
        print(f"{name:36s} {t:8.2f} {args.n / t:9.1f} {t_ref / t:11.2f}x")


if __name__ == "__main__":
    main()
