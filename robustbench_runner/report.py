"""``rbr-report``: one static ``index.html`` for a sweep, opened from disk (no server).

    rbr-report outputs/sweeps/sweep                  # -> outputs/sweeps/sweep/report/index.html
    rbr-report outputs/sweeps/irat --table irat      # the paper's tables instead of every one
    rbr-report outputs/sweeps/sweep --out /tmp/rep --embed

The page holds, built with the same builders as ``rbr-tables`` (``robustbench_runner.tables``):

- the runs found and their state (finished, in progress, no metrics yet): the missing runs;
- every table (``--table``; default: every table spec with at least one filled cell, and the
  ``summary`` table), its note, its figure, and per cell the runs behind it and how many
  expected runs are missing;
- every run's ``curves.png`` (drawn into the report folder for runs that lack one).

Images are written next to ``index.html`` and linked relatively (``--embed``: inlined as
base64, one self-contained file).
"""

from __future__ import annotations

import argparse
import base64
import html
import os
import sys
import time
from pathlib import Path

import pandas as pd

from .errors import UserError
from .io import atomic_write_text
from .results import RunFiles

PROG = "rbr-report"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eef}
td:first-child,th:first-child{text-align:left}
.missing{color:#a00;font-weight:bold}.ok{color:#070}.note{white-space:pre-wrap;font-size:.9em;color:#444}
img{max-width:100%;border:1px solid #ddd}details{margin:.3em 0 1em}
nav a{margin-right:1em}
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", help="sweep (or run) directories, searched recursively for runs")
    p.add_argument("--table", "-t", action="append", default=[], help="table id or paper prefix (repeatable); default: every table with a filled cell")
    p.add_argument("--out", "-o", default=None, help="report folder (default: <first dir>/report)")
    p.add_argument("--embed", action="store_true", help="inline every image (base64): one self-contained file")
    p.add_argument("--verbose", action="store_true", help="show tracebacks")
    return p.parse_args(argv)


class Images:
    """Writes or inlines the page's images; returns the ``src`` to use."""

    def __init__(self, out: Path, embed: bool):
        self.out, self.embed = out, embed

    def src(self, path: Path) -> str:
        if self.embed:
            return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
        return Path(os.path.relpath(path, self.out)).as_posix()


def table_html(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p><em>no cells</em></p>"
    return df.to_html(index=False, na_rep="", escape=True, border=0)


def run_rows(run_dirs: list[Path], root: Path) -> pd.DataFrame:
    rows = []
    for d in run_dirs:
        files = RunFiles(d)
        state = "finished" if files.done.exists() else ("in progress" if files.metrics.exists() else "no metrics yet")
        n_ckpt = files.read_metrics().checkpoint.nunique() if files.metrics.exists() else 0
        rows.append({"run": os.path.relpath(d, root), "state": state, "checkpoints evaluated": n_ckpt})
    return pd.DataFrame(rows, columns=["run", "state", "checkpoints evaluated"])


def build_tables(patterns: list[str], run_dirs: list[Path], out: Path) -> tuple[list, list[str]]:
    """``[(spec, result, figure path or None)]`` for the tables with a filled cell (all the
    requested ones when ``patterns`` is given), and the ids skipped with their reason."""
    from .tables.build import Context, build
    from .tables.collect import load_metrics
    from .tables.spec import select_specs

    explicit = bool(patterns)
    specs = select_specs(patterns or ["all"])
    keys = sorted({k for s in specs for k in s.config_keys()})
    ctx = Context(metrics=load_metrics(run_dirs, keys), run_dirs=run_dirs)
    built, skipped = [], []
    fig_dir = out / "figures"
    for spec in specs:
        try:
            result = build(spec, ctx)
        except UserError as e:
            skipped.append(f"{spec.id}: {e.one_line()}")
            continue
        filled = not result.sources.empty and bool((result.sources.n > 0).any())
        if not filled and not explicit:
            skipped.append(f"{spec.id}: no cell filled by these runs")
            continue
        fig = None
        if result.figure is not None and filled:
            fig_dir.mkdir(parents=True, exist_ok=True)
            fig = fig_dir / f"{spec.file_stem}.png"
            result.figure(fig)
        built.append((spec, result, fig))
    return built, skipped


def sources_html(sources: pd.DataFrame, root: Path) -> str:
    if sources.empty:
        return ""
    s = sources.copy()
    if "runs" in s:
        s["runs"] = s["runs"].fillna("").map(lambda v: "; ".join(os.path.relpath(r, root) for r in str(v).split(";") if r))
    return f"<details><summary>runs behind each cell ({len(s)} cells)</summary>{table_html(s)}</details>"


def missing_cells(result) -> int:
    s = result.sources
    return int(s.missing.fillna(0).sum()) if "missing" in s else 0


def curves_for(run_dir: Path, out: Path) -> Path | None:
    png = RunFiles(run_dir).curves
    if png.exists():
        return png
    from .plots import write_curves

    target = out / "curves" / f"{run_dir.name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_curves(RunFiles(run_dir), target)


def render(args: argparse.Namespace) -> Path:
    from .tables.collect import find_runs

    run_dirs = find_runs(args.dirs)
    if not run_dirs:
        raise UserError(f"no runs (metrics.csv or run.json) under {', '.join(args.dirs)}", fix="point rbr-report at a folder that holds rbr-run outputs")
    root = Path(args.dirs[0])
    out = Path(args.out) if args.out else root / "report"
    out.mkdir(parents=True, exist_ok=True)
    images = Images(out, args.embed)
    runs = run_rows(run_dirs, root)
    built, skipped = build_tables(args.table, run_dirs, out)

    h = ["<!doctype html><html><head><meta charset='utf-8'>",
         f"<title>rbr report: {html.escape(str(root))}</title><style>{CSS}</style></head><body>"]  # fmt: skip
    h.append(f"<h1>Sweep report: {html.escape(str(root))}</h1>")
    n_done = int((runs.state == "finished").sum())
    h.append(f"<p>{len(runs)} runs, {n_done} finished, {len(runs) - n_done} not finished; "
             f"{len(built)} tables. Written {time.strftime('%Y-%m-%d %H:%M:%S')} by {PROG}.</p>")  # fmt: skip
    h.append("<nav><a href='#runs'>runs</a><a href='#missing'>missing runs</a>"
             + "".join(f"<a href='#{html.escape(s.file_stem)}'>{html.escape(s.id)}</a>" for s, _, _ in built) + "<a href='#curves'>per-run curves</a></nav>")  # fmt: skip

    h.append("<h2 id='runs'>Runs</h2>" + table_html(runs))
    not_done = runs[runs.state != "finished"]
    h.append("<h2 id='missing'>Missing runs</h2>")
    if not_done.empty:
        h.append("<p class='ok'>every run found has finished (DONE).</p>")
    else:
        h.append(f"<p class='missing'>{len(not_done)} run(s) have not finished:</p>" + table_html(not_done))
    short = [(s.id, missing_cells(r)) for s, r, _ in built if missing_cells(r)]
    if short:
        h.append("<p class='missing'>cells short of their expected runs: " + ", ".join(f"{html.escape(i)} ({n} runs missing)" for i, n in short) + "</p>")

    for spec, result, fig in built:
        title = f"{spec.id}: {spec.title}" if spec.title else spec.id
        filled = int((result.sources.n > 0).sum()) if not result.sources.empty else 0
        h.append(f"<h2 id='{html.escape(spec.file_stem)}'>{html.escape(title)}</h2>")
        h.append(f"<p>{filled}/{len(result.sources)} cells filled" + (f", <span class='missing'>{missing_cells(result)} runs missing</span>" if missing_cells(result) else "") + "</p>")
        h.append(table_html(result.pretty))
        if fig is not None and fig.exists():
            h.append(f"<p><img alt='{html.escape(spec.id)}' src='{images.src(fig)}'></p>")
        if spec.note:
            h.append(f"<div class='note'>{html.escape(spec.note)}</div>")
        h.append(sources_html(result.sources, root))
    if skipped:
        h.append(f"<details><summary>{len(skipped)} table specs not shown</summary><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in skipped) + "</ul></details>")

    h.append("<h2 id='curves'>Per-run curves</h2>")
    for d in run_dirs:
        png = curves_for(d, out)
        name = html.escape(os.path.relpath(d, root))
        h.append(f"<h3>{name}</h3>" + (f"<p><img alt='curves of {name}' src='{images.src(png)}'></p>" if png else "<p><em>no metrics yet</em></p>"))
    h.append("</body></html>")
    index = out / "index.html"
    atomic_write_text(index, "\n".join(h) + "\n")
    return index


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    try:
        index = render(args)
    except UserError as e:
        if args.verbose:
            raise
        sys.stderr.write(f"{PROG}: error: {e.one_line()}\n")
        sys.exit(2)
    print(f"[{PROG}] wrote {index} (open it in a browser: file://{index.resolve()})")


if __name__ == "__main__":
    main()
