"""``rbr-tables``: turn a folder of runs into paper tables.

    rbr-tables outputs/sweeps/sweep                 # mean/std over seeds of R and PGD-20 per epoch
    rbr-tables outputs/sweeps/irat --table irat     # every irat table spec
    rbr-tables outputs --table auc/table1 --out outputs/tables/auc
    rbr-tables --list                               # every table id

Writes, per table, ``<id>.csv`` (tidy numbers), ``<id>.pretty.csv`` and ``<id>.md``
(``mean±std`` like the paper), ``<id>.sources.csv`` (the runs behind each cell) and, for
figures, ``<id>.png``. Runs still in progress are read as far as they got.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.standin import STANDIN_NOTE
from ..errors import UserError
from .build import Context, build
from .collect import find_runs, load_metrics, run_status, standin_runs
from .render import completeness, write_table
from .spec import all_specs, select_specs

PROG = "rbr-tables"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="*", help="run or sweep directories to read (searched recursively)")
    p.add_argument("--table", "-t", action="append", default=[], help="table id or paper prefix (repeatable; 'all' for every spec); default: summary")
    p.add_argument("--out", "-o", default=None, help="output folder (default: <first dir>/tables)")
    p.add_argument("--list", action="store_true", help="list the table ids and exit")
    p.add_argument("--quiet", "-q", action="store_true", help="do not print the tables")
    p.add_argument("--verbose", action="store_true", help="show tracebacks")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    if args.list:
        for tid, spec in all_specs().items():
            print(f"{tid:32s} {spec.title}")
        return 0
    if not args.dirs:
        raise UserError("no run directory given", fix="rbr-tables <run or sweep dir> [--table ID]")
    specs = select_specs(args.table or ["summary"])
    run_dirs = find_runs(args.dirs)
    if not run_dirs:
        raise UserError(f"no runs (metrics.csv) under {', '.join(args.dirs)}", fix="point rbr-tables at a folder that holds rbr-run outputs")
    status = run_status(run_dirs)
    keys = sorted({k for s in specs for k in s.config_keys()})
    ctx = Context(metrics=load_metrics(run_dirs, keys), run_dirs=run_dirs)
    out = Path(args.out) if args.out else Path(args.dirs[0]) / "tables"
    print(f"[{PROG}] {len(run_dirs)} runs ({int(status.done.sum())} finished) under {', '.join(args.dirs)}")
    standin = standin_runs(run_dirs)
    if standin:
        print(f"[{PROG}] WARNING: {len(standin)} runs used stand-in data ({STANDIN_NOTE}); their numbers do not describe the papers' datasets")
    for spec in specs:
        result = build(spec, ctx)
        if standin:
            spec.add_note(f"**Smoke run on {STANDIN_NOTE}.**")
        paths = write_table(spec, result, out)
        print(f"[{PROG}] {spec.id}: {completeness(result)} -> {paths[0]}")
        if not args.quiet and not result.pretty.empty:
            print(result.pretty.to_string(index=False))
    return 0


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    try:
        sys.exit(run(args))
    except UserError as e:
        if args.verbose:
            raise
        sys.stderr.write(f"{PROG}: error: {e.one_line()}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
