"""scripts/gpu_check.sh: the CPU ``--tiny`` run (fast suite) and the CUDA run (gpu marker)."""

from __future__ import annotations

import csv
import math
import os
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def gpu_check(tmp_path: Path, *args: str, timeout: int) -> list[dict]:
    out_csv = tmp_path / "gpu_check.csv"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OUT_CSV": str(out_csv), "PYTHON": os.environ.get("PYTHON", str(Path(os.sys.executable)))}
    proc = subprocess.run(["bash", "scripts/gpu_check.sh", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "== gpu_check summary" in proc.stdout
    return list(csv.DictReader(out_csv.open()))


def test_gpu_check_tiny_on_cpu(tmp_path):
    rows = gpu_check(tmp_path, "--tiny", timeout=300)
    variants = [r["variant"] for r in rows if r["section"] == "AT epoch"]
    assert variants == ["official-style loop (fp32)", "ours fp32", "ours channels_last", "ours channels_last + bf16 autocast"]
    assert sum(r["section"] == "data pass" for r in rows) == 2
    for r in rows:
        assert float(r["seconds"]) > 0 and float(r["speedup"]) > 0
    # speed-ups are against "ours fp32" (AT) and the DataLoader (data): those rows are 1
    assert float(next(r for r in rows if r["variant"] == "ours fp32")["speedup"]) == 1.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bench_gpu_on_cuda_reports_peak_memory(tmp_path):
    out_csv = tmp_path / "gpu.csv"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([os.sys.executable, "scripts/bench_gpu.py", "--device", "cuda", "--n", "512", "--data-n", "2048",
                    "--no-compile", "--csv", str(out_csv)], cwd=REPO, env=env, check=True, timeout=600)  # fmt: skip
    rows = list(csv.DictReader(out_csv.open()))
    assert any("bf16" in r["variant"] for r in rows)
    assert all(math.isfinite(float(r["peak_mem_mib"])) and float(r["peak_mem_mib"]) > 0 for r in rows)
