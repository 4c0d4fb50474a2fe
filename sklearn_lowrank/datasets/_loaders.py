"""Loaders of recordings into trial tensors: NWB files here, the Mante et al. (2013) PFC data in ``_mante.py``.

Both return ``(X, y, conditions)`` like the task generators: pseudo-inputs X (n_trials, n_timesteps, n_inputs),
firing rates y (n_trials, n_timesteps, n_units) in spikes/s with NaN for missing observations, and a dict of
per-trial (per-condition) arrays.
"""

from __future__ import annotations

import math

import numpy as np

from ..preprocessing import GaussianSmoother

__all__ = ["load_nwb_trials"]


# ---------------------------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------------------------


def _positive(value, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}.") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return value


def _smooth(rates: np.ndarray, sigma_steps: float) -> np.ndarray:
    """Gaussian smoothing along axis 1 (NaN-aware, renormalised at the edges)."""
    if sigma_steps <= 0:
        return rates
    return GaussianSmoother(sigma=sigma_steps).fit_transform(rates).astype(np.float64)


# ---------------------------------------------------------------------------------------------------------------
# NWB
# ---------------------------------------------------------------------------------------------------------------


def _import_pynwb():
    try:
        import pynwb
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("load_nwb_trials needs pynwb: pip install pynwb (or sklearn-lowrank[nwb]).") from exc
    return pynwb


def _trial_column(trials, name: str, what: str) -> np.ndarray:
    if name not in trials.colnames:
        raise ValueError(f"{what}={name!r} is not a column of the trials table; columns: {list(trials.colnames)}.")
    return np.asarray(trials[name].data[:])


def load_nwb_trials(
    path,
    *,
    align_to="start_time",
    window=(0.0, 1000.0),
    bin_size=10.0,
    smoothing_sigma=0.0,
    input_columns=(),
    input_start="start_time",
    input_stop="stop_time",
    condition_columns=None,
    units=None,
    mask_outside_trial=False,
    output="rates",
    ragged=False,
):
    """Binned firing rates (or spike counts) of an NWB file's units around each trial, with inputs from the trials.

    Spike times of ``nwbfile.units`` are counted in bins of ``bin_size`` ms over ``window`` around the time
    ``align_to`` of each trial (a column of ``nwbfile.trials``, in seconds) and turned into rates (spikes/s).
    Each numeric column named in ``input_columns`` becomes an input channel equal to the trial's value from its
    ``input_start`` to its ``input_stop`` time, zero elsewhere. Needs the optional dependency pynwb
    (``pip install sklearn-lowrank[nwb]``).

    Parameters
    ----------
    path : str or path-like
        An NWB 2 (HDF5) file with a units table (spike times) and a trials table.
    align_to : str, default="start_time"
        Trials column of the alignment times (s).
    window : (float, float), default=(0.0, 1000.0)
        (start, stop) in ms relative to the alignment time.
    bin_size : float, default=10.0
        ms per time step.
    smoothing_sigma : float, default=0.0
        Standard deviation in ms of a Gaussian smoothing of the rates along time; 0 for none.
    input_columns : sequence of str, default=()
        Numeric trials columns turned into input channels (in this order). Empty: X has 0 inputs.
    input_start, input_stop : str, default="start_time", "stop_time"
        Trials columns (s) bounding the inputs in each trial.
    condition_columns : sequence of str or None, default=None
        Trials columns returned in ``conditions``; None: every one-dimensional column.
    units : sequence of int or None, default=None
        Row indices of the units to keep; None: all.
    mask_outside_trial : bool, default=False
        NaN for the bins that start before the trial's start_time or at or after its stop_time (trials of
        different lengths).
    output : {"rates", "counts"}, default="rates"
        "rates": spikes/s; "counts": spike counts per bin, for ``loss="poisson"`` (then ``smoothing_sigma``
        must be 0).
    ragged : bool, default=False
        Return each trial with its own length: X and y become lists of (n_timesteps_i, ...) arrays holding the
        bins of the window that start before the trial's stop_time (at least one), which the estimators accept
        as they are.

    Returns
    -------
    X : ndarray of shape (n_trials, n_timesteps, len(input_columns)), float32
        A list of (n_timesteps_i, len(input_columns)) arrays with ``ragged=True``.
    y : ndarray of shape (n_trials, n_timesteps, n_units), float32
        Firing rates in spikes/s, or spike counts per bin; a list of (n_timesteps_i, n_units) arrays with
        ``ragged=True``.
    conditions : dict of ndarray of shape (n_trials,)
        The trials columns asked for.

    Examples
    --------
    >>> import tempfile, datetime
    >>> import pytest; pynwb = pytest.importorskip("pynwb")  # the optional dependency
    >>> from pynwb import NWBFile, NWBHDF5IO
    >>> from sklearn_lowrank.datasets import load_nwb_trials
    >>> nwb = NWBFile(session_description="demo", identifier="demo",
    ...               session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    >>> nwb.add_trial_column(name="coherence", description="signed coherence")
    >>> for i, coh in enumerate([0.5, -0.5]):
    ...     nwb.add_trial(start_time=2.0 * i, stop_time=2.0 * i + 1.0, coherence=coh)
    >>> nwb.add_unit(spike_times=[0.105, 0.205, 2.305])
    >>> path = tempfile.mkdtemp() + "/demo.nwb"
    >>> with NWBHDF5IO(path, "w") as io:
    ...     io.write(nwb)
    >>> X, y, cond = load_nwb_trials(path, window=(0, 500), bin_size=100, input_columns=["coherence"])
    >>> X.shape, y.shape, y[0, :, 0].tolist(), cond["coherence"].tolist()
    ((2, 5, 1), (2, 5, 1), [0.0, 10.0, 10.0, 0.0, 0.0], [0.5, -0.5])
    """
    bin_size, start_ms, stop_ms = _check_binning(bin_size, window, smoothing_sigma, output)
    if isinstance(input_columns, str):
        input_columns = [input_columns]
    n_steps = int(math.ceil((stop_ms - start_ms) / bin_size - 1e-9))
    offsets = (start_ms + bin_size * np.arange(n_steps + 1)) / 1000.0  # bin edges in s from the alignment
    record = _read_nwb(path, align_to, units, input_columns, input_start, input_stop, condition_columns)
    edges = record["align"][:, None] + offsets[None, :]  # (n_trials, n_steps + 1) in s
    counts = np.stack([np.diff(np.searchsorted(s, edges, side="left"), axis=1) for s in record["spikes"]], axis=-1)
    y = counts / (bin_size / 1000.0) if output == "rates" else counts.astype(np.float64)
    if mask_outside_trial:
        outside = (edges[:, :-1] < record["t_start"][:, None] - 1e-12) | (edges[:, :-1] >= record["t_stop"][:, None])
        y[outside] = np.nan
    y = _smooth(y, smoothing_sigma / bin_size)
    X = np.zeros((edges.shape[0], n_steps, len(record["inputs"])))
    bin_starts = edges[:, :-1]
    active = (bin_starts >= record["in_start"][:, None] - 1e-12) & (bin_starts < record["in_stop"][:, None])
    for k, col in enumerate(record["inputs"]):
        X[:, :, k] = np.where(active, col[:, None], 0.0)
    X, y, conditions = X.astype(np.float32), y.astype(np.float32), record["conditions"]
    if ragged:
        lengths = np.maximum(1, (bin_starts < record["t_stop"][:, None]).sum(axis=1))
        return [X[i, :n] for i, n in enumerate(lengths)], [y[i, :n] for i, n in enumerate(lengths)], conditions
    return X, y, conditions


