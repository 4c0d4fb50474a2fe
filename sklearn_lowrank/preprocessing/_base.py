"""Shared validation of the trial-tensor transformers."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import FLOAT32_MAX, _as_array, _check_values

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
