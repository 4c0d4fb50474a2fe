"""Recordings kept as long-format tables: one row per trial and time bin, a column per neuron (and per input)."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from .._ragged import pad_trials

__all__ = ["trials_from_dataframe"]


def _columns(df, names, option: str) -> list:
    names = [names] if isinstance(names, str) else list(names)
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise ValueError(f"{option}: no column(s) {missing} in the table; its columns are {list(df.columns)}.")
    bad = [c for c in names if df[c].dtype.kind not in "biuf"]
    if bad:
        raise TypeError(f"{option}: column(s) {bad} are not numeric ({[str(df[c].dtype) for c in bad]}); pass "
                        "numeric activity and inputs" + (", or name the neuron columns (neurons=[...]) and the "
                        "per-trial labels (per_trial=[...])." if option == "neurons" else "."))
    return names


def _default_neurons(df, taken) -> list:
    """Every column that is not the trial, time, input or per-trial column (a text column is an error, not
    silently dropped: name the neurons then)."""
    neurons = [c for c in df.columns if c not in taken]
    if not neurons:
        raise ValueError("neurons=None found no column besides the trial, time, input and per-trial columns "
                         f"{sorted(map(str, taken))}; name the neuron columns.")
    return _columns(df, neurons, "neurons")


def _check_times(ordered, trial: str, time: str) -> None:
    """Sorted times of each trial: no repeated bin, and (numeric times) no skipped bin, which would shift every
    later bin of the trial in time."""
    repeated = ordered.duplicated([trial, time])
    if repeated.any():
        row = ordered[repeated].iloc[0]
        raise ValueError(f"trial {row[trial]!r} has more than one row at {time}={row[time]!r}; keep one row per "
                         "trial and time bin (aggregate duplicates first, e.g. df.groupby([trial, time]).sum()).")
    if ordered[time].dtype.kind not in "biuf":
        return
    steps = ordered.groupby(trial, sort=False)[time].diff().to_numpy(dtype=np.float64)
    steps = steps[np.isfinite(steps)]
    if not steps.size:
        return
    step = float(np.median(steps))
    skipped = ~np.isclose(steps, step, rtol=1e-3, atol=0.0)
    if skipped.any():
        raise ValueError(f"{time} advances by {step:g} per bin, but some trials skip bins (steps of "
                         f"{float(steps[skipped][0]):g}); add a row for each missing bin (NaN activity, its inputs), "
                         "so that every later bin keeps its time.")


def _per_trial(df, column: str, trial: str, order) -> np.ndarray:
    values = df.groupby(trial, sort=False)[column]
    if (values.nunique(dropna=False) > 1).any():
        bad = values.nunique(dropna=False).idxmax()
        raise ValueError(f"per_trial column {column!r} takes more than one value in trial {bad!r}; a per-trial "
                         "column (a condition label) must be constant within each trial.")
    return values.first().loc[order].to_numpy()


def trials_from_dataframe(df, *, trial, time, neurons=None, inputs=(), per_trial=(), padded=False,
                          return_X_y=False):
    """Trials of a long-format table: one row per trial and time bin, a column per neuron and per input.

    The way in for recordings kept as tables (pandas, a CSV or Parquet file): the rows of each trial are sorted by
    ``time`` and become one trial (n_timesteps_i, n_features); trials are in the sorted order of their ids. Trials may
    have different lengths. NaN in a neuron's column marks a bin where it was not recorded. The rows are read as
    consecutive bins: a missing bin is a row of NaN activity (and the inputs of that bin), not a missing row.

    Parameters
    ----------
    df : pandas.DataFrame
        The table, one row per (trial, time bin).
    trial : str
        Column identifying the trial of each row (sortable values: numbers or strings).
    time : str
        Column ordering the bins within a trial (step indices or times). A repeated (trial, time) is an error, and
        so are numeric times that skip a bin (a step larger than the median step between rows of a trial).
    neurons : str, sequence of str or None, default=None
        Columns of the activity (rates or spike counts per bin). None: every column other than ``trial``,
        ``time``, ``inputs`` and ``per_trial`` (all must then be numeric: name the neurons in a table with other
        columns).
    inputs : str or sequence of str, default=()
        Columns of the inputs (stimuli, context cues); none: trials without inputs (``n_inputs = 0``).
    per_trial : str or sequence of str, default=()
        Columns constant within each trial (condition labels, for ``GroupKFold`` and the report's figures),
        returned one value per trial.
    padded : bool, default=False
        False: X and y are lists of trials, (n_timesteps_i, n_inputs) and (n_timesteps_i, n_neurons) arrays, as
        the estimators take them. True: tensors padded to the longest trial, X with zeros and y with NaN after
        each trial's end (what ``np.savez`` stores and the command line reads).
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``X`` and ``y`` (lists of float64 arrays, or tensors with ``padded=True``), ``trials`` (the trial ids,
        in order), ``lengths`` (n_timesteps_i of each trial), ``neurons`` and ``inputs`` (the column names) and
        ``per_trial`` (dict: column -> ndarray of shape (n_trials,)).
    (X, y) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    ValueError
        A column that is missing, a repeated (trial, time) row, a skipped bin, NaN times, or a per-trial column
        that changes within a trial.
    TypeError
        A non-numeric neuron or input column.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_lowrank.datasets import trials_from_dataframe
    >>> df = pd.DataFrame({"trial": [0, 0, 0, 1, 1], "t": [0, 1, 2, 0, 1], "stim": [0.0, 1, 1, 0, 1],
    ...                    "n0": [0, 2, 1, 0, 3], "n1": [1, 0, 0, 2, 1]})
    >>> X, y = trials_from_dataframe(df, trial="trial", time="t", inputs="stim", return_X_y=True)
    >>> [a.shape for a in y], [a.shape for a in X]
    ([(3, 2), (2, 2)], [(3, 1), (2, 1)])
    >>> trials_from_dataframe(df, trial="trial", time="t", inputs="stim", padded=True).y[1, :, 0]
    array([ 0.,  3., nan])
    """
    neurons, inputs, per_trial = _check_table(df, trial, time, neurons, inputs, per_trial)
    ordered = df.sort_values([time], kind="stable")
    _check_times(ordered, trial, time)
    groups = dict(list(ordered.groupby(trial, sort=True)))
    ids = list(groups)  # sorted: the same trials in the same order however the rows are shuffled
    X, y = [], []
    for trial_id in ids:
        rows = groups[trial_id]
        X.append(rows[inputs].to_numpy(dtype=np.float64).reshape(len(rows), len(inputs)))
        y.append(rows[neurons].to_numpy(dtype=np.float64))
    lengths = np.array([len(a) for a in y], dtype=np.int64)
    if padded:
        X, y = pad_trials(X, "X", 0.0), pad_trials(y, "y", np.nan)
    if return_X_y:
        return X, y
    return Bunch(X=X, y=y, trials=np.asarray(ids), lengths=lengths, neurons=neurons, inputs=inputs,
                 per_trial={c: _per_trial(df, c, trial, ids) for c in per_trial})


def _check_table(df, trial, time, neurons, inputs, per_trial) -> tuple[list, list, list]:
    """The column names, checked: present, numeric where they must be, no NaN trial or time."""
    if not (hasattr(df, "groupby") and hasattr(df, "columns")):
        raise TypeError(f"df must be a pandas DataFrame (one row per trial and time bin); got {type(df).__name__}.")
    if not len(df):
        raise ValueError("df has no rows; pass a table with one row per trial and time bin.")
    for option, name in (("trial", trial), ("time", time)):
        if name not in df.columns:
            raise ValueError(f"{option}={name!r}: no such column; the table's columns are {list(df.columns)}.")
        if df[name].isna().any():
            raise ValueError(f"{option} column {name!r} has missing values; every row needs its trial and time.")
    if df[time].dtype.kind not in "biufmM":
        raise TypeError(f"time column {time!r} has dtype {df[time].dtype}; pass numbers (bin indices, times) or "
                        "datetimes, which sort in time order (text such as '10' sorts before '2').")
    inputs = _columns(df, inputs, "inputs")
    per_trial = [per_trial] if isinstance(per_trial, str) else list(per_trial)
    missing = [c for c in per_trial if c not in df.columns]
    if missing:
        raise ValueError(f"per_trial: no column(s) {missing} in the table; its columns are {list(df.columns)}.")
    taken = {trial, time, *inputs, *per_trial}
    neurons = _default_neurons(df, taken) if neurons is None else _columns(df, neurons, "neurons")
    return neurons, inputs, per_trial
