"""Co-smoothing: predicting held-out neurons from the latent trajectories of a network fitted to the others."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import PoissonRegressor
from sklearn.utils import Bunch

from .._validation import _as_array
from ..metrics import bits_per_spike

__all__ = ["co_smoothing", "latent_coordinates"]


def latent_coordinates(estimator, X, initial_state=None) -> np.ndarray:
    """Coordinates of a fitted low-rank network's states in span(m, input weights), per trial and step.

    The states of a low-rank network stay in the span of the columns of ``m_`` and of the input weights
    (started there), so these ``rank + n_inputs`` numbers describe each state completely; their first ``rank``
    columns are the recurrent latents and the others the low-pass filtered inputs.

    Parameters
    ----------
    estimator : fitted LowRankRNNRegressor with an integer rank
    X : array-like of shape (n_trials, n_timesteps, n_inputs)
    initial_state : array-like of shape (n_units,) or (n_trials, n_units), optional
        Where each trial starts (e.g. ``initial_states_`` of a fit with ``initial_state="per_trial"``, or
        :meth:`~sklearn_lowrank.LowRankRNNRegressor.infer_initial_state`); the shared state by default.

    Returns
    -------
    coordinates : ndarray of shape (n_trials, n_timesteps, rank + n_inputs)
        Least-squares coordinates of ``predict_states(X)`` on the basis [m_, input_weights_^T].

    Examples
    --------
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> from sklearn_lowrank.inspection import latent_coordinates
    >>> X, y = make_low_rank_teacher(n_units=20, rank=1, n_trials=8, n_timesteps=10, random_state=0,
    ...                              return_X_y=True)
    >>> est = LowRankRNNRegressor(rank=1, max_iter=2, random_state=0).fit(X, y)
    >>> latent_coordinates(est, X).shape
    (8, 10, 3)
    """
    if getattr(estimator, "rank", None) is None or not hasattr(estimator, "m_"):
        raise ValueError("estimator must be a fitted LowRankRNNRegressor with an integer rank (it has no m_).")
    basis = np.concatenate([estimator.m_, estimator.input_weights_.T], axis=1)
    states = np.asarray(estimator.predict_states(X, initial_state=initial_state), dtype=np.float64)
    coef, *_ = np.linalg.lstsq(basis, states.reshape(-1, states.shape[-1]).T, rcond=None)
    return coef.T.reshape(states.shape[:-1] + (basis.shape[1],))


def co_smoothing(estimator, X_train, y_train, X_test, y_test, held_out, *, alpha=1e-4, max_iter=300):
    """Fit on held-in neurons, predict held-out neurons from the latent trajectories, score in bits per spike.

    The co-smoothing test of the Neural Latents Benchmark (Pei et al. 2021): a clone of ``estimator`` is fitted
    to the held-in neurons of the training trials; a Poisson GLM per held-out neuron (``PoissonRegressor``, log
    link) maps the fitted network's :func:`latent_coordinates` to that neuron's counts on the training trials; on
    the test trials, where the held-out neurons are not used, the network's latents give their rates, scored by
    :func:`~sklearn_lowrank.metrics.bits_per_spike`.

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Unfitted template with an integer rank, usually with ``loss="poisson"``.
    X_train : array-like of shape (n_trials, n_timesteps, n_inputs)
    y_train : array-like of shape (n_trials, n_timesteps, n_neurons)
        Spike counts per bin; NaN for missing.
    X_test : array-like of shape (n_test_trials, n_timesteps_test, n_inputs)
    y_test : array-like of shape (n_test_trials, n_timesteps_test, n_neurons)
        Only its held-out neurons are used (to score).
    held_out : array-like of int or bool of shape (n_neurons,)
        Indices (or a mask) of the held-out neurons.
    alpha : float, default=1e-4
        L2 penalty of the GLMs.
    max_iter : int, default=300
        Iterations of each GLM's solver.

    Returns
    -------
    result : Bunch
        ``bits_per_spike`` (float, on the held-out neurons of the test trials), ``rates`` (n_test_trials,
        n_timesteps_test, n_held_out) predicted expected counts, ``estimator`` (the fitted clone), ``coef``
        (n_held_out, rank + n_inputs) and ``intercept`` (n_held_out,) of the GLMs, ``held_in`` and ``held_out``
        (index arrays).

    Examples
    --------
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.datasets import make_spiking_teacher
    >>> from sklearn_lowrank.inspection import co_smoothing
    >>> d = make_spiking_teacher(n_neurons=30, n_conditions=6, n_trials_per_condition=5, n_timesteps=30,
    ...                          random_state=0)
    >>> est = LowRankRNNRegressor(rank=2, loss="poisson", max_iter=5, random_state=0)
    >>> res = co_smoothing(est, d.X[:25], d.y[:25], d.X[25:], d.y[25:], held_out=range(20, 30))
    >>> res.rates.shape, res.coef.shape
    ((5, 30, 10), (10, 4))
    """
    y_train = np.asarray(_as_array(y_train, "y_train"), dtype=np.float64)
    y_test = np.asarray(_as_array(y_test, "y_test"), dtype=np.float64)
    if y_train.ndim != 3 or y_test.ndim != 3 or y_train.shape[-1] != y_test.shape[-1]:
        raise ValueError("y_train and y_test must be 3D (n_trials, n_timesteps, n_neurons) with the same neurons; "
                         f"got shapes {y_train.shape} and {y_test.shape}.")
    n_neurons = y_train.shape[-1]
    held = np.asarray(list(held_out) if not hasattr(held_out, "__array__") else held_out)
    if held.dtype == bool:
        if held.shape != (n_neurons,):
            raise ValueError(f"held_out as a mask must have shape ({n_neurons},); got {held.shape}.")
        held = np.flatnonzero(held)
    held = np.unique(held.astype(np.int64))
    if held.size == 0 or held.size >= n_neurons or held.min() < 0 or held.max() >= n_neurons:
        raise ValueError(f"held_out must name between 1 and {n_neurons - 1} of the {n_neurons} neurons (indices in "
                         f"[0, {n_neurons})); got {held.tolist()[:10]}.")
    held_in = np.setdiff1d(np.arange(n_neurons), held)
    est = clone(estimator).fit(X_train, y_train[..., held_in])
    z_train, z_test = latent_coordinates(est, X_train), latent_coordinates(est, X_test)
    feats_train = z_train.reshape(-1, z_train.shape[-1])
    feats_test = z_test.reshape(-1, z_test.shape[-1])
    # Standardised regressors: one GLM penalty fits latents of any scale.
    mean, std = feats_train.mean(axis=0), feats_train.std(axis=0) + 1e-12
    feats_train, feats_test = (feats_train - mean) / std, (feats_test - mean) / std
    counts = y_train[..., held].reshape(-1, held.size)
    coef = np.zeros((held.size, feats_train.shape[1]))
    intercept = np.zeros(held.size)
    for j in range(held.size):
        seen = ~np.isnan(counts[:, j])
        glm = PoissonRegressor(alpha=alpha, max_iter=max_iter).fit(feats_train[seen], counts[seen, j])
        coef[j], intercept[j] = glm.coef_, glm.intercept_
    rates = np.exp(feats_test @ coef.T + intercept).reshape(z_test.shape[:-1] + (held.size,))
    coef_raw = coef / std  # on the unstandardised coordinates
    return Bunch(bits_per_spike=bits_per_spike(y_test[..., held], rates), rates=rates, estimator=est,
                 coef=coef_raw, intercept=intercept - coef_raw @ mean, held_in=held_in, held_out=held)
