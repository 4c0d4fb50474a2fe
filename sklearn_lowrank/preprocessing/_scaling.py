"""Per-feature standard scaling of trial tensors."""

from __future__ import annotations

import numpy as np
from sklearn.base import _fit_context

from ._base import _nanmean, _TrialTransformer

# ---------------------------------------------------------------------------------------------------------------
# Scaling
# ---------------------------------------------------------------------------------------------------------------


class TrialStandardScaler(_TrialTransformer):
    """Centre and scale each feature by its mean and standard deviation over trials and time steps.

    Parameters
    ----------
    with_mean : bool, default=True
        Subtract the mean of each feature.
    with_std : bool, default=True
        Divide by the standard deviation of each feature (1 for a constant feature).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features_in_,)
        Mean of each feature over the observed (non-NaN) entries; zeros if ``with_mean=False``.
    var_ : ndarray of shape (n_features_in_,)
        Variance of each feature over the observed entries.
    scale_ : ndarray of shape (n_features_in_,)
        Standard deviation used to scale (1 where the variance is 0 or ``with_std=False``).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only for a 2D DataFrame input with string column names.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : the same for 2D data.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.preprocessing import TrialStandardScaler
    >>> X = np.arange(24.0).reshape(2, 4, 3)
    >>> scaler = TrialStandardScaler().fit(X)
    >>> scaler.mean_
    array([10.5, 11.5, 12.5])
    >>> Xt = scaler.transform(X)
    >>> Xt.shape, bool(abs(Xt.mean()) < 1e-6)
    ((2, 4, 3), True)
    >>> bool(np.allclose(scaler.inverse_transform(Xt), X, atol=1e-5))
    True
    """

    _parameter_constraints: dict = {"with_mean": ["boolean"], "with_std": ["boolean"]}

    def __init__(self, *, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the mean and standard deviation of each feature.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)
            NaN entries are ignored.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        X, _ = self._validate(X, reset=True)
        flat = X.reshape(-1, X.shape[-1])
        mean = np.nan_to_num(_nanmean(flat, axis=0))
        var = np.nan_to_num(_nanmean((flat - mean) ** 2, axis=0))
        self.var_ = var
        self.mean_ = mean if self.with_mean else np.zeros_like(mean)
        scale = np.sqrt(var)
        # A constant feature would blow up; as StandardScaler, leave it unscaled.
        scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)] = 1.0
        self.scale_ = scale if self.with_std else np.ones_like(scale)
        return self

    def transform(self, X):
        """Centre and scale X.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)

        Returns
        -------
        X_new : ndarray of the same shape, float32
        """
        X, ndim = self._validate(X, reset=False)
        return self._output((X - self.mean_) / self.scale_, ndim)

    def inverse_transform(self, X):
        """Undo the scaling: ``X * scale_ + mean_``.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)

        Returns
        -------
        X_original : ndarray of the same shape, float32
        """
        X, ndim = self._validate(X, reset=False)
        return self._output(X * self.scale_ + self.mean_, ndim)
