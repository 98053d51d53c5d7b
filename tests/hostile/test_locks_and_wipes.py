"""The run lock and the overwrite wipe (issue 21, "one writing rule"): the tool removes or
replaces only what it created.

- the lock is created exclusively with rbr-run's marker and removed only by its creator; a
  ``.lock`` the tool did not write (a user's file, a symlink, a folder, a FIFO) is refused and
  left exactly as it was;
- ``overwrite=true`` journals its wipe (``.rbr-wipe``); a wipe killed half-way is finished by
  the next command before anything else, and ``DONE`` is written only when every result the
  config asks for is on disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hostile_kit import assert_one_line_error, tree_state

from robustbench_runner.errors import UserError
from robustbench_runner.io import LOCK, LOCK_MAGIC, MANIFEST, read_lock_marker, run_lock

# -- the lock ----------------------------------------------------------------------------------


def test_the_lock_carries_the_tool_marker_and_goes_with_its_creator(tmp_path):
    d = tmp_path / "run"
    with run_lock(d):
        marker = read_lock_marker(d / LOCK)
        assert (d / LOCK).read_text().splitlines()[0] == LOCK_MAGIC
        assert marker["pid"] == str(os.getpid()) and len(marker["token"]) == 32
        (d / MANIFEST).write_text("config.yaml\n")  # the folder became a run directory
        with pytest.raises(UserError, match=f"another process \\(pid {os.getpid()}"):
            with run_lock(d):
                pass
        assert read_lock_marker(d / LOCK) == marker  # the refused second taker left it alone
    assert not (d / LOCK).exists() and d.is_dir()
    assert not [p for p in d.iterdir() if p.name.startswith(".lock")]  # no temp file left


def _users_lock(d: Path, kind: str, outside: Path) -> None:
    lock = d / LOCK
    if kind == "file":
        lock.write_text("my own notes, not a lock\n")
    elif kind == "empty":
        lock.write_bytes(b"")
    elif kind == "symlink":
        lock.symlink_to(outside)
    elif kind == "folder":
        lock.mkdir()
        (lock / "keep.txt").write_text("keep\n")
    elif kind == "fifo":
        os.mkfifo(lock)
    elif kind == "forged_magic_without_token":
        lock.write_text(f"{LOCK_MAGIC}\nno fields here\n")


USER_LOCKS = ["file", "empty", "symlink", "folder", "fifo", "forged_magic_without_token"]


@pytest.mark.parametrize("kind", USER_LOCKS)
def test_a_users_lock_is_refused_and_left_untouched(tmp_path, kind):
    d = tmp_path / "mine"
    d.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("elsewhere\n")
    _users_lock(d, kind, outside)
    before = tree_state(tmp_path)
    with pytest.raises(UserError, match="left untouched") as e:
        with run_lock(d):
            raise AssertionError("the lock was taken")
    assert "\n" not in e.value.one_line()
    assert tree_state(tmp_path) == before


def test_a_users_lock_in_hydra_run_dir_through_the_cli(tmp_path, monkeypatch, capsys):
    """Today's main refused the folder (right) and then unlinked the user's ``.lock``."""
    from rbr_testing import main_inprocess

    d = tmp_path / "my_folder"
    d.mkdir()
    (d / LOCK).write_text("mine\n")
    before = tree_state(tmp_path)
    code, err = main_inprocess([f"hydra.run.dir={d}", "train.epochs=1", "eval.grid=[1]", "progress=false"], monkeypatch, capsys)
    line = assert_one_line_error(code, err)
    assert str(d / LOCK) in line and "left untouched" in line
    assert tree_state(tmp_path) == before


def test_a_dead_processs_lock_is_taken_over(tmp_path):
    """A SIGKILLed run leaves its lock; nobody holds its flock, so the next run replaces it."""
    d = tmp_path / "run"
    code = textwrap.dedent(f"""
        import os, signal
        from robustbench_runner.io import run_lock
        from pathlib import Path
        with run_lock({str(d)!r}):
            (Path({str(d)!r}) / {MANIFEST!r}).write_text("x\\n")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    dead = read_lock_marker(d / LOCK)
    assert dead is not None and dead["pid"] != str(os.getpid())
    with run_lock(d):
        assert read_lock_marker(d / LOCK)["pid"] == str(os.getpid())
    assert not (d / LOCK).exists()


def test_a_lock_replaced_while_held_is_not_removed(tmp_path):
    """On the way out only the file this process created goes: another file put at ``.lock``
    meanwhile (by a user, or by another process) stays."""
    d = tmp_path / "run"
    with run_lock(d):
        (d / MANIFEST).write_text("x\n")
        os.replace(_write(tmp_path / "users_lock", "user's\n"), d / LOCK)
    assert (d / LOCK).read_text() == "user's\n"


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


