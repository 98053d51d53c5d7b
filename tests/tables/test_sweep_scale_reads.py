"""The sweep-scale read path of ``rbr-tables`` (issue 16, item 4) gives what the plain,
file-by-file path gives: metrics.csv parsed together, the pooling check's flattened
config records built per top-level entry, the pivot's cells
found in one pass, and table specs read through PyYAML's C parser."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from pandas.testing import assert_frame_equal

from robustbench_runner.errors import UserError
from robustbench_runner.results import METRIC_COLUMNS, SCHEMAS, read_result_csv, read_result_csvs
from robustbench_runner.tables import runs as runs_mod
from robustbench_runner.tables.build import cell_positions
from robustbench_runner.tables.runs import Run, _flatten, load_runs
from robustbench_runner.tables.spec import load_spec, spec_from_dict, table_dirs

HEADER = ",".join(METRIC_COLUMNS) + "\n"


def _row(run="r", seed=0, eps="0.1", value="0.5", n="10", attack="PGD-20", epoch="1", extra=()):
    fields = [run, "digits", "lenet", "pgd_at", str(seed), "64", "abc", epoch, "last", "test", attack, eps, "acc", value, n, *extra]
    return ",".join(fields) + "\n"


def _files(tmp_path) -> dict[str, str]:
    """Every kind of metrics.csv the joint reader groups differently."""
    return {
        "ints_eps": HEADER + _row(eps="0") + _row(eps="0", attack="clean"),  # eps parsed as ints here
        "floats": HEADER + _row(eps="0.1", value="0.30000000000000004") + _row(eps="1e-3", value="nan"),
        "torn": HEADER + _row() + "r,digits,lenet,pgd",  # lost its tail
        "bad_number": HEADER + _row() + _row(value="abc"),  # same header as the good ones: its group falls back
        "bad_int": HEADER + _row(n="3.5"),
        "header_only": HEADER,
        "extra_column": HEADER.rstrip("\n") + ",note\n" + _row(extra=("x",)) + _row(extra=("",)),
        "missing_column": HEADER.replace(",n\n", "\n") + _row()[: _row().rindex(",")] + "\n",
        "strings": HEADER + _row(run="NA", attack="None") + _row(run="", attack="nan"),  # NA-like text
        "empty": "",
    }


def test_joint_csv_read_equals_file_by_file(tmp_path, capsys):
    paths = []
    for name, text in _files(tmp_path).items():
        p = tmp_path / name / "metrics.csv"
        p.parent.mkdir()
        p.write_text(text)
        paths.append(p)
    paths *= 2  # the same files twice: groups of several members
    schema = SCHEMAS["metrics.csv"]
    joint = read_result_csvs(paths, schema)
    errors = 0
    for p, got in zip(paths, joint, strict=True):
        try:
            want = read_result_csv(p, schema)
        except UserError as e:
            assert isinstance(got, UserError), p
            assert got.one_line() == e.one_line()
            errors += 1
            continue
        assert not isinstance(got, UserError), (p, got)
        assert_frame_equal(got.frame, want.frame, check_exact=True)
        assert list(got.frame.index) == list(range(len(want.frame)))
        assert got.torn == want.torn
    assert errors == 2 * 4  # bad_number, bad_int, missing_column, empty
    assert "dropped a torn last row" in capsys.readouterr().err


def test_runs_read_together_have_the_rows_read_alone(tmp_path, monkeypatch):
    """Runs read in chunks of two (``READ_CHUNK``), with two headers among them: each run's
    frame, and the concatenation of all, equal those of the file-by-file path."""
    monkeypatch.setattr(runs_mod, "READ_CHUNK", 2)
    dirs = []
    texts = [HEADER + _row(seed=s, value=f"0.{s}") * (s + 1) for s in range(5)]
    texts.insert(2, HEADER.rstrip("\n") + ",note\n" + _row(extra=("x",)))
    for i, text in enumerate(texts):
        d = tmp_path / f"run{i}"
        d.mkdir()
        (d / "metrics.csv").write_text(text)
        (d / "run.json").write_text(json.dumps({"config": {"seed": i, "name": f"run-s{i}"}}))
        dirs.append(d)
    runs_mod._CACHE.clear()
    got = load_runs(dirs)
    assert [r.dir for r in got.runs] == dirs and not got.skipped
    for r, d in zip(got.runs, dirs, strict=True):
        assert r.n_metrics == len(r.metrics)
        assert_frame_equal(r.metrics, read_result_csv(d / "metrics.csv").frame, check_exact=True)
    joint = got.metrics(["seed"])
    per_run = runs_mod._concat_per_run([r for r in got.runs if r.n_metrics], ["seed"])
    assert_frame_equal(joint, per_run, check_exact=True)
    same_header = load_runs(dirs[:2] + dirs[3:])
    assert_frame_equal(same_header.metrics(["seed"]), runs_mod._concat_per_run(same_header.runs, ["seed"]), check_exact=True)


def _flat_whole(config: dict) -> dict:
    seed = config.get("seed")
    token = re.compile(rf"-s{re.escape(str(seed))}(?=$|[-/_.])") if seed is not None else None
    out: dict = {}
    _flatten(config, "", token, out)
    return out


@pytest.mark.parametrize(
    "config",
    [
        {"seed": 1, "name": "x-s1", "init_from": "outputs/p-s1/ckpt", "model": {"w": [1, 2], "d": {}}, "a.b": 1, "a": {"b": 2}},
        {"seed": 2, "name": "x-s2", "init_from": "outputs/p-s2/ckpt", "model": {"w": [1, 2], "d": {}}, "a.b": 1, "a": {"b": 2}},
        {"seed": 1, "model": {"w": [1, 2.0], "d": {}}, "flag": True, "n": 1},
        {"seed": 1, "model": {"w": [1, 2.0], "d": {}}, "flag": 1, "n": 1.0},
        {"seed": None, "name": "x-s1", 1: "int key", "1": "str key"},
        {},
    ],
)
def test_flattened_config_by_entries_equals_whole_walk(config):
    # twice: the second call takes every entry from the memo
    for _ in range(2):
        run = Run(runs_mod.Path("r"), True, config, True, {}, pd.DataFrame())
        assert run.flat == _flat_whole(config)
        assert list(run.flat) == list(_flat_whole(config))


def test_cell_positions_equal_the_filters():
    df = pd.DataFrame(
        {
            "a": pd.Series(["x", "y", None, "x", "nan", "y"], dtype="str"),
            "b": [0.1, 0.1, 0.2, np.nan, 0.1, 0.1],
            "c": pd.Series(["k", None, "k", "k", "k", 3], dtype=object),
            "value": np.arange(6.0),
        }
    )
    keys = ["a", "b", "c"]
    cells = cell_positions(df, keys)
    seen = [sorted({str(v) for v in df[k]} | {"nan", "None"}) for k in keys]
    hits = 0
    for combo in itertools.product(*seen):
        sel = df
        for k, v in zip(keys, combo, strict=True):
            sel = sel[sel[k].astype(str) == v]
        got = df.iloc[cells.get(combo, [])]
        assert_frame_equal(got, sel)
        hits += len(sel)
    assert hits >= 3  # the comparison covered cells that hold rows, not only empty ones


def test_specs_read_as_omegaconf_reads_them(tmp_path):
    shipped = sorted(p for d in table_dirs() for p in d.rglob("*.yaml"))
    assert len(shipped) > 50
    for path in shipped:
        assert load_spec(path) == spec_from_dict(OmegaConf.to_container(OmegaConf.load(path), resolve=True), str(path))
    p = tmp_path / "mine.yaml"
    p.write_text("id: my/t\ntitle: T ${id}\nrows: [scheme]\nwhere: {attack: PGD-20, eps: 1e-3}\n")
    spec = load_spec(p)
    assert spec.title == "T my/t" and spec.where["eps"] == 0.001
    p.write_text("id: my/t\ntitle: T\ntitle: again\n")
    with pytest.raises(UserError, match="not valid YAML.*duplicate key title"):
        load_spec(p)
    p.write_text("- a\n")
    with pytest.raises(UserError, match="does not hold a mapping"):
        load_spec(p)


def test_wide_per_run_csvs_concatenate_without_fragmentation_warnings(tmp_path):
    """paper vir's fig. 2 reads 104-column weights_log.csv files: joining ``run_dir`` must
    not warn (pandas' PerformanceWarning "highly fragmented") and must give the same frame."""
    import warnings

    from robustbench_runner.tables.collect import load_csv_from_runs

    cols = ["epoch"] + [f"w{i}" for i in range(120)]
    dirs = []
    for r in range(3):
        d = tmp_path / f"run{r}"
        d.mkdir()
        lines = [",".join(cols)] + [",".join([str(e)] + [f"{0.5 + r + i / 1000:.3f}" for i in range(120)]) for e in (1, 2)]
        (d / "weights_log.csv").write_text("\n".join(lines) + "\n")
        dirs.append(d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = load_csv_from_runs(dirs, "weights_log.csv")
    assert list(got.columns) == [*cols, "run_dir"] and len(got) == 6
    assert list(got["run_dir"]) == [str(d) for d in dirs for _ in (1, 2)]
    assert got["epoch"].dtype == "int64" and got["w119"].iloc[-1] == pytest.approx(2.619)
