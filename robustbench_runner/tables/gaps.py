"""Why a table has empty cells, said in its note (the ``.md`` rendering), for tables built by
``build.pivot`` whose ``sources`` frame has one row per cell (row fields, ``column``,
``n`` runs, ``missing``, ``runs``). Used by paper irat and E builders, whose smoke sweeps leave
ablation rows, seeds and classes out on purpose."""

from __future__ import annotations

from .result import TableResult
from .spec import TableSpec

SOURCE_FIELDS = ("column", "n", "missing", "runs")


def explain_gaps(spec: TableSpec, result: TableResult, empty_column_reason: str = "", extra: str = "") -> None:
    """Append to ``spec.note`` (the ``.md`` rendering) why cells are empty, so a table
    that is legitimately sparse (smoke scale, or no run of an ablation value) says so:

    - every cell empty: no collected run matches the table's settings;
    - std columns: no cell has 2 or more runs (e.g. one seed at smoke scale);
    - rows no run qualifies for (``options.rows_only`` rows, ablation values not run);
    - columns empty in every filled row (``empty_column_reason`` says why);
    - ``extra``: a builder's own remark.
    """
    s = result.sources
    notes = []
    if s is not None and not s.empty and "n" in s:
        n = s.n.astype(float).to_numpy()
        # row fields by position: row headers may repeat (irat/table7 names both "")
        pos = [i for i, c in enumerate(s.columns) if c not in SOURCE_FIELDS]
        names = [str(s.columns[i]) for i in pos]
        keys = [tuple(r) for r in s.iloc[:, pos].astype(str).itertuples(index=False)] if pos else [()] * len(s)
        if not (n > 0).any():
            notes.append("Every cell is empty: no collected run matches this table's settings "
                         "(.sources.csv lists the runs each cell needs).")  # fmt: skip
        else:
            if spec.aggregate == "mean_std" and n[n > 0].max() < 2:
                paper = f"; the paper averages {spec.expect} seeds" if spec.expect else ""
                notes.append(f"std empty: one run per cell{paper}.")
            per_row: dict[tuple, float] = {}
            for k, v in zip(keys, n, strict=True):
                per_row[k] = per_row.get(k, 0.0) + v
            empty = [k for k, v in per_row.items() if v == 0 and k]
            if empty:
                # paper labels where the spec has them (sources hold the raw values)
                orig = list(spec.rows) if len(spec.rows) == len(names) else names
                lab = [{str(a): str(b) for a, b in (spec.labels.get(f) or {}).items()} for f in orig]
                labels = ["; ".join(f"{f} {m.get(v, v)}".strip() for f, m, v in zip(names, lab, k, strict=True)) for k in empty]
                notes.append("Empty rows (no run with these settings, e.g. ablation values a "
                             "smoke-scale sweep leaves out): " + " | ".join(labels) + ".")  # fmt: skip
            if "column" in s:
                per_col: dict[str, float] = {}
                for k, c, v in zip(keys, s["column"].astype(str), n, strict=True):
                    if per_row[k] > 0:  # only rows that hold data
                        per_col[c] = per_col.get(c, 0.0) + v
                empty_cols = [c for c, v in per_col.items() if v == 0]
                if empty_cols:
                    reason = f" ({empty_column_reason})" if empty_column_reason else ""
                    notes.append("Empty columns" + reason + ": " + ", ".join(empty_cols) + ".")
    if extra:
        notes.append(extra)
    spec.add_note(*notes)
