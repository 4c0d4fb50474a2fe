"""Condition-independent mean removal and PCA denoising."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval

from ._base import _identity_inverse_transform, _nanmean, _TrialTransformer

# ---------------------------------------------------------------------------------------------------------------
# Condition-independent mean and PCA denoising
# ---------------------------------------------------------------------------------------------------------------


class ConditionMeanRemover(_TrialTransformer):
    """Remove the condition-independent mean: the mean over trials (conditions) at each time step.

    With condition-averaged data (one trial per condition), this leaves the condition-dependent part of the
    activity, the part that low-rank fits of recordings usually model.

    Attributes
    ----------
    mean_ : ndarray of shape (n_timesteps, n_features)
        Mean over the observed trials at each step (0 where no trial is observed).
    n_features_in_ : int

    Notes
    -----
    X passed to ``transform`` must have the ``n_timesteps`` seen in ``fit``. A 2D input is one time step: the
    mean over samples is removed.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.preprocessing import ConditionMeanRemover
    >>> X = np.stack([np.ones((3, 1)), 3 * np.ones((3, 1))])   # 2 conditions, 3 steps, 1 feature
    >>> remover = ConditionMeanRemover().fit(X)
    >>> remover.transform(X)[:, 0, 0]
    array([-1.,  1.], dtype=float32)
    >>> remover.inverse_transform(remover.transform(X))[:, 0, 0]
    array([1., 3.], dtype=float32)
    """

    _parameter_constraints: dict = {}

    def __init__(self):
        pass

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the mean over trials at each time step.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        X, _ = self._validate(X, reset=True)
        self.mean_ = np.nan_to_num(_nanmean(X, axis=0))
        return self

    def _check_steps(self, X):
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} time steps but ConditionMeanRemover was fitted on "
                             f"{self.mean_.shape[0]}; pass trials of the same length (n_timesteps).")

    def transform(self, X):
        """Subtract ``mean_`` from every trial.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)

        Returns
        -------
        X_new : ndarray of the same shape, float32
        """
        X, ndim = self._validate(X, reset=False)
        self._check_steps(X)
        return self._output(X - self.mean_, ndim)

    def inverse_transform(self, X):
        """Add ``mean_`` back.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)

        Returns
        -------
        X_original : ndarray of the same shape, float32
        """
        X, ndim = self._validate(X, reset=False)
        self._check_steps(X)
        return self._output(X + self.mean_, ndim)


class PCADenoiser(_TrialTransformer):
    """Project each time step of each trial on the top principal components of the features and back.

    ``X_denoised = mean_ + (X - mean_) V V^T`` where the rows of V^T are ``components_``, learnt on all trials
    and time steps together. The output keeps the shape and the feature meaning of X.

    Parameters
    ----------
    n_components : int >= 1 or float in (0, 1), default=0.9
        Number of components, or the fraction of variance they must explain.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features_in_,)
    components_ : ndarray of shape (n_components_, n_features_in_)
        Orthonormal principal axes, by decreasing variance.
    explained_variance_ratio_ : ndarray of shape (n_components_,)
    n_components_ : int
    n_features_in_ : int

    Notes
    -----
    Missing (NaN) entries are filled with the feature mean in ``fit`` (they add no variance) and in
    ``transform`` before projecting; they stay NaN in the output. The projection is not invertible:
    ``inverse_transform`` is the identity (a model fitted to denoised activity predicts denoised activity), so use
    ``TransformedTargetRegressor(..., check_inverse=False)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.preprocessing import PCADenoiser
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.normal(size=(20, 30, 1)) * np.ones(5)      # rank-1 activity of 5 neurons
    >>> X = signal + 0.1 * rng.normal(size=signal.shape)
    >>> denoiser = PCADenoiser(n_components=1).fit(X)
    >>> bool(np.abs(denoiser.transform(X) - signal).mean() < np.abs(X - signal).mean())
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(self, n_components=0.9):
        self.n_components = n_components

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the principal components of the features over trials and time.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        X, _ = self._validate(X, reset=True)
        n_features = X.shape[-1]
        if isinstance(self.n_components, Integral) and self.n_components > n_features:
            raise ValueError(f"n_components={self.n_components} must be <= n_features={n_features}; "
                             "lower n_components.")
        flat = X.reshape(-1, n_features)
        self.mean_ = np.nan_to_num(_nanmean(flat, axis=0))
        centred = np.nan_to_num(flat - self.mean_)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        var = s**2
        total = var.sum()
        ratio = var / total if total > 0 else np.zeros_like(var)
        if isinstance(self.n_components, Integral):
            k = min(int(self.n_components), len(s))
        else:
            k = int(np.searchsorted(np.cumsum(ratio), self.n_components) + 1)
        k = max(1, min(k, len(s)))
        self.n_components_ = k
        self.components_ = vt[:k]
        self.explained_variance_ratio_ = ratio[:k]
        return self

    def transform(self, X):
        """Project on the components and back.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)

        Returns
        -------
        X_denoised : ndarray of the same shape, float32
        """
        X, ndim = self._validate(X, reset=False)
        missing = np.isnan(X)
        centred = np.where(missing, 0.0, X - self.mean_)
        out = self.mean_ + (centred @ self.components_.T) @ self.components_
        return self._output(np.where(missing, np.nan, out), ndim)

    inverse_transform = _identity_inverse_transform
