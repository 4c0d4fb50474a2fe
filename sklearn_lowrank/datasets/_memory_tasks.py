"""Memory task generators: parametric working memory (Romo et al. 1999) and delayed match-to-sample.

They follow the conventions of the decision tasks (``_tasks.py``): X, NaN-masked y, per-trial conditions.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from ._tasks import _check_positive, _check_range, _draw_durations, _finish, _noisy_inputs, _steps, _trial_design

__all__ = ["make_working_memory_task", "make_delayed_match_to_sample_task"]


# ---------------------------------------------------------------------------------------------------------------
# Parametric working memory (Romo et al. 1999)
# ---------------------------------------------------------------------------------------------------------------


def _romo_pairs(f_min: float = 10.0, f_max: float = 34.0, diffs=(-24, -16, -8, 8, 16, 24)) -> list[tuple]:
    """The (f1, f2) pairs of Dubreuil et al.: integer f1, f2 = f1 + d within [f_min, f_max]."""
    return [(float(base), float(base + d)) for d in diffs
            for base in range(int(max(f_min - d, f_min)), int(min(f_max, f_max - d)) + 1)]


def _delayed_trials(rng, n_trials, dt, steps, delay_bounds, n_inputs, input_noise_std):
    """Empty trials of a delayed comparison: fixation, first stimulus, a delay drawn per trial, second stimulus and
    decision (``steps``: the steps of all periods but the delay). Returns X (input noise only), y (all NaN) and each
    trial's delay in steps; every trial is as long as one with the longest delay."""
    delays = np.array([_steps(d, dt, "delay_duration") for d in _draw_durations(rng, delay_bounds, n_trials)])
    n_steps = sum(steps) + _steps(delay_bounds[1], dt, "delay_duration")
    X = _noisy_inputs(rng, n_trials, n_steps, n_inputs, input_noise_std)
    return X, np.full((n_trials, n_steps, 1), np.nan), delays


def make_working_memory_task(
    n_trials=200,
    *,
    dt=20.0,
    fixation_duration=100.0,
    stimulus_1_duration=100.0,
    delay_duration=(500.0, 1000.0),
    stimulus_2_duration=100.0,
    decision_duration=100.0,
    frequency_pairs=None,
    input_noise_std=0.03,
    n_repeats=1,
    random_state=None,
    return_info=False,
):
    """Parametric working memory (Romo et al. 1999): is the first vibration frequency f1 larger than f2?

    Periods: fixation, stimulus 1 (input ``(f1 - f_mid) / f_span``), a delay of random duration, stimulus 2
    (``(f2 - f_mid) / f_span``), decision (target +1 if f1 > f2 else -1). Trials are padded at the end to the
    longest delay with NaN targets. Timing as in Dubreuil, Valente et al. (2022): dt = 20 ms, 100 ms fixation,
    100 ms stimuli, a delay uniform in [500, 1000] ms, 100 ms decision; frequencies 10 to 34 Hz with
    differences of +-8, 16 or 24 Hz. f_mid and f_span are the middle and the range of all frequencies used.

    Parameters
    ----------
    n_trials : int or "grid", default=200
        Random trials, or "grid": each frequency pair ``n_repeats`` times (delays still random).
    dt : float, default=20.0
        Time step in ms.
    fixation_duration, stimulus_1_duration, stimulus_2_duration, decision_duration : float
        ms.
    delay_duration : float or (float, float), default=(500.0, 1000.0)
        Delay in ms, or a (min, max) range drawn uniformly per trial.
    frequency_pairs : sequence of (f1, f2) or None, default=None
        None: the pairs of Dubreuil et al. (f1 integer in [10, 34], f2 = f1 +- 8, 16, 24 within [10, 34]).
    input_noise_std : float, default=0.03
        Gaussian noise on the input at every step.
    n_repeats : int, default=1
    random_state : int, RandomState instance or None, default=None
    return_info : bool, default=False
        Also return ``{"dt": ..., "f_mid": ..., "f_span": ...}``.

    Returns
    -------
    X : ndarray of shape (n_trials, n_timesteps, 1), float32
    y : ndarray of shape (n_trials, n_timesteps, 1), float32
        +1/-1 in each trial's decision period, NaN elsewhere.
    conditions : dict of ndarray of shape (n_trials,)
        ``f1``, ``f2``, ``choice``, ``delay_steps``, ``decision_start`` (step index).
    info : dict
        Only if ``return_info``.

    References
    ----------
    .. [1] Romo, Brody, Hernandez & Lemus, "Neuronal correlates of parametric working memory in the prefrontal
       cortex", Nature 1999.

    Examples
    --------
    >>> from sklearn_lowrank.datasets import make_working_memory_task
    >>> X, y, cond = make_working_memory_task(n_trials=4, random_state=0)
    >>> X.shape
    (4, 70, 1)
    >>> bool(((cond["f1"] > cond["f2"]) == (cond["choice"] > 0)).all())
    True
    """
    dt = _check_positive(dt, "dt")
    n_fix = _steps(fixation_duration, dt, "fixation_duration")
    n_s1 = _steps(stimulus_1_duration, dt, "stimulus_1_duration")
    n_s2 = _steps(stimulus_2_duration, dt, "stimulus_2_duration")
    n_dec = _steps(decision_duration, dt, "decision_duration", minimum=1)
    delay_bounds = _check_range(delay_duration, "delay_duration")
    pairs = _romo_pairs() if frequency_pairs is None else [tuple(p) for p in frequency_pairs]
    arr = np.asarray(pairs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"frequency_pairs must be a non-empty sequence of (f1, f2) pairs, got {frequency_pairs!r}.")
    if np.any(arr[:, 0] == arr[:, 1]):
        raise ValueError("frequency_pairs must not contain pairs with f1 == f2: the answer would be undefined.")
    rng = check_random_state(random_state)
    design = arr[_trial_design(n_trials, n_repeats, pairs, rng)]
    f1, f2 = design[:, 0], design[:, 1]
    n = len(design)
    f_mid, f_span = (arr.max() + arr.min()) / 2.0, max(arr.max() - arr.min(), 1e-12)

    X, y, delays = _delayed_trials(rng, n, dt, (n_fix, n_s1, n_s2, n_dec), delay_bounds, 1, input_noise_std)
    choice = np.where(f1 > f2, 1.0, -1.0)
    s2_start = n_fix + n_s1 + delays
    for i in range(n):
        X[i, n_fix : n_fix + n_s1, 0] += (f1[i] - f_mid) / f_span
        X[i, s2_start[i] : s2_start[i] + n_s2, 0] += (f2[i] - f_mid) / f_span
        y[i, s2_start[i] + n_s2 : s2_start[i] + n_s2 + n_dec, 0] = choice[i]
    conditions = {"f1": f1, "f2": f2, "choice": choice, "delay_steps": delays,
                  "decision_start": s2_start + n_s2}
    info = {"dt": dt, "f_mid": f_mid, "f_span": f_span}
    return _finish(X, y, conditions, info, return_info)


