"""Spreadsheet-facing CSVs neutralise formula prefixes (issue 21: "tags beginning with
``= + - @`` reach spreadsheet-facing CSV cells unescaped").

Generated tags (text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return)
become the row labels of a table (``rows: [cfg.tag]``) built by ``rbr-tables`` from run
folders. In ``<id>.pretty.csv`` and ``<id>.sources.csv`` no text cell may start a formula
(each such tag reads back as ``'`` + the tag), numbers stay numbers (negative ones included),
and the tidy ``<id>.csv`` keeps every tag exactly.
"""

from __future__ import annotations

import csv
import io

import pytest
from hostile_kit import fast
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from run_folder_kit import make_run
from test_run_folders import call

from robustbench_runner.reading import (
    FORMULA_PREFIXES,
    neutralise_cell,
    neutralise_frame,
    parse_csv,
)
from robustbench_runner.tables.cli import main as tables_main

#: the CSV reader the outputs are read back with, and the cell renderer under test
READERS = ["reading.parse_csv", "reading.load_csv"]

SPEC = "id: sheet/tags\ntitle: by tag\nwhere: {metric: acc}\ncheckpoint: last\nrows: [cfg.tag]\ncolumns:\n  - {label: Clean, where: {attack: clean}}\n  - {label: PGD, where: {attack: PGD-20}}\n"
TAGS = st.tuples(st.sampled_from(FORMULA_PREFIXES), st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20)).map("".join)


def cells(path) -> list[list[str]]:
    """The CSV's cells as a spreadsheet gets them (no newline translation: a tag "\\r" stays)."""
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))


def is_number(cell: str) -> bool:
    try:
        float(cell.split("±")[0])
        return True
    except ValueError:
        return False


def assert_no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for c in row:
            assert not c.startswith(FORMULA_PREFIXES) or is_number(c), f"a formula-starting cell: {c!r}"


@settings(fast, phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: each example runs rbr-tables
@given(tags=st.lists(TAGS, min_size=1, max_size=3, unique=True))
def test_generated_tags_never_start_a_formula_in_spreadsheet_csvs(tmp_path_factory, capsys, tags):
    root = tmp_path_factory.mktemp("sheet")
    specs = root / "specs"
    specs.mkdir()
    (specs / "tags.yaml").write_text(SPEC)
    for i, tag in enumerate(tags):
        make_run(root / "sweep", f"run{i}", seed=i, tag=tag, value=0.5 + 0.1 * i)
    out = root / "out"
    code, _, err = call(tables_main, [str(root / "sweep"), "--specs", str(specs), "--table", "sheet/tags", "--out", str(out), "--quiet", "--no-cache"], capsys)
    assert code == 0, err
    pretty = cells(out / "sheet__tags.pretty.csv")
    assert_no_formula(pretty)
    assert_no_formula(cells(out / "sheet__tags.sources.csv"))
    labels = {r[0] for r in pretty[1:]}
    assert labels == {neutralise_cell(t) for t in tags}  # each tag, as text
    tidy = parse_csv((out / "sheet__tags.csv").read_bytes().decode("utf-8"), source="tidy", columns={"cfg.tag": "str"})
    assert set(tidy["cfg.tag"].astype(str)) == set(tags)  # the tidy CSV keeps them exactly
    values = [float(c.split("±")[0]) for r in pretty[1:] for c in r[1:] if c]
    assert sorted(values) == pytest.approx(sorted([0.5 + 0.1 * i for i in range(len(tags))] + [(0.5 + 0.1 * i) / 2 for i in range(len(tags))]), abs=1e-3)


def test_numbers_stay_numbers():
    import pandas as pd

    df = pd.DataFrame({"label": ["=cmd|' /C calc'!A0", "-0.5", "-1.20±0.30", "@x", "plain"], "value": [-1.0, 2.0, -3.5, 0.0, 1e-9], "n": [1, -2, 3, 4, 5]})
    out = neutralise_frame(df)
    assert out.label.tolist() == ["'=cmd|' /C calc'!A0", "-0.5", "-1.20±0.30", "'@x", "plain"]
    assert out.value.tolist() == df.value.tolist() and out.n.tolist() == df.n.tolist()
    assert str(out.value.dtype) == "float64" and str(out.n.dtype) == "int64"
    assert neutralise_frame(pd.DataFrame({"=bad": [1]})).columns.tolist() == ["'=bad"]


def test_a_carriage_return_in_a_cell_cannot_split_a_row():
    import pandas as pd

    from robustbench_runner.reading.csvs import csv_text, spreadsheet_csv

    df = pd.DataFrame({"tag": ["a\rb", "=x\r", "plain"], "value": [1.5, -2.0, 3.0]})
    for text in (csv_text(df), spreadsheet_csv(df)):
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert len(rows) == 4 and all(len(r) == 2 for r in rows)
    back = parse_csv(csv_text(df), columns={"tag": "str", "value": "float"})
    assert back.tag.tolist() == df.tag.tolist() and back.value.tolist() == df.value.tolist()
    assert csv_text(df[df.tag == "plain"]).count("\r") == 0  # ordinary tables keep \n rows


@fast
@given(names=st.lists(TAGS.filter(lambda t: "." not in t and t.strip()), min_size=1, max_size=4, unique=True))
def test_model_summary_layer_names_never_start_a_formula(tmp_path_factory, names):
    """``model_summary.csv`` lists the user's layer names (a ModuleDict key or add_module name
    can be any text without a dot): none reads as a formula, each reads back with its ``'``."""
    from torch import nn

    from robustbench_runner.model_summary import write_model_summary

    model = nn.Sequential(nn.Flatten())
    for name in names:
        model.add_module(name, nn.Identity())
    model.add_module("head", nn.Linear(16, 2))
    path = tmp_path_factory.mktemp("summary") / "model_summary.csv"
    write_model_summary(model, {"num_classes": 2, "in_channels": 1, "image_size": 4}, path)
    rows = cells(path)
    assert not any(c.startswith(FORMULA_PREFIXES) for row in rows for c in row)
    assert {"'" + n for n in names} <= {row[0] for row in rows}


def test_a_repeated_column_label_is_neutralised_too():
    """A pretty table may repeat a column label (irat/table7: two columns under one header);
    each column is rendered by position (this raised AttributeError in make reproduce-all)."""
    import pandas as pd

    from robustbench_runner.reading.csvs import spreadsheet_csv

    df = pd.DataFrame([["=a", 1.5, "+b", -2]], columns=["x", "n", "x", "m"])
    assert spreadsheet_csv(df).splitlines() == ["x,n,x,m", "'=a,1.5,'+b,-2"]
