"""``rbr-tables`` at sweep scale: time and peak memory over 1,000 and 10,000 run folders.

One smoke run is trained with ``rbr-run`` (LeNet on 16x16 digits, 1 epoch, FGSM sweep +
PGD-20 on 50 points), then copied into N synthetic run folders per size (``metrics.csv``,
``config.yaml``, ``run.json``, ``DONE``; no checkpoints, which tables never read), each with
its own seed (``i % 10``) and tag (``g<i // 10>``: groups of 10 seeds), the ``run``, ``seed``
and ``config_hash`` columns rewritten to match. ``rbr-tables`` then runs once per size in a
fresh process; the script prints seconds, peak resident memory, per-run cost and the growth
from one size to the next against linear (``x linear`` = time ratio / size ratio: 1.0 is
linear, above 1 is worse).

Then, per size, the sweep cache (``<sweep>/.rbr-tables-cache``, tables/cache.py): ``cold``
(no cache: read every run and write the cache), ``warm`` (cache present, nothing changed),
``warm 1%`` (after 1% of the runs' ``metrics.csv`` got a new mtime: those are re-read and the
cache rewritten), each against the ``--no-cache`` call of the same size (``x no-cache``:
seconds and peak MiB over those of ``--no-cache``; below 1 is faster / smaller). The tables
of every call are compared with those of ``--no-cache``: the script fails if one differs.

    python scripts/bench_tables.py [--sizes 1000,10000] [--table summary] [--profile]
    python scripts/bench_tables.py --tiny        # 20 and 40 runs: proves the script runs
    python scripts/bench_tables.py --root /tmp/b --reuse   # keep and reuse the synthetic sweeps

``--profile`` runs the largest size under cProfile (in the child) and prints the top
functions by cumulative time: where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from robustbench_runner.config import train_run_name  # noqa: E402  (the one spelling of a run name)
from robustbench_runner.results import RunFiles  # noqa: E402
from robustbench_runner.run_dir import write_done  # noqa: E402  (the one writer of DONE)

CHILD = r"""
import cProfile, io, pstats, resource, sys, time
sys.argv = ["rbr-tables"] + sys.argv[2:]
profile = __PROFILE__
from robustbench_runner.tables import cli
t0 = time.perf_counter()
prof = cProfile.Profile() if profile else None
if prof: prof.enable()
try:
    cli.main(sys.argv[1:])
except SystemExit as e:
    code = e.code or 0
else:
    code = 0
if prof:
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
    sys.stderr.write("\n".join(buf.getvalue().splitlines()[:60]) + "\n")
