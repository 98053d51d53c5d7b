"""mypaper's own table builder (a spec names it with ``builder: mypaper_gap``).

The robustness gap of each training scheme: clean accuracy minus PGD accuracy on the same
attacked points (rows ``clean-attacked`` and the PGD label of the suite), mean over seeds at
the last evaluated epoch. A builder is a function ``(spec, ctx) -> TableResult`` registered
with ``@builder``; ``ctx.metrics`` holds every metrics.csv row of the collected runs.
"""

from __future__ import annotations

import pandas as pd

from robustbench_runner.tables import builder
from robustbench_runner.tables.result import TableResult


@builder("mypaper_gap")
def robustness_gap(spec, ctx) -> TableResult:
    m = ctx.metrics
    attack = str(spec.options.get("attack", "PGD-20"))
    m = m[
        (m["split"] == "test")
        & (m["metric"] == "acc")
        & (m["attack"].isin(["clean-attacked", attack]))
    ]
    m = m[m["epoch"] == m.groupby("run")["epoch"].transform("max")]  # each run's last epoch
    wide = m.pivot_table(
        index=["scheme", "seed", "run"], columns="attack", values="value", aggfunc="first"
    ).reset_index()
    if wide.empty or attack not in wide or "clean-attacked" not in wide:
        table = pd.DataFrame(columns=["scheme", "clean", "robust", "gap", "n_seeds"])
    else:
        wide["gap"] = wide["clean-attacked"] - wide[attack]
        table = (wide.groupby("scheme")
                 .agg(clean=("clean-attacked", "mean"), robust=(attack, "mean"), gap=("gap", "mean"), n_seeds=("seed", "nunique"))
                 .reset_index())  # fmt: skip
    pretty = table.assign(**{c: (100 * table[c]).round(2) for c in ("clean", "robust", "gap")})
    sources = pd.DataFrame([{"column": "all", "n": int(wide["run"].nunique()) if not wide.empty else 0, "missing": None,
                             "runs": ";".join(sorted(map(str, wide["run"].unique()))) if not wide.empty else ""}])  # fmt: skip
    return TableResult(table, pretty, sources)
