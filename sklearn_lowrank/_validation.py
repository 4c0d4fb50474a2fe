"""Validation of trial tensors (n_trials, n_timesteps, n_features) with messages that say what to change."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from ._ragged import pad_if_ragged

__all__ = ["check_trials_X", "check_trials_y", "check_fit_data", "check_score_y"]

#: Largest finite float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Largest magnitude the networks accept: squares of larger values (in the loss, the regression initialisation)
#: overflow float32.
MAX_MAGNITUDE = float(np.sqrt(FLOAT32_MAX))

_SHAPE_HELP = (
    "Pass an array of shape (n_trials, n_timesteps, n_features) (or a 2D array (n_trials, n_features), read as "
    "trials of a single time step)."
)
_RESCALE_HELP = ("rescale it first (divide it by a constant, or standardise it with "
                 "sklearn_lowrank.preprocessing.TrialStandardScaler)")


def _reject_bad_dtypes(arr, name: str):
    """Strings, complex numbers and other non-numeric data get a TypeError/ValueError naming the argument.

    Returns ``arr``; an object array of real numbers is converted to float64, one holding anything else is an error.
    """
    dtype = getattr(arr, "dtype", None)
    if dtype is None:
        return arr
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError(f"Complex data not supported: {name} has dtype {dtype}. Pass real-valued activity/inputs.")
    if dtype.kind in "USV":
        raise TypeError(f"{name} has dtype {dtype} (strings/bytes); pass numeric data.")
    if dtype.kind == "O":
        if any(isinstance(v, str | bytes | complex) for v in np.ravel(arr)[:1000]):
            raise TypeError(f"{name} has dtype object holding strings or complex numbers; pass real numeric data.")
        try:
            return np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} has dtype object with entries that are not real numbers ({exc}); pass "
                            "numeric data.") from None
    return arr


def _as_array(data, name: str):
    """Reject None, ragged lists and non-numeric dtypes with messages naming ``name``; stack lists of trials."""
    if data is None:
        if name == "y":
            raise ValueError("This estimator requires y to be passed, but the target y is None; pass the activity "
                             "(n_trials, n_timesteps, n_features).")
        raise ValueError(f"{name} is None. {_SHAPE_HELP}")
    if isinstance(data, list | tuple):
        if data and all(hasattr(a, "shape") for a in data):
            # A list of equally shaped per-trial arrays stacks along trials; ragged lists are an error.
            shapes = {np.shape(a) for a in data}
            if len(shapes) != 1:
                raise ValueError(
                    f"{name} is a list of arrays with different shapes {sorted(shapes)}; trials must share "
                    "n_timesteps and n_features: pad or crop them to a common length first."
                )
        try:
            data = np.asarray(data)
        except ValueError as exc:
            raise ValueError(f"{name} is a ragged nested list ({exc}); trials must share n_timesteps and "
                             "n_features: pad or crop them to a common length first.") from None
    if hasattr(data, "dtype") and not hasattr(data, "iloc"):
        data = _reject_bad_dtypes(data, name)
    return data


def _check_values(arr: np.ndarray, original, name: str, *, allow_nan: bool, max_magnitude: float | None) -> None:
    """Finite (NaN allowed if ``allow_nan``), within the float32 range and at most ``max_magnitude`` in size.

    ``arr`` is the float32 (or float64) conversion of ``original``: an inf in ``arr`` where ``original`` is finite
    is an overflow of the conversion and is reported as such, not as an inf of the user's.
    """
    if arr.size:
        # Fast path (the usual case): two reductions, no full-size temporaries. NaN and inf show in them.
        lo, hi = float(arr.min()), float(arr.max())
        if np.isfinite(lo) and np.isfinite(hi):
            _check_magnitude(max(-lo, hi), name, max_magnitude)
            return
    finite = np.isfinite(arr)
    if not finite.all():
        nan = np.isnan(arr)
        if not allow_nan and nan.any():
            hint = ("NaN marks missing observations in y only; impute the missing inputs or drop those trials"
                    if name == "X" else "impute or drop them")
            raise ValueError(f"{name} contains NaN ({int(nan.sum())} entries); {name} must be finite: {hint}.")
        inf = ~finite & ~nan
        if inf.any():
            with np.errstate(over="ignore", invalid="ignore"):
                overflow = bool(np.isfinite(np.asarray(original, dtype=np.float64)[inf]).any())
            if overflow:
                raise ValueError(f"{name} has values beyond the float32 range (|value| > {FLOAT32_MAX:.3g}), which "
                                 f"would become inf; {_RESCALE_HELP}.")
            hint = "mark missing observations with NaN instead" if allow_nan else "impute or drop those trials"
            raise ValueError(f"{name} contains infinity (inf) in {int(inf.sum())} entries; {name} must be finite: "
                             f"{hint}.")
        largest_of = np.nanmax
    else:
        largest_of = np.max
    if max_magnitude is not None and arr.size and not np.isnan(arr).all():
        _check_magnitude(float(largest_of(np.abs(arr))), name, max_magnitude)


def _check_magnitude(largest: float, name: str, max_magnitude: float | None) -> None:
    if max_magnitude is not None:
        if largest > FLOAT32_MAX:
            raise ValueError(f"{name} has values up to {largest:.3g} in magnitude, beyond the float32 range "
                             f"(|value| > {FLOAT32_MAX:.3g}) of the package's arrays; {_RESCALE_HELP}.")
        if largest > max_magnitude:
            raise ValueError(
                f"{name} has values up to {largest:.3g} in magnitude; the networks compute in float32, where "
                f"squares of values above {max_magnitude:.3g} overflow: {_RESCALE_HELP}."
            )


def _to_float32(data, name: str, *, allow_nan: bool, validate=None, **kwargs) -> np.ndarray:
    """Convert with scikit-learn's checks, then check the values with our messages; writable and C-contiguous."""
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an overflowing cast is reported by _check_values
        if validate is not None:
            arr = validate(data, dtype=np.float32, ensure_all_finite=False, **kwargs)
        else:
            arr = check_array(data, allow_nd=True, dtype=np.float32, ensure_all_finite=False, input_name=name,
                              **kwargs)
    _check_values(arr, data, name, allow_nan=allow_nan, max_magnitude=MAX_MAGNITUDE)
    if not (arr.flags.writeable and arr.flags.c_contiguous):
        arr = np.array(arr, order="C")  # torch.from_numpy must not share a read-only (pandas copy-on-write) buffer
    return arr


