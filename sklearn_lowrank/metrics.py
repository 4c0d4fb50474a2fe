"""Scores: NaN-aware R^2 and decision accuracy of trial tensors, and connectivity-recovery scores.

The scores of activity take what the estimators take: arrays of shape (n_trials, n_timesteps, n_features)
(NaN-padded or not), lists of (n_timesteps_i, n_features) trials of different lengths, and xarray DataArrays with
dims ("trial", "time", <features>), all read by one reader (:func:`sklearn_lowrank._ragged.read_trials`); NaN in
``y_true`` (and the padding of shorter trials) marks a missing observation and is left out. The recovery scores
(:func:`connectivity_cosine`, :func:`subspace_angles`)
compare two connectivity matrices or subspaces.
"""

from __future__ import annotations

import numpy as np

from ._deviance import poisson_deviances as _poisson_deviances
from ._ragged import read_trial_pair

__all__ = [
    "r2_score_trials",
    "r2_per_feature",
    "median_r2",
    "connectivity_cosine",
    "subspace_angles",
]


def _flatten(y_true, y_pred, sample_weight):
    y_true, y_pred = read_trial_pair(y_true, y_pred, ("y_true", "y_pred"))
    if y_true.shape != y_pred.shape:
        if y_true.size == y_pred.size:
            y_pred = y_pred.reshape(y_true.shape)
        else:
            raise ValueError(f"y_true and y_pred have different shapes: {y_true.shape} and {y_pred.shape}.")
    n_trials = y_true.shape[0] if y_true.ndim else 1
    w = np.ones(n_trials) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n_trials,):
        raise ValueError(f"sample_weight must have shape ({n_trials},), got {w.shape}.")
    if y_true.ndim == 1:
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    n_per_trial = int(np.prod(y_true.shape[1:-1])) if y_true.ndim > 2 else 1
    w = np.repeat(w, n_per_trial)
    return y_true.reshape(-1, y_true.shape[-1]), y_pred.reshape(-1, y_true.shape[-1]), w


def _sums(y_true, y_pred, sample_weight):
    yt, yp, w = _flatten(y_true, y_pred, sample_weight)
    obs = ~np.isnan(yt)
    wo = w[:, None] * obs
    total = wo.sum(axis=0)
    mean = np.where(total > 0, np.nansum(np.where(obs, yt, 0.0) * wo, axis=0) / np.maximum(total, 1e-300), 0.0)
    resid = np.where(obs, yt - yp, 0.0)
    dev = np.where(obs, yt - mean, 0.0)
    ss_res = (wo * resid**2).sum(axis=0)
    ss_tot = (wo * dev**2).sum(axis=0)
    return ss_res, ss_tot


def r2_score_trials(y_true, y_pred, *, sample_weight=None) -> float:
    """Variance-weighted R^2 over features after flattening trials and time, ignoring NaN in ``y_true``.

    Equal to scikit-learn's ``r2_score(..., multioutput="variance_weighted")`` on complete data.

    Parameters
    ----------
    y_true : array-like of shape (n_trials, n_timesteps, n_features), or list of (n_timesteps_i, ...) trials
    y_pred : array-like of the same shape
    sample_weight : array-like of shape (n_trials,), optional

    Returns
    -------
    score : float
        ``1 - sum(SS_res) / sum(SS_tot)``; 1.0 for a perfect prediction of constant data, else 0.0 when
        ``SS_tot`` is zero.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.metrics import r2_score_trials
    >>> y = np.arange(12.0).reshape(2, 3, 2)
    >>> r2_score_trials(y, y)
    1.0
    >>> y_nan = y.copy(); y_nan[0, 0, 0] = np.nan
    >>> r2_score_trials(y_nan, y)
    1.0
    """
    ss_res, ss_tot = _sums(y_true, y_pred, sample_weight)
    total = ss_tot.sum()
    if total == 0:
        return 1.0 if ss_res.sum() == 0 else 0.0
    return float(1.0 - ss_res.sum() / total)


