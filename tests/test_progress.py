"""Progress lines for log files (no TTY): throttled to ``progress_every`` seconds with a fake
clock, one closing line per attack and checkpoint, AutoAttack's cascade forwarded."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from robustbench_runner import progress
from robustbench_runner.attacks import create_attack
from robustbench_runner.evaluate import run_suite


class FakeClock:
    def __init__(self, step: float = 0.0):
        self.t, self.step = 1000.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


@pytest.fixture
def fake(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress, "clock", clock)
    monkeypatch.setattr(progress, "_ENABLED", None)
    monkeypatch.setattr(progress, "_EVERY", 30.0)
    monkeypatch.setattr(progress, "HEARTBEAT", False)  # the test drives the clock
    progress.configure(False, every=30)
    return clock


def test_lines_are_throttled_and_carry_eta(fake, capsys):
    with progress.scope("epoch_004"), progress.bar(total=100, desc="PGD-20", unit="pt") as bar:
        for _ in range(10):
            fake.t += 10  # 10 s per batch of 10 points
            progress.count_robust({0.0: torch.ones(10, dtype=torch.long), 0.3: torch.tensor([1] * 6 + [0] * 4)}, torch.ones(10, dtype=torch.long), n_all=125)
            bar.update(10)
    lines = capsys.readouterr().out.splitlines()
    # 100 s of work: a line at 30, 60, 90 s, then the closing line
    assert len(lines) == 4, lines
    assert lines[0] == "[rbr] epoch_004 PGD-20: 30/100 attacked pts, robust acc so far 0.480 at eps 0.3, elapsed 0:30, eta 1:10"
    # one denominator per figure: 100 attacked (the clean-correct ones), 60 of all 125 robust
    assert lines[-1] == (
        "[rbr] epoch_004 PGD-20: 100/100 attacked pts (the clean-correct ones of 125), robust acc 0.4800 at eps 0.3 (60 of 125 pts robust), elapsed 1:40"
    )


def test_interval_is_configurable(fake, capsys):
    progress.configure(False, every=5)
    for _ in progress.bar(range(6), total=6, desc="epoch 1", unit="batch"):
        fake.t += 5
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5  # at 5, 10, ..., 25 s; none at 6/6 (the pipeline's epoch line follows)
    assert re.match(r"\[rbr\] epoch 1: 2/6 batches, elapsed 0:10, eta 0:20", lines[1]), lines
    with pytest.raises(Exception, match="progress_every"):
        progress.configure(False, every=0)


def test_quiet_loops_print_nothing(fake, capsys):
    fake.step = 100.0
    for _ in progress.bar(range(3), desc="epochs", unit="epoch", total=3):  # the pipeline prints epochs
        fake.step = 100.0  # each iteration takes 100 s of fake time
    with progress.bar(total=5, unit="pt") as bar:  # clean predictions: no name
        bar.update(5)
    assert capsys.readouterr().out == ""


def test_tty_keeps_tqdm(monkeypatch):
    progress.configure(True)
    assert not isinstance(progress.bar(total=1, desc="x", unit="pt"), progress.LogBar)
    progress.configure("false")
    assert isinstance(progress.bar(total=1, desc="x", unit="pt"), progress.LogBar)


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 10)).eval()


def test_engine_reports_every_attack_per_checkpoint(fake, capsys):
    fake.step = 7.0  # every clock read moves 7 s
    model = tiny_model()
    x = torch.rand(24, 1, 4, 4)
    y = model(x).argmax(1)  # every point clean-correct
    attacks = {"fgsm": create_attack("fgsm", model, eps=[0.0, 0.1, 0.2]), "pgd": create_attack("pgd", model, eps=0.1, steps=3)}
    attacks["fgsm"].name, attacks["pgd"].name = "FGSM", "PGD-3"
    with progress.scope("epoch_002"):
        _, results = run_suite(model, x, y, attacks, batch_size=4)
    out = capsys.readouterr().out
    closing = [line for line in out.splitlines() if "robust acc " in line and "so far" not in line]
    assert [line.split(":")[0] for line in closing] == ["[rbr] epoch_002 FGSM", "[rbr] epoch_002 PGD-3"]
    robust = int((results["PGD-3"][0.1] == y).sum())
    assert f"robust acc {robust / 24:.4f} at eps 0.1 ({robust} of 24 pts robust)" in closing[1]
    assert "so far" in out  # throttled lines appeared in between (7 s per clock read)


def test_autoattack_cascade_is_forwarded(fake, capsys):
    fake.step = 31.0
    model = tiny_model()
    x = torch.rand(8, 1, 4, 4)
    y = model(x).argmax(1)
    aa = create_attack("autoattack", model, eps=0.05, n_iter=2, n_target_classes=1, fab_n_iter=2, n_queries=5)
    aa.name = "AA"
    with progress.scope("epoch_001"):
        run_suite(model, x, y, {"aa": aa}, batch_size=8)
    out = capsys.readouterr().out
    assert "[rbr] epoch_001 AA:" in out and "AutoAttack, current batch: robust accuracy after APGD-CE" in out
    assert re.search(r"\[rbr\] epoch_001 AA: 8/8 attacked pts, robust acc [0-9.]+ at eps 0.05 \(\d of 8 pts robust\)", out)
    # lines during the batch carry an ETA from the cascade stage reached (rough, and says so)
    assert re.search(r"AA: 0/8 attacked pts, .*eta \d+:\d\d \(rough: by AutoAttack stage\)", out), out


def test_heartbeat_speaks_during_one_long_batch(monkeypatch, capsys):
    """Real clock, 0.2 s interval: one batch that takes 1 s still gets lines meanwhile."""
    import time

    monkeypatch.setattr(progress, "HEARTBEAT", True)
    progress.configure(False, every=0.2)
    try:
        with progress.scope("epoch_001"), progress.bar(total=10, desc="PGD-100", unit="pt") as bar:
            time.sleep(1.0)
            bar.update(10)
    finally:
        progress.configure(False, every=30)
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("[rbr] epoch_001 PGD-100: 0/10 attacked pts, elapsed") for line in lines) >= 2, lines
    assert all("eta" in line for line in lines[:-1])  # never a repeated line without an ETA
    assert lines[-1].startswith("[rbr] epoch_001 PGD-100: 10/10 attacked pts")


def test_eta_within_one_batch(fake, capsys):
    """A line during the first (and only) batch has an ETA from the attack's own step count
    (PGD reports step / steps through progress.within)."""
    with progress.scope("epoch_002"), progress.bar(total=100, desc="PGD-20", unit="pt") as bar:
        bar.pending = 100
        fake.t += 40
        progress.within(0.4)  # 40 s for 40% of the batch
        bar._maybe_print()
        bar.update(100)
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "[rbr] epoch_002 PGD-20: 0/100 attacked pts, elapsed 0:40, eta 1:00", first


def test_pgd_reports_its_steps(monkeypatch):
    seen = []
    monkeypatch.setattr(progress, "within", lambda f: seen.append(f))
    model = tiny_model()
    x = torch.rand(6, 1, 4, 4)
    y = model(x).argmax(1)
    create_attack("pgd", model, eps=0.1, steps=4).predictions(x, y)
    assert seen and seen[0] == 0.0 and max(seen) <= 1.0 and seen == sorted(seen)
