"""
Distributing a grid search with dask
====================================

A rank curve with several folds, or a search over rank, time constant and learning rate, is a set of independent
fits. scikit-learn runs them through joblib, and joblib can hand them to a `dask.distributed
<https://distributed.dask.org>`_ cluster: on a laptop a :class:`~distributed.LocalCluster` of a few worker
processes, on a compute cluster the workers of ``dask-jobqueue`` (SLURM, PBS...) or Kubernetes, with the same
code. Install the optional dependency with ``pip install "sklearn-lowrank[dist]"`` (or
``pip install "dask[distributed]"``).

Here the cluster runs two worker threads in this process (``processes=False``): it starts in a second, works
the same from a script, a notebook or this gallery, and torch releases the GIL while it computes. With
``processes=True`` (the default) each worker is a separate process, started by ``multiprocessing``'s "spawn":
then guard the script's top level with ``if __name__ == "__main__":``. Each fit uses one torch thread, so that
two workers on a two-core machine do not compete for the cores.
"""

# %%
import time
import warnings

import joblib
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_lowrank import LowRankRNNRegressor, one_standard_error_rule
from sklearn_lowrank.datasets import make_low_rank_teacher

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_low_rank_teacher(n_units=60, rank=2, n_inputs=2, n_trials=80, n_timesteps=30, random_state=0,
                             return_X_y=True)
param_grid = {"rank": [1, 2, 3], "alpha": [0.1, 0.2]}
search = GridSearchCV(LowRankRNNRegressor(max_iter=60, random_state=0), param_grid,
                      cv=KFold(3, shuffle=True, random_state=0),
                      refit=one_standard_error_rule, n_jobs=-1)

# %%
# A local cluster
# ---------------
# Two workers of one thread each; ``dashboard_address=None`` opens no web dashboard (pass ``":8787"`` to watch
# the tasks in a browser).
try:
    from dask.distributed import Client, LocalCluster
except ImportError:
    Client = None
    print("dask.distributed is not installed (pip install 'dask[distributed]'): running the search with "
          "joblib's own workers instead.")

torch_threads = torch.get_num_threads()
torch.set_num_threads(1)  # one thread per fit (restored at the end)
if Client is not None:
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    client = Client(cluster)
    print(f"{len(client.scheduler_info()['workers'])} workers")

# %%
# The search on the cluster
# -------------------------
# ``joblib.parallel_config(backend="dask")`` sends every fit of the search to the workers; nothing else
# changes.
start = time.perf_counter()
if Client is not None:
    with joblib.parallel_config(backend="dask"):
        search.fit(X, y)
else:
    search.fit(X, y)
elapsed = time.perf_counter() - start
print(f"{len(search.cv_results_['params']) * search.n_splits_} fits in {elapsed:.1f} s; "
      f"chosen: {search.best_params_}")

# %%
# The scores of every candidate, by rank and time constant:
res = search.cv_results_
fig, ax = plt.subplots(figsize=(4.8, 3.4), layout="constrained")
for alpha, marker in zip(param_grid["alpha"], ("o", "s")):
    rows = np.flatnonzero(np.asarray(res["param_alpha"], dtype=float) == alpha)
    ax.errorbar(np.asarray(res["param_rank"], dtype=int)[rows], res["mean_test_score"][rows],
                yerr=res["std_test_score"][rows] / np.sqrt(search.n_splits_), marker=marker, capsize=3,
                label=f"alpha = {alpha}")
ax.set(xlabel="rank", ylabel="held-out $R^2$", xticks=param_grid["rank"])
ax.legend(frameon=False)

# %%
# The teacher was simulated with ``alpha = 0.2``: at rank 2 and above the matching time constant scores best.
# With several parameters in the grid, the one-standard-error rule takes the smallest adequate rank and, among
# the candidates of that rank, the best score.
#
# Close the cluster when done (a ``with LocalCluster(...) as cluster, Client(cluster) as client:`` block does it
# for you).
if Client is not None:
    client.close()
    cluster.close()
torch.set_num_threads(torch_threads)

plt.show()
