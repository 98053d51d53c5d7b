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


def run_gpu_check(tmp_path: Path, *args: str, timeout: int, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OUT_CSV": str(tmp_path / "gpu_check.csv"),
           "PYTHON": os.environ.get("PYTHON", str(Path(os.sys.executable))), **(env or {})}  # fmt: skip
    env.pop("RBR_BENCH_FAIL", None) if not (env and "RBR_BENCH_FAIL" in (env or {})) else None
    return subprocess.run(["bash", "scripts/gpu_check.sh", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def gpu_check(tmp_path: Path, *args: str, timeout: int) -> list[dict]:
    proc = run_gpu_check(tmp_path, *args, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "== gpu_check summary" in proc.stdout
    return list(csv.DictReader((tmp_path / "gpu_check.csv").open()))


def test_gpu_check_tiny_on_cpu(tmp_path):
    rows = gpu_check(tmp_path, "--tiny", timeout=300)
    variants = [r["variant"] for r in rows if r["section"] == "AT epoch"]
    assert variants == ["official-style loop (fp32)", "ours fp32", "ours fp32, deterministic=false (cuDNN autotuning)",
                        "ours channels_last", "ours channels_last + bf16 autocast"]  # fmt: skip
    assert sum(r["section"] == "data pass" for r in rows) == 2
    for r in rows:
        assert float(r["seconds"]) > 0 and float(r["speedup"]) > 0
    # speed-ups are against "ours fp32" (AT) and the DataLoader (data): those rows are 1
    assert float(next(r for r in rows if r["variant"] == "ours fp32")["speedup"]) == 1.0


def test_gpu_check_exits_non_zero_naming_each_failed_row_and_prints_no_unmeasured_speed_up(tmp_path):
    """Every row fails (RBR_BENCH_FAIL=' ' matches every variant): the script still runs to
    its summary, marks each row FAILED with the reason, prints '-' for every speed-up (none
    was measured) and exits 1, naming the rows on stderr."""
    proc = run_gpu_check(tmp_path, "--tiny", timeout=300, env={"RBR_BENCH_FAIL": " "})
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "== gpu_check summary" in proc.stdout and "nan" not in proc.stdout.lower()
    rows = list(csv.DictReader((tmp_path / "gpu_check.csv").open()))
    assert len(rows) == 7 and all(r["note"].startswith("FAILED: RuntimeError: injected failure") for r in rows)
    assert all(r["speedup"] == "-" and r["seconds"] == "-" for r in rows)
    assert proc.stderr.count("gpu_check: FAILED AT epoch / ") == 5 and "did not pass" in proc.stderr


def test_summary_fails_on_a_non_finite_figure_or_a_missing_table(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check_summary", REPO / "scripts" / "gpu_check_summary.py")
    summary = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(summary)
    assert summary.main([str(tmp_path), str(tmp_path / "out.csv")]) == 1  # bench_gpu wrote nothing
    assert "gpu.csv was not written" in capsys.readouterr().err
    header = "device,section,variant,seconds,images_per_s,speedup,peak_mem_mib,note\n"
    (tmp_path / "gpu.csv").write_text(header + "X,AT epoch,ours fp32,1.0,64,1.000,10,\nX,AT epoch,ours bf16,nan,nan,nan,10,\n")
    assert summary.main([str(tmp_path), str(tmp_path / "out.csv")]) == 1
    assert "AT epoch / ours bf16: seconds is nan" in capsys.readouterr().err
    (tmp_path / "gpu.csv").write_text(header + "X,AT epoch,ours fp32,1.0,64,1.000,10,\nX,AT epoch,ours bf16,0.5,128,2.000,10,\n")
    (tmp_path / "peers.csv").write_text("model,attack,library,n,seconds,robust_acc,time_vs_ours,skipped,failed\n"
                                        "m,PGD-20,ours,8,,,,,RuntimeError: boom\nm,PGD-20,ART,8,0.2,0.5,,,\n"
                                        "m,FGSM sweep,adv-lib,8,,,,no FGSM,\n")  # fmt: skip
    assert summary.main([str(tmp_path), str(tmp_path / "out.csv")]) == 1
    err = capsys.readouterr().err
    assert "peers m / PGD-20 / ours: FAILED RuntimeError: boom" in err and "adv-lib" not in err  # skipped is not failed
    out = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert next(r for r in out if r["variant"] == "PGD-20 / ART")["speedup"] == "-"  # ours failed: no ratio
    (tmp_path / "peers.csv").unlink()
    assert summary.main([str(tmp_path), str(tmp_path / "out.csv")]) == 0


def test_bench_peers_reports_a_failed_library_and_refuses_ratios_against_a_failed_ours(monkeypatch, capsys):
    import importlib.util
    import io

    spec = importlib.util.spec_from_file_location("bench_peers", REPO / "scripts" / "bench_peers.py")
    bp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bp)
    x, y = torch.rand(8, 1, 4, 4), torch.arange(8) % 2

    def table(*_):
        def ours(xa, ya):
            raise RuntimeError("Expected all tensors to be on the same device")

        return {"PGD-20": {"ours": ours, "foolbox": lambda xa, ya: {0.1: ya.clone()}}}, {}

    monkeypatch.setattr(bp, "build_suite", table)
    args = type("A", (), {"attacks": "PGD-20", "aa_n": 8, "repeat": 1, "seed": 0, "eps": 0.1, "batch": 8})()
    failures, out = [], io.StringIO()
    bp.bench_model("undefended", None, x, y, {}, args, torch.device("cpu"), bp.csv.writer(out), failures)
    printed = capsys.readouterr().out
    assert failures == [("undefended", "PGD-20", "ours", "RuntimeError: Expected all tensors to be on the same device")]
    assert "FAILED RuntimeError" in printed and "nan" not in printed.lower() and "no speed-up: ours failed" in printed
    rows = list(bp.csv.reader(io.StringIO(out.getvalue())))
    assert rows[0][-1].startswith("RuntimeError") and rows[1][2] == "foolbox" and rows[1][6] == ""
    assert bp.report_failures(failures) == 1 and bp.report_failures([]) == 0


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