def r2_per_feature(y_true, y_pred, *, sample_weight=None) -> np.ndarray:
    """R^2 of each feature (neuron) separately, ignoring NaN in ``y_true``.

    Parameters
    ----------
    y_true : array-like of shape (n_trials, n_timesteps, n_features), or list of (n_timesteps_i, ...) trials
    y_pred : array-like of the same shape
    sample_weight : array-like of shape (n_trials,), optional

    Returns
    -------
    scores : ndarray of shape (n_features,)
        NaN for a feature with no variance.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.metrics import r2_per_feature
    >>> y = np.stack([np.arange(6.0), np.ones(6)], axis=-1).reshape(2, 3, 2)
    >>> r2_per_feature(y, y)
    array([ 1., nan])
    """
    ss_res, ss_tot = _sums(y_true, y_pred, sample_weight)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.nan)


def median_r2(y_true, y_pred, *, sample_weight=None) -> float:
    """Median over features of :func:`r2_per_feature` (features without variance left out).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.metrics import median_r2
    >>> y = np.arange(12.0).reshape(2, 3, 2)
    >>> median_r2(y, y + 0.0)
    1.0
    """
    return float(np.nanmedian(r2_per_feature(y_true, y_pred, sample_weight=sample_weight)))


def connectivity_cosine(J_a, J_b) -> float:
    """Cosine similarity of two connectivity matrices seen as vectors (Frobenius inner product).

    Parameters
    ----------
    J_a, J_b : array-like of shape (n_units, n_units)

    Returns
    -------
    cosine : float in [-1, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.metrics import connectivity_cosine
    >>> J = np.outer([1.0, 2.0], [0.5, -1.0])
    >>> connectivity_cosine(J, 3 * J)
    1.0
    """
    a = np.asarray(J_a, dtype=np.float64).ravel()
    b = np.asarray(J_b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"J_a and J_b must have the same shape; got {np.shape(J_a)} and {np.shape(J_b)}.")
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else 0.0


def subspace_angles(A, B) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spans of A and B.

    Parameters
    ----------
    A : array-like of shape (n_units, k)
    B : array-like of shape (n_units, l)

    Returns
    -------
    angles : ndarray of shape (min(k, l),)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.metrics import subspace_angles
    >>> subspace_angles(np.eye(3)[:, :1], np.eye(3)[:, :2]).round(6)
    array([0.])
    """
    qa, _ = np.linalg.qr(np.asarray(A, dtype=np.float64))
    qb, _ = np.linalg.qr(np.asarray(B, dtype=np.float64))
    s = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.arccos(np.clip(s, -1.0, 1.0))


# ---------------------------------------------------------------------------------------------------------------
# Task performance
# ---------------------------------------------------------------------------------------------------------------

__all__ += ["decision_accuracy", "psychometric_matrix"]


def _window_means(y_true, y_pred):
    """Mean target and mean prediction over each trial's non-NaN response window, per output."""
    y_true, y_pred = read_trial_pair(y_true, y_pred, ("y_true", "y_pred"))
    if y_true.ndim == 2:  # (n_trials, n_timesteps): a single output
        y_true = y_true[..., None]
        y_pred = y_pred[..., None] if y_pred.ndim == 2 else y_pred
    if y_true.ndim != 3:
        raise ValueError(f"y_true must have shape (n_trials, n_timesteps[, n_outputs]); got {y_true.shape}.")
    if y_pred.shape != y_true.shape:
        raise ValueError(f"y_true and y_pred have different shapes: {y_true.shape} and {y_pred.shape}.")
    window = ~np.isnan(y_true)
    count = window.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        target = np.where(window, y_true, 0.0).sum(axis=1) / count
        output = np.where(window, y_pred, 0.0).sum(axis=1) / count
    return target, output, count > 0


def decision_accuracy(y_true, y_pred) -> float:
    """Fraction of trials whose mean output over the response window has the sign of the target.

    The response window of a trial is where ``y_true`` is not NaN (the task generators' convention). Trials (and
    outputs) without a response window or with a zero mean target (catch trials) are left out.

    Parameters
    ----------
    y_true : array-like of shape (n_trials, n_timesteps, n_outputs)
        Targets, NaN outside the response window.
    y_pred : array-like of the same shape
        Network outputs (e.g. ``est.predict(X)``).

    Returns
    -------
    accuracy : float in [0, 1]
        Mean over trials and outputs of ``sign(mean y_pred) == sign(mean y_true)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.metrics import decision_accuracy
    >>> y_true = np.full((3, 4, 1), np.nan); y_true[:, 2:, 0] = [[1, 1], [-1, -1], [1, 1]]
    >>> y_pred = np.zeros((3, 4, 1)); y_pred[:, 2:, 0] = [[0.5, 0.9], [-0.2, 0.1], [-1, -1]]
    >>> decision_accuracy(y_true, y_pred)
    0.6666666666666666
    """
    target, output, scored = _window_means(y_true, y_pred)
    scored &= target != 0
    if not scored.any():
        raise ValueError("y_true has no response window (it is NaN or zero everywhere); nothing to score.")
    return float(np.mean(np.sign(output[scored]) == np.sign(target[scored])))


