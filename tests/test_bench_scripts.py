"""Every benchmark script runs in a tiny mode (seconds of work) and prints its ratio table.

No timing thresholds: the machine these run on is shared; what is asserted is that each
script finishes, prints the rows it promises and that every ratio is a positive number."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_script(*args: str, timeout: int = 600) -> str:
    # one intra-op thread, as rbr_testing.cli: on a 2-core machine torch's default (one thread
    # per core) in a subprocess beside pytest oversubscribes it (bench_attacks + bench_data:
    # 304 s in the fast suite, 35 s with one thread)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def ratios(text: str) -> list[float]:
    return [float(m) for m in re.findall(r"(\d+\.\d+)x", text)]


@pytest.mark.slow  # ~10 s; test_bench_engine_tiny keeps a bench script end to end in the fast suite
def test_bench_training_tiny_compares_official_style_loop():
    out = run_script("scripts/bench_training.py", "--tiny")
    rows = ("official-style loop", "reference loop", "ours, no augment", "ours, channels_last off", "ours, channels_last on")
    for row in rows:
        assert row in out
    r = ratios(out)
    assert len(r) == len(rows) and all(v > 0 for v in r)
    assert r[0] == 1.0  # the official-style loop is the unit


@pytest.mark.slow  # ~12 s on 2 cores; a benchmark's own smoke check (make test stays under 8 minutes)
def test_bench_engine_tiny_compares_each_change_with_the_code_it_replaced():
    out = run_script("scripts/bench_engine.py", "--tiny")
    rows = re.findall(r"^(.{66}) +([\d.]+) +([\d.]+) +([\d.]+)x  (True|False|-)$", out, re.M)
    labels = [r[0].strip() for r in rows]
    assert len(rows) == 8 and labels[0].startswith("PGD-20") and labels[-1].startswith("DataLoader")
    assert all(float(r[3]) > 0 for r in rows)
    # the sync and worker changes must not change what is computed
    assert [r[4] for r in rows if r[0].startswith(("PGD-20", "MD"))] == ["True"] * 4
    assert rows[-1][4] == "True"


@pytest.mark.slow  # trains two models through rbr-run (~30 s on a quiet 2-core machine)
def test_bench_peers_and_suite_tiny(tmp_path):
    csv_path = tmp_path / "peers.csv"
    out = run_script("scripts/bench_peers.py", "--tiny", "--root", str(tmp_path / "runs"), "--csv", str(csv_path))
    # both models were trained through the pipeline and benchmarked
    assert (tmp_path / "runs" / "runs" / "pgd_at" / "ckpt" / "last.pt").exists()
    for label in ("== undefended", "== pgd_at"):
        assert label in out
    for attack in ("FGSM sweep", "PGD-20", "CW-PGD-20", "APGD-CE"):
        assert re.search(rf"^{re.escape(attack)}\s+ours\s+\d", out, re.M), attack
    # a peer that is not importable is named with its reason, not silently dropped
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("model,attack,library,n,seconds,robust_acc,time_vs_ours")
    libs = {row.split(",")[2] for row in lines[1:]}
    assert {"ours", "pyautoattack"} <= libs
    assert "no weaker:" in out
    # the suite benchmark on the PGD-AT checkpoint just trained
    suite = run_script("scripts/bench_suite.py", "--tiny", "--run", str(tmp_path / "runs" / "runs" / "pgd_at"), "--n", "12")
    for name in ("FGSM", "FMN", "AA", "MDE", "suite"):
        assert re.search(rf"^{name}\S*\s+\d", suite, re.M), name
    assert all(v > 0 for v in ratios(suite))


@pytest.mark.slow  # two synthetic sweeps through rbr-tables (~20 s)
def test_bench_tables_tiny_reports_growth():
    out = run_script("scripts/bench_tables.py", "--tiny")
    rows = re.findall(r"^\s+(20|40)\s+[\d.]+\s+([\d.]+)\s+([\d.]+)\s+(\d+)", out, re.M)
    assert [r[0] for r in rows] == ["20", "40"]
    assert all(float(r[1]) > 0 for r in rows)
    assert "per-run read costs" in out and "OmegaConf.load" in out


@pytest.mark.slow  # ~40 s: the two tiny bench tests below keep the scripts covered in the fast suite
def test_bench_data_and_attacks_small():
    out = run_script("scripts/bench_data.py", "--n", "256", "--epochs", "1", "--num-workers", "0", "--device", "cpu")
    assert "gpu_resident" in out and "dataloader" in out
    out = run_script("scripts/bench_attacks.py", "--n", "16", "--aa-n", "4", "--repeats", "1", "--train-epochs", "1")
    assert "FGSM 9-eps sweep" in out and "PGD-20" in out and "AutoAttack" in out


@pytest.mark.slow
def test_bench_sample_robustness_small():
    out = run_script("scripts/bench_sample_robustness.py", "--n", "500", "--d", "64")
    assert "x" in out
