"""docs/new_paper.md end to end: the example bundle docs/examples/mypaper, copied to a folder
outside the repository and attached with ``RBR_BUNDLES`` only, is found by ``rbr-run``
(``--help``) and reproduced by ``rbr-reproduce`` (its sweep, then its table through its own
``@builder``) - no file of the package touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "docs" / "examples" / "mypaper"


def _run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_a_bundle_kept_outside_the_repository_runs_end_to_end(tmp_path):
    bundle = tmp_path / "elsewhere" / "mypaper"
    shutil.copytree(EXAMPLE, bundle, ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "RBR_BUNDLES": str(bundle),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
    }

    helped = _run(["-m", "robustbench_runner.run", "--help"], work, env).stdout
    assert (
        "experiment/mypaper: main" in helped and "experiment/prs: " in helped
    )  # the bundle beside the shipped papers

    listed = _run(["-m", "robustbench_runner.reproduce", "--list"], work, env).stdout
    assert f"{bundle}  (RBR_BUNDLES)" in listed

    proc = _run(
        ["-m", "robustbench_runner.reproduce", "mypaper", "--data", str(tmp_path / "data")],
        work,
        env,
    )
    assert "[mypaper 2/2] rbr-tables" in proc.stdout

    sweep = work / "outputs" / "sweeps" / "mypaper_smoke"
    runs = sorted(p.name for p in sweep.iterdir() if (p / "DONE").exists())
    assert runs == ["digits-cnn6-pgd_at-s0", "digits-cnn6-standard-s0"]  # the smoke overlay's sweep
    table = pd.read_csv(work / "outputs" / "tables" / "mypaper" / "mypaper__gap.csv").set_index(
        "scheme"
    )
    assert sorted(table.index) == ["pgd_at", "standard"]
    # the builder's numbers are the runs' own: clean-attacked minus PGD-20 accuracy at the last epoch
    for scheme in table.index:
        m = pd.read_csv(sweep / f"digits-cnn6-{scheme}-s0" / "metrics.csv")
        last = m[(m.split == "test") & (m.metric == "acc") & (m.epoch == m.epoch.max())].set_index(
            "attack"
        )["value"]
        assert table.loc[scheme, "clean"] == pytest.approx(last["clean-attacked"])
        assert table.loc[scheme, "robust"] == pytest.approx(last["PGD-20"])
        assert table.loc[scheme, "gap"] == pytest.approx(last["clean-attacked"] - last["PGD-20"])
    # nothing was written into the package or the docs example
    assert (
        not (EXAMPLE / "outputs").exists()
        and not (REPO / "robustbench_runner" / "papers" / "mypaper").exists()
    )
