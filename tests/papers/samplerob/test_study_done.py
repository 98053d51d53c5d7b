"""A samplerob study folder gets DONE only when every (checkpoint, attack) it computed is in
its metrics.csv, as an rbr-run run does (run_dir.write_done with the rows it expects)."""

from __future__ import annotations

import pytest

from robustbench_runner.errors import UserError
from robustbench_runner.papers.samplerob.rundir import StudyRun

ROWS = [{"attack": "knn", "eps": 0.0, "metric": "acc", "value": 0.9, "n": 10},
        {"attack": "knn_t", "eps": 0.0, "metric": "acc", "value": 0.8, "n": 10}]  # fmt: skip


def study(tmp_path) -> StudyRun:
    run = StudyRun(tmp_path / "study", {"overwrite": False, "data": {"name": "digits"}, "k": [1, 3]})
    return run


def test_a_complete_study_is_done(tmp_path):
    run = study(tmp_path)
    with run.claim("samplerob_test") as done:
        assert not done
        ident = run.identity("digits", "knn_classifier", "uniform")
        for k in (1, 3):
            run.add_metrics(ident, k, f"k{k:02d}", ROWS)
        run.finish()
    assert run.files.done.exists() and run.expected == {(f"k{k:02d}", a) for k in (1, 3) for a in ("knn", "knn_t")}


def test_a_study_whose_rows_were_lost_gets_no_done(tmp_path):
    run = study(tmp_path)
    with run.claim("samplerob_test"):
        ident = run.identity("digits", "knn_classifier", "uniform")
        for k in (1, 3):
            run.add_metrics(ident, k, f"k{k:02d}", ROWS)
        lines = run.files.metrics.read_text().splitlines(keepends=True)
        run.files.metrics.write_text("".join(line for line in lines if ",k03," not in line))  # a damaged file lost k=3
        with pytest.raises(UserError, match=r"lacks the results of k03/knn, k03/knn_t \(no DONE written\)"):
            run.finish()
    assert not run.files.done.exists()
