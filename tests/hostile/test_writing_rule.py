"""The writing rule (issue 21): the tool removes or replaces only what it created.

An AST scan of the package: every call that deletes or replaces a file or folder (``unlink``,
``rmdir``, ``rmtree``, ``os.remove``, ``os.replace`` / ``os.rename`` / ``shutil.move``, and a
one-argument ``.replace(x)`` / ``.rename(x)``, which is how ``pathlib`` spells them) sits in a
function of the allow-list below, each with the reason it only touches the tool's own files.
Most are in :mod:`robustbench_runner.io`, whose functions take tool-owned files only (temp
files they made, the lock they created, entries of the tool's manifest or wipe journal). A new
deleting/replacing call elsewhere fails this test until it goes through those functions, or is
added here with its reason.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "robustbench_runner"

#: (file relative to the package, enclosing function) -> why every removal / replacement
#: there touches only a file or folder the tool created
ALLOWED: dict[tuple[str, str], str] = {
    ("io.py", "atomic_write_bytes"): "renames its own mkstemp temp file over the target, which the active recording checked (a strict recording refuses a file it did not write); unlinks that temp file on failure",
    ("io.py", "_new_lock_file"): "unlinks the lock temp file it has just created with mkstemp",
    ("io.py", "_acquire"): "unlinks its own lock temp file (linked as .lock, or unused)",
    ("io.py", "_take"): "os.replace over a .lock that holds rbr-run's marker and whose creator is dead (no flock holder)",
    ("io.py", "_release"): "unlinks .lock only when it is the file this process created (same inode, our token)",
    ("io.py", "run_lock"): "rmdir: removes the run folder only when empty",
    ("io.py", "_unlink_no_follow"): "deletes an entry of the tool's manifest / wipe journal inside the run folder, never through a symlink, and the temp files of that name",
    ("io.py", "_run_wipe"): "rmdir of folders left empty by the wipe; unlinks the tool's manifest and wipe journal",
    ("execute.py", "execute"): "rmdir: the empty folder Hydra made for a run whose config was refused (only if empty)",
    ("data/tinyimagenet.py", "load_tinyimagenet"): "renames its own temp file over the decoded cache it derives from the dataset (a file the tool creates in its cache folder)",
    ("papers/samplerob/select_best.py", "place"): "replaces ckpt/best_t_loss.pt, a file of the tool's run layout, in run folders the tool wrote (its own temp file first)",
    ("papers/prs/tables.py", "*"): "pandas Series.rename / DataFrame.rename: no file",
    ("tables/build.py", "*"): "pandas Series.rename: no file",
}

DELETERS = {"unlink", "rmdir", "rmtree", "remove", "removedirs"}
MOVERS = {"replace", "rename", "move", "renames"}


def _is_file_op(call: ast.Call) -> str | None:
    f = call.func
    if not isinstance(f, ast.Attribute):
        return None
    name = f.attr
    base = f.value.id if isinstance(f.value, ast.Name) else None
    if name in DELETERS:
        if name == "remove" and base not in ("os",):
            return None  # list.remove / set.remove
        return name
    if name in MOVERS:
        if base in ("os", "shutil"):
            return f"{base}.{name}"
        # pathlib: path.replace(target) / path.rename(target): one positional argument, no
        # keywords (str.replace takes two; DataFrame.rename takes keywords)
        if len(call.args) == 1 and not call.keywords and not isinstance(f.value, ast.Constant) and not isinstance(call.args[0], (ast.Dict, ast.Constant)):
            return name
    return None


def file_ops() -> list[tuple[str, str, int, str]]:
    """(file, enclosing function, line, operation) of every deleting / replacing call."""
    return _file_ops(PACKAGE)


@functools.cache
def _file_ops(package: Path) -> list[tuple[str, str, int, str]]:
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        tree = ast.parse(path.read_text(), filename=str(path))

        def visit(node, func="<module>", rel=rel):
            for child in ast.iter_child_nodes(node):
                inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
                if isinstance(child, ast.Call):
                    op = _is_file_op(child)
                    if op:
                        found.append((rel, func, child.lineno, op))
                visit(child, inner, rel)

        visit(tree)
    return found


def _allowed(rel: str, func: str) -> bool:
    return (rel, func) in ALLOWED or (rel, "*") in ALLOWED


def test_every_removal_or_replacement_goes_through_tool_owned_file_functions():
    bad = [f"{rel}:{line} {op} in {func}()" for rel, func, line, op in file_ops() if not _allowed(rel, func)]
    assert not bad, (
        "files deleted or replaced outside the tool-owned-file functions of robustbench_runner/io.py "
        "(use io.wipe_recorded / io.atomic_write_bytes, or add the function to ALLOWED with the reason "
        "it touches only what the tool created):\n" + "\n".join(bad)
    )


def test_the_allow_list_has_no_stale_entries():
    used = {(rel, func) for rel, func, _, _ in file_ops()} | {(rel, "*") for rel, _, _, _ in file_ops()}
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"ALLOWED names functions that no longer delete or replace anything: {stale}"


def test_the_scan_sees_what_it_must(tmp_path, monkeypatch):
    """The scan itself: it finds each spelling of a removal in a planted module."""
    pkg = tmp_path / "robustbench_runner"
    pkg.mkdir()
    (pkg / "sneaky.py").write_text(
        "import os, shutil\n"
        "def a(p):\n    p.unlink()\n"
        "def b(p):\n    os.remove(p)\n"
        "def c(p, q):\n    os.replace(p, q)\n"
        "def d(p):\n    shutil.rmtree(p)\n"
        "def e(p, q):\n    p.rename(q)\n"
        "def f(s):\n    return s.replace('a', 'b'), [1].remove(1)\n"
    )
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    ops = {(func, op) for _, func, _, op in file_ops()}
    assert ops == {("a", "unlink"), ("b", "remove"), ("c", "os.replace"), ("d", "rmtree"), ("e", "rename")}
