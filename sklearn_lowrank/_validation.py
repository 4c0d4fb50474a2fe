"""Validation of trial tensors (n_trials, n_timesteps, n_features) with messages that say what to change."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from ._ragged import TABLE_HELP, _is_dataarray, read_trials

__all__ = ["check_trials", "check_trials_X", "check_trials_X_y", "check_fit_data", "check_score_y"]

#: Largest finite float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Largest magnitude the networks accept: squares of larger values (loss, regression start) overflow float32.
MAX_MAGNITUDE = float(np.sqrt(FLOAT32_MAX))

_SHAPE_HELP = ("Pass an array of shape (n_trials, n_timesteps, n_features) (or a 2D array (n_trials, n_features), "
               "read as trials of a single time step).")
#: Plausible largest magnitudes (low, high) of X and y: the networks' states are O(1) (tanh units), and fits of
#: data far outside these ranges degrade (X: inputs are matched by the input weights from a regression, so only
#: very large inputs hurt; y: the states themselves; ``benchmarks/bench_scales.py`` measures this). Outside them,
#: a warning says how to rescale.
PLAUSIBLE_SCALE = {"X": (0.0, 1e3), "y": (0.1, 1e2)}
#: With a tanh readout, more than this share of y outside (-1, 1), or any value beyond 1 + OUTSIDE_RANGE_MARGIN,
#: is an error (data in other units, e.g. Hz); fewer, nearer values (noisy rates) a warning.
OUTSIDE_RANGE_SHARE = 0.01
OUTSIDE_RANGE_MARGIN = 0.5

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
    if isinstance(data, list | tuple) or _is_dataarray(data):
        data, _ = read_trials(data, name, ragged=False)  # different lengths: callers that pad have read them
    if isinstance(data, list | tuple):
        try:
            data = np.asarray(data)
        except ValueError as exc:
            raise ValueError(f"{name} is a ragged nested list ({exc}); pass a list of 2D arrays, one per trial "
                             "(n_timesteps_i, n_features), or an array (n_trials, n_timesteps, n_features).") from None
    if hasattr(data, "dtype") and not hasattr(data, "iloc"):
        data = _reject_bad_dtypes(data, name)
    return data


def _check_values(arr: np.ndarray, original, name: str, *, allow_nan: bool, max_magnitude: float | None) -> float:
    """Finite (NaN allowed if ``allow_nan``), within the float32 range and at most ``max_magnitude`` in size.

    ``arr`` is the float32 (or float64) conversion of ``original``: an inf in ``arr`` where ``original`` is finite
    is an overflow of the conversion and is reported as such, not as an inf of the user's. Returns the largest
    magnitude of the non-NaN entries (0 for an empty or all-NaN array), for the scale checks.
    """
    if not arr.size:
        return 0.0
    # Fast path (the usual case): two reductions, no full-size temporaries. NaN and inf show in them.
    lo, hi = float(arr.min()), float(arr.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        finite = np.isfinite(arr)
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
        # Only NaN is left: fmin/fmax skip it without a full-size copy.
        lo, hi = float(np.fmin.reduce(arr, axis=None)), float(np.fmax.reduce(arr, axis=None))
        if np.isnan(lo):
            return 0.0
    largest = max(-lo, hi)
    _check_magnitude(largest, name, max_magnitude)
    return largest


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


def _shape(data) -> tuple:
    shape = getattr(data, "shape", None)
    return tuple(shape) if shape is not None else np.asarray(data).shape


# ---------------------------------------------------------------------------------------------------------------
# The trial validator
# ---------------------------------------------------------------------------------------------------------------


def check_trials(data, *, name: str = "X", dtype=np.float32, allow_nan: bool = False,
                 max_magnitude: float | None = MAX_MAGNITUDE, min_features: int = 0, allow_2d: bool = True,
                 estimator=None, reset: bool = True) -> tuple[np.ndarray, int]:
    """Validate one trial tensor: the single door of the estimators, the transformers, meanfield and the CLI.

    Parameters
    ----------
    data : array-like of shape (n_trials, n_timesteps, n_features) or (n_trials, n_features)
        A 2D array (or DataFrame) is read as trials of one time step; a list of equally shaped trials is stacked.
    name : str, default="X"
        The argument's name, used in every message.
    dtype : numpy dtype, default=np.float32
    allow_nan : bool, default=False
        NaN marks missing observations (activity); an error otherwise (inputs).
    max_magnitude : float or None, default=MAX_MAGNITUDE
        Larger values are an error (float32 overflow in the networks' squares).
    min_features : int, default=0
    allow_2d : bool, default=True
        False: only 3D arrays are accepted (e.g. files read by the command line).
    estimator : estimator or None, default=None
        If given, ``n_features_in_`` (and ``feature_names_in_`` for a DataFrame) is set (``reset``) or checked.
    reset : bool, default=True

    Returns
    -------
    trials : ndarray of shape (n_trials, n_timesteps, n_features)
        Of ``dtype``, C-contiguous and writable.
    ndim : int
        2 or 3, as passed.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._validation import check_trials
    >>> trials, ndim = check_trials(np.zeros((4, 10, 2), dtype=np.float64))
    >>> trials.shape, trials.dtype, ndim
    ((4, 10, 2), dtype('float32'), 3)
    >>> check_trials(np.zeros((4, 2)))[0].shape
    (4, 1, 2)
    """
    data = _as_array(data, name)
    if hasattr(data, "iloc") and hasattr(data, "to_numpy") and estimator is None:
        data = data.to_numpy()
    shape = _shape(data)
    ndim = len(shape)
    if ndim in (2, 3) and shape[0] == 0:
        raise ValueError(f"{name} has 0 trials (shape {shape}); pass at least one trial.")
    if ndim == 2 and allow_2d:
        kwargs = {"dtype": dtype, "ensure_all_finite": False, "ensure_min_features": max(min_features, 1)}
        if estimator is not None:
            arr = _convert(data, name, lambda d, **kw: validate_data(estimator, d, reset=reset, **kw), **kwargs)
        else:
            arr = _convert(data, name, None, **kwargs)
        _check_values(arr, data, name, allow_nan=allow_nan, max_magnitude=max_magnitude)
        return _writable(arr)[:, None, :], 2
    if ndim != 3:
        expected = "a 2D or 3D array" if allow_2d else "a 3D array"
        raise ValueError(f"{name} must be {expected}, got a {ndim}D array (shape {shape}). Reshape your data: "
                         f"{_SHAPE_HELP if allow_2d else _SHAPE_HELP.split(' (or')[0] + '.'}")
    arr = _convert(data, name, None, dtype=dtype, ensure_all_finite=False, ensure_min_features=0)
    _check_values(arr, data, name, allow_nan=allow_nan, max_magnitude=max_magnitude)
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 time steps (shape {arr.shape}); pass at least one time step per trial.")
    if arr.shape[2] < min_features:
        raise ValueError(f"{name} has {arr.shape[2]} features (shape {arr.shape}); a minimum of {min_features} is "
                         "required.")
    if estimator is not None:
        if reset:
            estimator.n_features_in_ = arr.shape[2]
            if hasattr(estimator, "feature_names_in_"):
                del estimator.feature_names_in_
        elif arr.shape[2] != estimator.n_features_in_:
            raise ValueError(f"{name} has {arr.shape[2]} features, but {type(estimator).__name__} is expecting "
                             f"{estimator.n_features_in_} features as input. Pass the same features (the input "
                             "channels of an estimator) as at fit.")
    return _writable(arr), 3


def _convert(data, name: str, validate, **kwargs) -> np.ndarray:
    """scikit-learn's conversion (or ``validate_data``), with overflowing casts left to :func:`_check_values`."""
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if validate is not None:
            return validate(data, **kwargs)
        return check_array(data, allow_nd=True, input_name=name, **kwargs)


def _writable(arr: np.ndarray) -> np.ndarray:
    # torch.from_numpy must not share a read-only (pandas copy-on-write) buffer.
    return arr if arr.flags.writeable and arr.flags.c_contiguous else np.array(arr, order="C")


def check_trials_X(estimator, X, *, reset: bool) -> tuple[np.ndarray, int]:
    """Validate the inputs X of an estimator and set/check ``n_features_in_``.

    Integer, boolean, float16 and float64 inputs are converted to float32; NaN, inf, values beyond the float32
    range and values whose squares overflow float32 are errors.

    Returns
    -------
    X : ndarray of shape (n_trials, n_timesteps, n_inputs), float32, finite
    ndim : int
        The dimensionality the caller used (2 or 3), to shape the predictions alike.
    """
    return check_trials(X, name="X", estimator=estimator, reset=reset)


# ---------------------------------------------------------------------------------------------------------------
# Activity y
# ---------------------------------------------------------------------------------------------------------------


def _y_array(y, X_shape: tuple, x_ndim: int) -> tuple[np.ndarray, int, float]:
    """y as float32 (n_trials, n_timesteps, n_outputs) matching X's trials and steps; NaN kept, inf an error.

    Also returns the ndim passed and the largest magnitude of the observed entries.
    """
    y = _as_array(read_trials(y, "y", fill=np.nan)[0], "y")  # trials of unequal length: NaN after each end
    if hasattr(y, "iloc"):
        y = y.to_numpy()
    ndim = len(_shape(y))
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
    y32 = _convert(y, "y", None, dtype=np.float32, ensure_all_finite=False, ensure_2d=False, ensure_min_samples=0,
                   ensure_min_features=0)
    largest = _check_values(y32, y, "y", allow_nan=True, max_magnitude=MAX_MAGNITUDE)
    y = _writable(y32)
    if ndim < 3:
        y = y.reshape(y.shape[0], 1, -1)  # one-step trials; a 1D y is one output
    if y.shape[1] != X_shape[1]:
        raise ValueError(f"X and y have different numbers of time steps: {X_shape[1]} and {y.shape[1]}; pass "
                         "y with one row per time step of X.")
    if y.shape[-1] == 0:
        raise ValueError("y has 0 features; pass at least one recorded neuron or output.")
    return y, ndim, largest


def check_score_y(y, X_shape: tuple, x_ndim: int) -> np.ndarray:
    """Validate y for scoring: as for fitting, except that a feature unobserved in these trials is allowed.

    (A cross-validation fold may hold only conditions in which some neuron was not recorded.)

    Returns
    -------
    y : ndarray of shape (n_trials, n_timesteps, n_outputs), float32
        1D and 2D y (with 2D X) get the axes of one-step trials and one output, as the predictions have them.
    """
    y, _, _ = _y_array(y, X_shape, x_ndim)
    if np.isnan(y).all():
        raise ValueError("y is NaN everywhere: there is nothing to score; pass trials with observed activity.")
    return y


# ---------------------------------------------------------------------------------------------------------------
# Plausibility: warnings that say how to fix the data
# ---------------------------------------------------------------------------------------------------------------


def _caller_stacklevel() -> int:
    """``stacklevel`` pointing a warning at the first frame outside this package and scikit-learn.

    Called from the function that warns: the warning then names the user's line (a fit, a cross-validation call),
    not a line of the validator, however deep the call path (decorators, meta-estimators).
    """
    inside = (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.abspath(sklearn.__file__)))
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def _warn_scale(largest: float, name: str) -> None:
    """Values far from the O(1) range of the networks' states: the fit degrades quietly, so say how to rescale."""
    low, high = PLAUSIBLE_SCALE[name]
    if largest > high:
        where = f"far above the O(1) range of the networks' states (above {high:g})"
    elif 0 < largest < low:
        where = f"far below the O(1) range of the networks' states (below {low:g})"
    else:
        return
    how = ("TrialStandardScaler as the transformer of a sklearn.compose.TransformedTargetRegressor" if name == "y"
           else "TrialStandardScaler in a pipeline before the estimator")
    warnings.warn(
        f"{name} has values up to {largest:.3g} in magnitude, {where}: fits of data on this scale are poor. "
        f"Rescale {name}: divide it by a constant, or z-score it with sklearn_lowrank.preprocessing.{how}.",
        UserWarning, stacklevel=_caller_stacklevel())


