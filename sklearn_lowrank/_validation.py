"""Validation of trial tensors (n_trials, n_timesteps, n_features) with messages that say what to change."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

__all__ = ["check_trials_X", "check_trials_y", "check_fit_data"]

_SHAPE_HELP = (
    "Pass an array of shape (n_trials, n_timesteps, n_features) (or a 2D array (n_trials, n_features), read as "
    "trials of a single time step)."
)


def _reject_bad_dtypes(arr, name: str):
    """Strings, complex numbers and other non-numeric data get a TypeError/ValueError naming the argument."""
    dtype = getattr(arr, "dtype", None)
    if dtype is None:
        return
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError(f"Complex data not supported: {name} has dtype {dtype}. Pass real-valued activity/inputs.")
    if dtype.kind in "USV":
        raise TypeError(f"{name} has dtype {dtype} (strings/bytes); pass numeric data.")


def _as_array(data, name: str) -> np.ndarray:
    if data is None:
        if name == "y":
            raise ValueError("This estimator requires y to be passed, but the target y is None; pass the activity "
                             "(n_trials, n_timesteps, n_features).")
        raise ValueError(f"{name} is None. {_SHAPE_HELP}")
    if isinstance(data, list | tuple) and data and all(hasattr(a, "shape") for a in data):
        # A list of equally shaped per-trial arrays stacks along trials; ragged lists are an error.
        shapes = {np.shape(a) for a in data}
        if len(shapes) != 1:
            raise ValueError(
                f"{name} is a list of arrays with different shapes {sorted(shapes)}; trials must share "
                "n_timesteps and n_features: pad or crop them to a common length first."
            )
    if hasattr(data, "dtype") and not hasattr(data, "iloc"):
        _reject_bad_dtypes(data, name)
    return data


def _ndim(data) -> int:
    shape = getattr(data, "shape", None)
    return len(shape) if shape is not None else np.asarray(data).ndim


def check_trials_X(estimator, X, *, reset: bool) -> tuple[np.ndarray, int]:
    """Validate the inputs X and set/check ``n_features_in_``.

    Returns
    -------
    X : ndarray of shape (n_trials, n_timesteps, n_inputs), float32, finite
    ndim : int
        The dimensionality the caller used (2 or 3), to shape the predictions alike.
    """
    X = _as_array(X, "X")
    ndim = _ndim(X)
    if ndim == 2:
        X = validate_data(estimator, X, reset=reset, dtype=np.float32)
        return X[:, None, :], 2
    if ndim != 3:
        raise ValueError(f"X must be a 2D or 3D array, got a {ndim}D array. Reshape your data: {_SHAPE_HELP}")
    X = check_array(X, allow_nd=True, dtype=np.float32, ensure_min_features=0, input_name="X")
    if X.shape[1] == 0:
        raise ValueError(f"X has 0 time steps (shape {X.shape}); pass at least one time step per trial.")
    if reset:
        estimator.n_features_in_ = X.shape[-1]
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif X.shape[-1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[-1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input (n_inputs at fit time). Pass the same input channels."
        )
    return np.ascontiguousarray(X), 3


def check_trials_y(y, X_shape: tuple, x_ndim: int) -> tuple[np.ndarray, int]:
    """Validate the activity/targets y against X; NaN marks missing observations.

    Returns
    -------
    y : ndarray of shape (n_trials, n_timesteps, n_outputs), float32
    ndim : int
        1, 2 or 3 as passed.
    """
    y = _as_array(y, "y")
    if hasattr(y, "iloc"):
        y = y.to_numpy()
    ndim = _ndim(y)
    if x_ndim == 2 and ndim not in (1, 2):
        raise ValueError(f"With 2D X, y must be 1D or 2D (n_trials[, n_outputs]); got shape {np.shape(y)}.")
    if x_ndim == 3 and ndim != 3:
        raise ValueError(
            f"With 3D X of shape {X_shape}, y must be 3D (n_trials, n_timesteps, n_outputs); got shape "
            f"{np.shape(y)}. Add an axis for a single output: y[..., None]."
        )
    y = check_array(y, allow_nd=True, ensure_2d=False, dtype=np.float32, ensure_all_finite="allow-nan",
                    input_name="y")
    if np.isinf(y).any():
        raise ValueError("y contains inf; mark missing observations with NaN instead.")
    if ndim == 1:
        y = y[:, None, None]
    elif ndim == 2:
        y = y[:, None, :]
    if y.shape[0] != X_shape[0]:
        raise ValueError(f"X and y have different numbers of trials: {X_shape[0]} and {y.shape[0]}.")
    if y.shape[1] != X_shape[1]:
        raise ValueError(f"X and y have different numbers of time steps: {X_shape[1]} and {y.shape[1]}.")
    if y.shape[-1] == 0:
        raise ValueError("y has 0 features; pass at least one recorded neuron or output.")
    observed = ~np.isnan(y)
    if not observed.any():
        raise ValueError("y is NaN everywhere: there is nothing to fit.")
    empty = np.flatnonzero(~observed.any(axis=(0, 1)))
    if empty.size:
        raise ValueError(
            f"Feature(s) {empty.tolist()} of y are NaN in every trial and time step; drop them from y (or model "
            "them as hidden units with n_units > n_features)."
        )
    return np.ascontiguousarray(y), ndim


def check_fit_data(estimator, X, y):
    """Validate (X, y) for fit; returns X, y, the NaN mask (None when complete) and the ndims used."""
    X, x_ndim = check_trials_X(estimator, X, reset=True)
    if X.shape[0] == 0:
        raise ValueError("X has 0 trials; pass at least one trial.")
    y, y_ndim = check_trials_y(y, X.shape, x_ndim)
    mask = ~np.isnan(y)
    if mask.all():
        mask = None
    else:
        y = np.where(mask, y, 0.0).astype(np.float32)
    return X, y, mask, x_ndim, y_ndim
