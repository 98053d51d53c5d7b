"""The summary of ``scripts/gpu_check.sh``: one table and one CSV from the rows of
``scripts/bench_gpu.py`` (``<tmp>/gpu.csv``) and ``scripts/bench_peers.py`` (``<tmp>/peers.csv``),
and the verdict: exit 1, naming each, when a row failed or holds a figure that is not a
finite number (a speed-up that was not measured is printed as '-', never as a number).

    python scripts/gpu_check_summary.py <tmp dir> <out csv>
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

COLUMNS = ["device", "section", "variant", "seconds", "images_per_s", "speedup", "peak_mem_mib", "note"]


def number(text: str) -> float | None:
    """A CSV figure as a float; None when it is empty or '-' (not measured)."""
    text = (text or "").strip()
    if text in ("", "-"):
        return None
    return float(text)  # 'nan' and 'inf' parse; a non-number raises (a damaged file)


def collect(tmp: Path) -> tuple[list[dict], list[str]]:
    """The summary rows and the problems found (empty: everything measured)."""
    problems: list[str] = []
    gpu = tmp / "gpu.csv"
    if not gpu.exists():
        return [], [f"{gpu.name} was not written: scripts/bench_gpu.py stopped before its table"]
    rows = list(csv.DictReader(gpu.open()))
    device = rows[0]["device"] if rows else "?"
    for r in rows:
        if r["note"].startswith("FAILED"):
            problems.append(f"{r['section']} / {r['variant']}: {r['note']}")
            continue
        for key in ("seconds", "speedup"):
            v = number(r[key])
            if v is not None and not math.isfinite(v):
                problems.append(f"{r['section']} / {r['variant']}: {key} is {r[key]}")
        if number(r["seconds"]) is None:
            problems.append(f"{r['section']} / {r['variant']}: no time measured")
    peers = tmp / "peers.csv"
    if peers.exists():
        for r in csv.DictReader(peers.open()):
            label = f"peers {r['model']} / {r['attack']} / {r['library']}"
            if r.get("failed"):
                problems.append(f"{label}: FAILED {r['failed']}")
                rows.append({"device": device, "section": f"peers {r['model']}", "variant": f"{r['attack']} / {r['library']}",
                             "seconds": "-", "images_per_s": "-", "speedup": "-", "peak_mem_mib": "", "note": f"FAILED {r['failed']}"})  # fmt: skip
                continue
            if not r["seconds"]:
                continue  # skipped by design (the library has no such attack): its reason is in the CSV
            sec, speed = number(r["seconds"]), number(r["time_vs_ours"])
            for key, v in (("seconds", sec), ("time_vs_ours", speed)):
                if v is not None and not math.isfinite(v):
                    problems.append(f"{label}: {key} is {v}")
            rows.append({"device": device, "section": f"peers {r['model']}", "variant": f"{r['attack']} / {r['library']}",
                         "seconds": r["seconds"], "images_per_s": f"{int(r['n']) / sec:.2f}" if sec else "-",
                         "speedup": r["time_vs_ours"] or "-", "peak_mem_mib": "",
                         "note": f"robust acc {r['robust_acc']} (speed-up of ours = this library's s / ours)"})  # fmt: skip
    return rows, problems


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print("usage: python scripts/gpu_check_summary.py <tmp dir> <out csv>   (scripts/gpu_check.sh calls it)", file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    tmp, out = Path(argv[0]), argv[1]
    rows, problems = collect(tmp)
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    device = rows[0]["device"] if rows else "?"
    print(f"\n== gpu_check summary ({device})")
    print(f"{'section':<18} {'variant':<50} {'seconds':>8} {'speed-up':>9} {'peak MiB':>9}  note")
    for r in rows:
        print(f"{r['section']:<18} {r['variant']:<50} {r['seconds'] or '-':>8} {r['speedup'] or '-':>9} {r['peak_mem_mib'] or '-':>9}  {r['note']}")
    print(f"wrote {out}")
    for p in problems:
        print(f"gpu_check: FAILED {p}", file=sys.stderr)
    if problems:
        print(f"gpu_check: {len(problems)} row(s) failed or were not measured (above); the check did not pass", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
