"""The engine changes of issue 22 on the CPU, each against the code it replaced, measured in the
same run on the same model, points and random numbers (the old code is copied here):

- PGD-20 best iterate: fooled points recorded on the device, the host looking every step (the
  CPU default) or every 4 steps (the accelerator default), vs a host sync (``fooled.any()``,
  ``int(live.sum())``) per step;
- MD (one 50-step run): the same change (``md.py``);
- one PGD-10 AT epoch: running sums on the device and a finite-loss check every 32 steps vs
  ``float(loss)`` and ``int(correct)`` per step (``train.py``);
- per-point random starts (a hash of each point, one CPU generator per point) vs one draw of
  the batch from a sequential generator (``randomness.py``), for PGD's start and SPSA's
  directions (packed bits, unpacked on the device);
- the DataLoader path: one DataLoader kept across epochs with persistent workers vs a new one
  (new worker processes) per epoch (``data/loader.py``).

Each line: old and new seconds (median of ``--repeat`` rounds, the order alternating), the
ratio old / new (> 1: the new code is faster) and whether the two give the same result (the
first five must: they change when the host looks, not what is computed). On a CPU there is
no host-device sync to save: these ratios measure what the changes cost here; what they save
on a GPU is for ``scripts/gpu_check.sh`` to measure (docs/performance.md, "to confirm on GPU").

    python scripts/bench_engine.py [--n 256] [--repeat 3] [--threads 1]
    python scripts/bench_engine.py --tiny      # seconds: proves the script runs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from robustbench_runner.attacks import create_attack  # noqa: E402
from robustbench_runner.attacks.base import project_linf  # noqa: E402
from robustbench_runner.data.base import ArraySplit  # noqa: E402
from robustbench_runner.data.loader import batches  # noqa: E402
from robustbench_runner.train import train_one_epoch  # noqa: E402


# -- the replaced code, as it was ----------------------------------------------------------------
def old_pgd_best_at(attack, x, y, eps, start):
    """PGD._best_at before issue 22 (one restart), from the given start."""
    preds, alpha = y.clone(), attack.alpha(eps)
    pos, x0, ya, xa = torch.arange(len(y)), x, y, start
    live = torch.ones_like(ya, dtype=torch.bool)
    for step in range(attack.steps + 1):
        if step < attack.steps:
            logits, grad = attack._loss_and_grad(xa, ya, None)
        else:
            logits = attack.model(xa)
        p = logits.argmax(dim=1)
        fooled = live & (p != ya) if (step > 0 or attack.clamp_start) else torch.zeros_like(live)
        if fooled.any():
            preds[pos[fooled]] = p[fooled]
            live &= ~fooled
        if step == attack.steps or not live.any():
            break
        xa = project_linf(xa + alpha * grad.sign(), x0, eps)
        dead = len(live) - int(live.sum())
        if dead and dead >= attack.compact_at * len(live):
            keep = live.nonzero().squeeze(1)
            pos, x0, ya, xa, live = pos[keep], x0[keep], ya[keep], xa[keep], live[keep]
    return preds


def old_md_run(md, x0, y0, eps, run, noise):
    """MD._run before issue 22, from the given start noise in [-1, 1)."""
    x_adv = project_linf(x0 + eps * noise, x0, eps)
    fooled = torch.zeros(len(x0), dtype=torch.bool)
    p_fool = y0.clone()
    active = torch.arange(len(x0))
    for i in range(md.steps + 1):
        xa, ya = x_adv[active], y0[active]
        if i < md.steps:
            xg = xa.detach().requires_grad_(True)
            with torch.enable_grad():
                logits = md.model(xg)
                (grad,) = torch.autograd.grad(md.objective(logits, ya, None, i, run).sum(), xg)
            logits = logits.detach()
        else:
            logits = md.model(xa)
        pred = logits.argmax(dim=1)
        hit = pred != ya
        if hit.any():
            fooled[active[hit]] = True
            p_fool[active[hit]] = pred[hit]
        keep = ~hit
        if i == md.steps or not keep.any():
            break
        active = active[keep]
        x_adv[active] = project_linf(xa[keep] + md.step_size(i, eps) * grad[keep].sign(), x0[active], eps)
    return fooled, p_fool


def old_train_epoch(model, scheme, opt, split, batch_size):
    """train.train_one_epoch's loop before issue 22: three host reads per batch."""
    model.train()
    total, correct, seen = 0.0, 0, 0
    for x, y in batches(split, batch_size, shuffle=True, generator=torch.Generator().manual_seed(1)):
        out = scheme.step(model, x, y, 1)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        loss = float(out.loss.detach())
        total += loss * len(y)
        correct += int((out.logits.detach().argmax(1) == y).sum())
        seen += len(y)
    return total / seen, correct / seen