# ---------------------------------------------------------------------------------------------------------------
# Delayed match-to-sample
# ---------------------------------------------------------------------------------------------------------------


def make_delayed_match_to_sample_task(
    n_trials=200,
    *,
    dt=20.0,
    fixation_duration=100.0,
    sample_duration=500.0,
    delay_duration=(500.0, 3000.0),
    test_duration=500.0,
    decision_duration=1000.0,
    input_noise_std=0.03,
    n_repeats=1,
    random_state=None,
    return_info=False,
):
    """Delayed match-to-sample: do the sample and the test stimulus (A or B) match?

    Two input channels code stimulus A and B (one is 1 while a stimulus is shown). Periods: fixation, sample, a
    delay of random duration, test, decision (target +1 for a match, -1 otherwise). Trials are padded at the end
    to the longest delay with NaN targets. Timing as in Dubreuil, Valente et al. (2022): dt = 20 ms, 100 ms
    fixation, 500 ms stimuli, a delay uniform in [500, 3000] ms, 1000 ms decision, input noise 0.03.

    Parameters
    ----------
    n_trials : int or "grid", default=200
        Random trials, or "grid": the four (sample, test) combinations A-A, A-B, B-A, B-B, ``n_repeats`` times each.
    dt : float, default=20.0
        Time step in ms.
    fixation_duration, sample_duration, test_duration, decision_duration : float
        ms.
    delay_duration : float or (float, float), default=(500.0, 3000.0)
        Delay in ms, or a (min, max) range drawn uniformly per trial.
    input_noise_std : float, default=0.03
    n_repeats : int, default=1
    random_state : int, RandomState instance or None, default=None
    return_info : bool, default=False
        Also return ``{"dt": ...}``.

    Returns
    -------
    X : ndarray of shape (n_trials, n_timesteps, 2), float32
    y : ndarray of shape (n_trials, n_timesteps, 1), float32
    conditions : dict of ndarray of shape (n_trials,)
        ``sample`` and ``test`` (0 for A, 1 for B), ``match`` (bool), ``choice`` (+1/-1), ``delay_steps``,
        ``decision_start``.
    info : dict
        Only if ``return_info``.

    References
    ----------
    .. [1] Miyashita, "Neuronal correlate of visual associative long-term memory in the primate temporal cortex",
       Nature 1988.

    Examples
    --------
    >>> from sklearn_lowrank.datasets import make_delayed_match_to_sample_task
    >>> X, y, cond = make_delayed_match_to_sample_task(n_trials="grid", random_state=0)
    >>> X.shape, cond["choice"].tolist()
    ((4, 255, 2), [1.0, -1.0, -1.0, 1.0])
    """
    dt = _check_positive(dt, "dt")
    n_fix = _steps(fixation_duration, dt, "fixation_duration")
    n_s1 = _steps(sample_duration, dt, "sample_duration")
    n_s2 = _steps(test_duration, dt, "test_duration")
    n_dec = _steps(decision_duration, dt, "decision_duration", minimum=1)
    delay_bounds = _check_range(delay_duration, "delay_duration")
    rng = check_random_state(random_state)
    grid = [(0, 0), (0, 1), (1, 0), (1, 1)]
    design = np.array(grid)[_trial_design(n_trials, n_repeats, grid, rng)]
    sample, test = design[:, 0], design[:, 1]
    n = len(design)
    X, y, delays = _delayed_trials(rng, n, dt, (n_fix, n_s1, n_s2, n_dec), delay_bounds, 2, input_noise_std)
    match = sample == test
    choice = np.where(match, 1.0, -1.0)
    test_start = n_fix + n_s1 + delays
    for i in range(n):
        X[i, n_fix : n_fix + n_s1, sample[i]] += 1.0
        X[i, test_start[i] : test_start[i] + n_s2, test[i]] += 1.0
        y[i, test_start[i] + n_s2 : test_start[i] + n_s2 + n_dec, 0] = choice[i]
    conditions = {"sample": sample, "test": test, "match": match, "choice": choice, "delay_steps": delays,
                  "decision_start": test_start + n_s2}
    return _finish(X, y, conditions, {"dt": dt}, return_info)
