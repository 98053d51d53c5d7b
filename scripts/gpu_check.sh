#!/usr/bin/env bash
# The GPU check: one command for a person with one CUDA GPU (`make test-gpu` runs the gpu-marked
# tests, then this script; budget: under 8 minutes on one recent GPU).
#   1. one PGD-10 AT epoch of ResNet-18 on 10,000 CIFAR-shaped synthetic images: the official
#      TRADES/MAIL-style loop, ours in fp32, channels_last, bf16 autocast and torch.compile
#      (each figure, its speed-up and peak memory), then data.on_gpu=true vs the DataLoader
#      (scripts/bench_gpu.py);
#   2. the peer benchmark (scripts/bench_peers.py) on CUDA, both models.
# It prints one summary table and writes it to $OUT_CSV (default gpu_check.csv).
#   scripts/gpu_check.sh            # needs CUDA
#   scripts/gpu_check.sh --tiny     # CPU, seconds (section 1 only, tiny sizes): proves it runs
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT_CSV=${OUT_CSV:-gpu_check.csv}
TINY=0
[ "${1:-}" = "--tiny" ] && TINY=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$TINY" = 1 ]; then
  "$PY" scripts/bench_gpu.py --tiny --csv "$tmp/gpu.csv"
  echo "peers: not run with --tiny (scripts/bench_peers.py --tiny is exercised on its own)"
else
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check.sh: no CUDA device (use --tiny on a CPU)')"
  "$PY" scripts/bench_gpu.py --device cuda --csv "$tmp/gpu.csv"
  PEER_PY="$PY"
  [ -x .venv-bench/bin/python ] || "$PY" scripts/bench_peers.py --setup || echo "peers: .venv-bench could not be created; running with the peers importable here"
  [ -x .venv-bench/bin/python ] && PEER_PY=.venv-bench/bin/python
  "$PEER_PY" scripts/bench_peers.py --device cuda --csv "$tmp/peers.csv" --root "$tmp/peer_runs"
fi

# one summary table + CSV: section 1 rows as they are, peer rows as section "peers <model>"
"$PY" - "$tmp" "$OUT_CSV" <<'PYEOF'
import csv, sys
from pathlib import Path
tmp, out = Path(sys.argv[1]), sys.argv[2]
rows = list(csv.DictReader(open(tmp / "gpu.csv")))
device = rows[0]["device"] if rows else "?"
if (tmp / "peers.csv").exists():
    for r in csv.DictReader(open(tmp / "peers.csv")):
        if r["seconds"]:
            rows.append({"device": device, "section": f"peers {r['model']}", "variant": f"{r['attack']} / {r['library']}",
                         "seconds": r["seconds"], "images_per_s": f"{int(r['n']) / float(r['seconds']):.2f}",
                         "speedup": r["time_vs_ours"],
                         "peak_mem_mib": "", "note": f"robust acc {r['robust_acc']} (speed-up of ours = this library's s / ours)"})
cols = ["device", "section", "variant", "seconds", "images_per_s", "speedup", "peak_mem_mib", "note"]
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
print(f"\n== gpu_check summary ({device})")
print(f"{'section':<18} {'variant':<46} {'seconds':>8} {'speed-up':>9} {'peak MiB':>9}  note")
for r in rows:
    print(f"{r['section']:<18} {r['variant']:<46} {float(r['seconds']):>8.2f} {r['speedup']:>9} {r['peak_mem_mib']:>9}  {r['note']}")
print(f"wrote {out}")
PYEOF
