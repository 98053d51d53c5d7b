"""scripts/validate.py: the verdict functions decide from the numbers (edge cases included),
matched training is derived from the paper's steps, and the tiny profile runs end to end and
writes a page whose rows are only what ran."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _load():
    spec = importlib.util.spec_from_file_location("validate_script", REPO / "scripts" / "validate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["validate_script"] = mod
    spec.loader.exec_module(mod)
    return mod


V = _load()


# -- verdict: within k paper SDs --------------------------------------------------------------
def test_verdict_agrees_inside_k_sds_and_disagrees_outside_with_the_size():
    assert V.verdict(0.50, 0.49, 0.01, 2).label == V.AGREES          # +1 SD
    assert V.verdict(0.47, 0.49, 0.01, 2).label == V.AGREES          # -2 SD: the edge is inside
    out = V.verdict(0.306, 0.2723, 0.0045, 2)                       # the FCNet case: +7.5 SD
    assert out.label == V.DISAGREES
    assert "+7.5 paper SDs" in out.detail
    assert V.verdict(0.306, 0.2723, 0.0045, 8).label == V.AGREES    # k is a parameter, not a constant inside


def test_verdict_not_comparable_names_the_reason_and_still_gives_the_size():
    out = V.verdict(0.406, 0.438, 0.0204, not_comparable="1.33 paper epochs of steps, not 1")
    assert out.label == V.NOT_COMPARABLE
    assert "1.33 paper epochs" in out.detail and "-1.6 paper SDs" in out.detail


def test_verdict_not_run_when_ours_is_missing():
    assert V.verdict(None, 0.4, 0.02).label == V.NOT_RUN
    assert V.verdict(float("nan"), 0.4, 0.02).label == V.NOT_RUN


@pytest.mark.parametrize("sd", [0, -0.1, None, float("nan"), float("inf")])
def test_verdict_refuses_a_paper_sd_that_is_not_positive(sd):
    with pytest.raises(ValueError, match="paper_sd"):
        V.verdict(0.5, 0.4, sd)


@pytest.mark.parametrize("k", [0, -1, float("nan")])
def test_verdict_refuses_a_k_that_is_not_positive(k):
    with pytest.raises(ValueError, match="k must be"):
        V.verdict(0.5, 0.4, 0.1, k)


# -- tolerance, threshold, sets, signs -------------------------------------------------------
def test_tolerance_verdict_for_numbers_printed_without_sd():
    assert V.tolerance_verdict(0.996, 0.999, 0.005).label == V.AGREES
    out = V.tolerance_verdict(0.968, 0.999, 0.005)
    assert out.label == V.DISAGREES and "6.2x" in out.detail
    assert V.tolerance_verdict(None, 0.999, 0.005).label == V.NOT_RUN
    with pytest.raises(ValueError):
        V.tolerance_verdict(0.9, 0.999, 0)


def test_threshold_verdict_names_every_value_that_fails():
    assert V.threshold_verdict({"a": 99.1, "b": 98.5}, 98.0).label == V.AGREES
    out = V.threshold_verdict({"BS 128": 95.0, "BS 2048": 43.3, "ok": 99.0}, 98.0)
    assert out.label == V.DISAGREES
    assert "2 of 3" in out.detail and "BS 128" in out.detail and "BS 2048" in out.detail and "ok" not in out.detail
    # strict by default: equal to the threshold fails "> 98 %"; strict=False lets it pass
    assert V.threshold_verdict({"a": 98.0}, 98.0).label == V.DISAGREES
    assert V.threshold_verdict({"a": 98.0}, 98.0, strict=False).label == V.AGREES
    assert V.threshold_verdict({"a": 0.1}, 0.5, above=False).label == V.AGREES
    assert V.threshold_verdict({"a": None, "b": 99.0}, 98.0).label == V.NOT_RUN
    assert V.threshold_verdict({"a": 99.0}, 98.0, not_comparable="epoch 2").label == V.NOT_COMPARABLE
    with pytest.raises(ValueError):
        V.threshold_verdict({}, 98.0)


def test_same_set_verdict_ignores_order_and_names_the_difference():
    assert V.same_set_verdict([9, 1, 7, 4], (1, 4, 7, 9)).label == V.AGREES
    out = V.same_set_verdict([1, 9, 7, 3], (1, 4, 7, 9))
    assert out.label == V.DISAGREES and "[3]" in out.detail and "[4]" in out.detail
    assert V.same_set_verdict(None, (0, 2, 6)).label == V.NOT_RUN


def test_sign_verdict():
    assert V.sign_verdict(-0.1, -0.46).label == V.AGREES
    assert V.sign_verdict(0.67, -0.46).label == V.DISAGREES
    assert V.sign_verdict(0.0, -0.46).label == V.DISAGREES
    assert V.sign_verdict(0.67, -0.46, not_comparable="4 checkpoints").label == V.NOT_COMPARABLE
    assert V.sign_verdict(None, -0.46).label == V.NOT_RUN


# -- matched training ------------------------------------------------------------------------
def test_matched_epochs_are_the_papers_steps():
    # paper auc: 60,000 / 125 = 480 steps per epoch; ours 4,000 / 125 = 32: paper epoch E = our 15 E
    assert V.matched_epochs(1, 125) == 15
    assert V.matched_epochs(25, 125) == 375
    assert V.matched_epochs(150, 125) == 2250          # the lr drop, placed where the paper places it
    # paper prs: BS 128 -> 469 steps per epoch (the last batch counts), ours 32; BS 2048 -> 30 / 2
    assert V.matched_epochs(25, 128) == math.ceil(25 * 469 / 32)
    assert V.matched_epochs(25, 2048) == 375
    assert V.matched(375, 25, 125) and not V.matched(374, 25, 125) and not V.matched(376, 25, 125)
    assert V.paper_epochs_of(20, 125) == pytest.approx(20 * 32 / 480)


def test_cpu_profile_trains_to_the_papers_epochs_in_steps_with_the_lr_drop_in_place():
    cpu = V.PROFILES["cpu"]
    assert cpu.auc_until["lenet"] >= 25 and cpu.auc_until["fcnet"] >= 10 and len(cpu.auc_seeds) >= 5
    epochs, grid, drop = V.auc_plan(cpu, "lenet")
    assert (epochs, grid, drop) == (375, [15, 150, 375], 2250)
    argv = {s.id: s.argv for s in V.steps(Path("/tmp/x"), cpu)}
    assert "optim.schedule.milestones=[2250]" in argv["auc-fcnet-s0"]
    assert "train.epochs=150" in argv["auc-fcnet-s0"]
    assert "train.batch_size=2048" in argv["prs-cnn6-bs2048"] and "train.epochs=375" in argv["prs-cnn6-bs2048"]


# -- the tiny profile end to end -------------------------------------------------------------
@pytest.mark.slow
def test_tiny_profile_end_to_end_writes_only_what_ran(tmp_path):
    doc = tmp_path / "validation.md"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(REPO / "scripts" / "validate.py"), "--profile", "tiny", "--out", str(tmp_path / "o"), "--doc", str(doc)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    text = doc.read_text()
    assert "GENERATED by scripts/validate.py" in text.splitlines()[2]
    # the profile does not run prs or samplerob: their rows say so; auc ran one unmatched epoch
    assert "| prs | table 3 | test acc (%), BS 128, paper epoch 25 | – | 99.18 ± 0.09 | **not run** |" in text
    lenet = [line for line in text.splitlines() if line.startswith("| auc | table 1 | lenet R at paper epoch 1 |")]
    assert len(lenet) == 1 and "**not comparable**" in lenet[0] and "(n=1)" in lenet[0]
    assert not [ln for ln in text.splitlines() if ln.startswith("| ") and "**agrees**" in ln]   # nothing matched
    markers = sorted(p.name for p in (tmp_path / "o" / "validate" / "tiny" / "steps").iterdir())
    assert markers == ["auc-fcnet-s0.json", "auc-lenet-s0.json"]
    # resumable: a second call runs nothing and rebuilds the same rows
    r2 = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0 and "[validate] auc-" not in r2.stdout
    assert summary_rows(doc.read_text()) == summary_rows(text) and len(summary_rows(text)) > 40


def summary_rows(text: str) -> list[str]:
    """The rows of the page's summary table (the steps table says ran / done before)."""
    part = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    return [ln for ln in part.splitlines() if ln.startswith("| ")]
