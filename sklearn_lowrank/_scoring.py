"""Scoring held-out trials whose initial states are inferred from their first observed steps.

A fit with per-trial initial states (``initial_state="per_trial"``) predicts a new trial only once its start is
known. The scorer here infers it from the trial's first ``n_steps`` observed steps
(:meth:`~sklearn_lowrank.LowRankRNNRegressor.infer_initial_state`) and scores the prediction of the later steps
only, so that cross-validation over ranks never scores the steps the state was fitted to.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from ._base import _SCORES
from ._ragged import check_same_lengths, read_trials

__all__ = ["make_initial_state_scorer", "split_observed_steps"]


def split_observed_steps(y, n_steps):
    """Split y into its first ``n_steps`` observed steps of each trial and the rest (NaN elsewhere in each).

    A step is observed when any feature of it is not NaN; steps before a trial's first observation belong to
    the head.

    Parameters
    ----------
    y : ndarray of shape (n_trials, n_timesteps, n_outputs)
    n_steps : int

    Returns
    -------
    head, tail : ndarray of shape (n_trials, n_timesteps, n_outputs)
        ``head`` keeps each trial's first ``n_steps`` observed steps, ``tail`` the others.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import split_observed_steps
    >>> y = np.arange(5.0).reshape(1, 5, 1)
    >>> y[0, 0] = np.nan
    >>> head, tail = split_observed_steps(y, 2)
    >>> head[0, :, 0].tolist(), tail[0, :, 0].tolist()
    ([nan, 1.0, 2.0, nan, nan], [nan, nan, nan, 3.0, 4.0])
    """
    y = np.asarray(y, dtype=np.float32)
    observed = ~np.isnan(y).all(axis=-1)
    in_head = (np.cumsum(observed, axis=1) - observed) < n_steps  # fewer than n_steps observed before this step
    head = np.where(in_head[..., None], y, np.nan).astype(np.float32)
    tail = np.where(in_head[..., None], np.nan, y).astype(np.float32)
    return head, tail


class _InitialStateScorer:
    """``scorer(estimator, X, y)``: infer starts from the first ``n_steps`` observed steps, score the rest."""

    def __init__(self, n_steps: int, max_iter: int) -> None:
        self.n_steps = n_steps
        self.max_iter = max_iter

    def __call__(self, estimator, X, y, sample_weight=None) -> float:
        check_same_lengths(X, y)
        X = read_trials(X, "X", fill=0.0)[0]
        head, tail = split_observed_steps(read_trials(y, "y")[0], self.n_steps)
        if np.isnan(tail).all():
            raise ValueError(f"no trial has an observed step after its first n_steps={self.n_steps}: nothing is "
                             "left to score; lower n_steps or pass longer trials.")
        x0 = estimator.infer_initial_state(X, head, max_iter=self.max_iter)
        pred = estimator.predict(X, initial_state=x0)
        return _SCORES[estimator.loss](tail, pred, sample_weight=sample_weight)

    def __repr__(self) -> str:
        return f"make_initial_state_scorer(n_steps={self.n_steps}, max_iter={self.max_iter})"


def make_initial_state_scorer(n_steps=10, *, max_iter=20):
    """A scorer that infers each held-out trial's initial state from its first steps and scores the rest.

    For cross-validation of fits with ``initial_state="per_trial"``: on held-out trials, ``infer_initial_state``
    reads each trial's first ``n_steps`` observed steps, ``predict`` runs the trial from that state, and the
    score (R^2, or D^2 with ``loss="poisson"``, as ``estimator.score``) is taken over the later steps only.
    A plain scikit-learn scorer: pass it as ``scoring`` to ``GridSearchCV`` or ``cross_val_score``.

    Parameters
    ----------
    n_steps : int, default=10
        Observed steps of each trial used to infer its initial state (and not scored).
    max_iter : int, default=20
        L-BFGS iterations of the inference.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` returns a float, higher is better.

    Examples
    --------
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn_lowrank import LowRankRNNRegressor, make_initial_state_scorer
    >>> from sklearn_lowrank.datasets import make_trial_state_teacher
    >>> X, y = make_trial_state_teacher(n_units=20, n_conditions=30, n_timesteps=25, random_state=0,
    ...                                 return_X_y=True)
    >>> est = LowRankRNNRegressor(rank=2, initial_state="per_trial", max_iter=5, random_state=0)
    >>> scores = cross_val_score(est, X, y, cv=2, scoring=make_initial_state_scorer(n_steps=5))
    >>> scores.shape
    (2,)
    """
    if not (isinstance(n_steps, Integral) and n_steps >= 1):
        raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}.")
    if not (isinstance(max_iter, Integral) and max_iter >= 1):
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}.")
    return _InitialStateScorer(int(n_steps), int(max_iter))
