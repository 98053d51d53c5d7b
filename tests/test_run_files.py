"""``RunFiles`` owns the run-folder layout: its names (``metrics.csv``, ``ckpt/``,
``epoch_XXX.pt``, ...) are spelled in robustbench_runner/results.py only. An AST check over the
package finds every other string literal that spells one (prose in messages and docstrings,
which has spaces, is not a spelling); the allow-list says why each remaining one stays."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from robustbench_runner.results import RunFiles

PACKAGE = Path(__file__).resolve().parent.parent / "robustbench_runner"
OWNER = "results.py"

NAMES = [*RunFiles.FILES, RunFiles.CURVES, "last.pt", "best.pt", f"{RunFiles.CKPT}/"]
#: a checkpoint label's prefix, not a word that happens to contain it (``on_epoch_end``)
LABELS = re.compile(r"(?<![A-Za-z])(epoch|branch)_(?![a-z])")

#: (module, literal) -> why it stays spelled there
ALLOWED = {
    ("paths.py", "config.yaml"): "the package's own conf/config.yaml (Hydra's primary config), not a run folder's file",
    ("io.py", "DONE"): "wipe_recorded's defaults; io.py sits below results.py (results imports io), callers pass RunFiles names",
    ("io.py", "run.json"): "as above",
    ("config.py", "ckpt"): "resolve_run_name names an eval run after <run>/ckpt/<file>; config.py sits below results.py in the import order",
}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def spelled_names() -> list[tuple[str, int, str]]:
    """(module, line, literal) of every string literal (or f-string part) outside results.py
    that spells a run-folder name: no whitespace, and holds one of :data:`NAMES` or is ``ckpt``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == OWNER:
            continue
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                text = node.value
                if re.search(r"\s", text):
                    continue
                if text == RunFiles.CKPT or any(n in text for n in NAMES) or LABELS.search(text):
                    found.append((rel, node.lineno, text))
    return found


def test_no_module_outside_run_files_spells_a_run_folder_name():
    bad = [f"{m}:{line}: {text!r}" for m, line, text in spelled_names() if (m, text) not in ALLOWED]
    assert not bad, "spell these through robustbench_runner.results.RunFiles:\n" + "\n".join(bad)


def test_the_allow_list_has_no_stale_entries():
    used = {(m, text) for m, _, text in spelled_names()}
    assert set(ALLOWED) <= used, set(ALLOWED) - used


def test_the_check_finds_a_hand_spelled_name(tmp_path, monkeypatch):
    """The check itself can fail: a module that spells ``epoch_{e:03d}`` is found."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "bad.py").write_text('def f(run, e):\n    """ckpt/epoch_XXX.pt in prose is fine."""\n    return run / "ckpt" / f"epoch_{e:03d}.pt"\n')
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert sorted((m, t) for m, _, t in spelled_names()) == [("bad.py", "ckpt"), ("bad.py", "epoch_")]


@pytest.mark.parametrize(("label", "epoch"), [("epoch_007", 7), ("epoch_300.pt", 300), ("best", None), ("last.pt", None), ("epoch_x", None)])
def test_grid_labels_round_trip(tmp_path, label, epoch):
    assert RunFiles.grid_epoch(label) == epoch
    if epoch is not None:
        assert RunFiles(tmp_path).grid_ckpt(epoch).name == f"{RunFiles.grid_label(epoch)}.pt"
        assert RunFiles.grid_epoch(RunFiles(tmp_path).grid_ckpt(epoch)) == epoch