def psychometric_matrix(y_true, y_pred, conditions, *, first="coherence_1", second="coherence_2",
                        context="context"):
    """Fraction of positive choices per (coherence 1, coherence 2) pair, per context.

    For the context-dependent task: the choice of a trial is the sign of its mean output over the response window
    (where ``y_true`` is not NaN), as in :func:`decision_accuracy`.

    Parameters
    ----------
    y_true : array-like of shape (n_trials, n_timesteps, 1)
        Targets, NaN outside the response window.
    y_pred : array-like of the same shape
        Network outputs.
    conditions : dict of array-like of shape (n_trials,)
        As returned by :func:`~sklearn_lowrank.datasets.make_context_dependent_task` (or the Mante loader with
        ``first="motion_coherence", second="color_coherence"``).
    first, second, context : str
        Keys of ``conditions`` holding the two coherences and the context.

    Returns
    -------
    matrix : ndarray of shape (n_contexts, n_levels_first, n_levels_second)
        ``matrix[k, i, j]``: fraction of positive choices in context ``contexts[k]`` among the trials with the
        i-th level of the first coherence and the j-th level of the second; NaN where there is no trial.
    levels_first : ndarray of shape (n_levels_first,)
        Sorted levels of the first coherence.
    levels_second : ndarray of shape (n_levels_second,)
    contexts : ndarray of shape (n_contexts,)
        Sorted context labels.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.datasets import make_context_dependent_task
    >>> from sklearn_lowrank.metrics import psychometric_matrix
    >>> X, y, cond = make_context_dependent_task(n_trials="grid", random_state=0)
    >>> matrix, c1, c2, ctx = psychometric_matrix(y, np.nan_to_num(y), cond)   # a perfect observer
    >>> matrix.shape, float(matrix[0, -1, 0]), float(matrix[1, -1, 0])
    ((2, 6, 6), 1.0, 0.0)
    """
    _, output, scored = _window_means(y_true, y_pred)
    if output.shape[1] != 1:
        raise ValueError(f"psychometric_matrix needs a single output; y has {output.shape[1]}.")
    output, scored = output[:, 0], scored[:, 0]
    n_trials = output.shape[0]
    try:
        keys = {name: np.asarray(conditions[key]).ravel() for name, key in
                (("first", first), ("second", second), ("context", context))}
    except KeyError as exc:
        raise ValueError(f"conditions has no key {exc.args[0]!r}; available: {sorted(conditions)}.") from None
    for key, values in keys.items():
        if values.shape != (n_trials,):
            raise ValueError(f"conditions[{key!r}] must have shape ({n_trials},), got {values.shape}.")
    c1, c2, ctx = keys["first"], keys["second"], keys["context"]
    levels_1, levels_2, contexts = np.unique(c1), np.unique(c2), np.unique(ctx)
    i1, i2, ik = (np.searchsorted(levels_1, c1), np.searchsorted(levels_2, c2), np.searchsorted(contexts, ctx))
    positive = np.zeros((len(contexts), len(levels_1), len(levels_2)))
    counts = np.zeros_like(positive)
    np.add.at(positive, (ik[scored], i1[scored], i2[scored]), (output[scored] > 0).astype(float))
    np.add.at(counts, (ik[scored], i1[scored], i2[scored]), 1.0)
    with np.errstate(invalid="ignore"):
        matrix = np.where(counts > 0, positive / np.maximum(counts, 1), np.nan)
    return matrix, levels_1, levels_2, contexts


# ---------------------------------------------------------------------------------------------------------------
# Spike counts
# ---------------------------------------------------------------------------------------------------------------

__all__ += ["bits_per_spike", "d2_poisson_score_trials", "d2_poisson_per_feature"]


