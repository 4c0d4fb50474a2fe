"""Transformers for trial tensors of shape (n_trials, n_timesteps, n_features), NaN-aware.

They work on the inputs X in a :class:`~sklearn.pipeline.Pipeline` and on the activity y inside
:class:`~sklearn.compose.TransformedTargetRegressor` (which passes y unchanged when it is 3D and as (n_samples, 1)
when it is 1D). A 2D array (n_samples, n_features) is read as trials of a single time step, the convention of the
estimators. NaN marks a missing observation: it is ignored by the statistics learnt in ``fit`` and stays NaN in the
output; inf is an error. Outputs are float32, the dtype of the estimators.

Two limits of ``TransformedTargetRegressor`` (scikit-learn's, not ours): it rejects NaN in y before any
transformer sees it, so transform activity with missing entries yourself and fit the estimator on the result; and
its ``score`` uses ``sklearn.metrics.r2_score``, which refuses 3D y, so score it with
``make_scorer(sklearn_lowrank.metrics.r2_score_trials)`` (e.g. ``scoring=`` in ``GridSearchCV``). The
transformers without an inverse (smoothing, PCA projection) have an identity ``inverse_transform``: pass
``check_inverse=False``.

Examples
--------
>>> from sklearn.compose import TransformedTargetRegressor
>>> from sklearn_lowrank import LowRankRNNRegressor
>>> from sklearn_lowrank.datasets import make_low_rank_teacher
>>> from sklearn_lowrank.preprocessing import TrialStandardScaler
>>> X, y = make_low_rank_teacher(n_units=10, rank=1, n_inputs=1, n_trials=20, n_timesteps=10, random_state=0,
...                              return_X_y=True)
>>> model = TransformedTargetRegressor(regressor=LowRankRNNRegressor(max_iter=5, random_state=0),
...                                    transformer=TrialStandardScaler(), check_inverse=False)
>>> model.fit(X, 10 * y + 5).predict(X).shape
(20, 10, 10)
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import FLOAT32_MAX, _as_array, _check_values

__all__ = ["TrialStandardScaler", "GaussianSmoother", "TimeBinner", "ConditionMeanRemover", "PCADenoiser"]


# ---------------------------------------------------------------------------------------------------------------
# Shared validation
# ---------------------------------------------------------------------------------------------------------------


class _TrialTransformer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Validation of 2D/3D trial tensors and the tags shared by the transformers of this module."""

    def _validate(self, X, *, reset: bool) -> tuple[np.ndarray, int]:
        """Return X as float64 (n_trials, n_timesteps, n_features) and the ndim the caller used (2 or 3)."""
        if not reset:
            check_is_fitted(self)
        X = _as_array(X, "X")  # None, ragged lists, strings and complex numbers: errors naming X
        shape = getattr(X, "shape", None)
        shape = tuple(shape) if shape is not None else np.asarray(X).shape
        ndim = len(shape)
        if ndim in (2, 3) and shape[0] == 0:
            raise ValueError(f"X has 0 trials (shape {tuple(shape)}); pass at least one trial.")
        if ndim == 2 or hasattr(X, "iloc"):
            X = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite=False)
            _check_values(X, X, "X", allow_nan=True, max_magnitude=FLOAT32_MAX)
            return X[:, None, :], 2
        if ndim != 3:
            raise ValueError(
                f"Expected a 2D array (n_samples, n_features) or a 3D array (n_trials, n_timesteps, n_features), "
                f"got a {ndim}D array. Reshape your data, e.g. X[:, None] for a single feature."
            )
        X = check_array(X, allow_nd=True, dtype=np.float64, ensure_all_finite=False, input_name="X")
        _check_values(X, X, "X", allow_nan=True, max_magnitude=FLOAT32_MAX)
        if X.shape[1] == 0:
            raise ValueError(f"X has 0 time steps (shape {X.shape}); pass at least one time step per trial.")
        if X.shape[2] == 0:
            raise ValueError(f"X has 0 features (shape {X.shape}); a minimum of 1 is required.")
        if reset:
            self.n_features_in_ = X.shape[2]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif X.shape[2] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[2]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")
        return X, 3

    @staticmethod
    def _output(X: np.ndarray, ndim: int) -> np.ndarray:
        with np.errstate(over="ignore"):
            out = X.astype(np.float32)
        if np.isinf(out).any() and not np.isinf(X).any():
            raise ValueError(f"The output has values beyond the float32 range (|value| > {FLOAT32_MAX:.3g}), which "
                             "would become inf; rescale X (outputs are float32, the dtype of the estimators).")
        return out[:, 0, :] if ndim == 2 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _nanmean(X: np.ndarray, axis) -> np.ndarray:
    """nanmean without the 'mean of empty slice' warning (all-NaN slices give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(X, axis=axis)


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

    def inverse_transform(self, X):
        """Identity (smoothing is not invertible; see Notes).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)

        Returns
        -------
        X : ndarray of the same shape, float32
        """
        X, ndim = self._validate(X, reset=False)
        return self._output(X, ndim)


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

    def inverse_transform(self, X):
        """Identity (the projection is not invertible; see Notes).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)

        Returns
        -------
        X : ndarray of the same shape, float32
        """
        X, ndim = self._validate(X, reset=False)
        return self._output(X, ndim)
