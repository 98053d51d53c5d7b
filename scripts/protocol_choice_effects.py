"""Measure what the protocol choices of papers samplerob, vir and irat do, at smoke scale on a CPU.

Prints markdown tables (docs/evaluation.md quotes them):

1. paper samplerob's small CNN with and without the Keras cifar10_cnn example's augmentation
   (``data.augment``: ``shift_flip`` = shift 0.1 + horizontal flip, vs ``none``), trained on
   ``--aug-images`` real MNIST images (``dataset=mnist_sample``; CIFAR-10 is not available
   offline) with the experiment's RMSprop; train and test accuracy after each epoch;
2. paper vir's SPSA ``iterate: last`` (cleverhans) vs ``best`` (first fooling iterate), and
3. paper vir's Square ``p_init`` 0.8 (AutoAttack) vs 0.05 (standalone Square), both on an MLP
   64-32-10 trained on scikit-learn's 8x8 digits (the attack tests' fixture), standard or
   FGSM-trained, 100 clean-correct held-out points;
4. paper irat's weight decay, 5e-4 (run for WRN-34-10) vs 5e-5 (printed), on the same MLP trained
   with SGD (a WRN-34-10 does not train on a CPU in minutes): clean and PGD-20 accuracy.

    PYTHONPATH=. python scripts/protocol_choice_effects.py [--out DIR] [--only aug spsa square wd]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from robustbench_runner.attacks import create_attack  # noqa: E402


def rbr(root: Path, *args: str) -> Path:
    tag = [a for a in args if a.startswith("tag=")][0][4:]
    subprocess.run([sys.executable, "-m", "robustbench_runner.run", "progress=false", f"output_root={root}", *args],
                   check=True, capture_output=True, cwd=REPO)
    (run,) = [p for p in (root / "runs").iterdir() if p.name.endswith(tag)]
    return run


def augmentation(root: Path, epochs: int, images: int) -> None:
    print(f"## samplerob small CNN: data.augment shift_flip vs none ({images} mnist_sample training images, {epochs} epochs, batch 32, RMSprop lr 1e-4; test = the 1,000 held-out images)\n")
    rows = {}
    for aug in ("shift_flip", "none"):
        run = rbr(root, "experiment=samplerob/small_cnn", "dataset=mnist_sample", "data.image_size=28", "data.subset=null",
                  "~analysis.subset_eval", f"data.limit_train={images}", f"train.epochs={epochs}", f"eval.grid=[{','.join(map(str, range(1, epochs + 1)))}]",
                  f"data.augment={aug}", f"tag=aug-{aug}")
        m = pd.read_csv(run / "metrics.csv")
        log = pd.read_csv(run / "train_log.csv")
        test = m[(m.attack == "clean") & (m.metric == "acc") & (m.split == "test")].set_index("epoch").value
        rows[aug] = (log.set_index("epoch")["acc"], test)
    print("| epoch | train acc, shift_flip | test acc, shift_flip | train acc, none | test acc, none |")
    print("|---|---|---|---|---|")
    for e in range(1, epochs + 1):
        a, b = rows["shift_flip"], rows["none"]
        print(f"| {e} | {100 * a[0][e]:.1f} | {100 * a[1][e]:.1f} | {100 * b[0][e]:.1f} | {100 * b[1][e]:.1f} |")
    print()


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return torch.tensor(d.images, dtype=torch.float32).div(16).unsqueeze(1), torch.tensor(d.target)


def mlp(x, y, *, epochs: int = 60, wd: float = 0.0, fgsm_eps: float = 0.0, seed: int = 0):
    """MLP 64-32-10, full-batch SGD (lr 0.5, momentum 0.9) on the first 1,200 digits; with
    ``fgsm_eps`` > 0 trained on FGSM examples (a cheap robust model). Eval mode, frozen."""
    from torch import nn

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=wd)
        xt, yt = x[:1200], y[:1200]
        for _ in range(epochs):
            inp = xt
            if fgsm_eps:
                xa = xt.clone().requires_grad_(True)
                g, = torch.autograd.grad(nn.functional.cross_entropy(model(xa), yt), xa)
                inp = (xt + fgsm_eps * g.sign()).clamp(0, 1)
            opt.zero_grad()
            nn.functional.cross_entropy(model(inp), yt).backward()
            opt.step()
    return model.eval().requires_grad_(False)


def held_out(model, x, y, n: int = 100):
    with torch.no_grad():
        ok = model(x[1200:]).argmax(1) == y[1200:]
    clean = ok.float().mean().item()
    return x[1200:][ok][:n], y[1200:][ok][:n], clean


def robust(attack, x, y, eps) -> float:
    return (attack.predictions(x, y)[eps] == y).float().mean().item()


def attacks(which: list[str]) -> None:
    x, y = digits()
    models = {"ST": mlp(x, y), "FGSM-AT (eps 0.1)": mlp(x, y, fgsm_eps=0.1)}
    eps = 0.1
    if "spsa" in which:
        print(f"## vir SPSA: iterate last vs best (robust accuracy % of 100 clean-correct points, eps {eps}, 100 iterations, 256 queries per estimate, lr 0.01, perturbation 0.001)\n")
        print("| model | clean (all held-out) | best | last | last - best |")
        print("|---|---|---|---|---|")
        for name, model in models.items():
            xs, ys, clean = held_out(model, x, y)
            v = {it: robust(create_attack("spsa", model, eps=eps, iterations=100, samples=256, iterate=it), xs, ys, eps) for it in ("best", "last")}
            print(f"| {name} | {100 * clean:.1f} | {100 * v['best']:.1f} | {100 * v['last']:.1f} | {100 * (v['last'] - v['best']):+.1f} |")
        print()
    if "square" in which:
        print(f"## vir Square: p_init 0.8 (AutoAttack) vs 0.05 (standalone Square) (robust accuracy % of 100 clean-correct points, eps {eps})\n")
        print("| model | queries | p_init 0.8 | p_init 0.05 | 0.05 - 0.8 |")
        print("|---|---|---|---|---|")
        for name, model in models.items():
            xs, ys, _ = held_out(model, x, y)
            for q in (100, 1000, 5000):
                v = {p: robust(create_attack("square", model, eps=eps, n_queries=q, p_init=p), xs, ys, eps) for p in (0.8, 0.05)}
                print(f"| {name} | {q} | {100 * v[0.8]:.1f} | {100 * v[0.05]:.1f} | {100 * (v[0.05] - v[0.8]):+.1f} |")
        print()


def weight_decay() -> None:
    x, y = digits()
    print("## irat weight decay 5e-4 (run) vs 5e-5 (printed): MLP on digits, full-batch SGD, 60 epochs, standard and FGSM-AT (eps 0.1) (accuracy %)\n")
    print("| training | weight decay | clean (all held-out) | PGD-20 eps 0.1 (100 clean-correct points) |")
    print("|---|---|---|---|")
    for label, fe in (("ST", 0.0), ("FGSM-AT", 0.1)):
        for wd in (5e-4, 5e-5):
            model = mlp(x, y, wd=wd, fgsm_eps=fe)
            xs, ys, clean = held_out(model, x, y)
            print(f"| {label} | {wd:g} | {100 * clean:.2f} | {100 * robust(create_attack('pgd', model, eps=0.1, steps=20), xs, ys, 0.1):.2f} |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", nargs="*", default=["aug", "spsa", "square", "wd"])
    ap.add_argument("--aug-epochs", type=int, default=4)
    ap.add_argument("--aug-images", type=int, default=1000)
    a = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(a.out or tempfile.mkdtemp(prefix="rbr-choices-"))
    if {"spsa", "square"} & set(a.only):
        attacks(a.only)
    if "wd" in a.only:
        weight_decay()
    if "aug" in a.only:
        augmentation(root / "aug", a.aug_epochs, a.aug_images)


if __name__ == "__main__":
    main()
