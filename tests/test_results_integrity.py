"""Results integrity (issue 13, items 6, 7, 8, 10): damaged result CSVs, one bad run in a
sweep, orphaned launcher workers, and tables that pool only seed replicates."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from rbr_testing import TINY, run_inprocess
from robustbench_runner.errors import UserError
from robustbench_runner.results import SCHEMAS, read_result_csv, upsert_result

# -- 6. damaged CSVs ------------------------------------------------------------------------------

HEADER = "epoch,checkpoint,split,attack,eps,true,pred,count\n"
ROWS = "1,epoch_001,test,FGSM,0.0,0,0,4\n1,epoch_001,test,FGSM,0.0,0,1,2\n"


def test_torn_last_row_is_dropped_and_integers_stay_integers(tmp_path, capsys):
    p = tmp_path / "confusion.csv"
    p.write_text(HEADER + ROWS + "2,epoch_002,te")  # the tail was lost mid-line
    got = read_result_csv(p)
    assert got.torn == ["2", "epoch_002", "te"]
    assert len(got.frame) == 2 and got.frame["count"].dtype == "int64" and got.frame["epoch"].dtype == "int64"
    assert "dropped a torn last row" in capsys.readouterr().err
    # a short last line that does end in a newline is torn too
    p.write_text(HEADER + ROWS + "2,epoch_002,test,FGSM\n")
    assert len(read_result_csv(p).frame) == 2
    # the rewrite drops the torn row and keeps integers as integers
    new = pd.DataFrame(
        [
            {
                "epoch": 2,
                "checkpoint": "epoch_002",
                "split": "test",
                "attack": "FGSM",
                "eps": 0.0,
                "true": 0,
                "pred": 0,
                "count": 6,
            }
        ]
    )
    assert upsert_result(p, new, ["epoch", "checkpoint", "split", "attack", "eps", "true", "pred"]) == 1
    assert p.read_text() == HEADER + ROWS + "2,epoch_002,test,FGSM,0.0,0,0,6\n"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("epoch,checkpoint,spl", "header"),
        (
            "epoch,checkpoint,split,attack,eps,true,pred\n1,a,test,FGSM,0.0,0,0\n",
            "missing column(s) count",
        ),
        (HEADER + "1,epoch_001,test,FGSM\n" + ROWS, "line 2 has 4 fields"),
        (HEADER + ROWS.replace(",4\n", ",four\n"), "column count holds 'four'"),
        (HEADER + ROWS.replace(",4\n", ",\n"), "integer column count is empty"),
        (HEADER + ROWS.replace(",4\n", ",4.5\n"), "integer column count holds '4.5'"),
    ],
)
def test_other_damage_is_one_line_naming_the_file(tmp_path, text, why):
    p = tmp_path / "confusion.csv"
    p.write_text(text)
    with pytest.raises(UserError) as e:
        read_result_csv(p)
    msg = e.value.one_line()
    assert str(p) in msg and why in msg and "\n" not in msg


def test_every_result_file_has_a_schema():
    assert set(SCHEMAS) >= {
        "metrics.csv",
        "confusion.csv",
        "train_log.csv",
        "weights_log.csv",
        "model_summary.csv",
    }
    assert SCHEMAS["metrics.csv"].required["n"] == "int" and SCHEMAS["metrics.csv"].required["value"] == "float"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny finished run that keeps its resume state (so it can be resumed after DONE is removed)."""
    root = tmp_path_factory.mktemp("finished")
    run = run_inprocess([*TINY, f"output_root={root}", "train.keep_optimizer_state=true"])
    assert (run / "DONE").exists()
    return run


def _cut_inside(data: bytes, line: int) -> bytes:
    """``data`` cut 25 bytes into its ``line``-th line (0 = header; negative from the end)."""
    starts = [0] + [i + 1 for i, b in enumerate(data) if b == ord("\n")][:-1]
    return data[: starts[line] + 25]


@pytest.mark.parametrize("where", ["last row", "inside an attack's rows"])
def test_torn_metrics_and_confusion_are_recomputed_on_resume(finished_run, tmp_path, where):
    """A run killed after its last write, whose file system then lost the files' tails: the
    resumed run recomputes the lost rows and ends byte-identical to the uninterrupted run.
    "inside": the tail is lost from the middle of the final FGSM sweep's rows, so the other
    rows of that attack are on file and the evaluator must still redo it."""
    ref = {n: (finished_run / n).read_bytes() for n in ("metrics.csv", "confusion.csv")}
    run = tmp_path / "runs" / finished_run.name
    shutil.copytree(finished_run, run)
    (run / "DONE").unlink()
    lines = ref["metrics.csv"].decode().splitlines()
    fgsm = max(i for i, row in enumerate(lines) if ",FGSM," in row and ",acc," in row)
    for name, data in ref.items():
        (run / name).write_bytes(_cut_inside(data, -1 if where == "last row" or name != "metrics.csv" else fgsm - 1))
        assert (run / name).read_bytes() != data
    metrics = pd.read_csv(run / "metrics.csv")
    assert metrics["n"].dtype == "float64" or metrics["n"].isna().any()  # what a plain reader sees
    again = run_inprocess([*TINY, f"output_root={tmp_path}", "train.keep_optimizer_state=true"])
    assert again == run and (run / "DONE").exists()
    for name, data in ref.items():
        assert (run / name).read_bytes() == data, name
    m = read_result_csv(run / "metrics.csv").frame
    assert m["n"].dtype == "int64" and m["epoch"].dtype == "int64" and m["seed"].dtype == "int64"


