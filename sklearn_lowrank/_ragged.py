"""The one reader of trials: tensors, NaN-padded tensors, lists of trials (ragged or not) and labelled arrays.

The estimators, the metrics and the command line compute on (n_trials, n_timesteps, n_features) tensors.
:func:`read_trials` turns what a user holds into one: an xarray ``DataArray`` is read by its dims ("trial",
"time" and a third, e.g. "neuron"), a list of equally shaped trials is stacked, and a list of trials of different
lengths is padded to the longest: inputs with zeros after each trial's end (a network's output at step t depends
only on the inputs up to t, so the padding never changes the prediction of a real step) and activity with NaN
(missing observations, left out of the loss and the score). Predictions are cut back to each trial's length.
Long-format tables (one row per trial and time bin) are read by
:func:`sklearn_lowrank.datasets.trials_from_dataframe`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["read_trials", "read_trial_pair", "observed_lengths", "ragged_lengths", "pad_trials",
           "unpad_trials", "check_same_lengths"]

#: Names of the dims of a DataArray of trials, in the order of the tensor's axes (the third takes any name).
TRIAL_DIMS = ("trial", "time")
TABLE_HELP = ("a long-format table (one row per trial and time bin) is read by "
              "sklearn_lowrank.datasets.trials_from_dataframe(df, trial=..., time=..., neurons=..., inputs=...)")


def _is_trial_list(data) -> bool:
    return isinstance(data, list | tuple) and len(data) > 0 and all(hasattr(a, "shape") for a in data)


def _is_dataarray(data) -> bool:
    return hasattr(data, "dims") and hasattr(data, "transpose") and hasattr(data, "values")


def _from_dataarray(data, name: str) -> np.ndarray:
    """The values of a labelled array with dims ("trial", "time", <features>), in that order, whatever its own."""
    dims = tuple(str(d) for d in data.dims)
    if data.ndim == 3 and set(TRIAL_DIMS) <= set(dims):
        third = next(d for d in dims if d not in TRIAL_DIMS)
        return np.asarray(data.transpose(*TRIAL_DIMS, third).values)
    raise ValueError(f"{name} is a DataArray with dims {dims}; name its dims ('trial', 'time', 'neuron') (any name "
                     f"for the third: neurons or inputs), e.g. {name}.rename({{...}}), so that its axes are read by "
                     "name.")


def _trial_list_shapes(data, name: str) -> list:
    """The shapes of a list of trials, each (n_timesteps_i, n_features) with one n_features; messages say which."""
    shapes = [tuple(np.shape(a)) for a in data]
    bad = next((i for i, s in enumerate(shapes) if len(s) != 2), None)
    if bad is not None:
        raise ValueError(f"{name} is a list of trials, and {name}[{bad}] has shape {shapes[bad]}; each trial must "
                         "be a 2D array (n_timesteps_i, n_features).")
    widths = [s[1] for s in shapes]
    odd = next((i for i, w in enumerate(widths) if w != widths[0]), None)
    if odd is not None:
        raise ValueError(f"{name} is a list of trials with different numbers of features (neurons or inputs): "
                         f"{name}[0] has {widths[0]} and {name}[{odd}] has {widths[odd]} (the second axis). Every "
                         "trial must hold the same features in the same order; a neuron not recorded in a trial "
                         "is a column of NaN there.")
    if min(s[0] for s in shapes) == 0:
        raise ValueError(f"{name} holds a trial with 0 time steps; drop it.")
    return shapes


def read_trials(data, name: str, *, fill: float = np.nan, ragged: bool = True):
    """Read trials as a tensor: the one path of X and y into the estimators, the metrics and the command line.

    Parameters
    ----------
    data : array-like of shape (n_trials, n_timesteps, n_features), list of array-like of shape \
            (n_timesteps_i, n_features), or xarray.DataArray with dims ("trial", "time", <features>)
        Trials as a (NaN-padded) tensor, a list of trials (of equal or different lengths) or a labelled array
        (read by its dims, in any order). Anything else (2D arrays, DataFrames, None) is returned unchanged,
        for the validators to judge.
    name : str
        The argument's name, used in every message.
    fill : float, default=np.nan
        Value after the end of a shorter trial: NaN for activity (unobserved), 0 for inputs.
    ragged : bool, default=True
        False: trials of different lengths are an error (e.g. for transformers of equal-length trials).

    Returns
    -------
    trials : ndarray of shape (n_trials, n_timesteps, n_features), or ``data`` unchanged
    lengths : ndarray of shape (n_trials,) or None
        The length of each trial of a list of trials of different lengths; None otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._ragged import read_trials
    >>> trials, lengths = read_trials([np.ones((2, 1)), np.ones((3, 1))], "y")
    >>> trials[:, :, 0], lengths
    (array([[ 1.,  1., nan],
           [ 1.,  1.,  1.]]), array([2, 3]))
    """
    if _is_dataarray(data):
        return _from_dataarray(data, name), None
    if not _is_trial_list(data):
        return data, None
    if len({np.shape(a) for a in data}) == 1:  # equally shaped trials (or rows of one-step trials) stack
        return np.stack([np.asarray(a) for a in data]), None
    shapes = _trial_list_shapes(data, name)
    if not ragged:
        raise ValueError(f"{name} is a list of trials of different lengths ({min(s[0] for s in shapes)} to "
                         f"{max(s[0] for s in shapes)} time steps), which this function does not pad; pad them "
                         "(NaN after each trial's end) or crop them to a common length first.")
    return pad_trials(data, name, fill), np.array([s[0] for s in shapes], dtype=np.int64)


def read_trial_pair(first, second, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two sets of the same trials (recorded and predicted) as float64 arrays, read by :func:`read_trials`.

    The reader of the metrics: ragged lists are padded with NaN (left out of every score, as unobserved), and
    lists of different lengths are an error naming both arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._ragged import read_trial_pair
    >>> a, b = read_trial_pair([np.ones((1, 2)), np.ones((3, 2))], [np.ones((1, 2)), np.ones((3, 2))], ("a", "b"))
    >>> a.shape, int(np.isnan(b).sum())
    ((2, 3, 2), 4)
    """
    a, a_lengths = read_trials(first, names[0])
    b, b_lengths = read_trials(second, names[1])
    if (a_lengths is not None or b_lengths is not None) and not np.array_equal(a_lengths, b_lengths):
        raise ValueError(f"{names[0]} and {names[1]} must hold the same trials with the same numbers of time steps; "
                         f"got {_describe(a_lengths, a)} and {_describe(b_lengths, b)}.")
    return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)