def _shape(data) -> tuple:
    shape = getattr(data, "shape", None)
    return tuple(shape) if shape is not None else np.asarray(data).shape


def _ndim(data) -> int:
    return len(_shape(data))


def _check_trials(shape, name: str) -> None:
    if len(shape) and shape[0] == 0:
        raise ValueError(f"{name} has 0 trials (shape {tuple(shape)}); pass at least one trial.")


def check_trials_X(estimator, X, *, reset: bool) -> tuple[np.ndarray, int]:
    """Validate the inputs X and set/check ``n_features_in_``.

    Integer, boolean, float16 and float64 inputs are converted to float32; NaN, inf, values beyond the float32
    range and values whose squares overflow float32 are errors.

    Returns
    -------
    X : ndarray of shape (n_trials, n_timesteps, n_inputs), float32, finite
    ndim : int
        The dimensionality the caller used (2 or 3), to shape the predictions alike.
    """
    X = _as_array(pad_if_ragged(X, "X", 0.0), "X")  # trials of unequal length: zeros after each one's end
    ndim = _ndim(X)
    if ndim in (2, 3):
        _check_trials(_shape(X), "X")
    if ndim == 2:
        X = _to_float32(X, "X", allow_nan=False,
                        validate=lambda data, **kw: validate_data(estimator, data, reset=reset, **kw))
        return X[:, None, :], 2
    if ndim != 3:
        raise ValueError(f"X must be a 2D or 3D array, got a {ndim}D array. Reshape your data: {_SHAPE_HELP}")
    X = _to_float32(X, "X", allow_nan=False, ensure_min_features=0)
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
    return X, 3


