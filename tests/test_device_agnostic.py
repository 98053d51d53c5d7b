"""The evaluation engine and every attack on a second device, without a GPU: tests/fake_device.py
tags tensors as living on an accelerator and raises, as CUDA does, on any op that mixes them
with CPU tensors (a cross-device write). The numbers are the CPU's, so results must equal the
CPU run exactly. (The same on real CUDA, within tolerance: tests/test_gpu_runs.py, gpu marker.)"""

from __future__ import annotations

import pytest
import torch
from fake_device import FAKE, CrossDevice, FakeAccelerator
from sklearn.datasets import load_digits
from torch import nn

from robustbench_runner.attacks import create_attack
from robustbench_runner.evaluate import attack_predictions, predict, run_suite

EPS = 0.12
ATTACKS = {
    "fgsm": {"eps": [0.0, 0.06, EPS]},
    "pgd": {"steps": 5, "restarts": 2},
    "pgd-last": {"steps": 4, "iterate": "last", "loss": "cw", "kappa": 50.0},
    "fmn": {"steps": 10},
    "md": {"steps": 6, "change_point": 2},
    "md_mt": {"steps": 5, "change_point": 2, "n_target_classes": 2},
    "spsa": {"iterations": 3, "samples": 8, "lr": 0.03},
    "apgd": {"n_iter": 5},
    "apgd_t": {"n_iter": 4, "n_target_classes": 2},
    "fab": {"n_iter": 4, "n_target_classes": 2},
    "square": {"n_queries": 30},
    "autoattack": {"n_iter": 3, "n_target_classes": 2, "fab_n_iter": 3, "n_queries": 20},
    "mde": {"apgd_n_iter": 3, "md_steps": 4, "md_change_point": 2, "n_target_classes": 2, "fab_n_iter": 3},
}


@pytest.fixture(scope="module")
def tiny():
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).div(16).unsqueeze(1)
    y = torch.tensor(d.target)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(40):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[:1000]), y[:1000]).backward()
            opt.step()
    return model.eval().requires_grad_(False), x[1200:1220], y[1200:1220]


def build(key, model):
    kw = dict(ATTACKS[key])
    return create_attack(key.split("-")[0], model, **({"eps": EPS} | kw))


def test_the_checker_catches_what_cuda_refuses():
    with FakeAccelerator() as mode:
        a = torch.rand(4).to(FAKE)
        assert a.device == FAKE and a.is_cuda and (a * torch.tensor(2.0)).device == FAKE  # a CPU scalar is fine
        with pytest.raises(CrossDevice):
            a + torch.rand(4)
        out = torch.zeros(4).to(FAKE)
        out[torch.tensor([1])] = a[:1]  # a CPU index into an accelerator tensor is fine
        with pytest.raises(CrossDevice):
            out[torch.tensor([0])] = torch.rand(1)  # a CPU value written into it is not
        with pytest.raises(CrossDevice):
            a.numpy()
        assert a.cpu().device.type == "cpu" and mode.checked > 0


def test_attack_predictions_with_inputs_on_the_accelerator(tiny):
    """The engine's bookkeeping stays on the CPU: points, labels and clean predictions given
    on the accelerator (as scripts/bench_peers.py passes them) are fine; the results are CPU
    tensors equal to the CPU run's."""
    model, x, y = tiny
    clean = predict(model, x)
    expected = attack_predictions(model, build("pgd", model), x, y, clean)[EPS]
    with FakeAccelerator() as mode:
        mode.put(model)
        got = attack_predictions(model, build("pgd", model), x.to(FAKE), y.to(FAKE), clean.to(FAKE), device=FAKE)[EPS]
        assert got.device.type == "cpu"
    assert torch.equal(got, expected)


@pytest.mark.parametrize("key", sorted(ATTACKS))
def test_every_attack_runs_on_the_accelerator_without_cross_device_ops(tiny, key):
    model, x, y = tiny
    _, cpu = run_suite(model, x, y, {key: build(key, model)}, batch_size=8)
    with FakeAccelerator() as mode:
        mode.put(model)
        _, acc = run_suite(model, x, y, {key: build(key, model)}, batch_size=8, device=FAKE)
    assert mode.checked > 50  # the attack's ops went through the check
    (name,) = cpu
    for eps, preds in cpu[name].items():
        assert torch.equal(acc[name][eps], preds)
