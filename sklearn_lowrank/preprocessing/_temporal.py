"""Smoothing and re-binning along time."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import _identity_inverse_transform, _nanmean, _TrialTransformer

# ---------------------------------------------------------------------------------------------------------------
# Smoothing and binning along time
# ---------------------------------------------------------------------------------------------------------------


class GaussianSmoother(_TrialTransformer):
    """Gaussian smoothing of each trial and feature along the time axis, ignoring NaN.

    Each output step is the Gaussian-weighted mean of the observed (non-NaN) steps around it; the weights are
    renormalised at the ends of the trial and around missing steps, which stay NaN.

    Parameters
    ----------
    sigma : float >= 0, default=2.0
        Standard deviation of the Gaussian kernel, in time steps. 0 leaves the data unchanged.
    truncate : float > 0, default=4.0
        The kernel is cut at ``truncate * sigma`` steps.

    Attributes
    ----------
    n_features_in_ : int

    Notes
    -----
    Smoothing cannot be undone. ``inverse_transform`` is the identity, so that the transformer can be used on y
    inside ``TransformedTargetRegressor(..., check_inverse=False)``: a model fitted to smoothed activity predicts
    smoothed activity, which is returned as it is. A 2D input is one time step per trial and is returned unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.preprocessing import GaussianSmoother
    >>> X = np.zeros((1, 9, 1)); X[0, 4, 0] = 1.0
    >>> GaussianSmoother(sigma=1.0).fit_transform(X)[0, 2:7, 0].round(3)
    array([0.054, 0.242, 0.399, 0.242, 0.054], dtype=float32)
    """

    _parameter_constraints: dict = {
        "sigma": [Interval(Real, 0, None, closed="left")],
        "truncate": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, sigma=2.0, *, truncate=4.0):
        self.sigma = sigma
        self.truncate = truncate

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check X and record the number of features (smoothing learns nothing).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        self._validate(X, reset=True)
        return self

    def transform(self, X):
        """Smooth each trial along time.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)

        Returns
        -------
        X_smooth : ndarray of the same shape, float32
        """
        X, ndim = self._validate(X, reset=False)
        if self.sigma == 0 or X.shape[1] == 1:
            return self._output(X, ndim)
        observed = ~np.isnan(X)
        kw = {"sigma": self.sigma, "axis": 1, "mode": "constant", "cval": 0.0, "truncate": self.truncate}
        num = gaussian_filter1d(np.where(observed, X, 0.0), **kw)
        den = gaussian_filter1d(observed.astype(np.float64), **kw)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(observed & (den > 0), num / np.where(den > 0, den, 1.0), np.nan)
        return self._output(out, ndim)

    inverse_transform = _identity_inverse_transform


class TimeBinner(_TrialTransformer):
    """Re-bin trials along time: consecutive groups of ``bin_size`` steps are averaged (or summed).

    Parameters
    ----------
    bin_size : int >= 1, default=2
        Steps per bin. A last, incomplete bin uses the steps it has.
    statistic : {"mean", "sum"}, default="mean"
        "mean" for rates, "sum" for counts. NaN steps are ignored; an all-NaN bin is NaN.

    Attributes
    ----------
    n_timesteps_in_ : int
        Number of time steps seen in ``fit`` (1 for 2D input).
    n_features_in_ : int

    Notes
    -----
    ``inverse_transform`` repeats each bin ``bin_size`` times (divided by ``bin_size`` for sums), a
    piecewise-constant upsampling, cropped to ``n_timesteps_in_`` when the number of bins matches.

    X and y must keep the same number of steps: bin both before fitting an estimator (this transformer changes
    the time axis, so it does not fit inside ``TransformedTargetRegressor`` alone).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.preprocessing import TimeBinner
    >>> X = np.arange(5.0).reshape(1, 5, 1)
    >>> binner = TimeBinner(bin_size=2).fit(X)
    >>> binner.transform(X)[0, :, 0]
    array([0.5, 2.5, 4. ], dtype=float32)
    >>> binner.inverse_transform(binner.transform(X))[0, :, 0]
    array([0.5, 0.5, 2.5, 2.5, 4. ], dtype=float32)
    """

    _parameter_constraints: dict = {
        "bin_size": [Interval(Integral, 1, None, closed="left")],
        "statistic": [StrOptions({"mean", "sum"})],
    }

    def __init__(self, bin_size=2, *, statistic="mean"):
        self.bin_size = bin_size
        self.statistic = statistic

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check X and record its number of time steps.

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
        self.n_timesteps_in_ = X.shape[1]
        return self

    def transform(self, X):
        """Bin X along time.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)

        Returns
        -------
        X_binned : ndarray of shape (n_trials, ceil(n_timesteps / bin_size), n_features), float32
            2D input (one step per trial) is returned unchanged.
        """
        X, ndim = self._validate(X, reset=False)
        n_trials, n_steps, n_features = X.shape
        n_bins = math.ceil(n_steps / self.bin_size)
        padded = np.full((n_trials, n_bins * self.bin_size, n_features), np.nan)
        padded[:, :n_steps] = X
        blocks = padded.reshape(n_trials, n_bins, self.bin_size, n_features)
        out = _nanmean(blocks, axis=2)
        if self.statistic == "sum":
            out = out * (~np.isnan(blocks)).sum(axis=2)
        return self._output(out, ndim)

    def inverse_transform(self, X):
        """Upsample by repetition (see Notes).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_bins, n_features) or (n_samples, n_features)

        Returns
        -------
        X_up : ndarray of shape (n_trials, n_timesteps, n_features), float32
            ``n_timesteps`` is ``n_timesteps_in_`` when ``n_bins`` matches it, else ``n_bins * bin_size``.
        """
        X, ndim = self._validate(X, reset=False)
        if ndim == 2:
            return self._output(X, ndim)
        out = np.repeat(X, self.bin_size, axis=1)
        if self.statistic == "sum":
            out = out / self.bin_size
        if X.shape[1] == math.ceil(self.n_timesteps_in_ / self.bin_size):
            out = out[:, : self.n_timesteps_in_]
        return self._output(out, ndim)
