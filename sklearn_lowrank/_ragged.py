"""Trials of unequal length: padding lists of (n_timesteps_i, n_features) trials into one tensor and back.

The estimators compute on (n_trials, n_timesteps, n_features) tensors. A list of trials of different lengths is
padded to the longest: inputs with zeros after each trial's end (a network's output at step t depends only on the
inputs up to t, so the padding never changes the prediction of a real step) and activity with NaN (missing
observations, left out of the loss and the score). Predictions are cut back to each trial's length.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ragged_lengths", "pad_trials", "pad_if_ragged", "unpad_trials", "check_same_lengths"]


def _is_trial_list(data) -> bool:
    return isinstance(data, list | tuple) and len(data) > 0 and all(hasattr(a, "shape") for a in data)


def ragged_lengths(data) -> np.ndarray | None:
    """Lengths of the trials of a list of 2D arrays of different lengths; None for anything else.

    Parameters
    ----------
    data : list of array-like of shape (n_timesteps_i, n_features), or anything else

    Returns
    -------
    lengths : ndarray of shape (n_trials,) or None
        None when ``data`` is not such a list or all its trials have the same shape (it then stacks as is).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._ragged import ragged_lengths
    >>> ragged_lengths([np.zeros((3, 2)), np.zeros((5, 2))])
    array([3, 5])
    >>> ragged_lengths([np.zeros((3, 2)), np.zeros((3, 2))]) is None
    True
    """
    if not _is_trial_list(data):
        return None
    shapes = [np.shape(a) for a in data]
    if len(set(shapes)) == 1 or any(len(s) != 2 for s in shapes):
        return None
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
    shapes = [np.shape(a) for a in data]
    widths = {s[1] for s in shapes}
    if len(widths) != 1:
        raise ValueError(f"{name} is a list of trials with different numbers of features {sorted(widths)}; every "
                         "trial of a ragged list must have shape (n_timesteps_i, n_features) with the same "
                         "n_features.")
    if min(s[0] for s in shapes) == 0:
        raise ValueError(f"{name} holds a trial with 0 time steps; drop it.")
    arrays = [np.asarray(a) for a in data]
    dtype = np.result_type(np.float32, *[a.dtype for a in arrays if a.dtype.kind in "biuf"])
    out = np.full((len(arrays), max(s[0] for s in shapes), widths.pop()), fill, dtype=dtype)
    for i, a in enumerate(arrays):
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name}[{i}] has dtype {a.dtype}; pass numeric trials.")
        out[i, : a.shape[0]] = a
    return out


def pad_if_ragged(data, name: str, fill: float):
    """:func:`pad_trials` for a list of trials of different lengths; anything else is returned unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._ragged import pad_if_ragged
    >>> pad_if_ragged([np.ones((1, 2)), np.ones((3, 2))], "X", 0.0).shape
    (2, 3, 2)
    """
    return data if ragged_lengths(data) is None else pad_trials(data, name, fill)


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
