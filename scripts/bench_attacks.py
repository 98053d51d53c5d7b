"""Benchmark the evaluation paths of the attack suite against straightforward reference loops.

On one CNN-6 (``create_model("cnn6", in_channels=3)``), trained for a few seconds on
sklearn's 8x8 digits upsampled to 32x32 and replicated to 3 channels (undefended), and
on the same clean-correct points, batch and device:

1. FGSM 9-eps sweep: ``FGSM.predictions`` (one gradient for every eps) vs running FGSM
   once per eps (target: >= 2x);
2. PGD-20 (uniform start, step 2.5 eps / 20): ``PGD.predictions`` (best iterate, points
   leave the batch once fooled) vs a reference PGD over all points to the last iterate,
   both from the same random start (target: >= 2x, robust accuracy no higher);
3. AutoAttack standard: our wrapper vs calling ``pyautoattack`` directly with the same
   seed (target: overhead < 5%; the robust flags must agree).

Times are the best of ``--repeats`` runs (wall clock), ours and the reference
alternating. The default eps 0.3 (paper prs's MNIST eps; digits are MNIST-like) fools the
undefended model within a few steps, as a standard eps does for an undefended model; at
smaller eps AutoAttack's later attacks (APGD-T, FAB-T, Square) dominate the run time on a
CPU. Usage::

    python scripts/bench_attacks.py [--n 256] [--aa-n 32] [--eps 0.3] [--device cpu|cuda] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from pyautoattack import AutoAttack
from sklearn.datasets import load_digits

from robustbench_runner.attacks import create_attack, project_linf
from robustbench_runner.attacks.official import library_call
from robustbench_runner.models import create_model

FGSM_GRID = [0.0, 0.0125, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]  # paper auc's 9 eps


# -- data and model --------------------------------------------------------------------
def digits_32(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """sklearn digits in [0, 1], bilinearly upsampled 8x8 -> 32x32, 3 channels."""
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).div(16).unsqueeze(1)
    x = F.interpolate(x, size=32, mode="bilinear", align_corners=False).clamp(0, 1).repeat(1, 3, 1, 1)
    return x.to(device), torch.tensor(data.target, device=device)


def train_cnn6(x, y, epochs: int, seed: int, device: torch.device) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = create_model("cnn6", in_channels=3).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            for idx in torch.randperm(len(x), device=device).split(64):
                opt.zero_grad()
                F.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
    return model.eval().requires_grad_(False)


# -- reference loops (what one would write without the engine's tricks) ---------------------
def reference_fgsm_sweep(model, x, y, grid):
    preds = {}
    for eps in grid:  # one gradient per eps
        xg = x.clone().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y), xg)
        with torch.no_grad():
            preds[eps] = model((x + eps * grad.sign()).clamp(0, 1)).argmax(1)
    return preds


def reference_pgd(model, x, y, eps, steps, seed):
    """PGD over every point for every step; robustness judged on the last iterate. The
    start is drawn like PGD._start (same generator, same seed), so both paths begin at the
    same points."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    noise = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1
    x_adv = project_linf(x + eps * noise, x, eps)
    alpha = 2.5 * eps / steps
    for _ in range(steps):
        xg = x_adv.clone().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
        x_adv = project_linf(x_adv + alpha * grad.sign(), x, eps)
    with torch.no_grad():
        return model(x_adv).argmax(1)


def direct_autoattack(model, x, y, eps, seed):
    adversary = AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=seed, device=x.device)
    adversary.verbose = False
    return adversary.run_standard_evaluation(x, y, batch_size=len(x))[1]


# -- timing ----------------------------------------------------------------------------
def paired_best(reference, ours, repeats: int, device: torch.device):
    """Best wall time of each of two callables over ``repeats`` alternating runs (so load
    changes on a shared machine hit both alike): (t_ref, out_ref, t_ours, out_ours)."""
    best = {"ref": float("inf"), "ours": float("inf")}
    out = {}
    for _ in range(repeats):
        for key, fn in (("ours", ours), ("ref", reference)):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            out[key] = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best[key] = min(best[key], time.perf_counter() - start)
    return best["ref"], out["ref"], best["ours"], out["ours"]


