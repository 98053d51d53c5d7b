"""The ``rbr-tables`` sweep cache (``<sweep>/.rbr-tables-cache/runs.parquet``) is read through
the reading layer and checksummed: a damaged, edited or stale cache is rebuilt (one warning
line) or refused, never served (issue 21: "a cache derived from user files is keyed by its
sources ... and rebuilt when damaged").

Every case compares what the cached loader gives with what reading the run folders gives
(``_fresh``): equal, whatever the cache file holds. A cache file that is not the tool's (a
FIFO, a symlink, a folder, a Parquet file without the tool's marker) is neither read nor
replaced.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hostile_kit import byte_mutations, exhaustive, fast, plant
from hypothesis import given

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tables"))
from test_cache import _cached, _fresh, _write_run  # noqa: E402  (the cache's own test helpers)

from robustbench_runner.tables.cache import cache_path  # noqa: E402

READERS = ["reading.load_parquet", "reading.parse_json", "tables.cache.SweepCache.read"]


def make(tmp: Path) -> Path:
    sweep = tmp / "sweep"
    for i in range(4):
        _write_run(sweep, i)
    _cached(sweep)  # writes the cache
    assert cache_path(sweep).is_file()
    return sweep


@pytest.fixture(scope="module")
def valid_cache(tmp_path_factory) -> bytes:
    return cache_path(make(tmp_path_factory.mktemp("valid"))).read_bytes()


def check_damaged(tmp: Path, data: bytes, capsys) -> None:
    sweep = make(tmp)
    p = cache_path(sweep)
    p.write_bytes(data)
    capsys.readouterr()
    assert _cached(sweep) == _fresh(sweep)  # never served
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert _cached(sweep) == _fresh(sweep)  # the rebuilt one serves the same
    assert "WARNING" not in capsys.readouterr().err, "the cache was not rebuilt"


@fast
@given(damage=byte_mutations(b"PAR1" + b"\0" * 60, header=8))
def test_generated_garbage_caches_are_rebuilt(tmp_path_factory, capsys, damage):
    check_damaged(tmp_path_factory.mktemp("garbage"), damage[1], capsys)


def test_byte_damage_of_a_real_cache_is_never_served(tmp_path_factory, capsys, valid_cache):
    @fast
    @given(damage=byte_mutations(valid_cache, header=64))
    def inner(damage):
        check_damaged(tmp_path_factory.mktemp("damaged"), damage[1], capsys)

    inner()


@pytest.mark.slow
def test_byte_damage_sweep(tmp_path_factory, capsys, valid_cache):
    @exhaustive
    @given(damage=byte_mutations(valid_cache, header=64))
    def inner(damage):
        check_damaged(tmp_path_factory.mktemp("damaged"), damage[1], capsys)

    inner()


def _edit_meta(sweep: Path, edit) -> None:
    table = pq.read_table(cache_path(sweep))
    meta = json.loads(table.schema.metadata[b"rbr-tables-cache"])
    edit(meta)
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"rbr-tables-cache": json.dumps(meta).encode()}), cache_path(sweep))


@pytest.mark.parametrize("edit", ["config", "info", "done", "stamp"])
def test_an_edited_cache_fails_its_checksum(tmp_path, capsys, edit):
    """Metadata that still parses and whose row ranges add up, but says something the run
    folders do not: the checksum refuses it (the rows' pages carry CRC checksums)."""
    sweep = make(tmp_path)
    first = sorted(p.name for p in sweep.iterdir() if not p.name.startswith("."))[0]

    def change(meta):
        e = meta["runs"][first]
        if edit == "config":
            e["config"]["seed"] = 99
        elif edit == "info":
            e["info"]["status"] = "forged"
        elif edit == "done":
            e["done"] = not e["done"]
        else:  # a stamp that matches nothing: stale by construction, and edited
            e["stamp"][0] = [1, 1]

    _edit_meta(sweep, change)
    capsys.readouterr()
    got = _cached(sweep)
    assert got == _fresh(sweep)
    err = capsys.readouterr().err
    assert "checksum does not match" in err and err.count("WARNING") == 1


def test_a_stale_cache_is_reread_when_a_source_changes(tmp_path):
    sweep = make(tmp_path)
    before = _cached(sweep)
    d = _write_run(sweep, 0, value=0.25)  # same folder, new values, the cache untouched
    os.utime(d / "metrics.csv", ns=(1, 1))  # an mtime in the past: the stamp (mtime, size) still differs
    after = _cached(sweep)
    assert after == _fresh(sweep) and after != before


@pytest.mark.parametrize("kind", ["fifo", "symlink_outside", "folder"])
def test_a_cache_path_that_is_not_the_tools_file_is_neither_read_nor_replaced(tmp_path, capsys, kind):
    sweep = make(tmp_path)
    p = cache_path(sweep)
    target = tmp_path / "user.parquet"
    target.write_bytes(p.read_bytes())
    before = target.read_bytes()
    plant(p, kind, outside=target)
    capsys.readouterr()
    assert _cached(sweep) == _fresh(sweep)
    err = capsys.readouterr().err
    assert "neither read nor replaced" in err
    assert os.path.lexists(p) and not (p.is_file() and not p.is_symlink())  # still the user's entry
    assert target.read_bytes() == before


def test_a_parquet_file_the_tool_did_not_write_is_not_replaced(tmp_path, capsys):
    import pandas as pd

    sweep = make(tmp_path)
    p = cache_path(sweep)
    pd.DataFrame({"mine": [1, 2]}).to_parquet(p)
    before = p.read_bytes()
    assert _cached(sweep) == _fresh(sweep)
    assert p.read_bytes() == before and "did not write" in capsys.readouterr().err