# -- 8. orphaned launcher workers -------------------------------------------------------------


def _sweep_cmd(root, *extra):
    import sys

    tiny = [o for o in TINY if not o.startswith("train.epochs=")]
    return [sys.executable, "-m", "robustbench_runner.run", "-m", "seed=1,2", *tiny, "train.epochs=400",
            f"output_root={root}", "sweep_name=stop", "hydra/launcher=local_processes", *extra]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_to_sweep_parent_stops_its_workers(tmp_path, sig):
    import os
    import signal
    import subprocess
    import time

    from rbr_testing import REPO
    from robustbench_runner.hydra_callbacks import _alive, descendants
    from robustbench_runner.io import run_lock

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _sweep_cmd(tmp_path),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sweep = tmp_path / "sweeps" / "stop"
    try:
        deadline = time.monotonic() + 240
        while len(list(sweep.glob("*/train_log.csv"))) < 2:  # both jobs are training
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the two jobs did not start"
            time.sleep(0.5)
        workers = descendants(proc.pid)
        assert len(workers) >= 2
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -getattr(signal, sig), err[-2000:]
    assert f"[rbr] {sig}: stopped the sweep" in err
    time.sleep(0.5)
    assert [p for p in workers if _alive(p)] == []
    for run in sweep.iterdir():  # the stopped runs are not DONE and their locks are free
        if run.is_dir():
            assert not (run / "DONE").exists()
            with run_lock(run):
                pass


# -- synthetic runs for the table tests: real resolved configs, hand-written metrics ----------


def fake_run(root, overrides: list[str], clean: float, r: float, done: bool = True, sub: str = "a"):
    """A finished run folder as rbr-run leaves it (config.yaml, run.json, metrics.csv, DONE),
    with the summary table's two values at epoch 1, without training anything."""
    from rbr_testing import compose_cfg
    from robustbench_runner.config import config_hash
    from robustbench_runner.results import RunFiles, RunIdentity
    from robustbench_runner.run_dir import claim_run_dir, run_dir_of, write_done

    cfg = compose_cfg([*overrides, f"output_root={root / 'out' / sub}"])
    files = RunFiles(run_dir_of(cfg))
    files.dir.mkdir(parents=True)
    chash = config_hash(cfg)
    claim_run_dir(files, cfg, chash)  # config.yaml and run.json, as rbr-run writes them
    ident = RunIdentity(
        files.dir.name,
        str(cfg.data.name),
        str(cfg.model.name),
        str(cfg.scheme.name),
        int(cfg.seed),
        int(cfg.train.batch_size),
        chash,
    )
    files.add_metrics(ident, 1, "epoch_001", "test", [
        {"attack": "clean", "eps": 0.0, "metric": "acc", "value": clean, "n": 80},
        {"attack": "FGSM", "eps": float("nan"), "metric": "auc_norm", "value": r, "n": 40},
    ])  # fmt: skip
    if done:
        write_done(files, chash, [("epoch_001", "clean"), ("epoch_001", "FGSM")])
    return files.dir


def _summary(tmp_path, *args):
    from rbr_testing import tables_cli

    out = tmp_path / "tables"
    proc = tables_cli([str(tmp_path / "out"), "--out", str(out), *args])
    return proc, out


# -- 7. one bad run does not stop the sweep's tables ----------------------------------------------


@pytest.fixture
def sweep_with_bad_runs(tmp_path):
    good = [fake_run(tmp_path, [f"seed={s}"], 0.9 + s / 100, 0.5 + s / 100) for s in (0, 1)]
    empty = fake_run(tmp_path, ["seed=2"], 0.1, 0.1)
    (empty / "metrics.csv").write_text("")
    bad_yaml = fake_run(tmp_path, ["seed=3"], 0.1, 0.1)  # its config record is not a mapping
    info = json.loads((bad_yaml / "run.json").read_text())
    (bad_yaml / "run.json").write_text(json.dumps({**info, "config": ["data", "model"]}))
    bad_json = fake_run(tmp_path, ["seed=4"], 0.1, 0.1)
    (bad_json / "run.json").write_text('{"config_hash": "ab')
    return good, [empty, bad_yaml, bad_json]