def test_an_old_versions_empty_lock_in_a_run_directory_is_adopted(tmp_path):
    """Versions before the marker left an empty ``.lock`` in every run directory they wrote."""
    d = tmp_path / "run"
    d.mkdir()
    (d / MANIFEST).write_text("config.yaml\n")
    (d / LOCK).write_bytes(b"")
    with run_lock(d):
        assert read_lock_marker(d / LOCK)["pid"] == str(os.getpid())
    assert not (d / LOCK).exists()


# -- the wipe journal --------------------------------------------------------------------------

from robustbench_runner.io import WIPE_JOURNAL, finish_wipe, read_manifest, recording, wipe_recorded  # noqa: E402

RUN_FILES = ["DONE", "config.yaml", "metrics.csv", "ckpt/epoch_001.pt", "ckpt/last.pt", "eval/epoch_001/pgd.pt", "run.json"]


def _a_run_with_a_users_file(tmp_path: Path) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    with recording(d):
        from robustbench_runner.io import atomic_write_text

        for rel in RUN_FILES:
            atomic_write_text(d / rel, f"{rel}\n")
    (d / "ckpt" / "my_notes.txt").write_text("the user's\n")
    (d / "analysis.ipynb").write_text("the user's\n")
    return d


def _wipe_killed_at(d: Path, n: int) -> subprocess.CompletedProcess:
    code = f"from robustbench_runner.io import wipe_recorded, read_manifest; wipe_recorded({str(d)!r}, read_manifest({str(d)!r}))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RBR_CRASH_AT": f"wipe:{n}"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("killed_after", [1, 3, 6])
def test_a_wipe_killed_half_way_is_finished_by_the_next_command(tmp_path, killed_after, capsys):
    d = _a_run_with_a_users_file(tmp_path)
    assert read_manifest(d) == RUN_FILES
    proc = _wipe_killed_at(d, killed_after)
    assert proc.returncode == -9, proc.stderr
    assert (d / WIPE_JOURNAL).is_file() and not (d / "DONE").exists()  # DONE goes first
    left = [rel for rel in RUN_FILES if (d / rel).exists()]
    assert len(left) == len(RUN_FILES) - killed_after
    assert finish_wipe(d) is True
    assert "interrupted" in capsys.readouterr().err
    assert sorted(str(p.relative_to(d)) for p in d.rglob("*")) == ["analysis.ipynb", "ckpt", "ckpt/my_notes.txt"]
    assert finish_wipe(d) is False


