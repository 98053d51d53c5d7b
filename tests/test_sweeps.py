"""Sweeps: -m into a named sweep dir, rbr-tables over it (also mid-sweep), relaunch after a
kill without duplicates, and the joblib / submitit launchers (slow)."""

from __future__ import annotations

import pandas as pd
import pytest

from rbr_testing import TINY, cli, tables_cli
from robustbench_runner.io import read_csv


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    proc = cli(["-m", "seed=1,2", *TINY, f"output_root={root}", "sweep_name=seeds"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "sweeps" / "seeds"


def test_sweep_lands_in_named_dir(sweep):
    runs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert runs == ["digits-cnn6-standard-s1", "digits-cnn6-standard-s2"]
    assert all((sweep / r / "DONE").exists() for r in runs)


def test_tables_mean_and_std_over_seeds(sweep, tmp_path):
    proc = tables_cli([str(sweep), "--out", str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    table = read_csv(tmp_path / "summary.csv")
    assert list(table.columns) == ["dataset", "model", "scheme", "epoch", "Clean mean", "Clean std",
                                   "Clean (attacked points) mean", "Clean (attacked points) std",
                                   "R mean", "R std", "PGD-20 mean", "PGD-20 std"]  # fmt: skip
    assert table["PGD-20 mean"].isna().all()  # these tiny runs ran PGD-5: empty cells, never 0
    m = pd.concat([read_csv(sweep / r / "metrics.csv") for r in ("digits-cnn6-standard-s1", "digits-cnn6-standard-s2")])
    for epoch in (1, 2):
        r = m[(m.epoch == epoch) & (m.attack == "FGSM") & (m.metric == "auc_norm")].value
        row = table[table.epoch == epoch].iloc[0]
        assert row["R mean"] == pytest.approx(r.mean(), abs=1e-12)
        assert row["R std"] == pytest.approx(r.std(ddof=1), abs=1e-12)
    pretty = read_csv(tmp_path / "summary.pretty.csv")
    assert "±" in str(pretty["R"].iloc[0])
    sources = read_csv(tmp_path / "summary.sources.csv")
    assert (sources[sources.column != "PGD-20"].n == 2).all() and (sources[sources.column == "PGD-20"].n == 0).all()
    assert (tmp_path / "summary.md").read_text().startswith("### summary")


@pytest.mark.slow  # three launches of a 2-job sweep: ~55 s on 2 cores
def test_relaunched_sweep_completes_without_duplicates(sweep, tmp_path):
    args = ["-m", "seed=1,2", *TINY, f"output_root={tmp_path}", "sweep_name=seeds"]
    killed = cli(args, env={"RBR_CRASH_AT": "metrics:12"})  # dies inside the second job
    assert killed.returncode == -9
    done = [p for p in (tmp_path / "sweeps" / "seeds").glob("*/DONE")]
    assert len(done) == 1
    # tables read a sweep in progress and report what is missing
    spec = tmp_path / "expect.yaml"
    spec.write_text("id: progress\nrows: [seed]\norder: {seed: [1, 2]}\ncolumns: [{label: Clean, where: {attack: clean, epoch: 2}}]\nexpect: 1\n")
    from robustbench_runner.tables import build, load_spec
    from robustbench_runner.tables.build import Context
    from robustbench_runner.tables.collect import find_runs, load_metrics

    runs = find_runs([tmp_path / "sweeps" / "seeds"])
    result = build(load_spec(spec), Context(load_metrics(runs), runs))
    assert sorted(result.sources.n.tolist()) == [0, 1] and result.sources.missing.sum() == 1
    again = cli(args)
    assert again.returncode == 0, again.stderr[-3000:]
    for run in ("digits-cnn6-standard-s1", "digits-cnn6-standard-s2"):
        got = (tmp_path / "sweeps" / "seeds" / run / "metrics.csv").read_bytes()
        assert got == (sweep / run / "metrics.csv").read_bytes()
    # a third launch of the finished sweep does nothing
    third = cli(args)
    assert third.returncode == 0 and third.stdout.count("nothing to do") == 2


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["local_processes", "submitit_local"])
def test_launchers(launcher, tmp_path, sweep):
    args = ["-m", "seed=1,2", *TINY, f"output_root={tmp_path}", "sweep_name=seeds", f"hydra/launcher={launcher}"]
    if launcher == "submitit_local":
        args += ["hydra.launcher.timeout_min=20"]
    proc = cli(args, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for run in ("digits-cnn6-standard-s1", "digits-cnn6-standard-s2"):
        got = tmp_path / "sweeps" / "seeds" / run
        assert (got / "DONE").exists()
        assert (got / "metrics.csv").read_bytes() == (sweep / run / "metrics.csv").read_bytes()
