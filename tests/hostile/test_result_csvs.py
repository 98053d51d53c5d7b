"""Generated damage of the CSVs a run writes, through the reading layer's CSV readers
(:func:`~robustbench_runner.reading.parse_csv`, :func:`~robustbench_runner.reading.load_csv`)
and the result reader built on them (``results.read_result_csv``, what ``rbr-tables`` uses).

A damaged ``metrics.csv`` (truncated, flipped bytes, a new header, garbage appended, a formula
where a number belongs, a FIFO, a symlink) either reads as a frame whose number columns hold
numbers of the declared dtypes, or is one :class:`BadFile`/``UserError`` line naming the file;
never another exception, never a hang.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hostile_kit import byte_mutations, exhaustive, fast, plant
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from run_folder_kit import make_run

from robustbench_runner.errors import UserError
from robustbench_runner.reading import BadFile, load_csv, parse_csv
from robustbench_runner.results import SCHEMAS, read_result_csv

READERS = ["reading.parse_csv", "reading.load_csv", "results.read_result_csv"]

DTYPES = SCHEMAS["metrics.csv"].required
KINDS = {"int": "int64", "float": "float64"}


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> bytes:
    return (make_run(tmp_path_factory.mktemp("csv"), "r-s0") / "metrics.csv").read_bytes()


def check(frame: pd.DataFrame) -> None:
    for col, kind in DTYPES.items():
        if kind in KINDS and col in frame:
            assert str(frame[col].dtype) == KINDS[kind], (col, frame[col].dtype)


def one_case(tmp_path, data: bytes) -> None:
    p = tmp_path / "metrics.csv"
    p.write_bytes(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    for read in (lambda: load_csv(p, columns=DTYPES), lambda: read_result_csv(p, warn=False).frame):
        try:
            check(read())
        except UserError as e:  # BadFile is one
            line = e.one_line()
            assert "\n" not in line and "metrics.csv" in line, line
    if text is not None:
        try:
            check(parse_csv(text, source=p, columns=DTYPES))
        except BadFile as e:
            assert "metrics.csv" in e.one_line()


def test_byte_damage_is_read_or_one_line(tmp_path_factory, valid):
    @fast
    @given(damage=byte_mutations(valid, header=32))
    def inner(damage):
        one_case(tmp_path_factory.mktemp("d"), damage[1])

    inner()


@pytest.mark.slow
def test_byte_damage_sweep(tmp_path_factory, valid):
    @exhaustive
    @given(damage=byte_mutations(valid, header=32))
    def inner(damage):
        one_case(tmp_path_factory.mktemp("d"), damage[1])

    inner()


NOT_NUMBERS = st.sampled_from(["=cmd|' /C calc'!A0", "+1+1", "@SUM(A1)", "abc", "1,5", "0x10", "--1", "1e", "1.2.3", "nan nan"])


@settings(fast, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(col=st.sampled_from([c for c, k in DTYPES.items() if k != "str"]), bad=NOT_NUMBERS, line=st.integers(0, 3))
def test_a_non_number_in_a_number_column_is_one_line_naming_line_and_column(tmp_path_factory, col, bad, line):
    d = make_run(tmp_path_factory.mktemp("nn"), "r-s0")
    lines = (d / "metrics.csv").read_text().splitlines()
    head = lines[0].split(",")
    row = lines[1 + line].split(",")
    row[head.index(col)] = f'"{bad}"' if "," in bad else bad
    lines[1 + line] = ",".join(row)
    (d / "metrics.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(BadFile) as e:
        load_csv(d / "metrics.csv", columns=DTYPES)
    msg = e.value.one_line()
    assert f"line {line + 2}" in msg and col in msg and "metrics.csv" in msg


def test_a_header_alone_is_an_empty_frame_of_the_declared_dtypes():
    frame = parse_csv(",".join(DTYPES) + "\n", columns=DTYPES)
    assert frame.empty and str(frame["value"].dtype) == "float64" and str(frame["epoch"].dtype) == "int64"


@pytest.mark.parametrize("kind", ["fifo", "symlink_outside", "folder"])
def test_a_metrics_csv_that_is_no_regular_file(tmp_path, kind):
    d = make_run(tmp_path, "r-s0")
    outside = tmp_path / "secret.csv"
    outside.write_bytes((d / "metrics.csv").read_bytes())
    plant(d / "metrics.csv", kind, outside=outside)
    with pytest.raises(UserError) as e:
        read_result_csv(d / "metrics.csv")  # the run wrote it: a symlink is not followed
    assert "metrics.csv" in e.value.one_line()
    assert load_csv(outside, columns=DTYPES).shape[0] == 4  # the intact copy reads
