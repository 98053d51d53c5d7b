"""Hostile numeric CSV datasets (UCI Online News Popularity; issue 21): ragged rows, missing
columns, non-numeric or non-finite cells, no rows, binary content and filesystem hostiles are
one :class:`BadFile` line naming the file (and the column/row), never a pandas traceback or a
NaN that reaches training."""

from __future__ import annotations

import os

import pytest
from hostile_kit import PLANTS, byte_mutations, can_be_unreadable, exhaustive, fast, plant
from hypothesis import given

from robustbench_runner.data.tabular import load_onp
from robustbench_runner.reading import BadFile, load_numeric_csv

READERS = [load_numeric_csv, "robustbench_runner.data.tabular.load_onp"]

HEADER = "url, timedelta, n_tokens, kw, shares"
ROWS = [f"http://x/{i}, 10, {i * 3 + 1}, {i % 4}, {100 * (i + 1)}" for i in range(12)]
VALID = "\n".join([HEADER, *ROWS]) + "\n"


def _write(root, text: str | bytes):
    p = root / "OnlineNewsPopularity.csv"
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_valid_csv_loads(tmp_path):
    _write(tmp_path, VALID)
    b = load_onp(tmp_path, n_train=8)
    assert len(b.train) == 8 and len(b.test) == 4 and b.train.x.shape[1] == 2
    assert float(b.train.x.min()) >= 0 and float(b.train.x.max()) <= 1


@pytest.mark.parametrize(
    "text,match",
    [(HEADER + "\n", "no data rows"), ("", "not a readable CSV"), (VALID.replace(" shares", " likes"), "no column(s) ['shares']"),
     (VALID + "http://y, 1, 2, 3, 4, 5, 6\n", "not a readable CSV"), (VALID.replace("10, 4,", "10, four,"), "'n_tokens'"),
     (VALID + "http://y, 1, nan, 3, 4\n", "not a finite number"), (VALID + "http://y, 1, inf, 3, 4\n", "not a finite number"),
     (VALID + "http://y, 1, , 3, 4\n", "not a finite number")],
)  # fmt: skip
def test_bad_csvs(tmp_path, text, match):
    p = _write(tmp_path, text)
    with pytest.raises(BadFile) as e:
        load_onp(tmp_path, n_train=8)
    assert p.name in str(e.value) and "\n" not in str(e.value) and match in str(e.value), str(e.value)


def test_binary_content(tmp_path):
    _write(tmp_path, b"\x80\x04\x95" + bytes(range(256)))
    with pytest.raises(BadFile, match="not UTF-8"):
        load_onp(tmp_path)


@pytest.mark.parametrize("kind", PLANTS)
def test_filesystem_hostiles(tmp_path, kind):
    if kind == "unreadable" and not can_be_unreadable():
        pytest.skip("root reads mode-000 files")
    outside = tmp_path / "fifo_elsewhere"
    os.mkfifo(outside)
    plant(tmp_path / "OnlineNewsPopularity.csv", kind, outside)
    with pytest.raises(BadFile, match="OnlineNewsPopularity.csv"):
        load_onp(tmp_path)


def _check(tmp_path, desc_bytes):
    desc, data = desc_bytes
    p = tmp_path / "d.csv"
    p.write_bytes(data)
    try:
        df = load_numeric_csv(p, required=("shares",), text_columns=("url",))
    except BadFile as e:
        assert "d.csv" in str(e) and "\n" not in str(e), desc
    else:
        numeric = df.drop(columns=[c for c in ("url",) if c in df.columns])
        assert len(df) and numeric.notna().all().all(), desc


@fast
@given(byte_mutations(VALID.encode(), header=40))
def test_damaged_bytes_fast(tmp_path_factory, desc_bytes):
    _check(tmp_path_factory.mktemp("csv"), desc_bytes)


@pytest.mark.slow
@exhaustive
@given(byte_mutations(VALID.encode(), header=40))
def test_damaged_bytes_exhaustive(tmp_path_factory, desc_bytes):
    _check(tmp_path_factory.mktemp("csv"), desc_bytes)
