"""Loader of the Mante, Sussillo et al. (2013) PFC data into condition-averaged trial tensors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._loaders import _positive, _smooth

__all__ = ["load_mante_2013"]


# ---------------------------------------------------------------------------------------------------------------
# Reading one unit
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

def _check_mante_args(folder, pattern, bin_size, smoothing_sigma, time_window, stimulus_duration,
                      context_only_duration, coherence, missing, min_trials):
    """Validate the arguments of :func:`load_mante_2013`; return the unit files and the checked numbers."""
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
    return files, bin_size, smoothing_sigma, window, stimulus_duration


def _unit_task_variables(path, unit, response, color_field, correct_only, default_time_start):
    """The task variables needed (one entry per trial) and the time of each bin in ms, checked."""
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
    return var, times


def _unit_condition_averages(path, window, *, bin_size, smoothing_sigma, color_field, coherence, correct_only,
                             default_time_start):
    """One unit's smoothed, binned condition averages.

    Returns the window (the file's own time axis when ``window`` is None), the averages and trial counts keyed by
    condition (context, motion level, colour level), and per condition the mean motion and colour coherence of
    the unit's trials.
    """
    unit = _read_mante_unit(path)
    response = np.atleast_2d(np.asarray(unit["response"], dtype=np.float64))
    var, times = _unit_task_variables(path, unit, response, color_field, correct_only, default_time_start)
    step_ms = float(np.median(np.diff(times))) if times.size > 1 else 1.0
    if window is None:
        window = (float(times[0]), float(times[-1] + step_ms))
    keep = var["correct"] == 1 if correct_only else np.ones(response.shape[0], dtype=bool)
    motion, colour, context = var["stim_dir"][keep], var[color_field][keep], var["context"][keep]
    if coherence == "rank":
        m_level, c_level = _signed_ranks(motion), _signed_ranks(colour)
    else:
        m_level, c_level = np.round(motion, 6), np.round(colour, 6)
    groups: dict = {}
    for row, key in enumerate(zip(context.astype(int).tolist(), m_level.tolist(), c_level.tolist())):
        groups.setdefault(key, []).append(row)
    kept = response[keep]
    n_bins = int(round((window[1] - window[0]) / bin_size))
    averages, counts, coherences = {}, {}, {}
    order = sorted(groups)
    if order:
        mean_rates = np.stack([np.nanmean(kept[groups[k]], axis=0) for k in order]) * (1000.0 / step_ms)
        smooth = _smooth(mean_rates[:, :, None], smoothing_sigma / step_ms)[:, :, 0]
        binned = _bin_rows(smooth, times, window[0], bin_size, n_bins)
        for i, key in enumerate(order):
            rows = np.asarray(groups[key])
            averages[key], counts[key] = binned[i], len(rows)
            coherences[key] = (motion[rows].mean(), colour[rows].mean())
    return window, averages, counts, coherences


def _condition_rates(averages, counts, cond_keys, n_bins, min_trials, missing, names):
    """Rates (n_conditions, n_bins, n_units) with NaN for missing conditions, trial counts, kept unit names."""
    n_cond, n_units = len(cond_keys), len(averages)
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
    names = [n for n, k in zip(names, keep_units) if k]
    return rates[..., keep_units], trial_counts[:, keep_units], names


def _pseudo_inputs(cond_keys, motion, colour, time, stimulus_duration, input_scale, context_scale):
    """Inputs (n_conditions, n_steps, 4) — motion, colour, the two context cues — and the stimulus-on mask."""
    context = np.array([k[0] for k in cond_keys])
    X = np.zeros((len(cond_keys), time.size, 4))
    on = (time >= 0) & (time < stimulus_duration)
    X[:, on, 0] = input_scale * motion[:, None]
    X[:, on, 1] = input_scale * colour[:, None]
    X[context == 1, :, 2] = context_scale
    X[context == -1, :, 3] = context_scale
    return X, on


# ---------------------------------------------------------------------------------------------------------------
# The loader
# ---------------------------------------------------------------------------------------------------------------


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
    files, bin_size, smoothing_sigma, window, stimulus_duration = _check_mante_args(
        folder, pattern, bin_size, smoothing_sigma, time_window, stimulus_duration, context_only_duration,
        coherence, missing, min_trials)
    averages, counts, names = [], [], []
    values: dict = {}  # condition -> (sum of motion, sum of colour, n) over units, for the reported coherences
    for path in files:
        window, unit_avg, unit_count, coherences = _unit_condition_averages(
            path, window, bin_size=bin_size, smoothing_sigma=smoothing_sigma, color_field=color_field,
            coherence=coherence, correct_only=correct_only, default_time_start=default_time_start)
        for key, (m, c) in coherences.items():
            m_sum, c_sum, n_sum = values.get(key, (0.0, 0.0, 0))
            values[key] = (m_sum + m, c_sum + c, n_sum + 1)
        averages.append(unit_avg)
        counts.append(unit_count)
        names.append(path.stem)
    cond_keys = sorted(values)
    if not cond_keys:
        raise ValueError("No trial left: check correct_only and the task variables of the files.")
    n_bins = int(round((window[1] - window[0]) / bin_size))
    rates, trial_counts, names = _condition_rates(averages, counts, cond_keys, n_bins, min_trials, missing, names)

    # The context-only period is completed in front of the recorded window, with NaN targets.
    n_pre = int(math.floor(max(0.0, context_only_duration + min(window[0], 0.0)) / bin_size + 0.5))
    n_steps = n_pre + n_bins
    time = window[0] + bin_size * (np.arange(n_steps) - n_pre)
    y = np.concatenate([np.full((len(cond_keys), n_pre, rates.shape[-1]), np.nan), rates], axis=1)
    motion = np.array([values[k][0] / values[k][2] for k in cond_keys])
    colour = np.array([values[k][1] / values[k][2] for k in cond_keys])
    X, on = _pseudo_inputs(cond_keys, motion, colour, time, stimulus_duration, input_scale, context_scale)
    conditions = {
        "context": np.array([k[0] for k in cond_keys]),
        "motion_coherence": motion,
        "color_coherence": colour,
        "motion_level": np.array([k[1] for k in cond_keys]),
        "color_level": np.array([k[2] for k in cond_keys]),
    }
    relevant = np.where(conditions["context"] == 1, motion, colour)
    conditions["choice"] = np.where(relevant > 0, 1.0, -1.0)
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
