"""Stand-in data is marked in the tables from the run's own record (issue 23: the tables read
one config record, ``run.json``): ``claim_run_dir`` writes ``data_source.standin`` from the
data root the run used; ``rbr-tables`` warns and notes each table from it, and a run written
before that record existed is judged by its ``config.yaml``'s ``data.root``."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from robustbench_runner.paths import STANDIN_MARKER
from robustbench_runner.results import RunFiles, RunIdentity
from robustbench_runner.run_dir import data_source
from robustbench_runner.tables.cli import main as tables_main


def standin_root(tmp_path: Path) -> Path:
    root = tmp_path / "standin_data"
    root.mkdir()
    (root / STANDIN_MARKER).write_text("stand-in\n")
    return root


def test_data_source_follows_the_data_root(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    assert data_source(OmegaConf.create({"data": {"root": str(standin_root(tmp_path))}})) == {"standin": True}
    assert data_source(OmegaConf.create({"data": {"root": str(real)}})) == {"standin": False}
    assert data_source(OmegaConf.create({"data": {"name": "digits"}})) == {"standin": False}
    (real / STANDIN_MARKER).mkdir()  # a folder of that name is not the marker
    assert data_source(OmegaConf.create({"data": {"root": str(real)}})) == {"standin": False}


def write_run(sweep: Path, seed: int, info: dict, config_yaml: str | None = None) -> Path:
    name = f"digits-cnn6-standard-s{seed}"
    files = RunFiles(sweep / name)
    files.dir.mkdir(parents=True)
    config = {"seed": seed, "data": {"name": "digits"}, "model": {"name": "cnn6"}, "scheme": {"name": "standard"}}
    files.info.write_text(json.dumps({"config_hash": f"h{seed}", "config": config, **info}))
    if config_yaml is not None:
        files.config.write_text(config_yaml)
    ident = RunIdentity(run=name, dataset="digits", model="cnn6", scheme="standard", seed=seed, batch_size=16, config_hash=f"h{seed}")
    files.add_metrics(ident, 1, "epoch_001", "test", [{"attack": "clean", "eps": 0.0, "metric": "acc", "value": 0.9, "n": 10}])
    files.done.write_text("finished\n")
    return files.dir


def tables(sweep: Path, capsys) -> tuple[str, str]:
    try:
        tables_main([str(sweep), "--quiet", "--no-cache"])
    except SystemExit as e:
        assert e.code in (0, None), e.code
    out = capsys.readouterr()
    return out.out, (sweep / "tables" / "summary.md").read_text()


def test_tables_mark_runs_that_recorded_standin_data(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    write_run(sweep, 0, {"data_source": {"standin": True}})
    write_run(sweep, 1, {"data_source": {"standin": True}})
    out, md = tables(sweep, capsys)
    assert "WARNING: 2 runs used stand-in data" in out and "Smoke run on stand-in data" in md


def test_real_data_runs_are_not_marked(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    write_run(sweep, 0, {"data_source": {"standin": False}}, config_yaml=f"data:\n  root: {standin_root(tmp_path)}\n")
    out, md = tables(sweep, capsys)  # the record wins: config.yaml is not read
    assert "stand-in" not in out and "stand-in" not in md


def test_a_legacy_run_is_judged_by_its_config_yaml(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    write_run(sweep, 0, {}, config_yaml=f"data:\n  root: {standin_root(tmp_path)}\n")
    out, md = tables(sweep, capsys)
    assert "WARNING: 1 runs used stand-in data" in out and "Smoke run on stand-in data" in md
