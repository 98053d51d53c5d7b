"""Hostile run folders: every way :mod:`run_folder_kit` damages one run of a sweep, driven
through ``rbr-tables`` and ``rbr-report`` (issue 21: "a run or file that cannot be read is one
warning line naming it, counted in the summary; ``--strict`` fails on it"; an oversized or
deeply nested ``run.json`` is not minutes and gigabytes then a ``MemoryError``; a FIFO as
``run.json`` does not hang; an unreadable run folder is not skipped in silence). The tables'
config record is ``run.json``: a damaged ``config.yaml`` (a YAML bomb, a python tag, a FIFO)
is never read for a run that records its data source, and for an older run, read for its
``data.root`` alone, it is one warning line, never a hang.

Each case: a sweep of two good runs and one damaged one (its values distinct, so a row of it
in a table would show); the command exits 0 with one warning line naming the damaged run
(exit 1 with ``--strict``), no traceback, the table built from the two good runs only, and
the content of the file outside the sweep (a symlink's target) in no output.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path

import pandas as pd
import pytest
from hostile_kit import can_be_unreadable
from run_folder_kit import (
    CONFIG_YAML_DAMAGES,
    MUTATIONS,
    NEEDS_NON_ROOT,
    SECRET,
    make_run,
    make_sweep,
    outside_file,
    restore_permissions,
)

from robustbench_runner.report import main as report_main
from robustbench_runner.tables.cli import main as tables_main

#: the readers a damaged run folder reaches (through tables/runs.py, results.py, report.py)
READERS = ["reading.load_yaml", "reading.parse_yaml", "reading.load_json", "reading.parse_json",
           "reading.read_text", "reading.read_bytes", "reading.open_regular"]  # fmt: skip

BAD_VALUE = 0.123  # the damaged run's clean accuracy: "0.1230" in a table would be its row
FAST = ["config_deep", "json_too_big", "run.json_fifo", "run.json_symlink_outside", "metrics_formula", "folder_unreadable"]


@contextlib.contextmanager
def deadline(seconds: int = 60):
    """Fail (instead of hanging the suite) when the command blocks, e.g. on a FIFO."""

    def expired(*_):
        raise TimeoutError(f"the command did not finish within {seconds} s (blocked on a FIFO?)")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def call(main, argv, capsys) -> tuple[int, str, str]:
    with deadline():
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def damaged_sweep(tmp_path: Path, mutation: str) -> tuple[Path, Path, str]:
    if mutation in NEEDS_NON_ROOT and not can_be_unreadable():
        pytest.skip("running as root: a mode-000 file or folder is readable")
    sweep = make_sweep(tmp_path)
    bad = make_run(sweep, "digits-cnn6-standard-s9", seed=9, value=BAD_VALUE)
    what = MUTATIONS[mutation](bad, outside_file(tmp_path))
    return sweep, bad, what


def outputs_text(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in (".csv", ".md", ".html"))


def check_tables(tmp_path, capsys, mutation, cached: bool) -> None:
    sweep, bad, what = damaged_sweep(tmp_path, mutation)
    try:
        args = [str(sweep), "--quiet"] + ([] if cached else ["--no-cache"])
        code, out, err = call(tables_main, args, capsys)
        assert "Traceback" not in err and code == 0, (what, code, err[-1500:])
        warnings = [ln for ln in err.splitlines() if "WARNING: skipped" in ln]
        assert len(warnings) == 1 and bad.name in warnings[0], (what, err)
        assert "1 unreadable and skipped" in out, (what, out)
        summary = (sweep / "tables" / "summary.csv").read_text()
        assert "0.8" in summary and str(BAD_VALUE) not in summary and "0.0615" not in summary, (what, summary)
        text = outputs_text(sweep / "tables")
        assert SECRET not in text
        code, _, err = call(tables_main, [*args, "--strict"], capsys)
        assert code == 1 and "--strict" in err.splitlines()[-1], (what, err)
    finally:
        restore_permissions(tmp_path)
    assert not (tmp_path / "elsewhere" / "canary").exists()  # a python tag ran nothing


@pytest.mark.parametrize("mutation", FAST)
def test_rbr_tables_skips_a_damaged_run_with_one_warning(tmp_path, capsys, mutation):
    check_tables(tmp_path, capsys, mutation, cached=False)


@pytest.mark.parametrize("mutation", ["config_list", "run.json_fifo"])
def test_rbr_tables_cache_keeps_a_damaged_run_skipped(tmp_path, capsys, mutation):
    check_tables(tmp_path, capsys, mutation, cached=True)


@pytest.mark.slow
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_rbr_tables_every_mutation(tmp_path, capsys, mutation):
    check_tables(tmp_path, capsys, mutation, cached=False)


def check_report(tmp_path, capsys, mutation, embed: bool) -> None:
    sweep, bad, what = damaged_sweep(tmp_path, mutation)
    out_dir = tmp_path / "rep"
    try:
        args = [str(sweep), "--table", "summary", "--out", str(out_dir)] + (["--embed"] if embed else [])
        code, out, err = call(report_main, args, capsys)
        assert "Traceback" not in err and code == 0, (what, code, err[-1500:])
        warnings = [ln for ln in err.splitlines() if "WARNING: skipped" in ln]
        assert len(warnings) == 1 and bad.name in warnings[0], (what, err)
        assert "1 run folder(s) or file(s) skipped" in out
        page = (out_dir / "index.html").read_text()
        assert SECRET not in page and "0.1230" not in page
        assert "could not be read and were skipped" in page
        code, _, err = call(report_main, [*args, "--strict"], capsys)
        assert code == 1 and "--strict" in err.splitlines()[-1], (what, err)
    finally:
        restore_permissions(tmp_path)


@pytest.mark.parametrize("mutation", ["json_binary", "run.json_fifo", "folder_unreadable"])
def test_rbr_report_skips_a_damaged_run_with_one_warning(tmp_path, capsys, mutation):
    check_report(tmp_path, capsys, mutation, embed=True)


@pytest.mark.slow
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_rbr_report_every_mutation(tmp_path, capsys, mutation):
    check_report(tmp_path, capsys, mutation, embed=False)


def test_a_clean_sweep_has_no_warning(tmp_path, capsys):
    """The control: the kit's runs are valid, so every skip above is the mutation's doing."""
    sweep = make_sweep(tmp_path, n=3)
    code, out, err = call(tables_main, [str(sweep), "--quiet", "--no-cache", "--strict"], capsys)
    assert code == 0 and "WARNING" not in err and "3 runs (3 finished)" in out
    code, out, err = call(report_main, [str(sweep), "--table", "summary", "--strict", "--embed"], capsys)
    assert code == 0 and "WARNING" not in err, err


if sys.platform == "win32":  # FIFOs, modes and SIGALRM are POSIX
    pytestmark = pytest.mark.skip("POSIX only")


@pytest.mark.parametrize("main", [tables_main, report_main], ids=["rbr-tables", "rbr-report"])
def test_a_folder_that_cannot_be_listed_is_a_counted_warning(tmp_path, capsys, monkeypatch, main):
    """The unreadable-folder case also where the tests run as root (mode 000 does not stop
    root): listing the folder fails as it does for a user without permission."""
    import os

    sweep = make_sweep(tmp_path)
    locked = make_run(sweep / "locked", "digits-cnn6-standard-s7", seed=7, value=BAD_VALUE).parent
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    args = [str(sweep), "--quiet", "--no-cache"] if main is tables_main else [str(sweep), "--table", "summary", "--out", str(tmp_path / "rep")]
    code, out, err = call(main, args, capsys)
    assert code == 0 and "Traceback" not in err, err
    warnings = [ln for ln in err.splitlines() if "WARNING: skipped" in ln]
    assert len(warnings) == 1 and str(locked) in warnings[0] and "Permission denied" in warnings[0], err
    code, _, err = call(main, [*args, "--strict"], capsys)
    assert code == 1, err


@pytest.mark.parametrize("legacy", [False, True], ids=["records_data_source", "legacy"])
@pytest.mark.parametrize("damage", sorted(CONFIG_YAML_DAMAGES))
def test_a_damaged_config_yaml_is_not_a_table_input(tmp_path, capsys, damage, legacy):
    """config.yaml is for people and resumes, not the tables: its damage never removes a run
    from a table. A run that records its data source (``run.json`` ``data_source``) never has
    it opened; an older run has it read for ``data.root`` alone, through the reading layer:
    one warning line (whether it used stand-in data cannot be told), no hang, nothing run."""
    sweep = make_sweep(tmp_path)
    bad = make_run(sweep, "digits-cnn6-standard-s9", seed=9, value=BAD_VALUE)
    if legacy:
        info = json.loads((bad / "run.json").read_text())
        del info["data_source"]
        (bad / "run.json").write_text(json.dumps(info))
    CONFIG_YAML_DAMAGES[damage](bad, outside_file(tmp_path))
    code, out, err = call(tables_main, [str(sweep), "--quiet", "--no-cache"], capsys)
    assert "Traceback" not in err and code == 0, err[-1500:]
    summary = pd.read_csv(sweep / "tables" / "summary.csv")
    assert summary["Clean mean"].tolist() == pytest.approx([(0.8 + 0.8 + BAD_VALUE) / 3] * 2)  # its rows are pooled in
    warnings = [ln for ln in err.splitlines() if "WARNING" in ln]
    if legacy:
        assert len(warnings) == 1 and bad.name in warnings[0] and "stand-in" in warnings[0], err
    else:
        assert not warnings, err
    assert SECRET not in outputs_text(sweep / "tables")
    assert not (tmp_path / "elsewhere" / "canary").exists()
