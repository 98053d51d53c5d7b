"""Runs that differ by a whole config node (a ``select=pgd20`` run beside a plain one) are
split by one ``cfg.<node>`` row field, not one per leaf under it (issue 24: rbr-tables over
``outputs/runs`` after the Quickstart)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from robustbench_runner.results import RunFiles, RunIdentity
from robustbench_runner.tables.build import MAX_SHOWN, _compact
from robustbench_runner.tables.cli import main as tables_main
from robustbench_runner.tables.runs import Run, differing_keys

SELECT = {"split": "val", "n_eval": 1000, "subset_seed": 0, "batch_size": 250,
          "attack": {"_target_": "robustbench_runner.attacks.pgd.PGD", "name": "PGD-20", "eps": 0.1, "steps": 20}}  # fmt: skip
BASE = {"seed": 0, "data": {"name": "digits"}, "model": {"name": "cnn6"}, "scheme": {"name": "standard"}}


def run(config: dict) -> Run:
    return Run(Path("r"), True, config, True, {}, pd.DataFrame())


def test_a_node_only_some_runs_have_is_one_key():
    plain, sel = run({**BASE, "tag": ""}), run({**BASE, "tag": "select", "select": SELECT})
    assert differing_keys([plain, sel], ("seed",)) == ["select", "tag"]
    other = run({**BASE, "tag": "select", "select": {**SELECT, "n_eval": 10}})
    assert differing_keys([sel, other], ("seed",)) == ["select.n_eval"]  # both have the node: its leaf


def test_long_labels_stay_distinct():
    a, b = json.dumps({"x": "a" * 80}), json.dumps({"x": "a" * 79 + "b"})
    assert len(_compact(a)) <= MAX_SHOWN and _compact(a) != _compact(b) and _compact("[1, 2]") == "[1, 2]"


def write_run(sweep: Path, name: str, config: dict) -> None:
    files = RunFiles(sweep / name)
    files.dir.mkdir(parents=True)
    files.info.write_text(json.dumps({"config_hash": name[-12:], "config": config, "data_source": {"standin": False}}))
    ident = RunIdentity(run=name, dataset="digits", model="cnn6", scheme="standard", seed=0, batch_size=16, config_hash=name[-12:])
    files.add_metrics(ident, 2, "epoch_002", "test", [{"attack": "clean", "eps": 0.0, "metric": "acc", "value": 0.9, "n": 10}])
    files.done.write_text("finished\n")


def test_rbr_tables_splits_by_the_node(tmp_path):
    sweep = tmp_path / "runs"
    write_run(sweep, "digits-cnn6-standard-s0", {**BASE, "tag": ""})
    write_run(sweep, "digits-cnn6-standard-s0-select", {**BASE, "tag": "select", "select": SELECT})
    with pytest.raises(SystemExit) as e:
        tables_main([str(sweep), "--quiet", "--no-cache"])
    assert e.value.code == 0
    table = pd.read_csv(sweep / "tables" / "summary.csv", keep_default_na=False)  # "None" as written
    assert [c for c in table.columns if c.startswith("cfg.")] == ["cfg.select", "cfg.tag"]
    assert sorted(table["cfg.select"]) == sorted(["None", _compact(json.dumps(SELECT, sort_keys=True))])
    # the split fields are not crossed: 2 rows (one per run), not 2 x 2 (select x tag values)
    sources = pd.read_csv(sweep / "tables" / "summary.sources.csv", keep_default_na=False)
    assert len(sources) == 2 * sources["column"].nunique()
