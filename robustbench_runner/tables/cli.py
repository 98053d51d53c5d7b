"""``rbr-tables``: turn a folder of runs into paper tables.

    rbr-tables outputs/sweeps/sweep                 # mean/std over seeds of R and PGD-20 per epoch
    rbr-tables outputs/sweeps/irat --table irat     # every irat table spec
    rbr-tables outputs --table auc/table1 --out outputs/tables/auc
    rbr-tables --list                               # every table id
    rbr-tables outputs/sweeps/irat --specs my_specs --table irat/mine   # + specs kept elsewhere

Writes, per table, ``<id>.csv`` (tidy numbers), ``<id>.pretty.csv`` and ``<id>.md``
(``mean±std`` like the paper), ``<id>.sources.csv`` (the runs behind each cell) and, for
figures, ``<id>.png``. Runs still in progress are read as far as they got. Each folder
given keeps a cache of its runs' parsed files (``<dir>/.rbr-tables-cache/runs.parquet``,
:mod:`tables.cache`), so a second call re-reads only the runs that changed; ``--no-cache``
reads everything and writes nothing there.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import UserError
from ..io import OUT_MANIFEST, make_dirs, recording, refuse_foreign_targets
from .build import Context, build
from .cache import CACHE_DIR, CACHE_FILE, load_runs_cached
from .collect import find_runs, standin_runs, warn_skipped
from .render import completeness, table_paths, write_table
from .runs import load_runs
from .spec import all_specs, select_specs

PROG = "rbr-tables"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="*", help="run or sweep directories to read (searched recursively)")
    p.add_argument("--table", "-t", action="append", default=[], help="table id or paper prefix (repeatable; 'all' for every spec); default: summary")
    p.add_argument("--out", "-o", default=None, help="output folder (default: <first dir>/tables)")
    p.add_argument("--specs", action="append", default=[], metavar="DIR",
                   help="a folder of more table specs (*.yaml, searched recursively) besides the shipped and bundles' table_specs/ (repeatable)")  # fmt: skip
    p.add_argument("--list", action="store_true", help="list the table ids and exit")
    p.add_argument("--quiet", "-q", action="store_true", help="do not print the tables")
    p.add_argument("--strict", action="store_true", help="exit 1 when a run or folder had to be skipped (unreadable files or folders)")
    p.add_argument("--no-cache", action="store_true", help=f"read every run's files; neither read nor write <dir>/{CACHE_DIR}/{CACHE_FILE}")
    p.add_argument("--verbose", action="store_true", help="show tracebacks")
    return p.parse_args(argv)


def natural_key(text: str) -> list:
    """Sort key that orders the digit runs of ``text`` by value: table2 < table10."""
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def run(args: argparse.Namespace) -> int:
    bad_specs: list[tuple[Path, str]] = []  # spec files left out, one warning line each
    if args.list:
        listed = all_specs(extra=args.specs, problems=bad_specs)
        _warn_each(bad_specs)
        for tid in sorted(listed, key=natural_key):  # prs/table2 before prs/table10
            print(f"{tid:32s} {listed[tid].title}")
        return 1 if bad_specs and args.strict else 0
    if not args.dirs:
        raise UserError("no run directory given", fix="rbr-tables <run or sweep dir> [--table ID]")
    try:
        specs = select_specs(args.table or ["summary"], extra=args.specs, problems=bad_specs)
    finally:
        _warn_each(bad_specs)  # before the error a pattern that matches nothing may raise
    unlisted: list[tuple[Path, str]] = []
    run_dirs = find_runs(args.dirs, unlisted)
    _warn_each(unlisted)
    if not run_dirs:
        raise UserError(f"no runs (metrics.csv) under {', '.join(args.dirs)}", fix="point rbr-tables at a folder that holds rbr-run outputs")
    runs = load_runs(run_dirs) if args.no_cache else load_runs_cached(run_dirs, args.dirs)
    warn_skipped(runs, PROG)
    n_skipped = len(runs.skipped) + len(unlisted) + len(bad_specs)
    keys = sorted({k for s in specs for k in s.config_keys()})
    ok_dirs = [r.dir for r in runs.runs]
    ctx = Context(metrics=runs.metrics(keys), run_dirs=ok_dirs, runs=runs)
    out = Path(args.out) if args.out else Path(args.dirs[0]) / "tables"
    skipped = f", {n_skipped} unreadable and skipped" if n_skipped else ""
    print(f"[{PROG}] {len(run_dirs)} runs ({sum(r.done for r in runs.runs)} finished{skipped}) under {', '.join(args.dirs)}")
    standin = standin_runs(ok_dirs, runs)
    if standin:
        from ..data.standin import STANDIN_NOTE  # here: it imports torch and scikit-learn
        print(f"[{PROG}] WARNING: {len(standin)} runs used stand-in data ({STANDIN_NOTE}); their numbers do not describe the papers' datasets")
    unread = f" (+{n_skipped} unreadable runs skipped)" if n_skipped else ""
    make_dirs(out, "output folder", "--out")
    # every file this call may write, checked before the first is written: a user's file
    # in the way is refused with nothing written, not after half the tables
    refuse_foreign_targets(out, [p for spec in specs for p in table_paths(spec, out).values()], OUT_MANIFEST, PROG)
    with recording(out, OUT_MANIFEST, what=PROG):  # replaces only what rbr-tables wrote there
        for spec in specs:
            result = build(spec, ctx)
            if standin:
                spec.add_note(f"**Smoke run on {STANDIN_NOTE}.**")
            paths = write_table(spec, result, out)
            print(f"[{PROG}] {spec.id}: {completeness(result)}{unread} -> {paths[0]}")
            if not args.quiet and not result.pretty.empty:
                print(result.pretty.to_string(index=False))
    if n_skipped and args.strict:
        what = [f"{n} {kind} skipped" for n, kind in ((len(runs.skipped), "runs"), (len(unlisted), "folders"), (len(bad_specs), "spec files")) if n]
        sys.stderr.write(f"{PROG}: error: {', '.join(what)} (unreadable; see the warnings above) and --strict is set\n")
        return 1
    return 0


def _warn_each(problems: list[tuple[Path, str]]) -> None:
    for what, why in problems:
        print(f"[{PROG}] WARNING: skipped {what}: {why}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    try:
        code = run(args)
        sys.stdout.flush()  # inside the try: a closed pipe fails here, not at interpreter exit
    except BrokenPipeError:  # `rbr-tables --list | head`: the reader stopped reading
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush fails silently
        sys.exit(0)
    except UserError as e:
        if args.verbose:
            raise
        sys.stderr.write(f"{PROG}: error: {e.one_line()}\n")
        sys.exit(2)
    sys.exit(code)


if __name__ == "__main__":
    main()
