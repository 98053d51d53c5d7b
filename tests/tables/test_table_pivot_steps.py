"""The generic pivot steps of a table spec (``defaults``, ``checkpoints``, ``rows_only``,
``row_headers``; tables/spec.py) on a small metrics frame, and their one-line spec errors."""

from __future__ import annotations

import pandas as pd
import pytest

from robustbench_runner.errors import UserError
from robustbench_runner.tables.build import pivot
from robustbench_runner.tables.spec import spec_from_dict


def metrics() -> pd.DataFrame:
    rows = []
    for run, scheme, tau, seed, last, best in (("a0", "at", None, 0, 0.5, 0.6), ("a1", "at", None, 1, 0.7, 0.8),
                                               ("m2", "mr", 2.0, 0, 0.9, 0.95), ("m3", "mr", 3.0, 0, 0.1, 0.2)):  # fmt: skip
        for ckpt, epoch, value in (("epoch_010", 10, last), ("best", 7, best)):
            rows.append({"run_dir": run, "scheme": scheme, "cfg.scheme.tau": tau, "seed": seed, "model": "m", "dataset": "d",
                         "checkpoint": ckpt, "epoch": epoch, "done": True, "attack": "clean", "metric": "acc", "value": value})  # fmt: skip
    return pd.DataFrame(rows)


BASE = {"id": "t/x", "where": {"metric": "acc"}, "columns": [{"label": "Clean", "where": {"attack": "clean"}}], "digits": 2}


def test_defaults_keep_only_the_paper_default_runs():
    spec = spec_from_dict({**BASE, "rows": ["scheme"], "checkpoint": "last", "defaults": {"mr": {"scheme.tau": 2.0}}})
    t = pivot(spec, metrics()).table.set_index("scheme")
    assert t.loc["mr", "Clean mean"] == pytest.approx(0.9)  # the tau-3 run is dropped
    assert t.loc["at", "Clean mean"] == pytest.approx(0.6)  # other schemes kept: mean of 0.5, 0.7


def test_checkpoints_give_one_row_block_each_and_row_headers_rename():
    spec = spec_from_dict({**BASE, "rows": ["model_checkpoint", "scheme"], "where": {"scheme": "at"}, "checkpoints": ["last", "best"],
                           "row_headers": {"model_checkpoint": "ckpt"}})  # fmt: skip
    pretty = pivot(spec, metrics()).pretty
    assert list(pretty.ckpt) == ["Last", "Best"]
    assert list(pretty.Clean) == ["0.60±0.14", "0.70±0.14"]


def test_rows_only_lists_exactly_these_rows_in_order():
    spec = spec_from_dict({**BASE, "rows": ["cfg.scheme.tau"], "where": {"scheme": "mr"}, "checkpoint": "last",
                           "rows_only": [[3.0], [5.0], [2.0]], "gaps_note": True})  # fmt: skip
    result = pivot(spec, metrics())
    assert list(result.table["cfg.scheme.tau"]) == [3.0, 5.0, 2.0]
    assert list(result.pretty.Clean) == ["0.10", "", "0.90"]
    assert "Empty rows" in spec.note and "5.0" in spec.note


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"rows": ["scheme"], "checkpoints": ["last"]}, "needs the row field model_checkpoint"),
        ({"rows": ["model_checkpoint"], "checkpoints": ["first"]}, "checkpoints entry 'first' unknown"),
        ({"rows": ["scheme"], "rows_only": [["at", 1]]}, "rows_only entry"),
        ({"rows": ["scheme"], "defaults": {"mr": 2}}, "defaults must map a scheme"),
    ],
)
def test_bad_steps_are_one_clear_error(extra, message):
    with pytest.raises(UserError, match=message):
        spec_from_dict({**BASE, **extra})