def bits_per_spike(y_counts, predicted_rates) -> float:
    """Bits per spike of predicted rates over each neuron's mean rate (Neural Latents Benchmark, Pei et al. 2021).

    ``(log L(rates) - log L(null)) / (n_spikes log 2)`` where L is the Poisson likelihood of the counts, the null
    model predicts each neuron's mean count (over the trials and steps given) everywhere, and ``n_spikes`` is the
    total count. NaN counts are left out (of the likelihoods, the means and the spike total).

    Parameters
    ----------
    y_counts : array-like of shape (n_trials, n_timesteps, n_neurons), or list of (n_timesteps_i, ...) trials
        Spike counts per bin; NaN marks a missing observation.
    predicted_rates : array-like of the same shape
        Expected counts per bin (>= 0), e.g. ``est.predict(X)`` of an estimator fitted with ``loss="poisson"``.

    Returns
    -------
    bits : float
        0 for the mean rate, > 0 when the prediction beats it; -inf if a spike falls where the rate is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.metrics import bits_per_spike
    >>> rates = np.tile([[0.1], [0.5], [0.9]], (20, 1, 2))          # (20 trials, 3 steps, 2 neurons)
    >>> counts = np.random.default_rng(0).poisson(rates).astype(float)
    >>> null = np.broadcast_to(counts.mean(axis=(0, 1)), counts.shape)   # each neuron's mean count
    >>> round(bits_per_spike(counts, rates), 3), abs(bits_per_spike(counts, null)) < 1e-12
    (0.243, True)
    """
    model, null, spikes = _poisson_deviances(y_counts, predicted_rates, None)
    if spikes.sum() == 0:
        raise ValueError("y_counts holds no spike; bits per spike are undefined.")
    # a deviance is -2 log L up to a term of the counts alone: the log-likelihood gain is half the drop in deviance
    return float((null.sum() - model.sum()) / (2.0 * spikes.sum() * np.log(2.0)))


def d2_poisson_score_trials(y_counts, predicted_rates, *, sample_weight=None) -> float:
    """Fraction of Poisson deviance explained, D^2, over all neurons, trials and steps (NaN ignored).

    ``1 - sum D(y, rates) / sum D(y, null)`` with D the Poisson deviance summed over the observed entries and the
    null model predicting each neuron's (weighted) mean count: scikit-learn's ``d2_tweedie_score(power=1)`` with a
    per-neuron null model, summed over neurons (as a variance-weighted R^2 sums squares). The ``score`` of the
    estimators fitted with ``loss="poisson"``; :func:`d2_poisson_per_feature` gives it per neuron.

    Parameters
    ----------
    y_counts : array-like of shape (n_trials, n_timesteps, n_neurons), or list of (n_timesteps_i, ...) trials
    predicted_rates : array-like of the same shape
        Expected counts (>= 0).
    sample_weight : array-like of shape (n_trials,), optional

    Returns
    -------
    score : float
        1 for a perfect prediction, 0 for each neuron's mean count, negative when worse.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.metrics import d2_poisson_score_trials
    >>> y = np.array([[[0.0], [2.0], [4.0]]])
    >>> d2_poisson_score_trials(y, y), d2_poisson_score_trials(y, np.full_like(y, 2.0))
    (1.0, 0.0)
    """
    model, null = (float(d.sum()) for d in _poisson_deviances(y_counts, predicted_rates, sample_weight)[:2])
    if null == 0:
        return 1.0 if model == 0 else 0.0
    return float(1.0 - model / null)


def d2_poisson_per_feature(y_counts, predicted_rates, *, sample_weight=None) -> np.ndarray:
    """Poisson deviance explained, D^2, of each feature (neuron) separately, ignoring NaN in ``y_counts``.

    The per-neuron terms of :func:`d2_poisson_score_trials`: ``1 - D_i(y, rates) / D_i(y, mean count of i)``.

    Parameters
    ----------
    y_counts : array-like of shape (n_trials, n_timesteps, n_neurons), or list of (n_timesteps_i, ...) trials
        Spike counts per bin; NaN marks a missing observation.
    predicted_rates : array-like of the same shape
        Expected counts (>= 0).
    sample_weight : array-like of shape (n_trials,), optional

    Returns
    -------
    scores : ndarray of shape (n_neurons,)
        NaN for a neuron whose observed counts are all equal (e.g. one that never fires): no deviance to explain.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.metrics import d2_poisson_per_feature
    >>> y = np.array([[[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]]])
    >>> d2_poisson_per_feature(y, y)
    array([ 1., nan])
    """
    model, null, _ = _poisson_deviances(y_counts, predicted_rates, sample_weight)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(null > 0, 1.0 - model / np.where(null > 0, null, 1.0), np.nan)

