"""Every attack and every scheme through ``rbr-run`` on CUDA, compared with the CPU (gpu marker;
``make test-gpu``). The per-point randomness makes the two devices start every attack at the
same points and every training attack from the same draws, so what remains is floating
point: robust accuracies must agree within the binomial noise of the measurement, training
losses within a few percent after one short epoch.

``RBR_GPU_TEST_DEVICE=cpu`` runs the same comparisons CPU against CPU (where they must be
exact): a check of the test itself on a machine without a GPU.
"""

from __future__ import annotations

import math
import os

import pytest
import torch

from rbr_testing import REPO, TINY, run_inprocess
from robustbench_runner.io import read_csv

OTHER = os.environ.get("RBR_GPU_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(OTHER.startswith("cuda") and not torch.cuda.is_available(), reason="needs CUDA"),
]

# the runs: TINY on the CPU or on OTHER (TINY's own device=... is replaced)
BASE = [o for o in TINY if not o.startswith(("device=", "attacks.pgd20"))]
# every attack config, with settings small enough for seconds (the defaults are paper-scale)
ATTACKS = {
    "apgd": ["n_iter=10"],
    "apgd_t": ["n_iter=5", "n_target_classes=3"],
    "autoattack": ["n_iter=5", "n_target_classes=3", "fab_n_iter=5", "n_queries=50"],
    "cw_pgd": ["steps=10"],
    "fab": ["n_iter=10", "n_target_classes=3"],
    "fgsm": [],
    "fmn": ["steps=20"],
    "md": ["steps=10", "change_point=4"],
    "md_mt": ["steps=8", "change_point=3", "n_target_classes=3"],
    "mde": ["apgd_n_iter=5", "md_steps=8", "md_change_point=3", "n_target_classes=3", "fab_n_iter=5"],
    "pgd": ["steps=10"],
    "spsa": ["iterations=5", "samples=32"],
    "square": ["n_queries=100"],
}
SCHEMES = sorted(p.stem for p in (REPO / "conf" / "scheme").glob("*.yaml"))
#: schemes with a burn-in: reweighted from the first epoch here, so their weights are exercised
REWEIGHTED = {p.stem for p in (REPO / "conf" / "scheme").glob("*.yaml") if "burn_in:" in p.read_text()}


def noise(p: float, n: int) -> float:
    """Two binomial standard errors of an accuracy p on n points, plus one point."""
    return 2 * math.sqrt(max(p * (1 - p), 0.25 / n) / n) + 1 / n


def accuracies(run_dir) -> dict:
    m = read_csv(run_dir / "metrics.csv")
    m = m[m.metric == "acc"]
    return {(r.checkpoint, r.attack, round(float(r.eps), 6)): (float(r.value), int(r.n)) for r in m.itertuples()}


def assert_close(cpu: dict, other: dict) -> None:
    assert cpu.keys() == other.keys()
    for key, (a, n) in cpu.items():
        b = other[key][0]
        if OTHER == "cpu":
            assert a == b, key
        else:
            assert abs(a - b) <= noise(a, n), (key, a, b)


@pytest.fixture(scope="module")
def checkpoint_run(tmp_path_factory):
    """A tiny standard run trained on the CPU: the checkpoints every attack is run on."""
    root = tmp_path_factory.mktemp("gpu_runs")
    return run_inprocess([*BASE, "device=cpu", "attacks=none", f"output_root={root}"])


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_every_attack_on_cuda_agrees_with_the_cpu(checkpoint_run, attack, tmp_path):
    knobs = [f"++attacks.a.{k}" for k in ATTACKS[attack]]  # ++: also keys the config leaves to the default
    common = ["mode=eval", f"checkpoint={checkpoint_run}", "attacks=none", f"+attack@attacks.a={attack}", *knobs, "progress=false",
              "eval.n_eval=40", "eval.batch_size=16"]  # fmt: skip
    cpu = run_inprocess([*common, "device=cpu", f"output_root={tmp_path / 'cpu'}"])
    other = run_inprocess([*common, f"device={OTHER}", f"output_root={tmp_path / 'other'}"])
    assert_close(accuracies(cpu), accuracies(other))
    assert any(attack_label != "clean" for _, attack_label, _ in accuracies(cpu))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_trains_on_cuda_as_on_the_cpu(scheme, tmp_path):
    args = [*BASE, f"scheme={scheme}", "train.epochs=1", "eval.grid=[1]", "attacks.pgd20.steps=5"]
    if scheme != "standard":
        args.append("scheme.attack.steps=3")
    if scheme in REWEIGHTED:
        args.append("scheme.burn_in=0")
    cpu = run_inprocess([*args, "device=cpu", f"output_root={tmp_path / 'cpu'}"])
    other = run_inprocess([*args, f"device={OTHER}", f"output_root={tmp_path / 'other'}"])
    loss_cpu = read_csv(cpu / "train_log.csv").loss.item()
    loss_other = read_csv(other / "train_log.csv").loss.item()
    if OTHER == "cpu":
        assert loss_cpu == loss_other
    else:
        assert abs(loss_other - loss_cpu) <= 0.05 * abs(loss_cpu), (loss_cpu, loss_other)
    assert_close(accuracies(cpu), accuracies(other))
