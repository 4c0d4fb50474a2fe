"""Per-unit connectivity loadings and their Gaussian mixtures.

The loading of unit i of a low-rank network is the vector (m_i, n_i, input weights of i, readout weights of i) whose
distribution :class:`~sklearn_lowrank.GaussianMixtureRNN` models. The mixture estimator, the choice of the number
of populations (:mod:`sklearn_lowrank.model_selection`) and the population analyses of
:mod:`sklearn_lowrank.inspection` all read loadings and fit mixtures to them through this module.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted

from ._core.network import LowRankRNN
from ._core.start import canonicalize_
from ._lowrank import LowRankRNNRegressor

__all__ = [
    "check_mixture_weights",
    "check_population_count",
    "cholesky_safe",
    "fit_loadings_mixture",
    "fitted_network",
    "network_loadings",
]


def cholesky_safe(covariances: np.ndarray, reg_covar: float) -> np.ndarray:
    """Cholesky factors of (P, d, d) covariances that are PSD up to rounding, never NaN.

    The matrix is symmetrised and ``reg_covar`` is added to the diagonal; should the factorisation still fail (an
    eigenvalue made slightly negative by rounding), the eigenvalues are clipped from below before factorising
    again.
    """
    covs = np.asarray(covariances, dtype=np.float64)
    covs = 0.5 * (covs + np.swapaxes(covs, -1, -2))
    d = covs.shape[-1]
    floor = max(float(reg_covar), 1e-10)
    out = np.empty_like(covs)
    for p, cov in enumerate(covs):
        cov = cov + reg_covar * np.eye(d)
        try:
            out[p] = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            vals, vecs = np.linalg.eigh(cov)
            cov = (vecs * np.maximum(vals, floor)) @ vecs.T
            out[p] = np.linalg.cholesky(0.5 * (cov + cov.T) + floor * 1e-3 * np.eye(d))
    return out


def fit_loadings_mixture(V, n_components, covariance_type, reg_covar, n_init, random_state) -> GaussianMixture:
    """The mixture of the loadings V (n_units, d) with the higher likelihood of two EM runs.

    EM from scikit-learn's default (k-means) start can stop in a poor local optimum on trained loadings, whose
    populations differ in variance more than in mean. A network is unchanged when a unit's loadings all flip sign,
    so the zero-mean mixture of the sign-symmetrised loadings [V, -V] is a natural second start; the unconstrained
    EM run from it keeps or improves its likelihood. The fit with the higher ``score(V)`` is kept.
    """
    common = {"covariance_type": covariance_type, "reg_covar": reg_covar, "random_state": random_state}
    default = GaussianMixture(n_components, n_init=n_init, **common).fit(V)
    d = V.shape[1]
    symmetric = GaussianMixture(n_components, means_init=np.zeros((n_components, d)), init_params="random",
                                n_init=n_init, max_iter=500, **common).fit(np.concatenate([V, -V]))
    refined = GaussianMixture(n_components, weights_init=symmetric.weights_, means_init=symmetric.means_,
                              precisions_init=symmetric.precisions_, **common).fit(V)
    return refined if refined.score(V) > default.score(V) else default


def check_mixture_weights(weights, n_components: int) -> np.ndarray:
    """Mixture proportions: uniform when None; otherwise positive, of length n_components, summing to 1."""
    if weights is None:
        return np.full(n_components, 1.0 / n_components)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (n_components,):
        raise ValueError(f"weights must have shape (n_components,) = ({n_components},); got {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"weights must be positive and finite; got {w.tolist()}.")
    if abs(w.sum() - 1.0) > 1e-6:
        raise ValueError(f"weights must sum to 1; they sum to {w.sum():.6g}. Normalise them first.")
    return w / w.sum()


def network_loadings(estimator) -> np.ndarray:
    """Per-unit loadings (m, n, I, w) of a fitted linear-readout LowRankRNNRegressor, shape (n_units, d)."""
    check_is_fitted(estimator, "module_")
    if getattr(estimator, "rank", None) is None:
        raise ValueError("estimator must be a low-rank network (rank is None); fit it with an integer rank.")
    if getattr(estimator, "readout", None) != "linear":
        raise ValueError(
            "estimator must have readout='linear': resampled networks need readout loadings w_out. Refit it "
            "with readout='linear' on task outputs."
        )
    return np.concatenate(
        [estimator.m_, estimator.n_, estimator.input_weights_.T, estimator.readout_weights_], axis=1
    ).astype(np.float64)


def check_population_count(n_components: int, n_units: int) -> None:
    """Every population needs at least one unit."""
    if n_components > n_units:
        raise ValueError(f"n_components={n_components} exceeds n_units={n_units}; every population needs units: "
                         "raise n_units or lower n_components.")


def fitted_network(weights, *, rank, alpha, output_activation, noise_std) -> LowRankRNNRegressor:
    """A fitted LowRankRNNRegressor (linear readout) holding the given weights (e.g. loadings drawn from a mixture),
    with m, n in canonical form and x0 = 0."""
    n_units = weights.m.shape[0]
    n_inputs = weights.input_weights.shape[0]
    n_outputs = weights.readout_weights.shape[1]
    est = LowRankRNNRegressor(rank, n_units=n_units, readout="linear", output_activation=output_activation,
                              alpha=alpha, noise_std=noise_std, init="random")
    module = LowRankRNN(n_units, n_inputs, n_outputs, rank, generator=torch.Generator().manual_seed(0),
                        alpha=alpha, readout="linear", output_activation=output_activation)
    with torch.no_grad():
        module.m.copy_(weights.m)
        module.n.copy_(weights.n)
        module.input_weights.copy_(weights.input_weights)
        module.initial_state.zero_()
        module.readout_weights.copy_(weights.readout_weights)
        module.readout_bias.copy_(weights.readout_bias)
    canonicalize_(module)
    est._adopt_module(module)
    return est
