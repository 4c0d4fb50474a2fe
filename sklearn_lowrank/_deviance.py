"""Poisson deviances of spike counts per neuron: the arithmetic that the count scores of ``metrics`` share.

:func:`~sklearn_lowrank.metrics.bits_per_spike`, :func:`~sklearn_lowrank.metrics.d2_poisson_score_trials` and
:func:`~sklearn_lowrank.metrics.d2_poisson_per_feature` are sums and ratios of these per-neuron terms.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from ._ragged import read_trial_pair

__all__ = ["poisson_deviances"]


def _count_arrays(y_counts, predicted_rates):
    """float64 copies of counts and rates of the same shape; rates must be >= 0 where counts are observed."""
    y, mu = read_trial_pair(y_counts, predicted_rates, ("y_counts", "predicted_rates"))
    if y.shape != mu.shape:
        raise ValueError(f"y_counts and predicted_rates have different shapes: {y.shape} and {mu.shape}.")
    if y.ndim == 2:  # (n_samples, n_neurons)
        y, mu = y[None], mu[None]
    if y.ndim != 3:
        raise ValueError(f"y_counts must have shape (n_trials, n_timesteps, n_neurons); got {y.shape}.")
    obs = ~np.isnan(y)
    if np.any(y[obs] < 0):
        raise ValueError("y_counts has negative entries; pass spike counts per bin (>= 0).")
    if not np.all(np.isfinite(mu[obs])) or np.any(mu[obs] < 0):
        raise ValueError("predicted_rates must be finite and >= 0 (expected counts per bin) wherever y_counts is "
                         "observed; e.g. the predict() of an estimator fitted with loss='poisson'.")
    return y, mu, obs


def poisson_deviances(y_counts, predicted_rates, sample_weight):
    """Per-neuron Poisson deviances of the rates and of the null model, and the spike totals, NaN counts left out.

    Returns ``(model, null, spikes)``, each of shape (n_neurons,): the (trial-weighted) deviance of
    ``predicted_rates``, that of each neuron's weighted mean count predicted everywhere, and the weighted counts
    summed. Checks that counts are >= 0 and rates finite and >= 0 where counts are observed.
    """
    y, mu, obs = _count_arrays(y_counts, predicted_rates)
    n_trials = y.shape[0]
    w = np.ones(n_trials) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n_trials,):
        raise ValueError(f"sample_weight must have shape ({n_trials},), got {w.shape}.")
    wo = w[:, None, None] * obs
    y0 = np.where(obs, y, 0.0)
    total = wo.sum(axis=(0, 1))
    mean = np.where(total > 0, (wo * y0).sum(axis=(0, 1)) / np.maximum(total, 1e-300), 0.0)

    def deviance(pred):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(wo * 2.0 * (xlogy(y0, y0) - xlogy(y0, pred) - y0 + pred), axis=(0, 1))

    return deviance(np.where(obs, mu, 0.0)), deviance(np.broadcast_to(mean, y.shape)), (wo * y0).sum(axis=(0, 1))
