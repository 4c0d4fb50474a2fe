"""Wall time of one fit against ``n_threads``, on a quiet machine and beside a process busy on one core.

torch runs each operation on one thread per core by default. When another process keeps one core busy, a fit
with as many threads as cores waits at every operation for the thread that shares the busy core; ``n_threads=1``
(or ``OMP_NUM_THREADS=1``) avoids that. The busy process is ``yes > /dev/null``, started and stopped by this
script.

Workload: a rank-2 teacher of 100 units, 2 inputs, 100 trials x 50 steps (states), fitted by
``LowRankRNNRegressor(rank=2, max_iter=30, tol=0)`` (30 epochs, no early stop). Each row is the median of
``--repeats`` fits in this process (after one warm-up fit).

Usage::

    python benchmarks/bench_threads.py                # quiet and busy, n_threads in (None, 1, 2)
    python benchmarks/bench_threads.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import warnings

import numpy as np
import torch

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import make_low_rank_teacher


def _fit_time(X, y, n_threads) -> float:
    est = LowRankRNNRegressor(rank=2, max_iter=30, tol=0.0, n_threads=n_threads, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    data = make_low_rank_teacher(n_units=100, rank=2, n_inputs=2, n_trials=100, n_timesteps=50, random_state=0)
    X, y = data.X, data.y
    _fit_time(X, y, 1)  # warm-up: the first optimiser of a process imports torch._dynamo
    default = torch.get_num_threads()
    print(f"cores: {os.cpu_count()}, torch default threads: {default}, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'machine':<26} {'n_threads':>9} {'torch threads':>13} {'fit time (s)':>12}")
    for busy in (False, True):
        other = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if busy else None
        try:
            for n_threads in (None, 1, 2):
                times = [_fit_time(X, y, n_threads) for _ in range(args.repeats)]
                label = "one core busy (yes)" if busy else "no extra load"
                used = default if n_threads is None else n_threads
                print(f"{label:<26} {str(n_threads):>9} {used:>13} {np.median(times):>12.2f}", flush=True)
        finally:
            if other is not None:
                other.terminate()
                other.wait()


if __name__ == "__main__":
    main()
