"""Benchmark: classification sample robustness (paper samplerob, algorithm 2) vs scikit-learn brute force.

Data are CIFAR-10 shaped by default (50,000 x 3072 float32, uniform in [0, 1], 10 random
labels). Both methods run in the same process, one after the other:

* ours: ``robustbench_runner.papers.samplerob.sample_robustness.sample_robustness`` (blocked float32
  GEMM search with an exact float64 re-check of the candidates);
* reference: for each class c, ``NearestNeighbors(n_neighbors=1, algorithm="brute")`` fitted on
  all points not in c and queried with the points of c; R = r / (r + 1).

Prints both wall times and process CPU times (all threads; less sensitive than wall time to
other jobs sharing the machine), their ratios and the largest absolute difference between the two R
vectors (the reference computes distances through scikit-learn's own chunked expansion, so tiny
differences are expected; ours are exact float64 distances).

    .venv/bin/python scripts/bench_sample_robustness.py            # full size
    .venv/bin/python scripts/bench_sample_robustness.py --n 10000  # smaller
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

from robustbench_runner.papers.samplerob.sample_robustness import sample_robustness


def sklearn_reference(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """R = r / (r + 1) with r from scikit-learn's brute-force 1-NN among the other classes."""
    reach = np.empty(len(x))
    for c in np.unique(labels):
        inside = labels == c
        knn = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(x[~inside])
        distance, _ = knn.kneighbors(x[inside])
        reach[inside] = distance[:, 0]
    return reach / (reach + 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="number of samples")
    parser.add_argument("--d", type=int, default=3072, help="feature dimension")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--block-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-reference", action="store_true", help="time ours only")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    x = rng.random((args.n, args.d), dtype=np.float32)
    labels = rng.integers(0, args.classes, size=args.n)
    print(
        f"data: {args.n} x {args.d} float32 uniform [0, 1], {args.classes} classes; "
        f"device {args.device}; torch threads {torch.get_num_threads()}"
    )

    start, cpu_start = time.perf_counter(), time.process_time()
    ours = sample_robustness(x, labels, device=args.device, block_size=args.block_size)
    t_ours, cpu_ours = time.perf_counter() - start, time.process_time() - cpu_start
    print(
        f"ours:    wall {t_ours:8.2f} s  cpu {cpu_ours:8.2f} s  "
        f"R in [{ours.min():.6f}, {ours.max():.6f}]"
    )
    if args.skip_reference:
        return

    start, cpu_start = time.perf_counter(), time.process_time()
    reference = sklearn_reference(x, labels)
    t_ref, cpu_ref = time.perf_counter() - start, time.process_time() - cpu_start
    print(
        f"sklearn: wall {t_ref:8.2f} s  cpu {cpu_ref:8.2f} s  "
        f"R in [{reference.min():.6f}, {reference.max():.6f}]"
    )
    print(f"speed-up (sklearn / ours): wall {t_ref / t_ours:.2f}x, cpu {cpu_ref / cpu_ours:.2f}x")
    print(f"max |R_ours - R_sklearn|: {np.abs(ours - reference).max():.3e}")


if __name__ == "__main__":
    main()
