"""Shared validation of the trial-tensor transformers."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import FLOAT32_MAX, check_trials

# ---------------------------------------------------------------------------------------------------------------
# Shared validation
# ---------------------------------------------------------------------------------------------------------------


class _TrialTransformer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Validation of 2D/3D trial tensors and the tags shared by the transformers of this module."""

    def _validate(self, X, *, reset: bool) -> tuple[np.ndarray, int]:
        """Return X as float64 (n_trials, n_timesteps, n_features) and the ndim the caller used (2 or 3).

        The package's one trial validator, with the transformers' settings: NaN allowed (missing observations),
        float64 for the statistics, values up to the float32 range (the outputs are float32), at least one
        feature.
        """
        if not reset:
            check_is_fitted(self)
        return check_trials(X, name="X", dtype=np.float64, allow_nan=True, max_magnitude=FLOAT32_MAX,
                            min_features=1, estimator=self, reset=reset)

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


def _identity_inverse_transform(self, X):
    """Identity (the transform cannot be undone; see Notes).

    Parameters
    ----------
    X : array-like of shape (n_trials, n_timesteps, n_features) or (n_samples, n_features)

    Returns
    -------
    X : ndarray of the same shape, float32
    """
    X, ndim = self._validate(X, reset=False)
    return self._output(X, ndim)


def _nanmean(X: np.ndarray, axis) -> np.ndarray:
    """nanmean without the 'mean of empty slice' warning (all-NaN slices give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(X, axis=axis)
