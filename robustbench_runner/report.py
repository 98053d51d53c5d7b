"""``rbr-report``: one static ``index.html`` for a sweep, opened from disk (no server).

    rbr-report outputs/sweeps/sweep                  # -> outputs/sweeps/sweep/report/index.html
    rbr-report outputs/sweeps/irat --table irat      # the paper's tables instead of every one
    rbr-report outputs/sweeps/sweep --out /tmp/rep --embed
    rbr-report outputs/sweeps/sweep --strict         # exit 1 when a run or file was skipped

The page holds, built with the same builders as ``rbr-tables`` (``robustbench_runner.tables``):

- first, the sweep's own summary across seeds (:mod:`.seed_summary`): for runs that differ
  only in their seeds, accuracy mean ± std per (attack, eps, epoch) and its plots vs epoch
  and vs eps; or the one-line reason there is none (e.g. no seed replicates);
- the runs found and their state (finished, in progress, no metrics yet): the missing runs;
- every table (``--table``; default: every table spec with at least one filled cell, and the
  ``summary`` table), its note, its figure, and per cell the runs behind it and how many
  expected runs are missing;
- every run's ``curves.png`` (drawn into the report folder for runs that lack one).

Images are written next to ``index.html`` and linked relatively (``--embed``: inlined as
base64, one self-contained file).

Nothing a run folder holds is trusted (issue 21): the page is rendered by a Jinja2 template
with autoescaping, so a run name, a path, a spec title or a cell can hold any character
without becoming markup or an attribute; a run's ``curves.png`` is linked or embedded only
when the run's manifest lists it and it is a regular PNG file (a symlink planted there is
never followed: one warning line, and the curves are drawn from the run's checked metrics
instead); a run folder or file that cannot be read is one warning line naming it, counted
in the summary line, and ``--strict`` makes the command exit 1.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from .errors import UserError
from .io import (
    OUT_MANIFEST,
    atomic_write_text,
    make_dirs,
    read_manifest,
    recording,
    refuse_foreign_targets,
)
from .reading import LIMITS, BadFile, read_bytes
from .results import RunFiles

PROG = "rbr-report"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

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

#: The page. Every ``{{ value }}`` is escaped (``autoescape=True``), in text and in the
#: double-quoted attributes alike; only the tables pandas renders with ``escape=True``
#: (:func:`table_html`) enter as markup.
TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8">
<title>rbr report: {{ root }}</title><style>{{ css }}</style></head><body>
<h1>Sweep report: {{ root }}</h1>
<p>{{ n_runs }} runs, {{ n_done }} finished, {{ n_runs - n_done }} not finished; {{ tables|length }} tables.{% if problems %} <span class="missing">{{ problems|length }} run folder(s) or file(s) could not be read and were skipped.</span>{% endif %} Written {{ when }} by {{ prog }}.</p>
<nav><a href="#seeds">across seeds</a><a href="#runs">runs</a><a href="#missing">missing runs</a>{% for t in tables %}<a href="#{{ t.anchor }}">{{ t.id }}</a>{% endfor %}<a href="#curves">per-run curves</a></nav>
<h2 id="seeds">Across seeds</h2>
{% if seeds.why_none %}<p><em>No across-seed summary: {{ seeds.why_none }}.</em></p>
{% else %}{% for g in seeds.groups %}<p>{{ g.n }} seed replicates (seeds {{ g.seeds }}): {{ g.label }}. Accuracy mean ± sample std (ddof=1) over the seeds per attack, eps and grid epoch.</p>
{{ g.table }}
{% if g.figure %}<p><img alt="accuracy across seeds ({{ g.seeds }})" src="{{ g.figure }}"></p>
{% endif %}{% endfor %}{% endif %}<h2 id="runs">Runs</h2>
{{ runs_table }}
<h2 id="missing">Missing runs</h2>
{% if not_done is none %}<p class="ok">every run found has finished (DONE).</p>
{% else %}<p class="missing">{{ n_not_done }} run(s) have not finished:</p>{{ not_done }}
{% endif %}{% if short %}<p class="missing">cells short of their expected runs: {% for id, n in short %}{{ id }} ({{ n }} runs missing){% if not loop.last %}, {% endif %}{% endfor %}</p>
{% endif %}{% if problems %}<h2 id="skipped">Skipped (could not be read)</h2>
<ul>{% for p in problems %}<li>{{ p }}</li>{% endfor %}</ul>
{% endif %}{% for t in tables %}<h2 id="{{ t.anchor }}">{{ t.title }}</h2>
<p>{{ t.filled }}/{{ t.cells }} cells filled{% if t.missing %}, <span class="missing">{{ t.missing }} runs missing</span>{% endif %}</p>
{{ t.table }}
{% if t.figure %}<p><img alt="{{ t.id }}" src="{{ t.figure }}"></p>
{% endif %}{% if t.note %}<div class="note">{{ t.note }}</div>
{% endif %}{% if t.sources is not none %}<details><summary>runs behind each cell ({{ t.n_sources }} cells)</summary>{{ t.sources }}</details>
{% endif %}{% endfor %}{% if skipped_specs %}<details><summary>{{ skipped_specs|length }} table specs not shown</summary><ul>{% for s in skipped_specs %}<li>{{ s }}</li>{% endfor %}</ul></details>
{% endif %}<h2 id="curves">Per-run curves</h2>
{% for c in curves %}<h3>{{ c.name }}</h3>
{% if c.src %}<p><img alt="curves of {{ c.name }}" src="{{ c.src }}"></p>{% else %}<p><em>no metrics yet</em></p>{% endif %}
{% endfor %}</body></html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", help="sweep (or run) directories, searched recursively for runs")
    p.add_argument("--table", "-t", action="append", default=[], help="table id or paper prefix (repeatable); default: every table with a filled cell")
    p.add_argument("--out", "-o", default=None, help="report folder (default: <first dir>/report)")
    p.add_argument("--embed", action="store_true", help="inline every image (base64): one self-contained file")
    p.add_argument("--strict", action="store_true", help="exit 1 when a run folder or file could not be read and was skipped")
    p.add_argument("--verbose", action="store_true", help="show tracebacks")
    return p.parse_args(argv)


class Problems:
    """What could not be read: each one warning line on stderr when it is found, counted in
    the page and the summary line (``--strict`` turns any into exit status 1)."""

    def __init__(self, prog: str = PROG):
        self.prog, self.items = prog, []

    def warn(self, what: str | Path, why: str) -> None:
        line = f"{what}: {' '.join(str(why).split())}"
        self.items.append(line)
        print(f"[{self.prog}] WARNING: skipped {line}", file=sys.stderr)

    def __len__(self) -> int:
        return len(self.items)


class Images:
    """Writes or inlines the page's images; returns the ``src`` to use (escaped by the
    template like every other value)."""

    def __init__(self, out: Path, embed: bool):
        self.out, self.embed = out, embed

    def src(self, path: Path, data: bytes | None = None) -> str:
        """``path`` linked relatively, or (``--embed``) inlined: ``data`` when the caller
        already read and checked the file, else the PNG the report itself wrote."""
        if self.embed:
            if data is None:
                data = read_png(path, follow_symlinks=False)
            return "data:image/png;base64," + base64.b64encode(data).decode()
        return Path(os.path.relpath(path, self.out)).as_posix()


def read_png(path: Path, follow_symlinks: bool = False) -> bytes:
    """A PNG file's bytes: a bounded regular file (never a symlink) with PNG's signature."""
    data = read_bytes(path, max_bytes=LIMITS["image"], follow_symlinks=follow_symlinks, what="image")
    if not data.startswith(PNG_SIGNATURE):
        raise BadFile(path, "is not a PNG image (its first bytes are not PNG's signature)", what="image", fix="delete it; the report draws the curves from the run's metrics")
    return data


def table_html(df: pd.DataFrame) -> Markup:
    """A frame as an HTML table, every header and cell escaped by pandas (``escape=True``)."""
    if df.empty:
        return Markup("<p><em>no cells</em></p>")
    return Markup(df.to_html(index=False, na_rep="", escape=True, border=0))


def run_rows(runs, root: Path) -> pd.DataFrame:
    """One row per readable run: its folder (relative to ``root``), state, checkpoints."""
    rows = []
    for r in runs.runs:
        m = r.metrics
        state = "finished" if r.done else ("in progress" if r.n_metrics else "no metrics yet")
        n_ckpt = int(m.checkpoint.nunique()) if len(m) and "checkpoint" in m else 0
        rows.append({"run": os.path.relpath(r.dir, root), "state": state, "checkpoints evaluated": n_ckpt})
    return pd.DataFrame(rows, columns=["run", "state", "checkpoints evaluated"])


def build_tables(patterns: list[str], runs, out: Path) -> tuple[list, list[str]]:
    """``[(spec, result, figure path or None)]`` for the tables with a filled cell (all the
    requested ones when ``patterns`` is given), and the ids skipped with their reason."""
    from .tables.build import Context, build
    from .tables.spec import select_specs

    explicit = bool(patterns)
    specs = select_specs(patterns or ["all"])
    keys = sorted({k for s in specs for k in s.config_keys()})
    ctx = Context(metrics=runs.metrics(keys), run_dirs=[r.dir for r in runs.runs], runs=runs)
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


def sources_frame(sources: pd.DataFrame, root: Path) -> pd.DataFrame:
    s = sources.copy()
    if "runs" in s:
        s["runs"] = s["runs"].fillna("").map(lambda v: "; ".join(os.path.relpath(r, root) for r in str(v).split(";") if r))
    return s


def missing_cells(result) -> int:
    s = result.sources
    return int(s.missing.fillna(0).sum()) if "missing" in s else 0


def curves_src(run_dir: Path, out: Path, images: Images, problems: Problems) -> str | None:
    """The ``src`` of a run's curves: its own ``curves.png`` when the run's manifest lists it
    and it is a regular PNG file; else (no manifest, not listed, a symlink, not a PNG) drawn
    into the report folder from the run's checked metrics. A ``curves.png`` that is there
    but refused is one warning line (counted)."""
    png = RunFiles(run_dir).curves
    present = os.path.lexists(png)
    if present and png.name in read_manifest(run_dir):
        try:
            data = read_png(png, follow_symlinks=False)
        except BadFile as e:
            problems.warn(png, f"{e.problem} (drawn from the run's metrics instead)")
        else:
            return images.src(png, data)
    elif present and os.path.islink(png):
        problems.warn(png, "is a symbolic link, which a run never writes; it is not followed (drawn from the run's metrics instead)")
    from .plots import write_curves

    target = out / "curves" / f"{run_dir.name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        drawn = write_curves(RunFiles(run_dir), target)
    except UserError as e:
        problems.warn(run_dir, f"its curves cannot be drawn ({e.one_line()})")
        return None
    return images.src(drawn) if drawn is not None else None


def render(args: argparse.Namespace) -> tuple[Path, Problems]:
    """Write the report; returns its ``index.html`` and what was skipped."""
    from .tables.collect import find_runs
    from .tables.runs import load_runs

    problems = Problems(PROG)
    unreadable: list[tuple[Path, str]] = []
    run_dirs = find_runs(args.dirs, unreadable)
    for d, why in unreadable:
        problems.warn(d, why)
    if not run_dirs:
        raise UserError(f"no runs (metrics.csv or run.json) under {', '.join(args.dirs)}", fix="point rbr-report at a folder that holds rbr-run outputs")
    runs = load_runs(run_dirs)
    for d, why in runs.skipped:
        problems.warn(d, why)
    root = Path(args.dirs[0])
    out = make_dirs(Path(args.out) if args.out else root / "report", "output folder", "--out")
    # every file the report writes (figures/, curves/, index.html) is written in this one block,
    # which records them (io.recording) so a later report replaces only its own files
    # what the report owns in its folder, checked before the first write: index.html and
    # every file under figures/ and curves/; a user's file there is refused, nothing written
    owned = [out / "index.html", *(p for sub in ("figures", "curves") for p in _files_under(out / sub))]
    refuse_foreign_targets(out, owned, OUT_MANIFEST, PROG)
    with recording(out, OUT_MANIFEST, what=PROG):
        page = render_page(args, runs, root, out, problems)
        index = out / "index.html"
        atomic_write_text(index, page)
    return index, problems


def _files_under(folder: Path) -> list[Path]:
    """Every file, link or other non-folder entry under ``folder`` (none when it is absent);
    links are listed, not followed."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        out += [Path(dirpath) / n for n in filenames]
        out += [Path(dirpath) / n for n in dirnames if os.path.islink(os.path.join(dirpath, n))]
    return out