def _check_output_range(y: np.ndarray, output_range: tuple[float, float]) -> None:
    """y against the range a bounded readout can reach (tanh: (-1, 1)); far outside is an error."""
    lo, hi = output_range
    with np.errstate(invalid="ignore"):
        outside = (y < lo) | (y > hi)  # NaN compares False
    n_out = int(outside.sum())
    if not n_out:
        return
    n_obs = int((~np.isnan(y)).sum())
    values = y[outside]
    worst = float(values[np.argmax(np.abs(values))])
    width = hi - lo
    message = (f"{n_out} of the {n_obs} observed entries of y ({100 * n_out / n_obs:.3g}%) lie outside "
               f"[{lo:g}, {hi:g}], the range of output_activation='tanh' (largest |y|: {abs(worst):.3g})")
    fix = ("Scale y into (-1, 1) first (e.g. divide rates by a value above their maximum) or use "
           "output_activation='identity' (e.g. for z-scored activity).")
    if n_out > OUTSIDE_RANGE_SHARE * n_obs or abs(worst) > hi + OUTSIDE_RANGE_MARGIN * width / 2:
        raise ValueError(f"{message}: the network cannot fit them. {fix}")
    warnings.warn(f"{message}; they are fitted as saturated rates. {fix}", UserWarning,
                  stacklevel=_caller_stacklevel())


