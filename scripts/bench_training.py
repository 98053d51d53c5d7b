"""Benchmark: images/s of one PGD-10 adversarial-training epoch.

Our path (``train.train_one_epoch`` with the ``pgd_at`` scheme built from its config, the
batching of ``data.loader``, ``channels_last``/AMP as configured, crop+flip augmentation on
the device) against two loops written here, on the same model architecture, data, batch
and device, measured in the same run:

- ``official-style``: written the way the official TRADES/MAIL training code does it
  (github:yaodongyu/TRADES ``trades.py``, github:QizhouWang/MAIL ``at_loss.py``/``train.py``):
  a torch ``DataLoader`` over a dataset that converts and augments one sample at a time
  (RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor), each batch moved to the
  device, ``model.eval()`` while PGD-10 runs, ``model.train()`` for the CE step;
- ``reference``: the same PGD-10 inline on pre-batched tensors (no augmentation), NCHW fp32;
  ``ours, no augment`` is our path doing that same work.

Prints seconds, images/s and each path's time ratio (``official-style s / path s``).

    python scripts/bench_training.py                       # CPU, CNN-6, 512 CIFAR-shaped images
    python scripts/bench_training.py --device cuda --model resnet18 --n 10000 --amp
    python scripts/bench_training.py --tiny                # seconds: proves the script runs
"""

from __future__ import annotations

import argparse
import time
from functools import cache

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

import robustbench_runner.config  # noqa: F401  (resolvers)
from robustbench_runner.data.augment import make_augment
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


class PerSampleCropFlip(torch.utils.data.Dataset):
    """What torchvision's CIFAR10(transform=Compose([RandomCrop(32, padding=4),
    RandomHorizontalFlip(), ToTensor()])) does per item, on uint8 tensors."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        img = F.pad(self.x[i], (4, 4, 4, 4))
        h, w = self.x.shape[-2:]
        top, left = torch.randint(0, 9, (2,)).tolist()
        img = img[:, top : top + h, left : left + w]
        if torch.rand(()) < 0.5:
            img = img.flip(-1)
        return img.float().div(255), self.y[i]


def official_style_epoch(model, x_all, y_all, batch_size, device, workers):
    """One epoch as the official TRADES/MAIL code writes it (PGD-AT branch of MAIL's
    ``at_loss``: eval mode for the attack, start x + 0.001 N(0, 1), autograd.grad on the input,
    sign step, clip to the ball and [0, 1]; train mode for the CE step)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = torch.utils.data.DataLoader(PerSampleCropFlip(x_all, y_all), batch_size=batch_size, shuffle=True,
                                         num_workers=workers, pin_memory=device.type == "cuda")  # fmt: skip
    model.train()
    for data, target in loader:
        x_nat, y = data.to(device), target.to(device)
        model.eval()
        x_adv = x_nat.detach() + 0.001 * torch.randn(x_nat.shape, device=device)
        for _ in range(STEPS):
            x_adv.requires_grad_()
            with torch.enable_grad():
                loss_ce = F.cross_entropy(model(x_adv), y)
            grad = torch.autograd.grad(loss_ce, [x_adv])[0]
            x_adv = x_adv.detach() + STEP * torch.sign(grad.detach())
            x_adv = torch.min(torch.max(x_adv, x_nat - EPS), x_nat + EPS).clamp(0.0, 1.0)
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(x_adv.clamp(0.0, 1.0)), y)
        loss.backward()
        opt.step()


@cache
def pgd_at_config():
    """The composed config of ``scheme=pgd_at`` at this benchmark's eps (the scheme composes its
    training attack from ``conf/attack/pgd.yaml`` through its defaults list)."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=["scheme=pgd_at", f"data.eps={EPS}"])


def ours_epoch(model, split, batch_size, device, channels_last, amp, augment=None):
    scheme = instantiate(pgd_at_config().scheme)
    scheme.bind(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    train_one_epoch(model, scheme, opt, split, epoch=1, seed=0, batch_size=batch_size, device=device,
                    num_classes=10, amp=amp, channels_last=channels_last, augment=augment)  # fmt: skip


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--model", default="cnn6")
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--amp", action="store_true", help="bf16 autocast in our path (CUDA)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the official-style loop")
    p.add_argument("--tiny", action="store_true", help="LeNet, 64 images, batch 32 (tests)")
    args = p.parse_args(argv)
    if args.tiny:
        args.model, args.n, args.batch_size, args.workers = "lenet", 64, 32, 0
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
    aug = make_augment("crop_flip")
    ours_epoch(fresh(False), warm, args.batch_size, device, False, False, aug)
    reference_epoch(fresh(False), warm.x, warm.y, args.batch_size, device)
    official_style_epoch(fresh(False), warm.x, warm.y, args.batch_size, device, 0)
    rows = []
    t_off = timed(lambda: official_style_epoch(fresh(False), x, y, args.batch_size, device, args.workers), device)
    rows.append((f"official-style loop (DataLoader, {args.workers} workers)", t_off))
    t_ref = timed(lambda: reference_epoch(fresh(False), x, y, args.batch_size, device), device)
    rows.append(("reference loop (tensors, no augment)", t_ref))
    t_noaug = timed(lambda: ours_epoch(fresh(False), split, args.batch_size, device, False, False, None), device)
    rows.append(("ours, no augment, channels_last off, fp32", t_noaug))  # the reference loop's work
    t_plain = timed(lambda: ours_epoch(fresh(False), split, args.batch_size, device, False, False, aug), device)
    rows.append(("ours, channels_last off, fp32", t_plain))
    t_cl = timed(lambda: ours_epoch(fresh(True), split, args.batch_size, device, True, False, aug), device)
    rows.append(("ours, channels_last on, fp32", t_cl))
    if args.amp:
        t_amp = timed(lambda: ours_epoch(fresh(True), split, args.batch_size, device, True, True, aug), device)
        rows.append(("ours, channels_last + bf16 AMP", t_amp))
    print(f"PGD-10 AT epoch: model={args.model} n={args.n} batch={args.batch_size} device={device} threads={torch.get_num_threads()}")
    print(f"{'path':44s} {'seconds':>8s} {'images/s':>9s} {'official-style s / s':>21s}")
    for name, t in rows:
        print(f"{name:44s} {t:8.2f} {args.n / t:9.1f} {t_off / t:20.2f}x")
    return rows


if __name__ == "__main__":
    main()
