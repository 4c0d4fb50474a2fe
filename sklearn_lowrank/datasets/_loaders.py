"""Loaders of recordings into trial tensors: the Mante et al. (2013) PFC data and NWB files.

Both return ``(X, y, conditions)`` like the task generators: pseudo-inputs X (n_trials, n_timesteps, n_inputs),
firing rates y (n_trials, n_timesteps, n_units) in spikes/s with NaN for missing observations, and a dict of
per-trial (per-condition) arrays.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..preprocessing import GaussianSmoother

__all__ = ["load_mante_2013", "load_nwb_trials"]


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
# Mante, Sussillo et al. 2013
# ---------------------------------------------------------------------------------------------------------------


def _read_mante_unit(path: Path) -> dict:
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path), simplify_cells=True)
    except Exception as exc:  # scipy raises several types for files that are not MATLAB files
        raise ValueError(f"Cannot read {path} as a MATLAB file: {exc}") from exc
    if "unit" not in mat:
        raise ValueError(f"{path} has no variable 'unit' (found {sorted(k for k in mat if not k.startswith('__'))}); "
                         "expected the layout of the Mante et al. 2013 data (see load_mante_2013).")
    unit = mat["unit"]
    for field in ("response", "task_variable"):
        if field not in unit:
            raise ValueError(f"{path}: the struct 'unit' has no field {field!r}; found {sorted(unit)}.")
    return unit


def _signed_ranks(values: np.ndarray) -> np.ndarray:
    """Signed rank of each value among the unit's levels: +1..+k for positive levels by increasing size, -1..-k
    for negative levels by increasing magnitude, 0 for zero."""
    ranks = np.zeros(values.shape, dtype=np.int64)
    for sign in (1, -1):
        levels = np.unique(np.abs(values[np.sign(values) == sign]))
        idx = np.searchsorted(levels, np.abs(values))
        ranks = np.where(np.sign(values) == sign, sign * (idx + 1), ranks)
    return ranks


def _bin_rows(rows: np.ndarray, times: np.ndarray, start: float, bin_size: float, n_bins: int) -> np.ndarray:
    """Mean of the samples of each row falling in each bin [start + k bin_size, start + (k + 1) bin_size)."""
    idx = np.floor((times - start) / bin_size + 1e-9).astype(np.int64)
    keep = (idx >= 0) & (idx < n_bins)
    sums = np.zeros((rows.shape[0], n_bins))
    counts = np.zeros(n_bins)
    np.add.at(sums.T, idx[keep], rows[:, keep].T)
    np.add.at(counts, idx[keep], 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def load_mante_2013(
    folder,
    *,
    pattern="*.mat",
    bin_size=5.0,
    smoothing_sigma=50.0,
    time_window=None,
    stimulus_duration=750.0,
    context_only_duration=350.0,
    color_field="stim_col2dir",
    coherence="rank",
    correct_only=True,
    min_trials=1,
    missing="nan",
    input_scale=1.0,
    context_scale=1.0,
    default_time_start=-100.0,
    return_info=False,
):
    """Condition-averaged firing rates and pseudo-inputs from the data of Mante, Sussillo et al. (2013).

    The published data ("PFC data", monkeys A and F) hold one MATLAB file per unit, e.g.
    ``ar090313_1_a1_Vstim_100_850_ms.mat``, each with a struct ``unit`` of fields

    - ``response``: (n_trials, n_timebins) spike counts in 1 ms bins, aligned to the onset of the random dots
      (``Vstim_100_850_ms``: from 100 ms before to 850 ms after the onset);
    - ``time``: (n_timebins,) time of each bin in **seconds** from the onset (optional here; without it the bins
      are taken to start at ``default_time_start`` ms, 1 ms apart);
    - ``task_variable``: a struct of (n_trials,) vectors: ``stim_dir`` (signed motion coherence), ``stim_col``
      (signed colour coherence), ``stim_col2dir`` (colour coherence signed by the target the colour points to),
      ``targ_dir`` (choice, +1/-1), ``context`` (+1 motion, -1 colour), ``correct`` (1/0), ``stim_trial``;
    - ``dimension``: the unit's label (optional).

    For each unit the trials (correct ones by default) are grouped by condition (context, motion coherence, colour
    coherence) and averaged at 1 ms, Gaussian-smoothed, then binned. Units are recorded in different sessions,
    so a condition a unit lacks is NaN in y (``missing="nan"``) or the unit is dropped (``missing="drop"``).

    The pseudo-inputs follow the monkey fits of Valente et al. (2022): the context cue is on from the first step
    to the last; the stimulus channels carry the coherences for ``stimulus_duration`` ms from the onset, then a
    delay without stimulus follows. A context-only period of ``context_only_duration`` ms precedes the onset: the
    recorded pre-onset part of it is kept, the rest is prepended with NaN targets (the network runs freely while
    receiving the cue).

    Parameters
    ----------
    folder : str or path-like
        Folder holding the unit files.
    pattern : str, default="*.mat"
        Glob pattern of the unit files in ``folder``.
    bin_size : float, default=5.0
        Width of the time bins in ms (5 ms in the LINT monkey fits).
    smoothing_sigma : float, default=50.0
        Standard deviation in ms of the Gaussian smoothing of the 1 ms condition averages; 0 for none.
    time_window : (float, float) or None, default=None
        (start, stop) in ms from the onset; None: the time axis of the first file.
    stimulus_duration : float, default=750.0
        ms of random dots (750 ms in the experiment).
    context_only_duration : float, default=350.0
        ms of context cue before the onset, prepended as needed.
    color_field : str, default="stim_col2dir"
        Task variable for the colour coherence ("stim_col2dir": signed like the choice it supports, so that the
        correct choice in the colour context is its sign; "stim_col": signed by colour).
    coherence : {"rank", "value"}, default="rank"
        How to match coherences across sessions, whose levels differ: "rank" groups each unit's levels by signed
        rank (largest positive = +k ...), and reports the mean value over units; "value" uses the values as they
        are.
    correct_only : bool, default=True
        Average correct trials only.
    min_trials : int, default=1
        Fewest trials for a (unit, condition) average; fewer gives NaN.
    missing : {"nan", "drop"}, default="nan"
        "nan": keep a unit with any condition, NaN for the others (left out of the loss by the estimators);
        "drop": keep only the units with every condition.
    input_scale : float, default=1.0
        Stimulus input per unit of coherence.
    context_scale : float, default=1.0
        Amplitude of the context cue.
    default_time_start : float, default=-100.0
        Time in ms of the first bin for files without a ``time`` field.
    return_info : bool, default=False
        Also return a dict: ``unit_names`` (file stems), ``time`` (ms from the onset of each step),
        ``n_trials`` (n_conditions, n_units) trial counts, ``periods`` (name -> (start, stop) steps), ``bin_size``.

    Returns
    -------
    X : ndarray of shape (n_conditions, n_timesteps, 4), float32
        Pseudo-inputs: motion coherence, colour coherence, motion-context cue, colour-context cue.
    y : ndarray of shape (n_conditions, n_timesteps, n_units), float32
        Smoothed condition-averaged firing rates (spikes/s); NaN in the prepended steps and for missing
        conditions.
    conditions : dict of ndarray of shape (n_conditions,)
        One entry per condition, sorted by context, motion level and colour level: ``context`` (+1 motion, -1
        colour), ``motion_coherence``, ``color_coherence``, ``motion_level``,
        ``color_level`` (signed ranks, or the values with ``coherence="value"``), ``choice`` (the sign of the
        relevant coherence).
    info : dict
        Only if ``return_info``.

    See Also
    --------
    sklearn_lowrank.preprocessing.ConditionMeanRemover, sklearn_lowrank.preprocessing.TrialStandardScaler :
        centre and scale y before fitting.

    References
    ----------
    .. [1] Mante, Sussillo, Shenoy & Newsome, "Context-dependent computation by recurrent dynamics in prefrontal
       cortex", Nature 2013. Data: "PFC data" from the Institute of Neuroinformatics, University of Zurich.
    .. [2] Valente, Pillow & Ostojic, "Extracting computational mechanisms from neural data using low-rank RNNs",
       NeurIPS 2022.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from scipy.io import savemat
    >>> from sklearn_lowrank.datasets import load_mante_2013
    >>> rng = np.random.default_rng(0)
    >>> n = 16
    >>> tv = {"stim_dir": np.tile([-0.5, 0.5], 8), "stim_col2dir": np.repeat([-0.5, 0.5], 8),
    ...       "context": np.tile(np.repeat([1, -1], 2), 4), "correct": np.ones(n), "targ_dir": np.ones(n)}
    >>> folder = tempfile.mkdtemp()
    >>> savemat(f"{folder}/unit1.mat", {"unit": {"response": rng.poisson(0.02, (n, 300)).astype(float),
    ...                                          "time": (np.arange(300) - 100) / 1000, "task_variable": tv}})
    >>> X, y, cond = load_mante_2013(folder, bin_size=10, stimulus_duration=150)
    >>> X.shape, y.shape, cond["context"].tolist()
    ((8, 55, 4), (8, 55, 1), [-1, -1, -1, -1, 1, 1, 1, 1])
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder={str(folder)!r} is not a directory; pass the folder holding the unit files.")
    files = sorted(folder.glob(pattern))
    if not files:
        raise ValueError(f"No file matches pattern={pattern!r} in folder={str(folder)!r}.")
    bin_size = _positive(bin_size, "bin_size")
    smoothing_sigma = float(smoothing_sigma)
    if not math.isfinite(smoothing_sigma) or smoothing_sigma < 0:
        raise ValueError(f"smoothing_sigma must be a number >= 0 (ms), got {smoothing_sigma!r}.")
    if coherence not in ("rank", "value"):
        raise ValueError(f"coherence must be 'rank' or 'value', got {coherence!r}.")
    if missing not in ("nan", "drop"):
        raise ValueError(f"missing must be 'nan' or 'drop', got {missing!r}.")
    if int(min_trials) != min_trials or min_trials < 1:
        raise ValueError(f"min_trials must be a positive int, got {min_trials!r}.")
    stimulus_duration = _positive(stimulus_duration, "stimulus_duration")
    if context_only_duration < 0:
        raise ValueError(f"context_only_duration must be >= 0 ms, got {context_only_duration!r}.")

    window = None if time_window is None else (float(time_window[0]), float(time_window[1]))
    if window is not None and not window[0] < window[1]:
        raise ValueError(f"time_window must be (start, stop) with start < stop, got {time_window!r}.")
    averages: list[dict] = []
    counts: list[dict] = []
    values: dict = {}  # condition -> (sum of motion, sum of colour, n) over units, for the reported coherences
    names = []
    for path in files:
        unit = _read_mante_unit(path)
        response = np.atleast_2d(np.asarray(unit["response"], dtype=np.float64))
        tv = unit["task_variable"]
        needed = ("stim_dir", color_field, "context") + (("correct",) if correct_only else ())
        absent = [f for f in needed if f not in tv]
        if absent:
            raise ValueError(f"{path}: task_variable has no field(s) {absent}; found {sorted(tv)}. "
                             "Set color_field to the colour coherence variable of your files.")
        var = {f: np.atleast_1d(np.asarray(tv[f], dtype=np.float64)) for f in needed}
        if any(v.shape != (response.shape[0],) for v in var.values()):
            raise ValueError(f"{path}: task variables must have one entry per trial ({response.shape[0]}).")
        if "time" in unit:
            times = np.atleast_1d(np.asarray(unit["time"], dtype=np.float64)) * 1000.0
        else:
            times = default_time_start + np.arange(response.shape[1], dtype=np.float64)
        if times.shape != (response.shape[1],):
            raise ValueError(f"{path}: unit.time has {times.size} entries for {response.shape[1]} time bins.")
        step_ms = float(np.median(np.diff(times))) if times.size > 1 else 1.0
        if window is None:
            window = (float(times[0]), float(times[-1] + step_ms))
        keep = var["correct"] == 1 if correct_only else np.ones(response.shape[0], dtype=bool)
        motion, colour, context = var["stim_dir"], var[color_field], var["context"]
        if coherence == "rank":
            m_level, c_level = _signed_ranks(motion[keep]), _signed_ranks(colour[keep])
        else:
            m_level, c_level = np.round(motion[keep], 6), np.round(colour[keep], 6)
        keys = list(zip(context[keep].astype(int).tolist(), m_level.tolist(), c_level.tolist()))
        groups: dict = {}
        for row, key in enumerate(keys):
            groups.setdefault(key, []).append(row)
        kept = response[keep]
        n_bins = int(round((window[1] - window[0]) / bin_size))
        unit_avg, unit_count = {}, {}
        order = sorted(groups)
        if order:
            mean_rates = np.stack([np.nanmean(kept[groups[k]], axis=0) for k in order]) * (1000.0 / step_ms)
            smooth = _smooth(mean_rates[:, :, None], smoothing_sigma / step_ms)[:, :, 0]
            binned = _bin_rows(smooth, times, window[0], bin_size, n_bins)
            for i, key in enumerate(order):
                unit_avg[key] = binned[i]
                unit_count[key] = len(groups[key])
                rows = np.asarray(groups[key])
                m_sum, c_sum, n_sum = values.get(key, (0.0, 0.0, 0))
                values[key] = (m_sum + motion[keep][rows].mean(), c_sum + colour[keep][rows].mean(), n_sum + 1)
        averages.append(unit_avg)
        counts.append(unit_count)
        names.append(path.stem)

    cond_keys = sorted(values, key=lambda k: (k[0], k[1], k[2]))
    n_cond, n_units = len(cond_keys), len(files)
    if n_cond == 0:
        raise ValueError("No trial left: check correct_only and the task variables of the files.")
    n_bins = int(round((window[1] - window[0]) / bin_size))
    trial_counts = np.zeros((n_cond, n_units), dtype=np.int64)
    rates = np.full((n_cond, n_bins, n_units), np.nan)
    for u in range(n_units):
        for c, key in enumerate(cond_keys):
            trial_counts[c, u] = counts[u].get(key, 0)
            if trial_counts[c, u] >= min_trials:
                rates[c, :, u] = averages[u][key]
    enough = trial_counts >= min_trials
    keep_units = enough.all(axis=0) if missing == "drop" else enough.any(axis=0)
    if not keep_units.any():
        raise ValueError(f"No unit has {'every condition' if missing == 'drop' else 'any condition'} with at "
                         f"least min_trials={min_trials} trials; lower min_trials or use missing='nan'.")
    rates, trial_counts = rates[..., keep_units], trial_counts[:, keep_units]
    names = [n for n, k in zip(names, keep_units) if k]

    # Pseudo-inputs on the time grid, with the context-only period completed in front.
    n_pre = int(math.floor(max(0.0, context_only_duration + min(window[0], 0.0)) / bin_size + 0.5))
    n_steps = n_pre + n_bins
    time = window[0] + bin_size * (np.arange(n_steps) - n_pre)
    y = np.concatenate([np.full((n_cond, n_pre, rates.shape[-1]), np.nan), rates], axis=1)
    context = np.array([k[0] for k in cond_keys])
    motion = np.array([values[k][0] / values[k][2] for k in cond_keys])
    colour = np.array([values[k][1] / values[k][2] for k in cond_keys])
    X = np.zeros((n_cond, n_steps, 4))
    on = (time >= 0) & (time < stimulus_duration)
    X[:, on, 0] = input_scale * motion[:, None]
    X[:, on, 1] = input_scale * colour[:, None]
    X[context == 1, :, 2] = context_scale
    X[context == -1, :, 3] = context_scale
    conditions = {
        "context": context,
        "motion_coherence": motion,
        "color_coherence": colour,
        "motion_level": np.array([k[1] for k in cond_keys]),
        "color_level": np.array([k[2] for k in cond_keys]),
        "choice": np.where(np.where(context == 1, motion, colour) > 0, 1.0, -1.0),
    }
    X, y = X.astype(np.float32), y.astype(np.float32)
    if not return_info:
        return X, y, conditions
    onset = int(np.argmax(on)) if on.any() else n_steps
    stop = int(n_steps - np.argmax(on[::-1])) if on.any() else n_steps
    info = {
        "unit_names": names,
        "time": time,
        "n_trials": trial_counts,
        "periods": {"context_only": (0, onset), "stimulus": (onset, stop), "delay": (stop, n_steps)},
        "bin_size": bin_size,
    }
    return X, y, conditions, info


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
    pynwb = _import_pynwb()
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
    if isinstance(input_columns, str):
        input_columns = [input_columns]
    n_steps = int(math.ceil((stop_ms - start_ms) / bin_size - 1e-9))
    offsets = (start_ms + bin_size * np.arange(n_steps + 1)) / 1000.0  # bin edges in s from the alignment

    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        if nwbfile.units is None or len(nwbfile.units) == 0:
            raise ValueError(f"{path} has no units table (spike times); nothing to bin.")
        if nwbfile.trials is None or len(nwbfile.trials) == 0:
            raise ValueError(f"{path} has no trials table; load_nwb_trials needs trials to align to.")
        trials = nwbfile.trials
        align = _trial_column(trials, align_to, "align_to").astype(np.float64)
        t_start = _trial_column(trials, "start_time", "start_time").astype(np.float64)
        t_stop = _trial_column(trials, "stop_time", "stop_time").astype(np.float64)
        n_units_total = len(nwbfile.units)
        unit_rows = np.arange(n_units_total) if units is None else np.asarray(units, dtype=np.int64)
        if unit_rows.size == 0 or unit_rows.min() < 0 or unit_rows.max() >= n_units_total:
            raise ValueError(f"units must be row indices in [0, {n_units_total}), got {units!r}.")
        spikes = [np.sort(np.asarray(nwbfile.units["spike_times"][int(i)], dtype=np.float64)) for i in unit_rows]
        inputs = []
        for name in input_columns:
            col = _trial_column(trials, name, "input_columns")
            if col.ndim != 1 or not np.issubdtype(col.dtype, np.number):
                raise ValueError(f"input column {name!r} must hold one number per trial; got dtype {col.dtype}.")
            inputs.append(col.astype(np.float64))
        in_start = _trial_column(trials, input_start, "input_start").astype(np.float64)
        in_stop = _trial_column(trials, input_stop, "input_stop").astype(np.float64)
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

    n_trials = align.size
    edges = align[:, None] + offsets[None, :]  # (n_trials, n_steps + 1) in s
    counts = np.stack([np.diff(np.searchsorted(s, edges, side="left"), axis=1) for s in spikes], axis=-1)
    y = counts / (bin_size / 1000.0) if output == "rates" else counts.astype(np.float64)
    if mask_outside_trial:
        outside = (edges[:, :-1] < t_start[:, None] - 1e-12) | (edges[:, :-1] >= t_stop[:, None])
        y[outside] = np.nan
    y = _smooth(y, smoothing_sigma / bin_size)
    X = np.zeros((n_trials, n_steps, len(inputs)))
    bin_starts = edges[:, :-1]
    active = (bin_starts >= in_start[:, None] - 1e-12) & (bin_starts < in_stop[:, None])
    for k, col in enumerate(inputs):
        X[:, :, k] = np.where(active, col[:, None], 0.0)
    X, y = X.astype(np.float32), y.astype(np.float32)
    if ragged:
        lengths = np.maximum(1, (bin_starts < t_stop[:, None]).sum(axis=1))
        return [X[i, :n] for i, n in enumerate(lengths)], [y[i, :n] for i, n in enumerate(lengths)], conditions
    return X, y, conditions
