"""Writing a built table: tidy CSV, paper-like pretty CSV + Markdown, sources sidecar, figure.

The pretty and sources CSVs are meant for spreadsheets: their text cells go through
:func:`~robustbench_runner.reading.csvs.spreadsheet_csv` (a cell a spreadsheet would read as
a formula gets a leading ``'``); the tidy CSV keeps every value exactly. All three are written
by :func:`~robustbench_runner.reading.csvs.csv_text`, so a carriage return in a cell (a tag)
is quoted and cannot split a row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import atomic_write_text, make_dirs
from ..paths import check_path_part
from ..reading.csvs import csv_text, spreadsheet_csv
from .result import TableResult
from .spec import TableSpec


def markdown(df: pd.DataFrame, title: str = "") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    cols = [str(c) for c in df.columns]
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for _, row in df.iterrows():
        cells = ["" if (isinstance(v, float) and pd.isna(v)) else str(v) for v in row.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_paths(spec: TableSpec, out: Path) -> dict[str, Path]:
    """The files :func:`write_table` writes for ``spec`` under ``out`` (``figure``: only
    when the table has one)."""
    stem = check_path_part(spec.file_stem, "table id", fix="name the spec with letters, digits, '-', '_' and '/' only")
    return {
        "table": out / f"{stem}.csv",
        "pretty": out / f"{stem}.pretty.csv",
        "md": out / f"{stem}.md",
        "sources": out / f"{stem}.sources.csv",
        "figure": out / f"{stem}.png",
    }


def write_table(spec: TableSpec, result: TableResult, out_dir: str | Path) -> list[Path]:
    out = make_dirs(out_dir, "output folder", "--out")
    paths = table_paths(spec, out)
    png = paths.pop("figure")
    atomic_write_text(paths["table"], csv_text(result.table))
    # the tidy CSV keeps exact values; the pretty and sources CSVs are the ones opened in a
    # spreadsheet: a text cell that would start a formula (a tag "=HYPERLINK(...)") is text there
    atomic_write_text(paths["pretty"], spreadsheet_csv(result.pretty))
    title = f"{spec.id}: {spec.title}" if spec.title else spec.id
    note = f"\n{spec.note}\n" if spec.note else ""
    atomic_write_text(paths["md"], markdown(result.pretty, title) + note)
    atomic_write_text(paths["sources"], spreadsheet_csv(result.sources))
    written = list(paths.values())
    if result.figure is not None:
        result.figure(png)
        written.append(png)
    return written


def completeness(result: TableResult) -> str:
    s = result.sources
    if s.empty:
        return "no cells"
    filled = int((s.n > 0).sum())
    text = f"{filled}/{len(s)} cells filled"
    if "missing" in s and s.missing.notna().any():
        text += f", {int(s.missing.fillna(0).sum())} runs missing"
    return text
