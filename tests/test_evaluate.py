"""The normalized AUC and the evaluation engine's rules (docs/papers/README.md, "Robust accuracy")."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from robustbench_runner.attacks import create_attack
from robustbench_runner.attacks.base import Attack
from robustbench_runner.evaluate import evaluate, run_suite
from robustbench_runner.metrics import normalized_auc, raw_auc, relative_change


def test_normalized_auc_hand_trapezoid():
    # integral over [0, 0.3]: 0.1 * (0.8 + 0.6) / 2 + 0.2 * (0.6 + 0.2) / 2 = 0.07 + 0.08 = 0.15
    eps, acc = [0.0, 0.1, 0.3], [0.8, 0.6, 0.2]
    assert normalized_auc(eps, acc) == pytest.approx(0.15 / (0.8 * 0.3), abs=1e-15)
    assert raw_auc(eps, acc) == pytest.approx(0.15 / 0.3, abs=1e-15)
    # order of the points does not matter; a flat curve gives R = 1
    assert normalized_auc([0.3, 0.0, 0.1], [0.2, 0.8, 0.6]) == normalized_auc(eps, acc)
    assert normalized_auc([0, 0.05, 0.3], [0.5, 0.5, 0.5]) == pytest.approx(1.0)
    # paper auc's grid with a non-uniform spacing
    grid = [0, 0.0125, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
    acc9 = [0.99, 0.9, 0.8, 0.6, 0.3, 0.1, 0.05, 0.0, 0.0]
    manual = sum((grid[i + 1] - grid[i]) * (acc9[i] + acc9[i + 1]) / 2 for i in range(8))
    assert normalized_auc(grid, acc9) == pytest.approx(manual / (0.99 * 0.3), rel=1e-12)


def test_normalized_auc_undefined_and_invalid():
    assert math.isnan(normalized_auc([0, 0.1], [0.0, 0.0]))  # needs f(e0) > 0
    with pytest.raises(ValueError):
        normalized_auc([0.1], [0.5])
    with pytest.raises(ValueError):
        normalized_auc([0, 0, 0.1], [1, 1, 1])
    assert relative_change(0.4, 0.8) == -0.5


class CountingAttack(Attack):
    """Records which points it was given; 'fools' every other point it sees."""

    def __init__(self, model, eps, name="count"):
        super().__init__(model, eps, name=name)
        self.seen = []

    def perturb(self, x, y, eps):
        raise AssertionError("not used")

    def predictions(self, x, y):
        self.seen.append(x.clone())
        preds = y.clone()
        preds[::2] = (y[::2] + 1) % 3
        return {e: preds for e in self.eps_list}


class Fixed(nn.Module):
    """Logits = the input's first 3 features (so predictions are chosen by the test)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x.flatten(1)[:, :3] + 0 * self.w


def _points():
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    x = torch.zeros(6, 3)
    pred = torch.tensor([0, 1, 2, 1, 1, 0])  # points 3 and 5 are misclassified when clean
    x[torch.arange(6), pred] = 1.0
    return x, y


def test_only_clean_correct_points_are_attacked_and_counted_non_robust():
    model = Fixed()
    x, y = _points()
    atk = CountingAttack(model, 0.1)
    df = evaluate(model, x, y, {"a": atk})
    assert sum(len(s) for s in atk.seen) == 4  # the 4 clean-correct points only
    acc = df.set_index("attack").loc["count", "value"]
    assert acc == pytest.approx(2 / 6)  # 2 of the 4 survive; the 2 clean errors count as non-robust
    assert df.set_index("attack").loc["clean", "value"] == pytest.approx(4 / 6)


def test_worst_case_over_the_suite_per_eps():
    model = Fixed()
    x, y = _points()

    class FoolsOdd(CountingAttack):
        def predictions(self, x, y):
            preds = y.clone()
            preds[1::2] = (y[1::2] + 1) % 3
            return {e: preds for e in self.eps_list}

    df = evaluate(model, x, y, {"a": CountingAttack(model, 0.1, "A"), "b": FoolsOdd(model, 0.1, "B"), "c": FoolsOdd(model, 0.2, "C")})
    rows = df.set_index(["attack", "eps"]).value
    assert rows[("A", 0.1)] == pytest.approx(2 / 6) and rows[("B", 0.1)] == pytest.approx(2 / 6)
    assert rows[("worst-case", 0.1)] == 0.0  # A fools evens, B fools odds among the 4 robust points
    assert ("worst-case", 0.2) not in rows.index  # a single attack at 0.2: no worst case


