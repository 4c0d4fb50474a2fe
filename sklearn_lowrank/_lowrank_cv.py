"""LowRankRNNRegressorCV: the rank of a low-rank RNN by cross-validation and the paired one-standard-error rule."""

from __future__ import annotations

import time
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, _fit_context, clone
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._lowrank import LowRankRNNRegressor
from ._rank_rule import _resolve_tol, choose, rule_standard_errors
from ._validation import check_trials_X_y

__all__ = ["LowRankRNNRegressorCV"]


def _check_ranks(ranks) -> list:
    """Sorted distinct ranks (positive ints, None = full rank last); a clear error otherwise."""
    ranks = list(ranks)
    bad = [r for r in ranks if r is not None and not (isinstance(r, Integral) and not isinstance(r, bool) and r >= 1)]
    if not ranks or bad:
        raise ValueError(f"ranks must be a non-empty sequence of positive ints (or None for full rank); got bad "
                         f"entries {bad!r}." if bad else "ranks must not be empty; pass e.g. ranks=range(1, 6).")
    ints = sorted({int(r) for r in ranks if r is not None})
    return ints + ([None] if None in ranks else [])


def _check_scoring(scoring):
    """The ``scoring`` parameter as given (None or a callable); a clear error for a string."""
    if isinstance(scoring, str):
        raise ValueError(f"scoring={scoring!r}: scikit-learn's named scorers read 2D targets, not trials; pass None "
                         "(the estimator's own score) or a callable scorer(estimator, X, y), e.g. "
                         "make_initial_state_scorer(10).")
    return scoring


def _score(est, X_test, y_test, scorer) -> float:
    return float(est.score(X_test, y_test) if scorer is None else scorer(est, X_test, y_test))


def _fit_and_score(estimator, X, y, train, test, rank, scorer):
    """(held-out score, fit time) of one independent fit of ``rank`` on a fold."""
    start = time.perf_counter()
    est = clone(estimator).set_params(rank=rank)
    est.fit(_safe_indexing(X, train), _safe_indexing(y, train))
    fit_time = time.perf_counter() - start
    return _score(est, _safe_indexing(X, test), _safe_indexing(y, test), scorer), fit_time


def _fit_path(estimator, X, y, train, test, ranks, scorer) -> list:
    """[(held-out score, fit time)] of every rank on a fold, fitted in increasing order along the rank path.

    Each int rank after the first starts from the previous rank's fitted network plus new directions, where
    that predicts the training trials at least as well as its own start (``LowRankRNNRegressor._fit_extending``);
    None (full rank) is fitted on its own. A fit's time counts its own start and training only.
    """
    X_train, y_train = _safe_indexing(X, train), _safe_indexing(y, train)
    X_test, y_test = _safe_indexing(X, test), _safe_indexing(y, test)
    out, lower = [], None
    for rank in ranks:
        start = time.perf_counter()
        est = clone(estimator).set_params(rank=rank)
        if lower is None or rank is None or not hasattr(est, "_fit_extending"):
            est.fit(X_train, y_train)
        else:
            est._fit_extending(X_train, y_train, lower)
        fit_time = time.perf_counter() - start
        if rank is not None:
            lower = est.module_
        out.append((_score(est, X_test, y_test, scorer), fit_time))
    return out


def _results_table(ranks, scores, times) -> dict:
    """``cv_results_`` from the (n_ranks, n_splits) fold scores and fit times, as GridSearchCV lays it out."""
    results = {"param_rank": np.array(ranks, dtype=object), "params": [{"rank": r} for r in ranks]}
    for k in range(scores.shape[1]):
        results[f"split{k}_test_score"] = scores[:, k]
    results["mean_test_score"] = scores.mean(axis=1)
    results["std_test_score"] = scores.std(axis=1)
    results["mean_fit_time"] = times.mean(axis=1)
    results["std_fit_time"] = times.std(axis=1)
    order = np.argsort(-np.nan_to_num(results["mean_test_score"], nan=-np.inf), kind="stable")
    results["rank_test_score"] = np.empty(len(ranks), dtype=np.int32)
    results["rank_test_score"][order] = np.arange(1, len(ranks) + 1)
    return results


