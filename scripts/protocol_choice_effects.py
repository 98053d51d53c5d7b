"""Measure what the protocol choices of papers samplerob, vir and irat do, at smoke scale on a CPU.

Prints markdown tables (docs/evaluation.md quotes them):

1. paper samplerob's small CNN with and without the Keras cifar10_cnn example's augmentation
   (``data.augment``: ``shift_flip`` = shift 0.1 + horizontal flip, vs ``none``), trained on
   the 4,000 real MNIST images of ``dataset=mnist_sample`` (CIFAR-10 is not available offline) with
   the experiment's RMSprop; train and test accuracy after each epoch;
2. paper vir's SPSA ``iterate: last`` (cleverhans) vs ``best`` (first fooling iterate), and
3. paper vir's Square ``p_init`` 0.8 (AutoAttack) vs 0.05 (standalone Square), on the two CNN-6
   digits models of ``scripts/eval_protocol_effects.py`` (standard and PGD-AT, 16x16 digits);
4. paper irat's weight decay, 5e-4 (run for WRN-34-10) vs 5e-5 (printed), on the PGD-AT digits
   CNN-6 (a WRN-34-10 does not train on a CPU in minutes): clean and PGD-20 accuracy.

    PYTHONPATH=. python scripts/protocol_choice_effects.py [--out DIR] [--only aug spsa square wd]
"""

from __future__ import annotations

import argparse
import importlib.util
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


def _effects_module():
    spec = importlib.util.spec_from_file_location("eval_protocol_effects", REPO / "scripts" / "eval_protocol_effects.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rbr(root: Path, *args: str) -> Path:
    tag = [a for a in args if a.startswith("tag=")][0][4:]
    subprocess.run([sys.executable, "-m", "robustbench_runner.run", "progress=false", f"output_root={root}", *args],
                   check=True, capture_output=True, cwd=REPO)
    (run,) = [p for p in (root / "runs").iterdir() if p.name.endswith(tag)]
    return run


def augmentation(root: Path, epochs: int) -> None:
    print(f"## samplerob small CNN: data.augment shift_flip vs none (the 4,000 mnist_sample training images, {epochs} epochs, batch 32, RMSprop lr 1e-4)\n")
    rows = {}
    for aug in ("shift_flip", "none"):
        run = rbr(root, "experiment=samplerob/small_cnn", "dataset=mnist_sample", "data.image_size=28", "data.subset=null",
                  "~analysis.subset_eval", f"train.epochs={epochs}", f"eval.grid=[{','.join(map(str, range(1, epochs + 1)))}]",
                  f"data.augment={aug}", f"tag=aug-{aug}")
        m = pd.read_csv(run / "metrics.csv")
        log = pd.read_csv(run / "train_log.csv")
        test = m[(m.attack == "clean") & (m.metric == "acc") & (m.split == "test")].set_index("epoch").value
        rows[aug] = (log.set_index("epoch").train_acc, test)
    print("| epoch | train acc, shift_flip | test acc, shift_flip | train acc, none | test acc, none |")
    print("|---|---|---|---|---|")
    for e in range(1, epochs + 1):
        a, b = rows["shift_flip"], rows["none"]
        print(f"| {e} | {100 * a[0][e]:.1f} | {100 * a[1][e]:.1f} | {100 * b[0][e]:.1f} | {100 * b[1][e]:.1f} |")
    print()


def attacks(models: dict, which: list[str]) -> None:
    eff = _effects_module()
    if "spsa" in which:
        print("## vir SPSA: iterate last vs best (robust accuracy %, eps 0.1, 100 iterations, 256 queries per estimate, lr 0.01, perturbation 0.001)\n")
        print("| model | clean | best | last | last - best |")
        print("|---|---|---|---|---|")
        for name, (model, x, y) in models.items():
            x, y = x[:100], y[:100]
            v = {it: eff.acc(model, x, y, create_attack("spsa", model, eps=0.1, iterations=100, samples=256, iterate=it)) for it in ("best", "last")}
            print(f"| {name} | {100 * v['best']['clean']:.1f} | {100 * v['best'][0.1]:.1f} | {100 * v['last'][0.1]:.1f} | {100 * (v['last'][0.1] - v['best'][0.1]):+.1f} |")
        print()
    if "square" in which:
        print("## vir Square: p_init 0.8 (AutoAttack) vs 0.05 (standalone Square) (robust accuracy %, eps 0.1, 1,000 queries)\n")
        print("| model | clean | p_init 0.8 | p_init 0.05 | 0.05 - 0.8 |")
        print("|---|---|---|---|---|")
        for name, (model, x, y) in models.items():
            x, y = x[:100], y[:100]
            v = {p: eff.acc(model, x, y, create_attack("square", model, eps=0.1, n_queries=1000, p_init=p)) for p in (0.8, 0.05)}
            print(f"| {name} | {100 * v[0.8]['clean']:.1f} | {100 * v[0.8][0.1]:.1f} | {100 * v[0.05][0.1]:.1f} | {100 * (v[0.05][0.1] - v[0.8][0.1]):+.1f} |")
        print()


def weight_decay(root: Path, epochs: int) -> None:
    eff = _effects_module()
    at = ["scheme.attack.steps=3", "scheme.attack.step_size=0.05", "data.limit_train=700", "optim=sgd", "optim.optimizer.lr=0.05",
          "optim.schedule.milestones=[5]"]
    print(f"## irat weight decay 5e-4 (run) vs 5e-5 (printed): PGD-AT CNN-6 on digits, SGD, {epochs} epochs (accuracy %, 300 test points)\n")
    print("| weight decay | clean | PGD-20 (eps 0.1) |")
    print("|---|---|---|")
    for wd in ("5e-4", "5e-5"):
        run = eff.train(root / f"wd{wd}", "pgd_at", epochs, [*at, f"optim.optimizer.weight_decay={wd}"])
        model, x, y = eff.load(run)
        v = eff.acc(model, x, y, create_attack("pgd", model, eps=0.1, steps=20))
        print(f"| {wd} | {100 * v['clean']:.2f} | {100 * v[0.1]:.2f} |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", nargs="*", default=["aug", "spsa", "square", "wd"])
    ap.add_argument("--aug-epochs", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--at-epochs", type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(a.out or tempfile.mkdtemp(prefix="rbr-choices-"))
    if "aug" in a.only:
        augmentation(root / "aug", a.aug_epochs)
    if {"spsa", "square"} & set(a.only):
        eff = _effects_module()
        at = ["scheme.attack.steps=3", "scheme.attack.step_size=0.05", "data.limit_train=700"]
        models = {"ST": eff.load(eff.train(root / "m", "standard", a.epochs)),
                  "PGD-AT (eps 0.1)": eff.load(eff.train(root / "m", "pgd_at", a.at_epochs, at))}
        attacks(models, a.only)
    if "wd" in a.only:
        weight_decay(root / "wd", a.at_epochs)


if __name__ == "__main__":
    main()