def _y_array(y, X_shape: tuple, x_ndim: int) -> tuple[np.ndarray, int]:
    """y as float32 (n_trials, n_timesteps, n_outputs) matching X's trials and steps; NaN kept, inf an error."""
    y = _as_array(pad_if_ragged(y, "y", np.nan), "y")  # trials of unequal length: NaN (not observed) after the end
    if hasattr(y, "iloc"):
        y = y.to_numpy()
    ndim = _ndim(y)
    if x_ndim == 2 and ndim not in (1, 2):
        raise ValueError(f"With 2D X, y must be 1D or 2D (n_trials[, n_outputs]); got shape {_shape(y)}.")
    if x_ndim == 3 and ndim != 3:
        raise ValueError(
            f"With 3D X of shape {X_shape}, y must be 3D (n_trials, n_timesteps, n_outputs); got shape "
            f"{_shape(y)}. Add an axis for a single output: y[..., None]."
        )
    if _shape(y)[0] != X_shape[0]:
        raise ValueError(f"X and y have different numbers of trials: {X_shape[0]} and {_shape(y)[0]}; pass "
                         "the activity of the same trials as X.")
    y = _to_float32(y, "y", allow_nan=True, ensure_2d=False, ensure_min_samples=0, ensure_min_features=0)
    if ndim == 1:
        y = y[:, None, None]
    elif ndim == 2:
        y = y[:, None, :]
    if y.shape[1] != X_shape[1]:
        raise ValueError(f"X and y have different numbers of time steps: {X_shape[1]} and {y.shape[1]}; pass "
                         "y with one row per time step of X.")
    if y.shape[-1] == 0:
        raise ValueError("y has 0 features; pass at least one recorded neuron or output.")
    return y, ndim


def check_trials_y(y, X_shape: tuple, x_ndim: int) -> tuple[np.ndarray, int]:
    """Validate the activity/targets y against X for fitting; NaN marks missing observations.

    Returns
    -------
    y : ndarray of shape (n_trials, n_timesteps, n_outputs), float32
    ndim : int
        1, 2 or 3 as passed.
    """
    y, ndim = _y_array(y, X_shape, x_ndim)
    observed = ~np.isnan(y)
    if not observed.any():
        raise ValueError("y is NaN everywhere: there is nothing to fit; pass trials with observed activity.")
    empty = np.flatnonzero(~observed.any(axis=(0, 1)))
    if empty.size:
        raise ValueError(
            f"Feature(s) {empty.tolist()} of y are NaN in every trial and time step; drop them from y (or model "
            "them as hidden units with n_units > n_features)."
        )
    return y, ndim


def check_score_y(y, X_shape: tuple, x_ndim: int) -> np.ndarray:
    """Validate y for scoring: as for fitting, except that a feature unobserved in these trials is allowed.

    (A cross-validation fold may hold only conditions in which some neuron was not recorded.)

    Returns
    -------
    y : ndarray of the shape given (1D, 2D or 3D), float32
    """
    y3, ndim = _y_array(y, X_shape, x_ndim)
    if np.isnan(y3).all():
        raise ValueError("y is NaN everywhere: there is nothing to score; pass trials with observed activity.")
    return y3.reshape(y3.shape[0], -1)[:, 0] if ndim == 1 else (y3[:, 0] if ndim == 2 else y3)


def check_fit_data(estimator, X, y):
    """Validate (X, y) for fit; returns X, y, the NaN mask (None when complete) and the ndims used."""
    X, x_ndim = check_trials_X(estimator, X, reset=True)
    y, y_ndim = check_trials_y(y, X.shape, x_ndim)
    mask = ~np.isnan(y)
    if mask.all():
        mask = None
    else:
        y = np.where(mask, y, 0.0).astype(np.float32)
    return X, y, mask, x_ndim, y_ndim
