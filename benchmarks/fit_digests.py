"""Digests of small seeded fits, to show that a refactoring leaves results bit for bit unchanged.

Run it with two checkouts of the package on the path and compare the tables::

    PYTHONPATH=/path/to/before python benchmarks/fit_digests.py > before.txt
    PYTHONPATH=/path/to/after python benchmarks/fit_digests.py > after.txt
    diff before.txt after.txt

Each row fits one configuration on one CPU thread (int random_state: CPU fits are bit-identical) and prints the
first 16 hex digits of the SHA-256 of its fitted arrays and predictions, with its loss after the last epoch.
"""

import hashlib
import warnings

import numpy as np
import torch

from sklearn_lowrank import GaussianMixtureRNN, LowRankRNNRegressor
from sklearn_lowrank.datasets import make_context_dependent_task, make_low_rank_teacher, make_spiking_teacher
from sklearn_lowrank.inspection import population_labels


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes())
    return h.hexdigest()[:16]


def _fitted(est, X):
    names = sorted(k for k in vars(est) if k.endswith("_") and not k.startswith("_") and k != "module_"
                   and isinstance(getattr(est, k), np.ndarray) and getattr(est, k).dtype != object)
    return [getattr(est, k) for k in names] + [est.predict(X), est.loss_curve_]


def _rows():
    teacher = make_low_rank_teacher(n_units=30, rank=2, n_inputs=2, n_trials=40, n_timesteps=25, random_state=0)
    X, y = teacher.X, teacher.y
    y_nan = y.copy()
    y_nan[:, :5] = np.nan  # an unobserved pre-period
    y_nan[::3, :, ::4] = np.nan  # neurons missing in some trials
    spikes = make_spiking_teacher(n_neurons=24, n_conditions=4, n_trials_per_condition=6, n_timesteps=25,
                                  random_state=0)
    X_task, y_task, _ = make_context_dependent_task(n_trials=32, dt=50.0, random_state=0)
    common = {"max_iter": 15, "random_state": 0}
    yield "identity, rank 2", LowRankRNNRegressor(2, **common), X, y
    yield "tanh, NaN, rank 2", LowRankRNNRegressor(2, output_activation="tanh", **common), X, np.tanh(y_nan)
    yield "full rank", LowRankRNNRegressor(None, **common), X, y
    yield "poisson, rank 2", LowRankRNNRegressor(2, loss="poisson", **common), spikes.X, spikes.y
    yield "linear readout, task", LowRankRNNRegressor(1, n_units=32, readout="linear", **common), X_task, y_task
    yield "mixture", GaussianMixtureRNN(2, rank=1, n_units=32, **common), X_task, y_task
    yield "mixture, poisson", GaussianMixtureRNN(2, rank=1, n_units=32, loss="poisson", **common), spikes.X, spikes.y


def main():
    torch.set_num_threads(1)
    print(f"{'configuration':<28} {'digest':<16} {'last loss':>12}")
    task_net = None
    for name, est, X, y in _rows():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        print(f"{name:<28} {_digest(*_fitted(est, X)):<16} {est.loss_curve_[-1]:>12.6g}")
        if name == "linear readout, task":
            task_net, X_task = est, X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its trained x0 is not part of the mixture: not the point here
        mix, labels = GaussianMixtureRNN.from_network(task_net, n_components=2, random_state=0)
    sampled = mix.sample_network(n_units=50, random_state=1)
    digest = _digest(mix.means_, mix.covariances_, labels, *_fitted(sampled, X_task))
    print(f"{'from_network, sample':<28} {digest:<16}")
    sym, V = population_labels(task_net, 2, random_state=0)
    free, _ = population_labels(task_net, 2, symmetric=False, random_state=0)
    print(f"{'population_labels':<28} {_digest(sym, free, V):<16}")


if __name__ == "__main__":
    main()