# -- measuring --------------------------------------------------------------------------------
def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def compare(label, old, new, repeat, same=None):
    """Median seconds of each (order alternating per round), ratio, and same result."""
    t_old, t_new, outs = [], [], {}
    for r in range(repeat):
        for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
            sec, out = timed(old if name == "old" else new)
            (t_old if name == "old" else t_new).append(sec)
            outs.setdefault(name, out)
    a, b = statistics.median(t_old), statistics.median(t_new)
    eq = "-" if same is None else str(same(outs["old"], outs["new"]))
    print(f"{label:<66} {a:>8.3f} {b:>8.3f} {a / b:>7.2f}x  {eq}", flush=True)
    return a / b


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=256, help="points attacked / training images")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    p.add_argument("--tiny", action="store_true")
    args = p.parse_args(argv)
    if args.tiny:
        args.n, args.repeat, args.workers = 32, 1, 1
    torch.set_num_threads(args.threads)
    from robustbench_runner.data.digits import load_digits
    from robustbench_runner.models import create_model

    data = load_digits(image_size=16, channels=1)
    torch.manual_seed(0)
    model = create_model("cnn6", num_classes=10, in_channels=1, image_size=16, batch_norm=True)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    xt, yt = data.train.float_x(), data.train.y
    for _ in range(1 if args.tiny else 3):  # a model that attacks do not fool at once
        for i in range(0, 320 if args.tiny else len(xt), 64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[i : i + 64]), yt[i : i + 64]).backward()
            opt.step()
    model.eval().requires_grad_(False)
    x, y = data.test.float_x()[: args.n], data.test.y[: args.n]
    with torch.no_grad():
        keep = model(x).argmax(1) == y
    x, y = x[keep], y[keep]
    eps = 0.1
    print(f"CNN-6 (BN) on 16x16 digits, {len(x)} clean-correct points, eps {eps}, threads {torch.get_num_threads()}, "
          f"median of {args.repeat}; torch {torch.__version__}")  # fmt: skip
    print(f"{'change':<66} {'old s':>8} {'new s':>8} {'old/new':>8}  same result")

    for every in (None, 4):  # None: the CPU default (every step); 4: the accelerator default
        pgd = create_attack("pgd", model, eps=eps, steps=20, check_every=every)
        start = pgd._start(x, eps, y)
        with torch.no_grad():
            compare(f"PGD-20 best iterate, device-side records, host look every {every or 1}",
                    lambda pgd=pgd, start=start: old_pgd_best_at(pgd, x, y, eps, start),
                    lambda pgd=pgd: pgd._best_at(x, y, eps), args.repeat, torch.equal)  # fmt: skip
    md_kw = {"steps": 20, "change_point": 8} if args.tiny else {}
    for every in (None, 4):
        md = create_attack("md", model, eps=eps, check_every=every, **md_kw)
        keys = md.keys(x, y)
        noise = md.draw("uniform", x, keys, 0, 0, 0) * 2 - 1
        with torch.no_grad():
            compare(f"MD ({md.steps} steps, one run), host look every {every or 1}",
                    lambda md=md, noise=noise: old_md_run(md, x, y, eps, 0, noise),
                    lambda md=md, keys=keys: md._run(x, y, None, eps, 0, keys, (0, 0, 0))[::2],
                    args.repeat, lambda a, b: torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]))  # fmt: skip

    from hydra.utils import instantiate

    sys.path.insert(0, str(REPO / "scripts"))
    import bench_training as bt

    split = ArraySplit((data.train.x[: args.n] * 255).round().to(torch.uint8), data.train.y[: args.n])

    def epoch(new: bool):
        torch.manual_seed(0)
        m = create_model("cnn6", num_classes=10, in_channels=1, image_size=16, batch_norm=True)
        scheme = instantiate(bt.pgd_at_config().scheme)
        scheme.bind(m)
        scheme.reseed(0)
        o = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        if new:
            s = train_one_epoch(m, scheme, o, split, epoch=1, seed=0, batch_size=32, device=torch.device("cpu"), num_classes=10)
            return s.loss, s.acc
        return old_train_epoch(m, scheme, o, split, 32)

    # the new loop draws its order from (seed, epoch); the copy of the old one from seed 1: the
    # two epochs see other batches, so only the time is compared here (tests/test_train_run.py
    # and the byte-identical resume tests check the numbers)
    compare("PGD-10 AT epoch: sums on the device vs 3 host reads per step", lambda: epoch(False), lambda: epoch(True), args.repeat)

    def starts(per_point: bool):
        a = create_attack("pgd", model, eps=eps, steps=1)
        if not per_point:
            a.use_stream()
        return a._start(x, eps, y)

    compare("PGD start: per point (hash + generator each) vs one batch draw", lambda: starts(False), lambda: starts(True), args.repeat)

    def directions(per_point: bool):
        s = create_attack("spsa", model, eps=eps, samples=256)
        if not per_point:
            s.use_stream()
        k = s.keys(x, y) if per_point else None
        return s.draw("sign", x, k, 1, 1, row_shape=(s.pairs, *x.shape[1:]))

    compare("SPSA directions (128 pairs): per point, packed bits vs one draw", lambda: directions(False), lambda: directions(True), args.repeat)

    big = ArraySplit(split.x.repeat(4, 1, 1, 1), split.y.repeat(4))

    def passes(kept: bool, epochs: int = 3):
        total = 0.0
        for e in range(epochs):
            sp = big if kept else ArraySplit(big.x, big.y)  # a new split object: a new DataLoader and workers
            for xb, _ in batches(sp, 64, shuffle=True, generator=torch.Generator().manual_seed(e), loader="dataloader",
                                 num_workers=args.workers, pin_memory=False):  # fmt: skip
                total += float(xb[0, 0, 0, 0])
        return total

    compare(f"DataLoader, {args.workers} workers, 3 epochs: persistent vs new per epoch",
            lambda: passes(False), lambda: passes(True), args.repeat, lambda a, b: a == b)  # fmt: skip
    big.loaders.clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
