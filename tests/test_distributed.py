"""Grid search on a real dask.distributed cluster through joblib's dask backend (the ``dist`` extra).

Two worker processes with one thread each: the set-up of a cluster job on a laptop's worth of cores. dask's nanny
starts each worker process with OMP_NUM_THREADS=MKL_NUM_THREADS=1, so torch in a worker uses one thread and the
workers do not oversubscribe the cores; the test checks it on the workers themselves.
"""

import logging
import time
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import make_low_rank_teacher

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

N_WORKERS = 2


def _torch_threads():
    import os

    import torch

    return torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")


@pytest.fixture(scope="module")
def client():
    start = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=N_WORKERS, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    client.wait_for_workers(N_WORKERS, timeout=120)
    client.startup_seconds = time.perf_counter() - start
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_workers_run_torch_with_one_thread(client):
    workers = client.scheduler_info()["workers"]
    assert len(workers) == N_WORKERS
    assert all(w["nthreads"] == 1 for w in workers.values())
    threads = client.run(_torch_threads)  # on every worker
    assert len(threads) == N_WORKERS
    assert all(n == 1 for n, _ in threads.values()), threads


def test_grid_search_on_dask_finds_the_serial_best_rank_and_scores(client):
    # A rank-2 teacher: the search over rank x random_state must pick rank 2, as the serial search does.
    X, y = make_low_rank_teacher(n_units=20, rank=2, n_inputs=2, n_trials=12, n_timesteps=10, random_state=0,
                                 return_X_y=True)
    estimator = LowRankRNNRegressor(n_units=20, max_iter=5, random_state=0)
    grid = {"rank": [1, 2, 3], "random_state": [0, 1]}
    search = GridSearchCV(estimator, grid, cv=KFold(3), n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = clone(search).fit(X, y)
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            on_dask = clone(search).set_params(n_jobs=-1).fit(X, y)
        seconds = time.perf_counter() - start
    print(f"\ndask: {N_WORKERS} workers x 1 thread, cluster start {client.startup_seconds:.1f} s, search "
          f"{seconds:.1f} s, {len(on_dask.cv_results_['params'])} candidates x 3 folds, best rank "
          f"{on_dask.best_params_['rank']}")
    assert on_dask.best_params_ == serial.best_params_
    assert on_dask.best_params_["rank"] == serial.best_params_["rank"] == 2
    for key in ["split0_test_score", "split1_test_score", "split2_test_score", "mean_test_score"]:
        np.testing.assert_array_equal(on_dask.cv_results_[key], serial.cv_results_[key])
    np.testing.assert_array_equal(on_dask.predict(X), serial.predict(X))