def _warn_unobserved(empty: np.ndarray) -> None:
    warnings.warn(
        f"Feature(s) {empty.tolist()} of y have no observation in these trials (NaN in every trial and time step), "
        "as in a cross-validation fold without the conditions where a neuron was recorded: their units are fitted "
        "without targets (as hidden units) and their predictions rest on the other neurons. Drop them from y if "
        "they are never recorded.", UserWarning, stacklevel=_caller_stacklevel())


def _warn_ambiguous_2d(X_shape: tuple, y_shape: tuple) -> None:
    warnings.warn(
        f"X and y are 2D, {X_shape} and {y_shape}: read as {X_shape[0]} trials of one time step each, with no "
        f"recurrence over time. If they are one trial of {X_shape[0]} time steps, pass X[None] and y[None] "
        f"(shapes (1, {X_shape[0]}, {X_shape[1]}) and (1, {y_shape[0]}, {y_shape[1]})); for one-step trials, "
        "pass X[:, None] and y[:, None] (or a DataFrame X, or a 1D y) to silence this warning.",
        UserWarning, stacklevel=_caller_stacklevel())


def _refuse_table(X, y) -> None:
    """A table of activity (a DataFrame y, or a 2D y beside a DataFrame X) would be read as one-step trials."""
    if getattr(y, "ndim", None) != 2 or not (hasattr(y, "iloc") or hasattr(X, "iloc")):
        return  # (ndim of arrays and DataFrames: a list is never read as a table)
    table = "y" if hasattr(y, "iloc") else "X"
    raise ValueError(
        f"{table} is a table (a pandas DataFrame) and y is 2D {_shape(y)}: each row would be read as a trial of "
        f"one time step, {_shape(y)[0]} trials without any recurrence over time. For a recording, {TABLE_HELP}; "
        "for trials of one time step, pass arrays X[:, None] and y[:, None] (or a 1D y).")