def acc(pred, y) -> float:
    return (pred == y).float().mean().item()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=256, help="points for the FGSM and PGD benchmarks")
    parser.add_argument("--aa-n", type=int, default=32, help="points for the AutoAttack benchmark")
    parser.add_argument("--eps", type=float, default=0.3,
                        help="eps of PGD-20 and AutoAttack (0.3: paper prs's MNIST eps; digits are MNIST-like)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)

    t0 = time.perf_counter()
    x_all, y_all = digits_32(device)
    perm = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(args.seed)).to(device)
    train, test = perm[:1300], perm[1300:]
    model = train_cnn6(x_all[train], y_all[train], args.train_epochs, args.seed, device)
    with torch.no_grad():
        pred = model(x_all[test]).argmax(1)
    correct = test[pred == y_all[test]]
    print(f"CNN-6 on digits 32x32, {args.train_epochs} epochs ({time.perf_counter() - t0:.0f} s): "
          f"clean accuracy {acc(pred, y_all[test]):.3f}; device {device}, repeats {args.repeats}", flush=True)
    n = min(args.n, len(correct))
    x, y = x_all[correct[:n]], y_all[correct[:n]]

    rows = []
    print("1/3 FGSM sweep ...", flush=True)
    # 1. FGSM sweep
    ours = create_attack("fgsm", model, eps=FGSM_GRID)
    t_ref, p_ref, t_ours, p_ours = paired_best(
        lambda: reference_fgsm_sweep(model, x, y, FGSM_GRID), lambda: ours.predictions(x, y), args.repeats, device
    )
    same = all(torch.equal(p_ours[e], p_ref[e]) for e in FGSM_GRID)
    rows.append(("FGSM 9-eps sweep", n, t_ref, t_ours, f"{t_ref / t_ours:.2f}x (>= 2x)",
                 f"acc@0.3 ref {acc(p_ref[0.3], y):.3f} ours {acc(p_ours[0.3], y):.3f} same={same}"))

    print("2/3 PGD-20 ...", flush=True)
    # 2. PGD-20
    def run_pgd():
        return create_attack("pgd", model, eps=args.eps, steps=20, seed=args.seed).predictions(x, y)[args.eps]

    t_ref, p_ref, t_ours, p_ours = paired_best(
        lambda: reference_pgd(model, x, y, args.eps, 20, args.seed), run_pgd, args.repeats, device
    )
    rows.append((f"PGD-20 eps {args.eps:g}", n, t_ref, t_ours, f"{t_ref / t_ours:.2f}x (>= 2x)",
                 f"robust ref {acc(p_ref, y):.3f} ours {acc(p_ours, y):.3f} (ours <= ref: {acc(p_ours, y) <= acc(p_ref, y)})"))

    print("3/3 AutoAttack ...", flush=True)
    # 3. AutoAttack
    m = min(args.aa_n, n)
    xa, ya = x[:m], y[:m]
    wrapper = create_attack("autoattack", model, eps=args.eps, seed=args.seed)

    def run_direct():
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return direct_autoattack(model, xa, ya, args.eps, args.seed)

    t_ref, p_ref, t_ours, p_ours = paired_best(
        run_direct, lambda: wrapper.predictions(xa, ya)[args.eps], args.repeats, device
    )
    rows.append((f"AutoAttack eps {args.eps:g}", m, t_ref, t_ours, f"overhead {100 * (t_ours / t_ref - 1):+.1f}% (< 5%)",
                 f"robust ref {acc(p_ref, ya):.3f} ours {acc(p_ours, ya):.3f} same flags={torch.equal(p_ours == ya, p_ref == ya)}"))

    # the wrapper's own work per call (RNG save/restore, silencing), free of load noise
    calls = 200
    start = time.perf_counter()
    for _ in range(calls):
        with library_call(verbose=False):
            pass
    bookkeeping_ms = 1000 * (time.perf_counter() - start) / calls

    print(f"{'benchmark':<22}{'n':>5}{'reference s':>13}{'ours s':>9}  {'ratio':<24}result")
    for name, count, t_r, t_o, ratio, note in rows:
        print(f"{name:<22}{count:>5}{t_r:>13.2f}{t_o:>9.2f}  {ratio:<24}{note}")
    print(f"AutoAttack wrapper bookkeeping per call: {bookkeeping_ms:.3f} ms "
          f"({100 * bookkeeping_ms / 1000 / rows[-1][2]:.4f}% of the direct run)")


if __name__ == "__main__":
    main()