def seed_section(runs, root: Path, out: Path, images: Images) -> dict:
    """The page's first section: the sweep's own summary across seed replicates
    (:mod:`.seed_summary`), or the reason there is none."""
    from .seed_summary import summarize

    summary = summarize(runs, root, out / "figures")
    groups = [
        {"n": len(g.seeds), "seeds": ", ".join(map(str, g.seeds)), "label": g.label, "table": table_html(g.stats),
         "figure": images.src(g.figure) if g.figure is not None and g.figure.exists() else None}
        for g in summary.groups
    ]  # fmt: skip
    return {"why_none": summary.why_none, "groups": groups}


def render_page(args: argparse.Namespace, runs, root: Path, out: Path, problems: Problems) -> str:
    """The page's HTML (writes its figures and drawn curves under ``out``)."""
    images = Images(out, args.embed)
    table = run_rows(runs, root)
    built, skipped_specs = build_tables(args.table, runs, out)
    not_done = table[table.state != "finished"]
    tables = []
    for spec, result, fig in built:
        s = result.sources
        tables.append({
            "id": spec.id, "anchor": spec.file_stem, "title": f"{spec.id}: {spec.title}" if spec.title else spec.id,
            "filled": int((s.n > 0).sum()) if not s.empty else 0, "cells": len(s), "missing": missing_cells(result),
            "table": table_html(result.pretty), "figure": images.src(fig) if fig is not None and fig.exists() else None,
            "note": spec.note, "sources": None if s.empty else table_html(sources_frame(s, root)), "n_sources": len(s),
        })  # fmt: skip
    seeds = seed_section(runs, root, out, images)
    curves = [{"name": os.path.relpath(r.dir, root), "src": curves_src(r.dir, out, images, problems)} for r in runs.runs]
    return _ENV.from_string(TEMPLATE).render(
        root=str(root), css=Markup(CSS), prog=PROG, when=time.strftime("%Y-%m-%d %H:%M:%S"),
        n_runs=len(table), n_done=int((table.state == "finished").sum()), tables=tables,
        runs_table=table_html(table), not_done=None if not_done.empty else table_html(not_done), n_not_done=len(not_done),
        short=[(t["id"], t["missing"]) for t in tables if t["missing"]], problems=problems.items,
        skipped_specs=skipped_specs, curves=curves, seeds=seeds,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    try:
        index, problems = render(args)
    except UserError as e:
        if args.verbose:
            raise
        sys.stderr.write(f"{PROG}: error: {e.one_line()}\n")
        sys.exit(2)
    skipped = f" ({len(problems)} run folder(s) or file(s) skipped: see the warnings above)" if len(problems) else ""
    print(f"[{PROG}] wrote {index}{skipped} (open it in a browser: file://{index.resolve()})")
    if len(problems) and args.strict:
        sys.stderr.write(f"{PROG}: error: {len(problems)} run folder(s) or file(s) could not be read and --strict is set\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