def test_a_wipe_never_leaves_the_run_directory(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep\n")
    (d / "x.csv").write_text("x\n")
    wipe_recorded(d, ["../precious.txt", "/etc/hostname", "x.csv", "a/../../precious.txt"])
    assert outside.read_text() == "keep\n" and not (d / "x.csv").exists()


@pytest.mark.parametrize("content", ["not a journal\nprecious.txt\n", None])
def test_a_wipe_journal_the_tool_did_not_write_is_refused_and_untouched(tmp_path, content):
    d = tmp_path / "run"
    d.mkdir()
    (d / "precious.txt").write_text("keep\n")
    if content is None:
        (d / WIPE_JOURNAL).symlink_to(d / "precious.txt")
    else:
        (d / WIPE_JOURNAL).write_text(content)
    before = tree_state(tmp_path)
    with pytest.raises(UserError, match="was not written by rbr-run"):
        finish_wipe(d)
    assert tree_state(tmp_path) == before


def test_the_manifest_after_a_wipe_records_the_new_files(tmp_path):
    """Inside one recording, a wipe forgets what the old manifest listed: the files written
    after it are recorded again (else the next overwrite would leave them)."""
    from robustbench_runner.io import atomic_write_text

    d = _a_run_with_a_users_file(tmp_path)
    with recording(d):
        wipe_recorded(d, read_manifest(d))
        atomic_write_text(d / "config.yaml", "new\n")
        atomic_write_text(d / "metrics.csv", "new\n")
    assert read_manifest(d) == ["config.yaml", "metrics.csv"]


# -- end to end: rbr-run killed in the middle of an overwrite ------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from rbr_testing import TINY, run_inprocess

    root = tmp_path_factory.mktemp("reference")
    return run_inprocess([*TINY, "train.keep_optimizer_state=true", f"output_root={root}"])  # last.pt stays resumable


@pytest.mark.slow
def test_overwrite_killed_half_way_then_the_same_command_without_overwrite(reference, tmp_path):
    """Today's main: ``DONE`` was written while epoch-1 results were missing, and
    ``rbr-tables --strict`` counted the run as finished."""
    import shutil

    from rbr_testing import TINY, cli, tables_cli

    d = tmp_path / "runs" / reference.name
    shutil.copytree(reference, d, symlinks=True)
    args = [*TINY, f"output_root={tmp_path}"]
    proc = cli([*args, "overwrite=true"], env={"RBR_CRASH_AT": "wipe:4"})
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert (d / WIPE_JOURNAL).exists() and not (d / "DONE").exists()
    proc = cli(args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "interrupted" in proc.stderr
    assert (d / "DONE").exists() and not (d / WIPE_JOURNAL).exists()
    assert (d / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()
    assert tables_cli([str(tmp_path), "--strict", "--list"]).returncode in (0, 2)


@pytest.mark.slow
def test_a_grid_checkpoint_gone_with_its_results_is_no_done(reference, tmp_path, monkeypatch, capsys):
    """A wipe of an older version killed half-way (no journal): ``epoch_001.pt`` and the
    epoch-1 rows are gone, ``last.pt`` is there. The rerun stops with one line, no DONE, and
    ``rbr-tables`` does not count the run as finished."""
    import shutil

    import pandas as pd

    from rbr_testing import TINY, main_inprocess, tables_cli

    d = tmp_path / "runs" / reference.name
    shutil.copytree(reference, d, symlinks=True)
    (d / "DONE").unlink()
    (d / "ckpt" / "epoch_001.pt").unlink()
    m = pd.read_csv(d / "metrics.csv")
    m[m.checkpoint != "epoch_001"].to_csv(d / "metrics.csv", index=False)
    code, err = main_inprocess([*TINY, f"output_root={tmp_path}"], monkeypatch, capsys)
    line = assert_one_line_error(code, err)
    assert "metrics.csv lacks the results of epoch_001/" in line and "no DONE written" in line and "overwrite=true" in line
    assert not (d / "DONE").exists()
    proc = tables_cli([str(tmp_path), "--out", str(tmp_path / "tables")])
    assert "(0 finished" in proc.stdout, proc.stdout + proc.stderr


# -- --out folders of rbr-tables / rbr-report / figures ------------------------------------------


def _a_run(root: Path) -> Path:
    from robustbench_runner.results import RunFiles, RunIdentity

    files = RunFiles(root / "runs" / "r1")
    files.dir.mkdir(parents=True)
    ident = RunIdentity("r1", "digits", "cnn6", "standard", 0, 16, "abc123abc123")
    files.add_metrics(ident, 1, "epoch_001", "test", [{"attack": "clean", "eps": 0.0, "metric": "acc", "value": 0.5, "n": 8}])
    return files.dir.parent


def test_recording_an_out_folder_replaces_only_what_it_wrote(tmp_path):
    from robustbench_runner.io import OUT_MANIFEST, atomic_write_text, manifest_state

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.md").write_text("mine\n")
    with recording(out, OUT_MANIFEST, what="rbr-tables"):
        atomic_write_text(out / "t.csv", "1\n")
    assert manifest_state(out, OUT_MANIFEST) == "tool" and read_manifest(out, OUT_MANIFEST) == ["t.csv"]
    with recording(out, OUT_MANIFEST, what="rbr-tables"):
        atomic_write_text(out / "t.csv", "2\n")  # its own file: replaced
        with pytest.raises(UserError, match="notes.md exists and was not written by rbr-tables"):
            atomic_write_text(out / "notes.md", "overwritten\n")
    assert (out / "t.csv").read_text() == "2\n" and (out / "notes.md").read_text() == "mine\n"


def test_a_foreign_out_manifest_is_refused(tmp_path):
    from robustbench_runner.io import OUT_MANIFEST

    out = tmp_path / "out"
    out.mkdir()
    (out / OUT_MANIFEST).write_text("../../etc/passwd\n\x00\n")
    before = tree_state(tmp_path)
    with pytest.raises(UserError, match="was not written by rbr-report"):
        with recording(out, OUT_MANIFEST, what="rbr-report"):
            pass
    assert tree_state(tmp_path) == before


def test_rbr_tables_out_twice_and_next_to_a_users_file(tmp_path):
    from robustbench_runner.tables.cli import main as tables_main

    runs = _a_run(tmp_path)
    out = tmp_path / "tables"
    for _ in range(2):  # the second call replaces the first call's files
        with pytest.raises(SystemExit) as e:
            tables_main([str(runs), "--out", str(out), "--quiet"])
        assert e.value.code == 0
    users = tmp_path / "mine"
    users.mkdir()
    (users / "summary.md").write_text("my summary\n")
    with pytest.raises(SystemExit) as e:
        tables_main([str(runs), "--out", str(users), "--quiet"])
    assert e.value.code == 2
    assert (users / "summary.md").read_text() == "my summary\n"
    assert sorted(p.name for p in users.iterdir()) == ["summary.md"]  # refused before the first write: nothing beside it


def test_rbr_tables_refuses_before_writing_any_table(tmp_path, capsys):
    """Two tables asked for, the user's file in the way of the second: the first is not
    written either (the check runs before any write), and the error says nothing was written."""
    from robustbench_runner.tables.cli import main as tables_main

    runs = _a_run(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "prs__table1.pretty.csv").write_text("my numbers\n")
    with pytest.raises(SystemExit) as e:
        tables_main([str(runs), "--out", str(out), "--quiet", "--table", "summary", "--table", "prs/table1"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "prs__table1.pretty.csv exists and was not written by rbr-tables" in err[0] and "nothing was written" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["prs__table1.pretty.csv"]


def test_rbr_report_refuses_before_writing_anything(tmp_path, capsys):
    """A user's file under the report's figures/ (a name the report owns there): refused
    with nothing written (no index.html, no curves/, no manifest entries)."""
    from robustbench_runner.report import main as report_main

    runs = _a_run(tmp_path)
    out = tmp_path / "report"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "mine.png").write_bytes(b"my figure")
    before = tree_state(out)
    with pytest.raises(SystemExit) as e:
        report_main([str(runs), "--out", str(out)])
    assert e.value.code == 2
    assert "figures/mine.png exists and was not written by rbr-report" in capsys.readouterr().err
    assert tree_state(out) == before


# -- run folders the tool did not write are not adopted -------------------------------------------


@pytest.mark.parametrize(
    "plant",
    [
        {".rbr-manifest": "precious.txt\n"},  # a forged manifest, no run.json: overwrite would delete precious.txt
        {".rbr-manifest": "precious.txt\n", "run.json": '{"hello": 1}'},
        {".rbr-manifest": "\x00\x01 /etc/passwd\n../up\n"},
        {"run.json": '{"config_hash": "not hex"}'},
        {"run.json": "[1, 2, 3]"},
    ],
    ids=["manifest_only", "manifest_and_foreign_run_json", "junk_manifest", "run_json_bad_hash", "run_json_list"],
)
def test_a_run_folder_the_tool_did_not_write_is_refused(tmp_path, monkeypatch, capsys, plant):
    from rbr_testing import main_inprocess

    d = tmp_path / "shared"
    d.mkdir()
    (d / "precious.txt").write_text("keep\n")
    for name, text in plant.items():
        (d / name).write_text(text)
    before = tree_state(tmp_path)
    code, err = main_inprocess([f"hydra.run.dir={d}", "overwrite=true", "train.epochs=1", "eval.grid=[1]", "progress=false"], monkeypatch, capsys)
    line = assert_one_line_error(code, err)
    assert "will not adopt it" in line or "not empty" in line, line
    assert tree_state(tmp_path) == before


def test_a_legacy_run_folder_is_still_adopted(tmp_path):
    """A run folder of a version before the manifest header: a header-less manifest beside
    the tool's run.json."""
    from robustbench_runner.results import RunFiles
    from robustbench_runner.run_dir import refuse_foreign

    d = tmp_path / "old"
    d.mkdir()
    (d / MANIFEST).write_text("config.yaml\nrun.json\n")
    (d / "run.json").write_text('{"config_hash": "0123456789ab", "rbr_version": "0.9"}')
    refuse_foreign(RunFiles(d))  # no error


def test_rbr_report_does_not_replace_a_users_index_html(tmp_path):
    from robustbench_runner.report import main as report_main

    runs = _a_run(tmp_path)
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("<p>my page</p>\n")
    with pytest.raises(SystemExit) as e:
        report_main([str(runs), "--out", str(out)])
    assert e.value.code == 2
    assert (out / "index.html").read_text() == "<p>my page</p>\n"
    assert "index.html" not in read_manifest(out, ".rbr-out-manifest")


@pytest.mark.slow
def test_rbr_report_replaces_its_own_files(tmp_path):
    from robustbench_runner.report import main as report_main

    runs = _a_run(tmp_path)
    mine = tmp_path / "report"
    for _ in range(2):  # its own folder: written, then replaced
        report_main([str(runs), "--out", str(mine)])
    assert "index.html" in read_manifest(mine, ".rbr-out-manifest")
