"""Measure what the evaluation-protocol choices do, on small trained digits models (CPU).

Trains two CNN-6 (batch norm) networks on scikit-learn's digits at 16x16 through the real
pipeline - standard training (ST, 6 epochs) and PGD-AT at eps 0.1 (PGD-3, 700 images, 4 epochs) - and attacks the same 300 test
points of each with both settings of each choice:

- ``iterate: best|last`` (PGD-20, paper irat/E's PGD-100 step 0.003 and CW-PGD-100 kappa 50);
- paper prs's PGD-20 step: 2/255 vs 2.5 * eps / 20, at eps 0.3 (MNIST) and 0.1 (F-MNIST);
- ``points: robust|all`` for paper auc's FGSM sweep (accuracy per eps and R, eq. 1).

Prints markdown tables (docs/evaluation.md, robustbench_runner/papers/prs/README.md and auc.md quote them)::

    PYTHONPATH=. python scripts/eval_protocol_effects.py [--out DIR] [--epochs 6]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from omegaconf import OmegaConf

from robustbench_runner.attacks import create_attack
from robustbench_runner.build import build_model, model_dims
from robustbench_runner.checkpoint_eval import eval_subset
from robustbench_runner.data import load_dataset
from robustbench_runner.evaluate import evaluate
from robustbench_runner.user_checkpoints import read_checkpoint

GRID_D = [0.0, 0.0125, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]  # paper auc's eps grid


def train(root: Path, scheme: str, epochs: int, extra: list[str] = ()) -> Path:
    name = f"digits-{scheme}"
    args = [
        f"scheme={scheme}", "model.batch_norm=true", "data.image_size=16", f"train.epochs={epochs}",
        f"eval.grid=[{epochs}]", "eval.n_eval=300", "attacks=none", "progress=false",
        f"output_root={root}", f"tag={name}", *extra,
    ]  # fmt: skip
    subprocess.run([sys.executable, "-m", "robustbench_runner.run", *args], check=True, capture_output=True)
    (run,) = [p for p in (root / "runs").iterdir() if name in p.name]
    return run


def load(run: Path):
    cfg = OmegaConf.load(run / "config.yaml")
    bundle = load_dataset(cfg.data)
    model = build_model(cfg.model, model_dims(bundle), 0)
    state = read_checkpoint(run / "ckpt" / "last.pt").state
    model.load_state_dict(state)
    sub = eval_subset(bundle, cfg)
    return model.eval(), sub.float_x(), sub.y


def acc(model, x, y, attack) -> dict[float, float]:
    df = evaluate(model, x, y, {"a": attack}, worst_case=False)
    rows = df[(df.attack == attack.name) & (df.metric == "acc")]
    out = dict(zip(rows.eps, rows.value, strict=True))
    r = df[(df.attack == attack.name) & (df.metric == "auc_norm")]
    if len(r):
        out["R"] = float(r.value.iloc[0])
    out["clean"] = float(df[df.attack == "clean"].value.iloc[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--at-epochs", type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(a.out or tempfile.mkdtemp(prefix="rbr-protocol-"))
    # PGD-AT: PGD-3 training attack at eps 0.1 on 700 training images (CPU minutes)
    at = ["scheme.attack.steps=3", "scheme.attack.step_size=0.05", "data.limit_train=700"]
    models = {"ST": load(train(root, "standard", a.epochs)), "PGD-AT (eps 0.1)": load(train(root, "pgd_at", a.at_epochs, at))}

    print("## iterate: best vs last (robust accuracy %, 300 digits test points)\n")
    print("| model | attack | eps | best | last | last - best |")
    print("|---|---|---|---|---|---|")
    cases = [
        ("PGD-20, step 2.5 eps/20", 0.1, dict(steps=20)),
        ("PGD-100, step 0.003 (MAIL eval)", 8 / 255, dict(steps=100, step_size=0.003)),
        ("CW-PGD-100 kappa 50, step 0.003", 8 / 255, dict(steps=100, step_size=0.003, loss="cw", kappa=50.0)),
        ("PGD-20, step 2/255", 0.3, dict(steps=20, step_size=2 / 255)),
    ]
    for mname, (model, x, y) in models.items():
        for label, eps, kw in cases:
            v = {it: acc(model, x, y, create_attack("pgd", model, eps=eps, iterate=it, **kw))[eps] for it in ("best", "last")}
            print(f"| {mname} | {label} | {eps:.4g} | {100 * v['best']:.2f} | {100 * v['last']:.2f} | {100 * (v['last'] - v['best']):+.2f} |")

    print("\n## paper prs's PGD-20 step: 2/255 vs 2.5 * eps / 20 (robust accuracy %, best iterate)\n")
    print("| model | eps | clean | step 2/255 | step 2.5 eps/20 |")
    print("|---|---|---|---|---|")
    for mname, (model, x, y) in models.items():
        for eps in (0.3, 0.1):
            paper = acc(model, x, y, create_attack("pgd", model, eps=eps, steps=20, step_size=2 / 255))
            ours = acc(model, x, y, create_attack("pgd", model, eps=eps, steps=20))
            print(f"| {mname} | {eps} | {100 * paper['clean']:.2f} | {100 * paper[eps]:.2f} | {100 * ours[eps]:.2f} |")

    print("\n## paper auc's FGSM sweep: points robust vs all (accuracy % per eps, R of eq. 1)\n")
    print("| model | points | " + " | ".join(f"{e:g}" for e in GRID_D) + " | R |")
    print("|---|---|" + "---|" * (len(GRID_D) + 1))
    for mname, (model, x, y) in models.items():
        for points in ("robust", "all"):
            v = acc(model, x, y, create_attack("fgsm", model, eps=GRID_D, points=points))
            print(f"| {mname} | {points} | " + " | ".join(f"{100 * v[e]:.2f}" for e in GRID_D) + f" | {v['R']:.4f} |")


if __name__ == "__main__":
    main()
