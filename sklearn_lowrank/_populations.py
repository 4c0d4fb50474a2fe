"""Populations of a low-rank network: per-unit connectivity loadings and Gaussian mixtures fitted to them.

The loading of unit i of a low-rank network is the vector (m_i, n_i, input weights of i, readout weights of i) whose
distribution :class:`~sklearn_lowrank.GaussianMixtureRNN` models. The mixture estimator, the choice of the number
of populations (:mod:`sklearn_lowrank.model_selection`) and the population analyses of
:mod:`sklearn_lowrank.inspection` all read loadings and fit mixtures to them through this module. Everything here
is a function of arrays and of a fitted estimator's attributes (``m_``, ``n_``, ``input_weights_``,
``readout_weights_``): the module imports no estimator.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "check_mixture_weights",
    "check_population_count",
    "cholesky_safe",
    "fit_loadings_mixture",
    "network_loadings",
    "population_labels",
    "symmetric_mixture",
    "unit_loadings",
]


# ---------------------------------------------------------------------------------------------------------------
# Checks of mixture parameters
# ---------------------------------------------------------------------------------------------------------------


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



def check_population_count(n_components: int, n_units: int) -> None:
    """Every population needs at least one unit."""
    if n_components > n_units:
        raise ValueError(f"n_components={n_components} exceeds n_units={n_units}; every population needs units: "
                         "raise n_units or lower n_components.")


# ---------------------------------------------------------------------------------------------------------------
# Loadings of a fitted network
# ---------------------------------------------------------------------------------------------------------------


def unit_loadings(estimator, readout_weights=None) -> np.ndarray:
    """Per-unit loadings (m, n, I[, w]) of a fitted low-rank estimator, shape (n_units, d), float64.

    The estimator's own readout loadings ``readout_weights_`` are included when it has them (linear readout);
    ``readout_weights`` of shape (n_units,) or (n_units, n_outputs) are appended after them.
    """
    check_is_fitted(estimator, "module_")
    if not hasattr(estimator, "m_"):
        raise ValueError("estimator must be a fitted low-rank network (an integer rank): populations are defined "
                         "on its per-unit loadings (m, n, input and readout weights).")
    parts = [estimator.m_, estimator.n_, estimator.input_weights_.T]
    if getattr(estimator, "readout_weights_", None) is not None:
        parts.append(estimator.readout_weights_)
    if readout_weights is not None:
        w = np.asarray(readout_weights, dtype=np.float64)
        w = w[:, None] if w.ndim == 1 else w
        if w.ndim != 2 or w.shape[0] != estimator.n_units_:
            raise ValueError(f"readout_weights must have shape ({estimator.n_units_}, n_outputs); got "
                             f"{np.shape(readout_weights)}.")
        parts.append(w)
    return np.concatenate(parts, axis=1).astype(np.float64)


def network_loadings(estimator) -> np.ndarray:
    """Per-unit loadings (m, n, I, w) of a fitted linear-readout low-rank estimator, shape (n_units, d)."""
    check_is_fitted(estimator, "module_")
    if not hasattr(estimator, "m_"):
        raise ValueError("estimator must be a low-rank network (rank is None); fit it with an integer rank.")
    if not hasattr(estimator, "readout_weights_"):
        raise ValueError(
            "estimator must have readout='linear': resampled networks need readout loadings w_out. Refit it "
            "with readout='linear' on task outputs."
        )
    return unit_loadings(estimator)


# ---------------------------------------------------------------------------------------------------------------
# Gaussian mixtures of loadings
# ---------------------------------------------------------------------------------------------------------------


def symmetric_mixture(V, n_components, covariance_type="full", reg_covar=1e-6, n_init=1,
                      random_state=None) -> GaussianMixture:
    """The zero-mean mixture of the sign-symmetrised loadings [V, -V], V of shape (n_units, d).

    A network is unchanged when a unit's loadings all flip sign. With data symmetric under v -> -v and zero
    starting means, the responsibilities stay symmetric, so every M-step keeps the means at zero and EM fits the
    covariances only (a random start: k-means would break the symmetry).
    """
    gmm = GaussianMixture(n_components, covariance_type=covariance_type, reg_covar=reg_covar,
                          means_init=np.zeros((n_components, V.shape[1])), init_params="random", n_init=n_init,
                          max_iter=500, random_state=random_state)
    return gmm.fit(np.concatenate([V, -V]))


def fit_loadings_mixture(V, n_components, covariance_type, reg_covar, n_init, random_state) -> GaussianMixture:
    """The mixture of the loadings V (n_units, d) with the higher likelihood of two EM runs.

    EM from scikit-learn's default (k-means) start can stop in a poor local optimum on trained loadings, whose
    populations differ in variance more than in mean. The zero-mean mixture of the sign-symmetrised loadings
    (:func:`symmetric_mixture`) is a natural second start; the unconstrained EM run from it keeps or improves its
    likelihood. The fit with the higher ``score(V)`` is kept.
    """
    common = {"covariance_type": covariance_type, "reg_covar": reg_covar, "random_state": random_state}
    default = GaussianMixture(n_components, n_init=n_init, **common).fit(V)
    symmetric = symmetric_mixture(V, n_components, n_init=n_init, **common)
    refined = GaussianMixture(n_components, weights_init=symmetric.weights_, means_init=symmetric.means_,
                              precisions_init=symmetric.precisions_, **common).fit(V)
    return refined if refined.score(V) > default.score(V) else default


def population_labels(estimator, n_components=2, *, readout_weights=None, symmetric=True, n_init=5,
                      random_state=None):
    """Populations of a low-rank network: a Gaussian mixture fitted to its per-unit loadings.

    The loading of unit i is (m_i, n_i, input weights of i, readout weights of i), the vector whose distribution
    :class:`~sklearn_lowrank.GaussianMixtureRNN` models. A network fitted to activity (identity readout) has no
    readout loadings of its own; pass those of the network it models as ``readout_weights``.

    Because tanh is odd, flipping the sign of every loading of a unit (and of its state) leaves the network
    unchanged: loadings are defined up to a sign per unit. With ``symmetric=True`` the mixture is fitted to the
    sign-symmetrised sample (V and -V) with zero-mean components, as the populations of Dubreuil, Valente et al.
    (2022): populations then differ by their covariances, i.e. by how a unit's loadings go together (which input
    it relays, which cue modulates it), not by an arbitrary sign. ``symmetric=False`` fits an unconstrained
    mixture to V, the one ``GaussianMixtureRNN.from_network`` fits (same labels for the same random_state).

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted, with an integer rank.
    n_components : int, default=2
        Number of populations.
    readout_weights : array-like of shape (n_units, n_outputs), optional
        Extra readout loadings appended to each unit's loading vector.
    symmetric : bool, default=True
        Fit zero-mean components to the sign-symmetrised loadings (see above).
    n_init : int, default=5
        Restarts of EM.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    labels : ndarray of shape (n_units,)
        Population of each unit, 0 .. n_components - 1, ordered by decreasing population size.
    loadings : ndarray of shape (n_units, n_loadings)
        The loading vectors that were clustered.

    Examples
    --------
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> from sklearn_lowrank.inspection import population_labels
    >>> X, y = make_low_rank_teacher(n_units=20, rank=1, n_inputs=1, n_trials=8, n_timesteps=10,
    ...                              random_state=0, return_X_y=True)
    >>> est = LowRankRNNRegressor(rank=1, max_iter=0, random_state=0).fit(X, y)
    >>> labels, V = population_labels(est, 2, random_state=0)
    >>> labels.shape, V.shape
    ((20,), (20, 3))
    """
    V = unit_loadings(estimator, readout_weights)
    if not isinstance(n_components, Integral) or not 1 <= n_components <= V.shape[0]:
        raise ValueError(f"n_components must be an integer in [1, {V.shape[0]}]; got {n_components!r}.")
    if symmetric:
        gmm = symmetric_mixture(V, int(n_components), n_init=n_init, random_state=random_state)
    else:
        gmm = fit_loadings_mixture(V, int(n_components), "full", 1e-6, n_init, random_state)
    raw = gmm.predict(V)
    order = np.argsort(-np.bincount(raw, minlength=n_components), kind="stable")
    relabel = np.empty(n_components, dtype=np.int64)
    relabel[order] = np.arange(n_components)
    return relabel[raw], V