def _describe(lengths, arr) -> str:
    if lengths is not None:
        return f"a list of {len(lengths)} trials of {lengths.min()} to {lengths.max()} steps"
    return f"an array of shape {np.shape(arr)}"


def observed_lengths(y: np.ndarray) -> np.ndarray:
    """Length of each trial of a NaN-padded tensor: one past its last step with an observed (non-NaN) entry.

    Steps after it are padding (a shorter trial); NaN steps before it (a pre-period, a gap) belong to the trial.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._ragged import observed_lengths
    >>> y = np.ones((2, 4, 1)); y[0, 2:] = np.nan; y[1, 0] = np.nan
    >>> observed_lengths(y)
    array([2, 4])
    """
    observed = ~np.isnan(np.asarray(y, dtype=np.float64)).all(axis=-1)
    any_obs = observed.any(axis=1)
    last = observed.shape[1] - np.argmax(observed[:, ::-1], axis=1)
    return np.where(any_obs, last, 0).astype(np.int64)


def ragged_lengths(data) -> np.ndarray | None:
    """Lengths of the trials of a list of 2D arrays of different lengths; None for anything else.

    Parameters
    ----------
    data : list of array-like of shape (n_timesteps_i, n_features), or anything else

    Returns
    -------
    lengths : ndarray of shape (n_trials,) or None
        None when ``data`` is not such a list or all its trials have the same length (it then stacks as is).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._ragged import ragged_lengths
    >>> ragged_lengths([np.zeros((3, 2)), np.zeros((5, 2))])
    array([3, 5])
    >>> ragged_lengths([np.zeros((3, 2)), np.zeros((3, 2))]) is None
    True
    >>> ragged_lengths([np.zeros((3, 2)), np.zeros((3, 4))]) is None  # equal lengths: no padding
    True
    """
    if not _is_trial_list(data):
        return None
    shapes = [np.shape(a) for a in data]
    if any(len(s) != 2 for s in shapes) or len({s[0] for s in shapes}) == 1:
        return None  # equal lengths stack (different widths are the reader's error, not a length mismatch)
    return np.array([s[0] for s in shapes], dtype=np.int64)


def pad_trials(data, name: str, fill: float) -> np.ndarray:
    """Pad a list of 2D trials of different lengths to (n_trials, max length, n_features) with ``fill``.

    Parameters
    ----------
    data : list of array-like of shape (n_timesteps_i, n_features)
    name : str
        Argument name for error messages ("X" or "y").
    fill : float
        0 for inputs, NaN for activity.

    Returns
    -------
    padded : ndarray of shape (n_trials, max_i n_timesteps_i, n_features)
        float64 (or the common float dtype of the trials), converted to float32 by the validator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._ragged import pad_trials
    >>> pad_trials([np.ones((1, 1)), np.ones((2, 1))], "y", np.nan)[:, :, 0]
    array([[ 1., nan],
           [ 1.,  1.]])
    """
    shapes = _trial_list_shapes(data, name)
    arrays = [np.asarray(a) for a in data]
    dtype = np.result_type(np.float32, *[a.dtype for a in arrays if a.dtype.kind in "biuf"])
    out = np.full((len(arrays), max(s[0] for s in shapes), shapes[0][1]), fill, dtype=dtype)
    for i, a in enumerate(arrays):
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name}[{i}] has dtype {a.dtype}; pass numeric trials.")
        out[i, : a.shape[0]] = a
    return out


def unpad_trials(padded: np.ndarray, lengths: np.ndarray) -> list:
    """Cut each trial of a padded (n_trials, n_timesteps, ...) array back to its length.

    Parameters
    ----------
    padded : ndarray of shape (n_trials, n_timesteps, ...)
    lengths : ndarray of shape (n_trials,)

    Returns
    -------
    trials : list of ndarray of shape (lengths[i], ...)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._ragged import unpad_trials
    >>> [t.shape for t in unpad_trials(np.zeros((2, 5, 3)), np.array([2, 5]))]
    [(2, 3), (5, 3)]
    """
    return [padded[i, : int(n)] for i, n in enumerate(lengths)]


def check_same_lengths(X, y) -> None:
    """X and y given as ragged lists must have trials of the same lengths (the padding would hide a mismatch).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._ragged import check_same_lengths
    >>> check_same_lengths([np.zeros((2, 1)), np.zeros((3, 1))], [np.zeros((2, 4)), np.zeros((3, 4))])
    """
    x_lengths, y_lengths = ragged_lengths(X), ragged_lengths(y)
    if not (x_lengths is None and y_lengths is None) and not np.array_equal(x_lengths, y_lengths):
        raise ValueError("X or y is a list of trials of different lengths, and trial i of y must have as many time "
                         "steps as trial i of X; pass both as lists of trials of the same lengths.")
