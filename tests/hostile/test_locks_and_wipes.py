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
