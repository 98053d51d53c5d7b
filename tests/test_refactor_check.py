"""scripts/refactor_check.py, the before/after check of issue 14: its compare finds what differs
and accepts only the normalizations it is asked for."""

from __future__ import annotations

import importlib.util

from rbr_testing import REPO

spec = importlib.util.spec_from_file_location("refactor_check", REPO / "scripts" / "refactor_check.py")
refactor_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(refactor_check)


def _tree(root, files: dict[str, str]):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_identical_trees_compare_equal(tmp_path, capsys):
    a = _tree(tmp_path / "a", {"t/x.csv": "1,2\n", "t/y.md": "# paper irat\n"})
    b = _tree(tmp_path / "b", {"t/x.csv": "1,2\n", "t/y.md": "# paper irat\n"})
    assert refactor_check.compare(a, b) == 0
    assert "2 identical" in capsys.readouterr().out


def test_a_changed_number_or_a_missing_file_is_a_difference(tmp_path, capsys):
    a = _tree(tmp_path / "a", {"x.csv": "1,2\n", "gone.csv": "3\n"})
    b = _tree(tmp_path / "b", {"x.csv": "1,3\n"})
    assert refactor_check.compare(a, b, slugs=True, ignore_hash=True) == 1
    out = capsys.readouterr().out
    assert "differs: x.csv" in out and "only in" in out and "gone.csv" in out


def test_normalizations_accept_only_what_they_name(tmp_path):
    a = _tree(tmp_path / "a", {"t.md": "(paper D, fig. 4) papers B and E\n",
                               "c.yaml": "# config_hash: abc\n_target_: pkg.old.X\n"})  # fmt: skip
    b = _tree(tmp_path / "b", {"t.md": "(paper auc, fig. 4) papers irat and vir\n",
                               "c.yaml": "# config_hash: def\n_target_: pkg.new.X\n"})  # fmt: skip
    assert refactor_check.compare(a, b) == 1
    assert refactor_check.compare(a, b, slugs=True, renames=[("pkg.old.", "pkg.new.")], ignore_hash=True) == 0
    assert refactor_check.compare(a, b, slugs=True, ignore_hash=True) == 1  # the _target_ still differs
    assert refactor_check.compare(a, b, slugs=True, renames=[("pkg.old.", "pkg.new.")]) == 1  # the hash too


def test_make_for_loops_expand_into_one_command_per_value():
    line = "for b in x y; do rbr-run -m experiment=vir/$b seed=0 || exit 1; done"
    assert refactor_check._expand_for(line) == ["rbr-run -m experiment=vir/x seed=0", "rbr-run -m experiment=vir/y seed=0"]
    assert refactor_check.rbr_run_overrides(".venv/bin/rbr-run -m a=1 'b=${x}'") == ["a=1", "b=${x}"]
    assert refactor_check.rbr_run_overrides("rbr-tables --quiet x") is None
