"""Hostile table specs (``rbr-tables --specs DIR``): a spec is data, read through the
reading layer with bounds (issue 21: "a spec whose ``id`` is not a string crashes every
``--table``"; "a YAML alias bomb ... in a spec given with ``--specs`` hangs").

A damaged spec file is one warning line naming it and is left out: the other tables still
build (exit 0; ``--strict``: exit 1), and asking for the damaged spec's table is one error
line. A generator draws specs whose fields hold values of every YAML type: each loads as a
spec with fields of the declared types or is one ``UserError`` naming the file, never
another exception.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hostile_kit import fast, plant, yaml_bomb
from hypothesis import given
from hypothesis import strategies as st
from run_folder_kit import make_sweep
from test_run_folders import call

from robustbench_runner.errors import UserError
from robustbench_runner.tables.cli import main as tables_main
from robustbench_runner.tables.spec import TableSpec, load_spec

READERS = ["reading.read_text", "reading.parse_yaml", "tables.spec.load_spec"]

GOOD = "id: mine/good\ntitle: mine\nwhere: {metric: acc}\ncheckpoint: last\nrows: [model]\ncolumns:\n  - {label: Clean, where: {attack: clean}}\n"

#: file content -> what is wrong with it
BAD_SPECS = {
    "id: 3\ntitle: x\n": "an integer id",
    "id: [a, b]\n": "a list id",
    "id: {a: 1}\n": "a mapping id",
    "id: null\n": "a null id",
    "id: ../../etc/x\n": "an id that climbs out of the output folder",
    "id: 'a b'\n": "an id with a space",
    "id: /abs\n": "an absolute id",
    "id: ''\n": "an empty id",
    f"id: {'a' * 300}\n": "a 300-character id",
    "id: 'x\" onmouseover=\"alert(1)'\n": "an id with markup",
    yaml_bomb(): "a YAML bomb",
    "id: mine/x\ntitle: !!python/object/apply:os.system ['true']\n": "a python tag",
    "id: mine/x\ntitle: ${oc.env:HOME}\n": "an environment resolver",
    "id: mine/x\ntitle: ${nowhere}\n": "an interpolation to nothing",
    "id: mine/x\ncolumns: 3\n": "columns not a list",
    "id: mine/x\ncolumns: [{where: {}}]\n": "a column without label",
    "id: mine/x\nrows: model\n": "rows not a list",
    "id: mine/x\ntrim: many\n": "trim not a number",
    "id: mine/x\ndigits: true\n": "digits a boolean",
    "id: mine/x\nwhere: [1]\n": "where not a mapping",
    "id: mine/x\nbogus: 1\n": "an unknown key",
    "- a\n- b\n": "a list, not a mapping",
    "id: mine/x\nid: mine/y\n": "a duplicate key",
    "a: [" * 200 + "]" * 200 + "\n": "200 levels of nesting",
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return make_sweep(tmp_path_factory.mktemp("specs"))


def specs_dir(tmp_path: Path, content: str | None = None, kind: str | None = None) -> tuple[Path, Path]:
    d = tmp_path / "specs"
    d.mkdir()
    (d / "good.yaml").write_text(GOOD)
    bad = d / "bad.yaml"
    if kind is not None:
        plant(bad, kind, outside=d / "good.yaml")
    else:
        bad.write_text(content)
    return d, bad


#: the fast sample (``make test``); every entry of BAD_SPECS runs in the slow sweep
FAST_SPECS = ["an integer id", "an id that climbs out of the output folder", "a YAML bomb", "an environment resolver", "trim not a number"]


def _cases(fast_only: bool):
    return [pytest.param(c, id=w) for c, w in BAD_SPECS.items() if (w in FAST_SPECS) == fast_only]


@pytest.mark.parametrize("content", _cases(True))
def test_a_damaged_spec_is_one_warning_and_the_other_tables_build(tmp_path, capsys, sweep, content):
    check_damaged_spec(tmp_path, capsys, sweep, content)


@pytest.mark.slow
@pytest.mark.parametrize("content", _cases(False))
def test_every_damaged_spec(tmp_path, capsys, sweep, content):
    check_damaged_spec(tmp_path, capsys, sweep, content)


def check_damaged_spec(tmp_path, capsys, sweep, content):
    d, bad = specs_dir(tmp_path, content)
    out = tmp_path / "out"
    code, stdout, err = call(tables_main, [str(sweep), "--specs", str(d), "--table", "mine/good", "--out", str(out), "--quiet"], capsys)
    assert "Traceback" not in err and code == 0, (BAD_SPECS[content], err[-1500:])
    warnings = [ln for ln in err.splitlines() if "WARNING: skipped" in ln]
    assert len(warnings) == 1 and "bad.yaml" in warnings[0], (BAD_SPECS[content], err)
    assert (out / "mine__good.csv").is_file()
    expected = [f"mine__good{s}" for s in (".csv", ".pretty.csv", ".md", ".sources.csv")]
    assert sorted(p.name for p in out.iterdir()) == sorted([*expected, ".rbr-out-manifest"])  # nothing of the bad spec
    code, _, err = call(tables_main, [str(sweep), "--specs", str(d), "--table", "mine/good", "--out", str(out), "--quiet", "--strict"], capsys)
    assert code == 1, err


@pytest.mark.parametrize("kind", ["fifo", "folder", "unreadable"])
def test_a_spec_that_is_no_regular_file_is_one_warning(tmp_path, capsys, sweep, kind):
    if kind == "unreadable" and os.geteuid() == 0:
        pytest.skip("running as root: a mode-000 file is readable")
    d, bad = specs_dir(tmp_path, kind=kind)
    if kind == "folder":
        bad.rmdir()
        (d / "sub.yaml").mkdir()  # a folder named like a spec
    code, _, err = call(tables_main, ["--list", "--specs", str(d)], capsys)
    assert "Traceback" not in err and code == 0, err
    warnings = [ln for ln in err.splitlines() if "WARNING: skipped" in ln]
    assert len(warnings) == (0 if kind == "folder" else 1), err  # a folder is no *.yaml file: not a spec at all


def test_asking_for_the_damaged_specs_table_is_one_error_line(tmp_path, capsys, sweep):
    d, bad = specs_dir(tmp_path, "id: 3\n")
    code, _, err = call(tables_main, [str(sweep), "--specs", str(d), "--table", "3"], capsys)
    assert code == 2 and "Traceback" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("rbr-tables: error:")]
    assert len(errors) == 1 and "no table spec matches" in errors[0]
    assert any("bad.yaml" in ln and "not a string" in ln for ln in err.splitlines())


# -- generated specs: every field, every YAML type -----------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**20), st.floats(allow_nan=True), st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=8)
FIELDS = sorted(TableSpec.__dataclass_fields__)


@fast
@given(fields=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=5), id_=st.one_of(st.just("mine/gen"), VALUES))
def test_generated_specs_load_or_are_one_user_error(tmp_path_factory, fields, id_):
    path = tmp_path_factory.mktemp("gen") / "gen.yaml"
    path.write_text(yaml.safe_dump({**fields, "id": id_}, allow_unicode=True))
    try:
        spec = load_spec(path)
    except UserError as e:
        line = e.one_line()
        assert "\n" not in line and ("gen.yaml" in line or "table spec" in line), line
        return
    assert isinstance(spec.id, str) and "/" not in spec.file_stem and ".." not in spec.file_stem.split("__")
    assert isinstance(spec.title, str) and isinstance(spec.trim, int) and isinstance(spec.digits, int)
    assert all(isinstance(r, str) for r in spec.rows) and isinstance(spec.where, dict)