def test_parameters_frozen_and_mode_restored_during_attacks():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3, 3), nn.BatchNorm1d(3))
    model.train()
    seen = {}

    class Probe(CountingAttack):
        def predictions(self, x, y):
            seen["training"] = model.training
            seen["requires_grad"] = [p.requires_grad for p in model.parameters()]
            return {e: y.clone() for e in self.eps_list}

    x = torch.randn(8, 3)
    with torch.no_grad():
        y = model.eval()(x).argmax(1)  # every point clean-correct, so the probe runs
    model.train()
    run_suite(model, x, y, {"p": Probe(model, 0.1)})
    assert seen["training"] is False and not any(seen["requires_grad"])
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_out_of_memory_halves_the_batch_and_retries():
    model = Fixed()
    x, y = _points()

    class OOMAbove2(CountingAttack):
        def predictions(self, x, y):
            if len(x) > 2:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
            return super().predictions(x, y)

    atk = OOMAbove2(model, 0.1)
    df = evaluate(model, x, y, {"a": atk}, batch_size=8)
    assert all(len(s) <= 2 for s in atk.seen) and sum(len(s) for s in atk.seen) == 4
    assert df.set_index("attack").loc["count", "value"] == pytest.approx(2 / 6)


def test_best_iterate_never_above_last_iterate():
    """PGD's predictions (first fooling iterate kept) give robust accuracy <= checking only
    the final iterate of the same attack."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(64, 1, 4, 4)
    y = model(x).argmax(1)
    pgd = create_attack("pgd", model, eps=0.05, steps=10)
    best = (pgd.predictions(x, y)[0.05] == y).float().mean()
    pgd.reset_rng()
    last = (model(pgd.perturb(x, y, 0.05)).argmax(1) == y).float().mean()
    assert best <= last


def test_resume_state_reused(tmp_path):
    model = Fixed()
    x, y = _points()
    a = CountingAttack(model, 0.1)
    evaluate(model, x, y, {"a": a}, state_dir=tmp_path)
    b = CountingAttack(model, 0.1)
    evaluate(model, x, y, {"a": b}, state_dir=tmp_path)
    assert b.seen == []  # loaded from the state file
    c = CountingAttack(model, 0.2)  # another config: recomputed
    evaluate(model, x, y, {"a": c}, state_dir=tmp_path)
    assert c.seen


_FINGERPRINTS = r"""
import glob, json, os, sys
import torch
sys.path.insert(0, "tests")
from rbr_testing import compose_cfg, make_model
from robustbench_runner.build import build_attack
from robustbench_runner.evaluate import attack_fingerprint
model = make_model()
x, y = torch.linspace(0, 1, 2 * 64).reshape(2, 1, 8, 8), torch.tensor([1, 2])
out = {}
for f in sorted(glob.glob("conf/attack/*.yaml")):
    name = os.path.basename(f)[:-5]
    attack = build_attack(compose_cfg([f"+attack@attacks.zz={name}"]).attacks.zz, "attacks.zz", model)
    out[name] = attack_fingerprint(attack, x, y)
print(json.dumps(out))
"""


@pytest.mark.slow  # two processes, ~16 s; test_fingerprint_names_functions_by_import_path keeps the fix in the fast suite
def test_attack_fingerprints_are_the_same_in_every_process():
    """The resume files of an evaluation are reused only when the fingerprint matches: two
    processes must agree for every attack config (a fingerprint that hashed a repr holding a
    memory address, e.g. ``<function ce_loss at 0x7f...>``, made every resumed process redo
    every attack). Hash randomisation differs between the two processes too."""
    import json
    import os
    import subprocess
    import sys

    from rbr_testing import REPO

    runs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-c", _FINGERPRINTS], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert {"pgd", "fgsm", "cw_pgd", "autoattack"} <= set(runs[0])
    assert runs[0] == runs[1]
    assert len(set(runs[0].values())) == len(runs[0])  # and they tell the attacks apart


def test_fingerprint_names_functions_by_import_path():
    from robustbench_runner.evaluate import _canonical

    def local():
        return 0

    assert _canonical(math.sqrt) == "math.sqrt"
    assert "0x" not in repr(_canonical({"loss": local, "p": __import__("functools").partial(local, 1)}))