def _check_lengths(x_lengths, y_lengths) -> None:
    """Lists of trials of different lengths: trial i of y must have as many steps as trial i of X."""
    if x_lengths is None and y_lengths is None or np.array_equal(x_lengths, y_lengths):
        return
    ragged, other = ("X", "y") if x_lengths is not None else ("y", "X")
    lengths = x_lengths if x_lengths is not None else y_lengths
    detail = ("" if x_lengths is None or y_lengths is None else
              f"; trial {int(np.flatnonzero(x_lengths != y_lengths)[0])} differs" if len(x_lengths) == len(y_lengths)
              else f"; {len(x_lengths)} and {len(y_lengths)} trials")
    raise ValueError(f"{ragged} is a list of trials of different lengths ({lengths.min()} to {lengths.max()} time "
                     f"steps) and {other} does not match them{detail}: trial i of y must have as many time steps as "
                     "trial i of X. Pass both as lists of trials of the same lengths.")


def check_trials_X_y(X, y, *, estimator=None, output_range: tuple[float, float] | None = None,
                     allow_2d: bool = True):
    """Validate a recording (X, y): shapes, dtypes, values, and the plausibility of the data.

    The door of ``fit``, also meant for data read from files (the command line): errors are ``ValueError`` or
    ``TypeError`` with messages naming X or y and what to change; implausible data gets a ``UserWarning`` that
    says the fix: 2D X and 2D y (one trial passed as (time, channels) would be read as one-step trials), values
    far from the networks' O(1) scale, a feature of y never observed in these trials (fitted as a hidden unit).

    Parameters
    ----------
    X : array-like of shape (n_trials, n_timesteps, n_inputs)
        Inputs; NaN and inf are errors. ``n_inputs`` may be 0.
    y : array-like of shape (n_trials, n_timesteps, n_outputs)
        Activity or targets; NaN marks a missing observation. With 2D X, (n_trials,) or (n_trials, n_outputs).
    estimator : estimator or None, default=None
        Gets ``n_features_in_`` (and ``feature_names_in_`` for a DataFrame X).
    output_range : (float, float) or None, default=None
        Range the readout can reach ((-1, 1) for tanh rates): y far outside it is an error, slightly outside a
        warning.
    allow_2d : bool, default=True
        False: X and y must be 3D.

    Returns
    -------
    X : ndarray of shape (n_trials, n_timesteps, n_inputs), float32
    y : ndarray of shape (n_trials, n_timesteps, n_outputs), float32, NaN where missing
    x_ndim, y_ndim : int
        The dimensionalities passed.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._validation import check_trials_X_y
    >>> X, y, x_ndim, y_ndim = check_trials_X_y(np.zeros((4, 10, 2)), np.ones((4, 10, 3)))
    >>> X.shape, y.shape, X.dtype
    ((4, 10, 2), (4, 10, 3), dtype('float32'))
    """
    _refuse_table(X, y)
    X_in = X
    X, x_lengths = read_trials(X, "X", fill=0.0)  # ragged: zeros after each trial's end, y NaN there (_ragged)
    y, y_lengths = read_trials(y, "y", fill=np.nan)
    _check_lengths(x_lengths, y_lengths)
    X, x_ndim = check_trials(X, name="X", estimator=estimator, reset=True, allow_2d=allow_2d)
    y, y_ndim, y_largest = _y_array(y, X.shape, x_ndim)
    if x_ndim == 2 and y_ndim == 2 and not hasattr(X_in, "iloc"):
        _warn_ambiguous_2d((X.shape[0], X.shape[-1]), (y.shape[0], y.shape[-1]))
    observed = ~np.isnan(y)
    if not observed.any():
        raise ValueError("y is NaN everywhere: there is nothing to fit; pass trials with observed activity.")
    empty = np.flatnonzero(~observed.any(axis=(0, 1)))
    if empty.size:
        _warn_unobserved(empty)
    if output_range is not None:
        _check_output_range(y, output_range)
    x_largest = max(-float(X.min()), float(X.max())) if X.size else 0.0
    _warn_scale(x_largest, "X")
    _warn_scale(y_largest, "y")
    return X, y, x_ndim, y_ndim


def check_fit_data(estimator, X, y, *, output_range=None):
    """Validate (X, y) for fit; returns X, y (zero where missing), the NaN mask (None when complete), the ndims."""
    X, y, x_ndim, y_ndim = check_trials_X_y(X, y, estimator=estimator, output_range=output_range)
    mask = ~np.isnan(y)
    if mask.all():
        mask = None
    else:
        y = np.where(mask, y, 0.0).astype(np.float32)
    return X, y, mask, x_ndim, y_ndim