def test_tables_skip_unreadable_runs_with_one_warning_each(tmp_path, sweep_with_bad_runs):
    good, bad = sweep_with_bad_runs
    proc, out = _summary(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 3 and all(any(str(b) in w for w in warnings) for b in bad)
    assert "metrics.csv is damaged: the file is empty" in proc.stderr
    assert "holds a config that is not a JSON object" in proc.stderr and "run.json is not valid JSON" in proc.stderr
    assert "5 runs (2 finished, 3 unreadable and skipped)" in proc.stdout
    assert "(+3 unreadable runs skipped)" in proc.stdout
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == 1 and table["Clean mean"].iloc[0] == pytest.approx((0.90 + 0.91) / 2)
    sources = pd.read_csv(out / "summary.sources.csv")
    assert sources[sources.column == "Clean"].n.tolist() == [2]


def test_tables_strict_exits_non_zero_after_writing_the_rest(tmp_path, sweep_with_bad_runs):
    proc, out = _summary(tmp_path, "--strict")
    assert proc.returncode == 1
    assert "3 runs skipped" in proc.stderr.splitlines()[-1]
    assert (out / "summary.csv").exists()


def test_tables_list_into_a_closed_pipe_prints_no_traceback():
    """``rbr-tables --list | head -1``: the reader goes away before the list is written."""
    import os
    import subprocess
    import sys

    from rbr_testing import REPO

    r, w = os.pipe()
    os.close(r)  # nobody reads: every write gets EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "robustbench_runner.tables.cli", "--list"],
            cwd=REPO,
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(w)
    assert proc.returncode == 0
    assert proc.stderr == ""


# -- 10. a cell pools seed replicates only --------------------------------------------------------

FOUR_VARIANTS = [[], ["tag=other"], ["data.limit_train=160"], ["data.val_size=50"]]


def test_different_experiments_are_not_pooled_as_seeds(tmp_path):
    """The reproduction: four seed-0 runs that differ in tag, data size and val_size were one
    "mean ± std" cell; now they are four rows, one per variant, each with its own value."""
    values = [0.2, 0.4, 0.6, 0.8]
    for i, (ov, v) in enumerate(zip(FOUR_VARIANTS, values, strict=True)):
        fake_run(tmp_path, ["seed=0", *ov], v, v, sub=f"v{i}")
    proc, out = _summary(tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == 4
    assert {"cfg.data.limit_train", "cfg.data.val_size", "cfg.tag"} <= set(table.columns)
    assert sorted(table["Clean mean"]) == pytest.approx(values) and table["Clean std"].isna().all()
    assert (pd.read_csv(out / "summary.sources.csv").n.isin([0, 1])).all()
    note = (out / "summary.md").read_text()
    assert "differ in data.limit_train, data.val_size, tag" in note


def test_seed_replicates_are_pooled_into_one_cell(tmp_path):
    import numpy as np

    vals = [0.5, 0.6, 0.9]
    for s, v in enumerate(vals):
        fake_run(
            tmp_path,
            [f"seed={s}", "init_from=outputs/sweeps/pre/digits-cnn6-standard-s" + str(s)],
            v,
            v,
        )
    proc, out = _summary(tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == 1 and list(table.columns)[:4] == ["dataset", "model", "scheme", "epoch"]
    assert table["Clean mean"].iloc[0] == pytest.approx(np.mean(vals))
    assert table["Clean std"].iloc[0] == pytest.approx(np.std(vals, ddof=1))


def _build(tmp_path, **spec_fields):
    from robustbench_runner.tables import build, spec_from_dict
    from robustbench_runner.tables.build import Context
    from robustbench_runner.tables.collect import find_runs

    spec = spec_from_dict({
        "id": "t", "rows": ["dataset"], "columns": [{"label": "Clean", "where": {"attack": "clean"}}], **spec_fields,
    })  # fmt: skip
    dirs = find_runs([tmp_path / "out"])
    from robustbench_runner.tables.collect import load_metrics

    return build(spec, Context(load_metrics(dirs), dirs))


def test_pooling_refused_or_declared(tmp_path):
    for i, (ov, v) in enumerate(zip(FOUR_VARIANTS, [0.2, 0.4, 0.6, 0.8], strict=True)):
        fake_run(tmp_path, ["seed=0", *ov], v, v, sub=f"v{i}")
    with pytest.raises(UserError) as e:
        _build(tmp_path, mixed="refuse")
    msg = e.value.one_line()
    assert "differ in data.limit_train, data.val_size, tag" in msg and "pooled" in msg
    pooled = _build(tmp_path, pooled=["tag", "data"])  # declared: pool on purpose
    assert len(pooled.table) == 1 and pooled.table["Clean mean"].iloc[0] == pytest.approx(0.5)
    assert pooled.sources.n.tolist() == [4]
    with pytest.raises(UserError, match="mixed 'merge' unknown"):
        _build(tmp_path, mixed="merge")