def _check_binning(bin_size, window, smoothing_sigma, output):
    """``bin_size`` and the window's (start, stop) in ms, checked with the smoothing and the output kind."""
    bin_size = _positive(bin_size, "bin_size")
    try:
        start_ms, stop_ms = (float(w) for w in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be a (start, stop) pair in ms, got {window!r}.") from None
    if not start_ms < stop_ms:
        raise ValueError(f"window must be (start, stop) with start < stop, got {window!r}.")
    if smoothing_sigma < 0:
        raise ValueError(f"smoothing_sigma must be >= 0 (ms), got {smoothing_sigma!r}.")
    if output not in ("rates", "counts"):
        raise ValueError(f"output must be 'rates' or 'counts', got {output!r}.")
    if output == "counts" and smoothing_sigma > 0:
        raise ValueError("output='counts' returns raw spike counts per bin; set smoothing_sigma=0 (smoothed counts "
                         "are no longer counts) or use output='rates'.")
    return bin_size, start_ms, stop_ms


def _read_nwb(path, align_to, units, input_columns, input_start, input_stop, condition_columns) -> dict:
    """The trial times (s), the sorted spike times of each unit kept, the input columns and the conditions."""
    pynwb = _import_pynwb()
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        if nwbfile.units is None or len(nwbfile.units) == 0:
            raise ValueError(f"{path} has no units table (spike times); nothing to bin.")
        if nwbfile.trials is None or len(nwbfile.trials) == 0:
            raise ValueError(f"{path} has no trials table; load_nwb_trials needs trials to align to.")
        trials = nwbfile.trials
        record = {name: _trial_column(trials, column, what).astype(np.float64) for name, column, what in [
            ("align", align_to, "align_to"), ("t_start", "start_time", "start_time"),
            ("t_stop", "stop_time", "stop_time")]}
        n_units_total = len(nwbfile.units)
        unit_rows = np.arange(n_units_total) if units is None else np.asarray(units, dtype=np.int64)
        if unit_rows.size == 0 or unit_rows.min() < 0 or unit_rows.max() >= n_units_total:
            raise ValueError(f"units must be row indices in [0, {n_units_total}), got {units!r}.")
        record["spikes"] = [np.sort(np.asarray(nwbfile.units["spike_times"][int(i)], dtype=np.float64))
                            for i in unit_rows]
        record["inputs"] = [_input_column(trials, name) for name in input_columns]
        record["in_start"] = _trial_column(trials, input_start, "input_start").astype(np.float64)
        record["in_stop"] = _trial_column(trials, input_stop, "input_stop").astype(np.float64)
        record["conditions"] = _conditions(trials, condition_columns)
    return record


def _input_column(trials, name: str) -> np.ndarray:
    col = _trial_column(trials, name, "input_columns")
    if col.ndim != 1 or not np.issubdtype(col.dtype, np.number):
        raise ValueError(f"input column {name!r} must hold one number per trial; got dtype {col.dtype}.")
    return col.astype(np.float64)


def _conditions(trials, condition_columns) -> dict:
    """The trials columns asked for (None: every plain one-dimensional column), by name."""
    from hdmf.common import DynamicTableRegion, VectorIndex

    names = list(trials.colnames) if condition_columns is None else list(condition_columns)
    conditions = {}
    for name in names:
        _trial_column(trials, name, "condition_columns")  # a clear error for an unknown name
        column = trials[name]
        if isinstance(column, VectorIndex | DynamicTableRegion):
            if condition_columns is None:
                continue  # ragged or reference columns (tags, timeseries) are not per-trial values
            raise ValueError(f"condition column {name!r} is ragged or a reference; pass a plain column.")
        conditions[name] = np.asarray(column.data[:])
    return conditions