print(f"BENCH seconds={time.perf_counter() - t0:.3f} maxrss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} code={code}")
"""


def smoke_run(root: Path) -> Path:
    """The template: one small run through the pipeline (reused when already there)."""
    run_dir = root / "runs" / "template"
    if not (run_dir / "DONE").exists():
        cmd = [sys.executable, "-m", "robustbench_runner.run", f"output_root={root}", "run_name=template",
               "model=lenet", "data.image_size=16", "data.limit_train=200", "train.epochs=1", "eval.grid=[1]",
               "eval.n_eval=50", "progress=false"]  # fmt: skip
        subprocess.run(cmd, check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
    return run_dir


def make_sweep(template: Path, dest: Path, n: int) -> float:
    """``n`` synthetic copies of ``template`` under ``dest``; returns the seconds it took."""
    t0 = time.perf_counter()
    metrics = pd.read_csv(template / "metrics.csv")
    cfg = OmegaConf.load(template / "config.yaml")
    info = json.loads((template / "run.json").read_text())  # the config record the tables read
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        seed, tag = i % 10, f"g{i // 10}"
        name = train_run_name(cfg.data.name, cfg.model.name, cfg.scheme.name, seed, tag)
        d = dest / name
        d.mkdir(exist_ok=True)
        m = metrics.copy()
        m["run"], m["seed"], m["config_hash"] = name, seed, f"{i:012x}"
        m["value"] = m["value"] * (1 - 0.001 * seed)  # seeds differ, so std is not 0
        m.to_csv(d / "metrics.csv", index=False)
        c = cfg.copy()
        c.seed, c.tag = seed, tag
        (d / "config.yaml").write_text(OmegaConf.to_yaml(c))
        (d / "run.json").write_text(json.dumps({**info, "config": {**info["config"], "seed": seed, "tag": tag}}, indent=1, sort_keys=True))
        write_done(RunFiles(d), f"{i:012x}", None)  # synthetic copies: the rows are the template's
    return time.perf_counter() - t0


def time_tables(sweep: Path, out: Path, table: str, profile: bool, extra: tuple[str, ...] = ("--no-cache",)) -> tuple[float, float, str]:
    child = CHILD.replace("__PROFILE__", repr(profile))
    cmd = [sys.executable, "-c", child, "--", str(sweep), "--table", table, "--quiet", "--out", str(out), *extra]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
    if proc.returncode != 0 or not line or "code=0" not in line[-1]:
        raise SystemExit(f"rbr-tables failed on {sweep}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    fields = dict(kv.split("=") for kv in line[-1].split()[1:])
    return float(fields["seconds"]), int(fields["maxrss_kb"]) / 1024, proc.stderr


def per_run_costs(sweep: Path, k: int = 50) -> dict[str, float]:
    """Milliseconds per run folder of reading its files, on ``k`` of the synthetic runs, the
    plain ways and ours: ``OmegaConf.load(config.yaml)`` and PyYAML's C loader (what the
    tables read before the config record moved to ``run.json``), ``json.loads`` of
    ``run.json``, ``pandas.read_csv(metrics.csv)``, the checked reader of one ``metrics.csv``
    (``read_result_csv``), and ``tables.runs.read_runs`` over the ``k`` folders together
    (``metrics.csv`` parsed together, plus ``run.json`` through the reading layer and the
    stamps)."""
    import yaml

    from robustbench_runner.results import read_result_csv
    from robustbench_runner.tables import runs as runs_mod

    dirs = [d for d in sorted(sweep.iterdir()) if d.is_dir() and not d.name.startswith(".")][:k]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out = {}
    for name, fn, whole in (
        ("OmegaConf.load(config.yaml)", lambda d: OmegaConf.load(d / "config.yaml"), False),
        (f"yaml.load({loader.__name__})", lambda d: yaml.load((d / "config.yaml").read_text(), Loader=loader), False),
        ("json.loads(run.json)", lambda d: json.loads((d / "run.json").read_text()), False),
        ("pandas.read_csv(metrics.csv)", lambda d: pd.read_csv(d / "metrics.csv"), False),
        ("read_result_csv(metrics.csv)", lambda d: read_result_csv(d / "metrics.csv"), False),
        ("read_runs (all files, together)", lambda ds: runs_mod.read_runs(ds), True),
    ):
        runs_mod._FLAT_ENTRIES.clear()  # cold: no config entry flattened before
        t0 = time.perf_counter()
        if whole:
            fn(dirs)
        else:
            for d in dirs:
                fn(d)
        out[name] = 1000 * (time.perf_counter() - t0) / len(dirs)
    return out


def touch_runs(sweep: Path, fraction: float) -> int:
    """Give ``fraction`` of the runs' ``metrics.csv`` a new mtime (same bytes): they count as
    changed for the cache. Returns how many."""
    dirs = sorted(d for d in sweep.iterdir() if (d / "metrics.csv").exists())
    picked = dirs[:: max(1, round(1 / fraction))]
    now = time.time_ns()
    for i, d in enumerate(picked):
        os.utime(d / "metrics.csv", ns=(now + i, now + i))
    return len(picked)


def same_tables(a: Path, b: Path) -> bool:
    files = sorted(p.name for p in a.iterdir())
    return files == sorted(p.name for p in b.iterdir()) and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def cache_rows(sweep: Path, out: Path, table: str, n: int, base: tuple[float, float]) -> list[str]:
    """The cache modes of one size, as printed rows (``x no-cache`` against ``base``)."""
    from robustbench_runner.tables.cache import cache_path

    cache_path(sweep).unlink(missing_ok=True)
    rows = []
    for mode in ("cold", "warm", "warm 1%"):
        changed = touch_runs(sweep, 0.01) if mode == "warm 1%" else 0
        dest = out.parent / f"{out.name}-{mode.replace(' ', '').replace('%', 'pct')}"
        sec, mib, _ = time_tables(sweep, dest, table, False, extra=())
        if not same_tables(out, dest):
            raise SystemExit(f"tables with the cache ({mode}) differ from --no-cache: {dest} vs {out}")
        size = cache_path(sweep).stat().st_size / 2**20
        note = f"{changed} runs re-read" if changed else ""
        rows.append(f"{n:>7}  {mode:<9}{sec:>9.2f}{mib:>10.0f}{sec / base[0]:>13.3f}{mib / base[1]:>12.2f}{size:>10.1f}  {note}")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000")
    p.add_argument("--table", default="summary", help="rbr-tables --table (default: summary)")
    p.add_argument("--root", default=None, help="work folder (default: a temporary one, removed afterwards)")
    p.add_argument("--reuse", action="store_true", help="keep the synthetic sweeps under --root and reuse those already there")
    p.add_argument("--profile", action="store_true", help="cProfile the largest size")
    p.add_argument("--tiny", action="store_true", help="20 and 40 runs")
    args = p.parse_args(argv)
    if args.reuse and not args.root:
        p.error("--reuse needs --root")
    sizes = [20, 40] if args.tiny else [int(s) for s in args.sizes.split(",")]
    root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="rbr-bench-tables-"))
    try:
        template = smoke_run(root)
        rows_per_run = len(pd.read_csv(template / "metrics.csv"))
        print(f"template run: {template} ({rows_per_run} metrics rows); table {args.table}; python {sys.version.split()[0]}")
        print(f"{'runs':>7}{'make s':>9}{'rbr-tables s':>14}{'ms/run':>9}{'peak MiB':>10}{'x linear (time)':>17}{'x linear (MiB)':>16}   (--no-cache)")
        prev = None
        cached: list[str] = []
        for n in sizes:
            sweep = root / "sweeps" / f"bench_{n}"
            ready = args.reuse and (sweep.is_dir() and sum(1 for d in sweep.iterdir() if (d / "DONE").exists()) == n)
            t_make = 0.0 if ready else make_sweep(template, sweep, n)
            out = root / "tables" / str(n)
            sec, mib, err = time_tables(sweep, out, args.table, args.profile and n == max(sizes))
            growth_t = growth_m = ""
            if prev is not None:
                k = n / prev[0]
                growth_t, growth_m = f"{sec / prev[1] / k:.2f}", f"{mib / prev[2] / k:.2f}"
            print(f"{n:>7}{t_make:>9.1f}{sec:>14.2f}{1000 * sec / n:>9.2f}{mib:>10.0f}{growth_t:>17}{growth_m:>16}", flush=True)
            if n == max(sizes):
                costs = per_run_costs(sweep)
                print("per-run read costs (ms/run, 50 runs): " + "; ".join(f"{k} {v:.2f}" for k, v in costs.items()))
                last = (n, sec, costs)
            if args.profile and n == max(sizes):
                print(f"\n-- cProfile of rbr-tables over {n} runs (cumulative):\n{err}")
            cached += cache_rows(sweep, out, args.table, n, (sec, mib))
            prev = (n, sec, mib)
            if not args.reuse:
                shutil.rmtree(sweep)
        n, sec, costs = last
        for target in (10_000, 100_000):
            if target > n:
                print(f"linear extrapolation from {n} runs (not measured): {target} runs ~ {sec * target / n:.0f} s")
        print("\nwith the sweep cache (x no-cache: over the --no-cache call of the same size; tables identical to it):")
        print(f"{'runs':>7}  {'mode':<9}{'seconds':>9}{'peak MiB':>10}{'x no-cache s':>13}{'x no-cache MiB':>15}{'cache MiB':>10}")
        print("\n".join(cached))
    finally:
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
