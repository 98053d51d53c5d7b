"""The per-sweep cache of ``rbr-tables`` (tables/cache.py): the tables and the loaded runs are
the same with and without it, after a run changes, after a run is removed, and when the cache
file is damaged, from another version, or cannot be written; it never deletes a file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from robustbench_runner.results import METRIC_COLUMNS
from robustbench_runner.tables import cache as cache_mod
from robustbench_runner.tables import cli, runs
from robustbench_runner.tables.cache import CACHE_DIR, cache_path, load_runs_cached
from robustbench_runner.tables.collect import find_runs

KEYS = ["scheme.beta", "train.epochs", "scheme.name"]


def _write_run(sweep: Path, i: int, value: float = 0.5, done: bool = True) -> Path:
    seed, scheme = i % 3, ("standard", "trades")[i % 2]
    name = f"digits-lenet-{scheme}-s{seed}-g{i // 3}"
    d = sweep / name
    d.mkdir(parents=True, exist_ok=True)
    rows = []
    for epoch in (1, 2):
        for attack, metric, eps in (("clean", "acc", 0.0), ("FGSM", "auc_norm", 0.1), ("PGD-20", "acc", 0.1)):
            v = value + 0.01 * seed + 0.1 * epoch + (0.001 if attack == "FGSM" else 0.0)
            rows.append([name, "digits", "lenet", scheme, seed, 64, f"{i:012x}", epoch, f"epoch_{epoch:03d}", "test", attack, eps, metric, v, 50])
    pd.DataFrame(rows, columns=METRIC_COLUMNS).to_csv(d / "metrics.csv", index=False)
    beta = "null" if scheme == "standard" else "6.0"
    config = {"seed": seed, "tag": f"g{i // 3}", "scale_name": "smoke", "data": {"name": "digits"}, "model": {"name": "lenet"},
              "scheme": {"name": scheme, "beta": None if beta == "null" else float(beta)}, "train": {"epochs": 2, "lr": 1.0e-3}}  # fmt: skip
    (d / "run.json").write_text(json.dumps({"status": "done", "parent": None, "config": config, "data_source": {"standin": False}}))
    if done:
        (d / "DONE").write_text("")
    return d


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    s = tmp_path / "outputs" / "sweeps" / "toy"
    for i in range(12):
        _write_run(s, i, done=i != 5)
    return s


def _state(runset: runs.RunSet) -> tuple:
    """Everything a table builder reads from a RunSet, comparable with ==."""
    per_run = [(str(r.dir), r.done, r.config, r.has_config, r.info, r.metrics.to_csv(), list(map(str, r.metrics.dtypes))) for r in runset.runs]
    m = runset.metrics(KEYS)
    return per_run, [(str(d), why) for d, why in runset.skipped], m.to_csv(), list(map(str, m.dtypes)), list(m.columns)


def _fresh(sweep: Path) -> tuple:
    runs._CACHE.clear()
    return _state(runs.load_runs(find_runs([sweep])))


def _cached(sweep: Path) -> tuple:
    runs._CACHE.clear()  # the per-process cache would hide what the sweep cache gave
    return _state(load_runs_cached(find_runs([sweep]), [sweep]))


def _tables(sweep: Path, out: Path, *extra: str) -> dict[str, bytes]:
    runs._CACHE.clear()
    args = cli.parse_args([str(sweep), "--table", "summary", "--quiet", "--out", str(out), *extra])
    assert cli.run(args) == 0
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_tables_are_identical_with_and_without_the_cache(sweep, tmp_path, capsys):
    plain = _tables(sweep, tmp_path / "plain", "--no-cache")
    assert not (sweep / CACHE_DIR).exists()  # --no-cache writes nothing
    cold = _tables(sweep, tmp_path / "cold")
    assert cache_path(sweep).exists()
    warm = _tables(sweep, tmp_path / "warm")
    assert plain == cold == warm
    assert b"0.6" in plain["summary.csv"]  # the table holds numbers, not only empty cells


def test_a_warm_load_reads_no_run_file(sweep, monkeypatch):
    first = _cached(sweep)
    monkeypatch.setattr(cache_mod, "read_runs", lambda ds: pytest.fail(f"re-read {ds}") if list(ds) else [])
    assert _cached(sweep) == first == _fresh(sweep)


def test_a_changed_run_is_reread_and_only_it(sweep, monkeypatch):
    _cached(sweep)
    changed = _write_run(sweep, 4, value=0.25)  # new numbers in one run's metrics.csv
    os.utime(changed / "metrics.csv", ns=(1, 1))  # a stamp the cache cannot hold by chance
    reread = []
    real = cache_mod.read_runs
    monkeypatch.setattr(cache_mod, "read_runs", lambda ds: reread.extend(Path(d).name for d in ds) or real(ds))
    got = _cached(sweep)
    assert reread == [changed.name]
    assert got == _fresh(sweep)
    frame = load_runs_cached(find_runs([sweep]), [sweep]).by_dir()[str(changed)].metrics
    assert frame["value"].min() == pytest.approx(0.25 + 0.01 * (4 % 3) + 0.1)  # the new numbers, not the cached ones


def test_touching_a_file_without_changing_it_gives_the_same_tables(sweep, tmp_path):
    before = _tables(sweep, tmp_path / "a")
    run = sorted(sweep.iterdir())[2]
    os.utime(run / "metrics.csv", ns=(10**18, 10**18))
    assert _tables(sweep, tmp_path / "b") == before == _tables(sweep, tmp_path / "c", "--no-cache")


def test_new_done_and_removed_runs(sweep):
    _cached(sweep)
    _write_run(sweep, 12)
    (sweep / sorted(os.listdir(sweep))[0] / "DONE").unlink(missing_ok=True)
    gone = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name != CACHE_DIR)[3]
    for f in gone.iterdir():
        f.unlink()
    gone.rmdir()
    got = _cached(sweep)
    assert got == _fresh(sweep)
    assert str(gone) not in {d for d, *_ in got[0]}
    meta = json.loads(__import__("pyarrow.parquet", fromlist=["x"]).read_schema(cache_path(sweep)).metadata[b"rbr-tables-cache"])
    assert gone.name not in meta["runs"] and len(meta["runs"]) == 12  # 12 - 1 + 1


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip", "empty"])
def test_a_damaged_cache_is_ignored_with_one_warning_and_rebuilt(sweep, damage, capsys):
    expected = _cached(sweep)
    p = cache_path(sweep)
    data = bytearray(p.read_bytes())
    if damage == "garbage":
        p.write_bytes(b"not a parquet file\n")
    elif damage == "truncate":
        p.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "flip":
        for i in range(100, len(data) - 100, max(1, len(data) // 50)):
            data[i] ^= 0xFF
        p.write_bytes(bytes(data))
    else:
        p.write_bytes(b"")
    capsys.readouterr()
    assert _cached(sweep) == expected == _fresh(sweep)
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if "WARNING" in ln]
    assert len(warnings) == 1 and "ignoring unreadable cache" in warnings[0]
    assert _cached(sweep) == expected  # rebuilt: the next call reads it without a warning
    assert "WARNING" not in capsys.readouterr().err


def test_a_cache_of_another_version_is_ignored(sweep, monkeypatch, capsys):
    expected = _cached(sweep)
    written = cache_mod.VERSION
    monkeypatch.setattr(cache_mod, "VERSION", written + 1)
    capsys.readouterr()
    assert _cached(sweep) == expected
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1 and f"cache version {written}" in err


def test_a_cache_whose_stamps_lie_is_not_trusted_for_rows_it_does_not_cover(sweep):
    """A hand-edited cache that still parses but whose row ranges do not add up is refused."""
    import pyarrow.parquet as pq

    _cached(sweep)
    table = pq.read_table(cache_path(sweep))
    meta = json.loads(table.schema.metadata[b"rbr-tables-cache"])
    first = next(iter(meta["runs"]))
    meta["runs"][first]["rows"][1] += 1
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"rbr-tables-cache": json.dumps(meta).encode()}), cache_path(sweep))
    assert _cached(sweep) == _fresh(sweep)


def test_a_read_only_sweep_works_without_a_cache(sweep, monkeypatch, capsys):
    def refuse(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cache_mod, "atomic_write_bytes", refuse)
    assert _cached(sweep) == _fresh(sweep)
    assert "cannot write the cache" in capsys.readouterr().err
    assert not cache_path(sweep).exists()


def test_unreadable_and_torn_runs_are_never_cached(sweep, capsys):
    bad = sorted(sweep.iterdir())[1]
    (bad / "run.json").write_text('{"config": {"a": [unclosed')
    torn = sorted(sweep.iterdir())[2]
    with open(torn / "metrics.csv", "a") as fh:
        fh.write("cut,off")
    first = _cached(sweep)
    err1 = capsys.readouterr().err
    second = _cached(sweep)  # (the warning is printed once per process: not asserted again here)
    assert first == second == _fresh(sweep)
    assert [d for d, _ in first[1]] == [str(bad)]
    meta = json.loads(__import__("pyarrow.parquet", fromlist=["x"]).read_schema(cache_path(sweep)).metadata[b"rbr-tables-cache"])
    assert bad.name not in meta["runs"] and torn.name not in meta["runs"]
    assert "torn last row" in err1  # read from its file, so its warning shows


def test_the_cache_never_deletes_a_file_it_did_not_write(sweep):
    mine = sweep / CACHE_DIR / "notes.txt"
    mine.parent.mkdir()
    mine.write_text("keep me")
    _cached(sweep)
    _write_run(sweep, 20)
    _cached(sweep)
    assert mine.read_text() == "keep me"
    assert sorted(p.name for p in mine.parent.iterdir()) == ["notes.txt", "runs.parquet"]