class LowRankRNNRegressorCV(TransformerMixin, RegressorMixin, BaseEstimator):
    """Low-rank RNN whose rank is chosen by cross-validation over trials, then refitted on every trial.

    Every candidate rank is fitted on the training trials of every fold and scored on the others with
    ``scoring`` (by default the estimator's ``score``: held-out R^2, or Poisson D^2 for an estimator with
    ``loss="poisson"``; for fits with ``initial_state="per_trial"``,
    :func:`~sklearn_lowrank.make_initial_state_scorer` infers each held-out trial's start first). The smallest
    rank whose mean score is within ``max(SE, tol)`` of the best mean is chosen and refitted on all trials; with
    ``paired=True`` (the default) SE is the standard error over folds of the rank's fold-by-fold difference to the
    best rank (:func:`~sklearn_lowrank.one_standard_error_rule` with ``paired=True``): every rank is scored on the
    same held-out trials of a fold, so the spread all ranks share (a fold of harder conditions scores lower for
    every rank) is no evidence for a tie. Held-out scores plateau once the rank suffices; the rule picks the start
    of the plateau. The command line's ``fit`` runs this search.

    Parameters
    ----------
    ranks : sequence of int or None, default=(1, 2, 3, 4, 5)
        Candidate ranks; None stands for a full-rank network and counts as the largest.
    estimator : LowRankRNNRegressor or None, default=None
        Template whose other parameters every fit uses (its ``rank`` is overridden). None:
        ``LowRankRNNRegressor()``; give it a ``random_state`` for reproducible fits.
    cv : int, cross-validation generator or iterable, default=5
        Splits of the trials (axis 0), as in ``GridSearchCV``; an int gives ``KFold(cv)``. Repeated conditions
        (several trials each) want a ``GroupKFold`` and the conditions as ``groups`` in :meth:`fit`, so that a
        held-out condition is new to the fit.
    scoring : callable or None, default=None
        How a fold's fit is scored on its held-out trials. None: the estimator's ``score`` (R^2, or D^2 with
        ``loss="poisson"``). A callable ``scorer(estimator, X, y)`` returning a float, higher is better, as
        scikit-learn's ``scoring=`` takes: e.g. ``make_initial_state_scorer(10)`` for fits with
        ``initial_state="per_trial"``, whose held-out trials need their starts inferred from their first steps.
        Named scorers (strings) are refused: scikit-learn's metrics read 2D targets, not trials.
    tol : float >= 0 or "auto", default="auto"
        In units of the score: ranks whose mean score is within ``max(SE, tol)`` of the best count as ties.
        "auto" is ``1e-3 * |best mean score|``: 1e-3 for R^2 near 1 (folds of clean rates agree so closely that
        an extra rank fitting a little noise would otherwise win), about 1e-5 for single-trial Poisson D^2 of a
        few percent (ranks differ by about 1e-3 there, and the standard error decides). ``tol=0`` is the textbook
        rule.
    paired : bool, default=True
        SE of the fold-by-fold differences to the best rank; False: SE of the best rank's mean score.
    n_jobs : int or None, default=None
        Fits run in parallel with joblib (each fit already uses the torch threads it is given): every (rank,
        fold) pair, or with ``rank_path=True`` every fold.
    callback : callable or None, default=None
        Called as ``callback(rank, split, score)`` after each fold's fit, in the order of the fits (rank by rank,
        fold by fold; with ``rank_path=True`` fold by fold, ranks rising, each fold's calls once the fold is
        done); e.g. to advance a progress bar, as the command line does.
    rank_path : bool, default=False
        False: every (rank, fold) pair is fitted on its own, as ``GridSearchCV`` does (same fold scores). True:
        in each fold the ranks are fitted in increasing order and rank r+1 starts from the fitted rank-r network
        plus the leading direction of its own data-driven start outside that network's span, wherever that start
        predicts the training trials at least as well as its own (full rank is fitted on its own). Its fits
        reached a training loss at most the independent fits' in 23 of 24 measured cases, but it is not the
        default: on the ten teachers of ``benchmarks/bench_recordings.py --case rank`` it chose the true rank on
        4 against 5 (the same ranks on trial averages; further from the truth on noisy single trials and on one
        count teacher, where its extra directions fit noise); it took about half the CPU time of
        ``GridSearchCV`` on noisy single trials, a fifth less on counts and as much on trial averages (see
        :ref:`rank_selection`). Fit times in ``cv_results_`` count each fit's own start and training.

    Attributes
    ----------
    rank_ : int or None
        The chosen rank.
    cv_results_ : dict of ndarray
        One entry per candidate rank, like ``GridSearchCV.cv_results_``: ``param_rank``, ``params``,
        ``split{k}_test_score``, ``mean_test_score``, ``std_test_score`` (SD over folds), ``mean_fit_time``,
        ``std_fit_time``, ``rank_test_score``, and ``rule_se_test_score``: the standard error the rule compared
        with each rank's gap to the best (paired or not, see ``paired``).
    best_index_ : int
        Row of ``cv_results_`` of the chosen rank.
    best_score_ : float
        Mean held-out score of the chosen rank.
    tol_ : float
        The tolerance the rule used, in units of the score (``tol`` resolved).
    best_estimator_ : LowRankRNNRegressor
        The chosen rank refitted on every trial; :meth:`predict`, :meth:`transform` and :meth:`score` use it.
    scorer_ : callable or None
        The scorer of every fold and of :meth:`score` (``scoring`` as given; None: the estimator's ``score``).
    refit_time_ : float
        Seconds spent refitting the chosen rank on every trial.
    n_splits_ : int
        Number of folds.
    n_features_in_ : int
        Number of inputs.

    See Also
    --------
    LowRankRNNRegressor : the estimator fitted at each rank.
    sklearn_lowrank.one_standard_error_rule : the choice among ranks, for ``GridSearchCV(refit=...)``.

    Examples
    --------
    >>> from sklearn_lowrank import LowRankRNNRegressor, LowRankRNNRegressorCV
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> X, y = make_low_rank_teacher(n_units=20, rank=1, n_trials=30, n_timesteps=15, random_state=0,
    ...                              return_X_y=True)
    >>> search = LowRankRNNRegressorCV(ranks=[1, 2], cv=3,
    ...                                estimator=LowRankRNNRegressor(max_iter=5, random_state=0)).fit(X, y)
    >>> search.rank_, search.cv_results_["split0_test_score"].shape
    (1, (2,))
    """

    _parameter_constraints: dict = {
        "ranks": ["array-like"],
        "estimator": [HasMethods(["fit", "score", "set_params"]), None],
        "cv": ["cv_object"],
        "scoring": [callable, str, None],
        "tol": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "paired": ["boolean"],
        "n_jobs": [Integral, None],
        "callback": [callable, None],
        "rank_path": ["boolean"],
    }

    def __init__(self, ranks=(1, 2, 3, 4, 5), *, estimator=None, cv=5, scoring=None, tol="auto", paired=True,
                 n_jobs=None, callback=None, rank_path=False):
        self.ranks = ranks
        self.estimator = estimator
        self.cv = cv
        self.scoring = scoring
        self.tol = tol
        self.paired = paired
        self.n_jobs = n_jobs
        self.callback = callback
        self.rank_path = rank_path

    def _cross_validate(self, estimator, X, y, ranks, splits, scorer):
        """(n_ranks, n_splits) held-out scores and fit times; the callback hears of each fit as it ends."""
        scores, times = np.empty((len(ranks), len(splits))), np.empty((len(ranks), len(splits)))
        if self.rank_path:
            out = Parallel(n_jobs=self.n_jobs, return_as="generator")(
                delayed(_fit_path)(estimator, X, y, train, test, ranks, scorer) for train, test in splits)
            fits = (((i, k), fit) for k, fold in enumerate(out) for i, fit in enumerate(fold))
        else:
            jobs = [(i, k) for i in range(len(ranks)) for k in range(len(splits))]
            out = Parallel(n_jobs=self.n_jobs, return_as="generator")(
                delayed(_fit_and_score)(estimator, X, y, *splits[k], ranks[i], scorer) for i, k in jobs)
            fits = zip(jobs, out)
        for (i, k), (score, fit_time) in fits:
            scores[i, k], times[i, k] = score, fit_time
            if self.callback is not None:
                self.callback(ranks[i], k, float(score))
        return scores, times

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None):
        """Score every rank by cross-validation, choose one, and refit it on every trial.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_inputs)
        y : array-like of shape (n_trials, n_timesteps, n_features)
            NaN marks a missing observation.
        groups : array-like of shape (n_trials,), optional
            Group labels for a group-aware ``cv`` (e.g. the condition of each trial, with ``GroupKFold``).

        Returns
        -------
        self : object
        """
        ranks = _check_ranks(self.ranks)
        scorer = _check_scoring(self.scoring)
        estimator = LowRankRNNRegressor() if self.estimator is None else self.estimator
        with warnings.catch_warnings():
            # the one validator's errors before any fold is fitted; its warnings come from the refit below
            warnings.simplefilter("ignore")
            n_trials = check_trials_X_y(X, y)[0].shape[0]
        # folds index trials: array-likes become arrays; lists of trials (ragged) and DataFrames index as they are
        X, y = (a if isinstance(a, list | tuple) or hasattr(a, "iloc") else np.asarray(a) for a in (X, y))
        splits = list(check_cv(self.cv).split(np.zeros((n_trials, 1)), groups=groups))
        results = _results_table(ranks, *self._cross_validate(estimator, X, y, ranks, splits, scorer))
        best, se = rule_standard_errors(results, self.paired)
        results["rule_se_test_score"] = se
        self.cv_results_ = results
        self.scorer_ = scorer
        self.n_splits_ = len(splits)
        self.tol_ = _resolve_tol(self.tol, results["mean_test_score"][best])
        self.best_index_ = choose(results, "param_rank", tol=self.tol_, paired=self.paired)
        self.rank_ = ranks[self.best_index_]
        self.best_score_ = float(results["mean_test_score"][self.best_index_])
        start = time.perf_counter()
        self.best_estimator_ = clone(estimator).set_params(rank=self.rank_).fit(X, y)
        self.refit_time_ = time.perf_counter() - start
        self.n_features_in_ = self.best_estimator_.n_features_in_
        return self

    def predict(self, X, initial_state=None):
        """Activity predicted by :attr:`best_estimator_` (see :meth:`LowRankRNNRegressor.predict`).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_inputs)
        initial_state : array-like of shape (n_units,) or (n_trials, n_units), optional

        Returns
        -------
        y_pred : ndarray of shape (n_trials, n_timesteps, n_features)
        """
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X, initial_state=initial_state)

    def transform(self, X, initial_state=None):
        """Latent trajectories of :attr:`best_estimator_`, of shape (n_trials, n_timesteps, rank_).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_inputs)
        initial_state : array-like of shape (n_units,) or (n_trials, n_units), optional

        Returns
        -------
        kappa : ndarray of shape (n_trials, n_timesteps, rank_)
        """
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.transform(X, initial_state=initial_state)

    def score(self, X, y, sample_weight=None):
        """Score of :attr:`best_estimator_` by :attr:`scorer_`, the scorer the folds were scored with.

        As ``GridSearchCV.score``: with ``scoring=None`` the estimator's own ``score`` (R^2, or Poisson D^2 with
        ``loss="poisson"``); with a callable, ``scorer_(best_estimator_, X, y)`` (e.g. the later steps of each
        trial after its start is inferred from the first ones, for ``make_initial_state_scorer``).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_inputs)
        y : array-like of shape (n_trials, n_timesteps, n_features)
        sample_weight : array-like of shape (n_trials,), optional

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "best_estimator_")
        if self.scorer_ is None:
            return self.best_estimator_.score(X, y, sample_weight=sample_weight)
        if sample_weight is None:
            return float(self.scorer_(self.best_estimator_, X, y))
        return float(self.scorer_(self.best_estimator_, X, y, sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
