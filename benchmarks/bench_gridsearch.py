"""GridSearchCV over ranks with n_jobs=1 and n_jobs=2: wall time and torch threads per worker.

joblib's default (loky) backend starts its workers with OMP_NUM_THREADS = cpu_count // n_jobs, and torch, imported
fresh in each worker, sizes its intra-op pool from it: two workers on two cores use one thread each, so the cores
are not oversubscribed. This script measures it.

Usage::

    python benchmarks/bench_gridsearch.py
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import torch
from joblib import Parallel, delayed
from sklearn.model_selection import GridSearchCV

from sklearn_lowrank import LowRankRNNRegressor, one_standard_error_rule
from sklearn_lowrank.datasets import make_low_rank_teacher


def _threads(_):
    import torch as worker_torch

    return os.getpid(), worker_torch.get_num_threads()


def main():
    data = make_low_rank_teacher(n_units=150, rank=2, n_inputs=2, n_trials=150, n_timesteps=50, random_state=0)
    w = sys.stdout.write
    w(f"{os.cpu_count()} cores; torch threads in the parent: {torch.get_num_threads()}\n")
    w(f"{'n_jobs':>6}{'wall (s)':>10}{'best rank':>11}{'torch threads per worker':>27}\n")
    for n_jobs in (1, 2):
        threads = sorted(set(t for _, t in Parallel(n_jobs=n_jobs)(delayed(_threads)(i) for i in range(4))))
        search = GridSearchCV(LowRankRNNRegressor(random_state=0), {"rank": [1, 2, 3, 4]}, cv=3, n_jobs=n_jobs,
                              refit=one_standard_error_rule)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(data.X, data.y)
        w(f"{n_jobs:>6}{time.perf_counter() - start:>10.1f}{search.best_params_['rank']:>11}{str(threads):>27}\n")


if __name__ == "__main__":
    main()
