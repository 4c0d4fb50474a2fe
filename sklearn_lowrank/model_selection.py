"""Choosing the size of a model: the rank by cross-validation, the number of populations of a mixture."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.utils import Bunch, check_random_state

from ._mixture import GaussianMixtureRNN
from ._populations import network_loadings
from ._rank_rule import choose, rank_param
from ._utils import _seed_from
from .metrics import decision_accuracy

__all__ = ["one_standard_error_rule", "select_n_components_bic", "resampling_scores", "bootstrap_stability"]


# ---------------------------------------------------------------------------------------------------------------
# The rank: one standard error (the arithmetic in _rank_rule, below the estimators)
# ---------------------------------------------------------------------------------------------------------------


def one_standard_error_rule(cv_results, param=None, tol=1e-3, paired=False) -> int:
    """Index of the smallest rank whose mean CV score is within one standard error (or ``tol``) of the best.

    Held-out scores of low-rank fits plateau rather than peak once the rank suffices; this rule picks the start of
    the plateau. Pass it as ``GridSearchCV(..., refit=one_standard_error_rule)``. ``rank=None`` (full rank) counts
    as larger than every integer rank. Among candidates with the same rank (other parameters in the grid), the one
    with the best mean score is taken.

    Parameters
    ----------
    cv_results : dict
        ``GridSearchCV.cv_results_`` (with ``mean_test_score``, ``std_test_score`` and ``split*_test_score``).
        ``std_test_score`` is the standard deviation over folds; the standard error used here is it divided by
        the square root of the number of ``split*_test_score`` columns.
    param : str, optional
        Name of the rank parameter (e.g. ``"lowrankrnnregressor__rank"`` in a Pipeline); found automatically when
        there is a single ``rank`` parameter.
    tol : float >= 0 or "auto", default=1e-3
        In units of the score: candidates within ``max(standard error, tol)`` of the best count as ties. On clean
        data the folds agree so closely that the standard error falls below any difference that matters (R^2 of
        0.9990 against 0.9992), and an extra rank that fits a little noise would win; ``tol=0`` gives the textbook
        rule. "auto" is ``1e-3 * |best mean score|`` (1e-3 for R^2 near 1, about 1e-5 for single-trial Poisson
        D^2 of a few percent), what :class:`~sklearn_lowrank.LowRankRNNRegressorCV` uses. Use
        ``functools.partial(one_standard_error_rule, tol=...)`` to change it.
    paired : bool, default=False
        Compare each candidate with the best fold by fold: the standard error is that of their paired
        differences over folds, not of the best's scores. Every candidate is scored on the same held-out trials
        in a fold, so the spread they share (a fold that holds harder conditions scores lower for every rank) is
        no evidence for a tie. With few folds of few conditions, as single-trial spike counts often are, that
        shared spread can exceed differences between ranks that every fold agrees on.

    Returns
    -------
    index : int
        Row of ``cv_results`` to refit.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import one_standard_error_rule
    >>> results = {"param_rank": np.array([1, 2, 3]), "mean_test_score": np.array([0.5, 0.90, 0.91]),
    ...            "std_test_score": np.array([0.02, 0.02, 0.02]),
    ...            "split0_test_score": np.array([0.5, 0.9, 0.91]), "split1_test_score": np.array([0.5, 0.9, 0.91])}
    >>> one_standard_error_rule(results)
    1
    >>> folds = {"param_rank": np.array([1, 2]), "mean_test_score": np.array([0.0145, 0.0170]),
    ...          "std_test_score": np.array([0.0044, 0.0044]),
    ...          "split0_test_score": np.array([0.0129, 0.0158]), "split1_test_score": np.array([0.0109, 0.0135]),
    ...          "split2_test_score": np.array([0.0207, 0.0233])}
    >>> one_standard_error_rule(folds, tol=0), one_standard_error_rule(folds, tol=0, paired=True)
    (0, 1)
    """
    return choose(cv_results, rank_param(cv_results, param), tol=tol, paired=paired)


# ---------------------------------------------------------------------------------------------------------------
# The number of populations of a mixture
# ---------------------------------------------------------------------------------------------------------------


def _score(net, X, y, scoring) -> float:
    """The score of a network on (X, y): 'r2', 'accuracy' (decisions) or a callable(estimator, X, y)."""
    if callable(scoring):
        return float(scoring(net, X, y))
    if scoring == "accuracy":
        return decision_accuracy(y, net.predict(X))
    if scoring == "r2":
        return float(net.score(X, y))
    raise ValueError(f"scoring must be 'r2', 'accuracy' or a callable(estimator, X, y); got {scoring!r}.")



def select_n_components_bic(estimator, n_components=(1, 2, 3, 4), *, covariance_type="full", reg_covar=1e-6,
                            n_init=1, random_state=None):
    """Choose the number of populations of a fitted network's loadings by the Bayesian information criterion.

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted, with an integer rank and ``readout="linear"``.
    n_components : iterable of int, default=(1, 2, 3, 4)
        Candidate numbers of populations.
    covariance_type : {"full", "diag"}, default="full"
    reg_covar : float, default=1e-6
    n_init : int, default=1
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    best : int
        The candidate with the lowest BIC.
    bic : ndarray of shape (n_candidates,)
        BIC of each candidate, in the order given.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import LowRankRNNRegressor, select_n_components_bic
    >>> X = np.random.default_rng(0).normal(size=(16, 5, 2)).astype(np.float32)
    >>> net = LowRankRNNRegressor(1, n_units=60, readout="linear", max_iter=2, random_state=0)
    >>> net = net.fit(X, np.tanh(X[..., :1]))
    >>> best, bic = select_n_components_bic(net, n_components=[1, 2], random_state=0)
    >>> best in (1, 2), bic.shape
    (True, (2,))
    """
    V = network_loadings(estimator)
    candidates = [int(p) for p in n_components]
    if not candidates or any(p < 1 or p > V.shape[0] for p in candidates):
        raise ValueError(f"n_components must list integers in [1, {V.shape[0]}]; got {list(n_components)}.")
    bic = np.array([
        GaussianMixture(p, covariance_type=covariance_type, reg_covar=reg_covar, n_init=n_init,
                        random_state=random_state).fit(V).bic(V)
        for p in candidates
    ])
    return candidates[int(np.argmin(bic))], bic


def resampling_scores(estimator, X, y, n_components=(1, 2, 3), *, n_networks=5, n_units=None,
                      scoring="r2", covariance_type="full", reg_covar=1e-6, n_init=1, random_state=None):
    """The resampling test: scores of networks redrawn from P-population mixtures of a network's loadings.

    For each P a mixture is fitted to the loadings (:meth:`GaussianMixtureRNN.from_network`) and
    ``n_networks`` networks are sampled from it and scored on (X, y). The smallest P whose resampled networks
    perform like the original one is the number of populations the computation needs.

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted, with an integer rank and ``readout="linear"``.
    X : array-like of shape (n_trials, n_timesteps, n_inputs)
    y : array-like of shape (n_trials, n_timesteps, n_outputs)
        Task targets; NaN entries are ignored.
    n_components : iterable of int, default=(1, 2, 3)
    n_networks : int, default=5
        Networks sampled per P.
    n_units : int or None, default=None
        Size of the sampled networks; the estimator's by default.
    scoring : {"r2", "accuracy"} or callable, default="r2"
        "r2": ``network.score(X, y)``; "accuracy": :func:`~sklearn_lowrank.metrics.decision_accuracy` (the
        sign of the mean output over the response window, for decision tasks); a callable
        ``scoring(network, X, y)``.
    covariance_type, reg_covar, n_init
        As in :meth:`GaussianMixtureRNN.from_network`.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    result : Bunch
        ``n_components`` (n_candidates,), ``scores`` (n_candidates, n_networks), ``mean`` and ``std``
        (n_candidates,), and ``original`` (the score of ``estimator`` itself).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import LowRankRNNRegressor, resampling_scores
    >>> X = np.random.default_rng(0).normal(size=(16, 5, 2)).astype(np.float32)
    >>> y = np.tanh(X[..., :1])
    >>> net = LowRankRNNRegressor(1, n_units=60, readout="linear", max_iter=2, random_state=0).fit(X, y)
    >>> res = resampling_scores(net, X, y, n_components=[1, 2], n_networks=2, random_state=0)
    >>> res.scores.shape
    (2, 2)
    """
    if not isinstance(n_networks, Integral) or n_networks < 1:
        raise ValueError(f"n_networks must be a positive integer; got {n_networks!r}.")
    if not (callable(scoring) or scoring in ("r2", "accuracy")):
        raise ValueError(f"scoring must be 'r2', 'accuracy' or a callable(estimator, X, y); got {scoring!r}.")
    rs = check_random_state(random_state)
    candidates = [int(p) for p in n_components]
    scores = np.empty((len(candidates), n_networks))
    params = {} if n_units is None else {"n_units": n_units}
    for i, p in enumerate(candidates):
        mix, _ = GaussianMixtureRNN.from_network(estimator, p, covariance_type=covariance_type,
                                                 reg_covar=reg_covar, n_init=n_init,
                                                 random_state=_seed_from(rs), **params)
        for j in range(n_networks):
            net = mix.sample_network(random_state=_seed_from(rs))
            scores[i, j] = _score(net, X, y, scoring)
    return Bunch(n_components=np.array(candidates), scores=scores, mean=scores.mean(axis=1),
                 std=scores.std(axis=1), original=_score(estimator, X, y, scoring))


def bootstrap_stability(estimator, n_components=2, *, n_bootstraps=20, subsample=0.8, covariance_type="full",
                        reg_covar=1e-6, random_state=None):
    """Stability of the population assignment of a network's units under subsampling of its units.

    Each round fits the mixture to a random subset of ``subsample`` of the units and labels all units; the
    score is the adjusted Rand index between the labels of pairs of rounds (1: identical partitions, about 0:
    chance).

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted, with an integer rank and ``readout="linear"``.
    n_components : int, default=2
    n_bootstraps : int, default=20
        Number of rounds (>= 2).
    subsample : float in (0, 1], default=0.8
        Fraction of the units used in each round (drawn without replacement).
    covariance_type : {"full", "diag"}, default="full"
    reg_covar : float, default=1e-6
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    mean_ari : float
        Mean adjusted Rand index over consecutive pairs of rounds.
    ari : ndarray of shape (n_bootstraps - 1,)
        Adjusted Rand index between round b and round b + 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import LowRankRNNRegressor, bootstrap_stability
    >>> X = np.random.default_rng(0).normal(size=(16, 5, 2)).astype(np.float32)
    >>> net = LowRankRNNRegressor(1, n_units=60, readout="linear", max_iter=2, random_state=0)
    >>> net = net.fit(X, np.tanh(X[..., :1]))
    >>> mean_ari, ari = bootstrap_stability(net, n_components=1, n_bootstraps=3, random_state=0)
    >>> mean_ari, ari.shape
    (1.0, (2,))
    """
    V = network_loadings(estimator)
    if not isinstance(n_bootstraps, Integral) or n_bootstraps < 2:
        raise ValueError(f"n_bootstraps must be an integer >= 2; got {n_bootstraps!r}.")
    if not isinstance(subsample, Real) or not 0 < subsample <= 1:
        raise ValueError(f"subsample must be a float in (0, 1]; got {subsample!r}.")
    n = V.shape[0]
    size = max(int(round(subsample * n)), n_components)
    rs = check_random_state(random_state)
    labelings = []
    for _ in range(n_bootstraps):
        idx = rs.choice(n, size=size, replace=False)
        gmm = GaussianMixture(n_components, covariance_type=covariance_type, reg_covar=reg_covar,
                              random_state=_seed_from(rs)).fit(V[idx])
        labelings.append(gmm.predict(V))
    ari = np.array([adjusted_rand_score(a, b) for a, b in zip(labelings[:-1], labelings[1:])])
    return float(ari.mean()), ari
