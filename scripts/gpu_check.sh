#!/usr/bin/env bash
# The GPU check: one command for a person with one CUDA GPU (`make test-gpu` runs the gpu-marked
# tests, then this script; budget: under 8 minutes on one recent GPU).
#   1. one PGD-10 AT epoch of ResNet-18 on 10,000 CIFAR-shaped synthetic images: the official
#      TRADES/MAIL-style loop, ours in fp32 (deterministic on and off), channels_last, bf16
#      autocast and torch.compile (each figure, its speed-up and peak memory; every row warmed
#      up on its timed shapes and precision), then data.on_gpu=true vs the DataLoader
#      (scripts/bench_gpu.py);
#   2. the peer benchmark (scripts/bench_peers.py) on CUDA, both models.
# It prints one summary table and writes it to $OUT_CSV (default gpu_check.csv), and exits non-zero,
# naming the reason, when any step or row failed or a figure is not a finite number
# (scripts/gpu_check_summary.py); a failing row never stops the other rows.
#   scripts/gpu_check.sh            # needs CUDA
#   scripts/gpu_check.sh --tiny     # CPU, seconds (section 1 only, tiny sizes): proves it runs
set -uo pipefail   # no -e: a failing step is reported, the others still run, the exit is non-zero
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT_CSV=${OUT_CSV:-gpu_check.csv}
TINY=0
[ "${1:-}" = "--tiny" ] && TINY=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() { echo "gpu_check: $*" >&2; status=1; }

if [ "$TINY" = 1 ]; then
  "$PY" scripts/bench_gpu.py --tiny --csv "$tmp/gpu.csv" || fail "scripts/bench_gpu.py exited $? (its FAILED rows are above)"
  echo "peers: not run with --tiny (scripts/bench_peers.py --tiny is exercised on its own)"
else
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check.sh: no CUDA device (use --tiny on a CPU)')" || exit 2
  "$PY" scripts/bench_gpu.py --device cuda --csv "$tmp/gpu.csv" || fail "scripts/bench_gpu.py exited $? (its FAILED rows are above)"
  PEER_PY="$PY"
  [ -x .venv-bench/bin/python ] || "$PY" scripts/bench_peers.py --setup || echo "peers: .venv-bench could not be created; running with the peers importable here"
  [ -x .venv-bench/bin/python ] && PEER_PY=.venv-bench/bin/python
  "$PEER_PY" scripts/bench_peers.py --device cuda --csv "$tmp/peers.csv" --root "$tmp/peer_runs" || fail "scripts/bench_peers.py exited $? (its FAILED rows are above)"
fi

# one summary table + CSV; it exits 1 on any FAILED row or non-finite figure, naming each
"$PY" scripts/gpu_check_summary.py "$tmp" "$OUT_CSV" || status=1
[ "$status" = 0 ] || echo "gpu_check: FAILED (see the lines above)" >&2
exit "$status"
