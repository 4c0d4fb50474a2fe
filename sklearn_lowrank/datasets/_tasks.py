"""Task generators: inputs, NaN-masked targets and per-trial conditions of classic cognitive tasks.

The decision tasks and the helpers shared by every generator live here; the memory tasks in ``_memory_tasks.py``.

Every generator is a pure function of its parameters and ``random_state``. It returns

- ``X`` of shape (n_trials, n_timesteps, n_inputs), float32: the noisy inputs;
- ``y`` of shape (n_trials, n_timesteps, n_outputs), float32: the target output in the response window and NaN
  elsewhere (our "not scored" convention, left out of the loss by the estimators);
- ``conditions``: a dict of arrays of shape (n_trials,) describing each trial (coherences, context, choice ...).

Durations are given in ms and turned into steps of ``dt`` ms with ``floor(duration / dt)``, the convention of
Dubreuil, Valente et al. (2022); a response window always keeps at least one step. Networks simulating
these tasks use ``alpha = dt / tau`` (``tau = 100`` ms in the papers, so ``alpha = 0.2`` at ``dt = 20`` ms).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_context_dependent_task", "make_perceptual_decision_task"]

# ---------------------------------------------------------------------------------------------------------------
# Validation and timing helpers
# ---------------------------------------------------------------------------------------------------------------


def _check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def _check_non_negative(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
    return float(value)


def _steps(duration: float, dt: float, name: str, *, minimum: int = 0) -> int:
    """Number of steps of a period: floor(duration / dt), at least ``minimum``."""
    duration = _check_non_negative(duration, name)
    n = int(math.floor(duration / dt + 1e-9))
    return max(n, minimum)


def _check_range(value, name: str) -> tuple[float, float]:
    """A duration given as a number or as a (min, max) pair drawn uniformly per trial."""
    if isinstance(value, Real) and not isinstance(value, bool):
        v = _check_non_negative(value, name)
        return v, v
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of ms or a (min, max) pair, got {value!r}.") from None
    low, high = _check_non_negative(low, name), _check_non_negative(high, name)
    if low > high:
        raise ValueError(f"{name}=({low}, {high}) has min > max; pass (min, max).")
    return low, high


def _check_levels(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a non-empty sequence of finite numbers, got {values!r}.")
    return arr


def _trial_design(n_trials, n_repeats: int, grid: list[tuple], rng) -> np.ndarray:
    """Indices into ``grid``: random draws for an int ``n_trials``, every entry n_repeats times for "grid"."""
    if isinstance(n_trials, str):
        if n_trials != "grid":
            raise ValueError(f"n_trials must be a positive int or 'grid', got {n_trials!r}.")
        if isinstance(n_repeats, bool) or not isinstance(n_repeats, Integral) or n_repeats < 1:
            raise ValueError(f"n_repeats must be a positive int, got {n_repeats!r}.")
        return np.repeat(np.arange(len(grid)), int(n_repeats))
    if isinstance(n_trials, bool) or not isinstance(n_trials, Integral) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive int or 'grid', got {n_trials!r}.")
    return rng.randint(0, len(grid), size=int(n_trials))


def _noisy_inputs(rng, n_trials: int, n_steps: int, n_inputs: int, noise_std: float) -> np.ndarray:
    noise_std = _check_non_negative(noise_std, "input_noise_std")
    X = np.zeros((n_trials, n_steps, n_inputs))
    if noise_std > 0:
        X += noise_std * rng.standard_normal(X.shape)
    return X


def _draw_durations(rng, bounds: tuple[float, float], n_trials: int) -> np.ndarray:
    low, high = bounds
    return np.full(n_trials, low) if low == high else rng.uniform(low, high, size=n_trials)


def _finish(X, y, conditions, info, return_info):
    X, y = X.astype(np.float32), y.astype(np.float32)
    return (X, y, conditions, info) if return_info else (X, y, conditions)


# ---------------------------------------------------------------------------------------------------------------
# Context-dependent decision making (Mante et al. 2013)
# ---------------------------------------------------------------------------------------------------------------


def make_context_dependent_task(
    n_trials=200,
    *,
    dt=20.0,
    fixation_duration=100.0,
    context_only_duration=350.0,
    stimulus_duration=800.0,
    delay_duration=100.0,
    decision_duration=20.0,
    coherences=(-4.0, -2.0, -1.0, 1.0, 2.0, 4.0),
    coherence_scale=0.1,
    context_scale=0.5,
    input_noise_std=0.1,
    n_repeats=1,
    random_state=None,
    return_info=False,
):
    """Context-dependent decision making (Mante et al. 2013), as trained in Dubreuil, Valente et al. (2022).

    Two noisy sensory channels carry coherences ``c1`` and ``c2``; a context cue says which one to report. The
    target is ``sign(c1)`` in context 1 and ``sign(c2)`` in context 2, during the decision period only.

    Periods, in order: fixation (no input but noise), context only (context cue), stimulus (context cue and
    coherences), delay (context cue), decision (no cue; the target is scored). The context cue is on from the end
    of fixation to the start of the decision period.

    Parameters
    ----------
    n_trials : int or "grid", default=200
        Number of trials with random conditions, or "grid" for every (context, c1, c2) combination, each
        ``n_repeats`` times, in the order context, c1, c2.
    dt : float, default=20.0
        Time step in ms. Use ``alpha = dt / tau`` in the network (0.2 for tau = 100 ms).
    fixation_duration : float, default=100.0
        ms (5 steps at dt = 20).
    context_only_duration : float, default=350.0
        ms of context cue before the stimulus (17 steps at dt = 20).
    stimulus_duration : float, default=800.0
        ms (40 steps).
    delay_duration : float, default=100.0
        ms (5 steps).
    decision_duration : float, default=20.0
        ms of response window (1 step at dt = 20; at least one step at any dt).
    coherences : sequence of float, default=(-4, -2, -1, 1, 2, 4)
        Signed coherence levels of both channels.
    coherence_scale : float, default=0.1
        Input amplitude per unit of coherence.
    context_scale : float, default=0.5
        Amplitude of the context cue, the value of the published networks (Dubreuil, Valente et al. 2022). It
        matters for the population analysis: with a much weaker cue, rank-1 networks trained on the task tend to
        solve it without the two gated populations, and networks resampled from two Gaussians of their loadings
        perform worse (``benchmarks/bench_mixture.py --context-scale`` measures both).
    input_noise_std : float, default=0.1
        Standard deviation of the Gaussian noise added to both sensory channels at every step.
    n_repeats : int, default=1
        Repetitions of each condition when ``n_trials="grid"``.
    random_state : int, RandomState instance or None, default=None
    return_info : bool, default=False
        Also return a dict with ``dt`` and ``periods`` (name -> (start, stop) step indices).

    Returns
    -------
    X : ndarray of shape (n_trials, n_timesteps, 4), float32
        Channels: sensory 1, sensory 2, context-1 cue, context-2 cue. At the defaults n_timesteps = 68.
    y : ndarray of shape (n_trials, n_timesteps, 1), float32
        +1 or -1 in the decision period, NaN elsewhere.
    conditions : dict of ndarray of shape (n_trials,)
        ``context`` (1 or 2), ``coherence_1``, ``coherence_2`` (levels from ``coherences``), ``choice`` (+1/-1,
        the correct choice).
    info : dict
        Only if ``return_info``.

    See Also
    --------
    sklearn_lowrank.metrics.decision_accuracy, sklearn_lowrank.metrics.psychometric_matrix

    References
    ----------
    .. [1] Mante, Sussillo, Shenoy & Newsome, "Context-dependent computation by recurrent dynamics in prefrontal
       cortex", Nature 2013.
    .. [2] Dubreuil, Valente, Beiran, Mastrogiuseppe & Ostojic, "The role of population structure in
       computations through neural dynamics", Nature Neuroscience 2022.

    Examples
    --------
    >>> from sklearn_lowrank.datasets import make_context_dependent_task
    >>> X, y, cond = make_context_dependent_task(n_trials=8, random_state=0)
    >>> X.shape, y.shape
    ((8, 68, 4), (8, 68, 1))
    >>> import numpy as np
    >>> bool(np.all(y[:, -1, 0] == cond["choice"])), int(np.isnan(y[0, :-1]).all())
    (True, 1)
    >>> X, y, cond = make_context_dependent_task(n_trials="grid", random_state=0)
    >>> X.shape[0]
    72
    """
    dt = _check_positive(dt, "dt")
    levels = _check_levels(coherences, "coherences")
    n_fix = _steps(fixation_duration, dt, "fixation_duration")
    n_ctx = _steps(context_only_duration, dt, "context_only_duration")
    n_stim = _steps(stimulus_duration, dt, "stimulus_duration")
    n_delay = _steps(delay_duration, dt, "delay_duration")
    n_dec = _steps(decision_duration, dt, "decision_duration", minimum=1)
    coherence_scale = _check_non_negative(coherence_scale, "coherence_scale")
    context_scale = _check_non_negative(context_scale, "context_scale")
    rng = check_random_state(random_state)

    grid = [(ctx, c1, c2) for ctx in (1, 2) for c1 in levels for c2 in levels]
    design = np.array(grid)[_trial_design(n_trials, n_repeats, grid, rng)]
    context = design[:, 0].astype(np.int64)
    c1, c2 = design[:, 1], design[:, 2]
    n = len(design)

    stim_start = n_fix + n_ctx
    stim_stop = stim_start + n_stim
    dec_start = stim_stop + n_delay
    n_steps = dec_start + n_dec
    X = np.zeros((n, n_steps, 4))
    X[:, :, :2] = _noisy_inputs(rng, n, n_steps, 2, input_noise_std)  # no noise on the context cues
    X[:, stim_start:stim_stop, 0] += coherence_scale * c1[:, None]
    X[:, stim_start:stim_stop, 1] += coherence_scale * c2[:, None]
    X[np.arange(n), n_fix:dec_start, 1 + context] = context_scale  # channel 2 for context 1, 3 for context 2

    relevant = np.where(context == 1, c1, c2)
    choice = np.where(relevant > 0, 1.0, -1.0)
    y = np.full((n, n_steps, 1), np.nan)
    y[:, dec_start:, 0] = choice[:, None]
    conditions = {"context": context, "coherence_1": c1, "coherence_2": c2, "choice": choice}
    info = {
        "dt": dt,
        "periods": {
            "fixation": (0, n_fix),
            "context_only": (n_fix, stim_start),
            "stimulus": (stim_start, stim_stop),
            "delay": (stim_stop, dec_start),
            "decision": (dec_start, n_steps),
        },
    }
    return _finish(X, y, conditions, info, return_info)


# ---------------------------------------------------------------------------------------------------------------
# Perceptual decision making (random-dot motion)
# ---------------------------------------------------------------------------------------------------------------


def make_perceptual_decision_task(
    n_trials=200,
    *,
    dt=20.0,
    fixation_duration=100.0,
    stimulus_duration=800.0,
    delay_duration=300.0,
    decision_duration=300.0,
    coherences=(-16.0, -8.0, -4.0, -2.0, -1.0, 1.0, 2.0, 4.0, 8.0, 16.0),
    coherence_scale=0.032,
    input_noise_std=0.03,
    n_repeats=1,
    random_state=None,
    return_info=False,
):
    """Perceptual decision making on random-dot motion: report the sign of a noisy coherence.

    Periods: fixation, stimulus (input = ``coherence_scale * coherence`` plus noise), delay, decision (target
    ``sign(coherence)``). Defaults follow the random-dot-motion task of Dubreuil, Valente et al. (2022): dt = 20
    ms, 100/800/300/300 ms, coherences +-1..16 scaled by 3.2 / 100, input noise 0.03.

    Parameters
    ----------
    n_trials : int or "grid", default=200
        Random trials, or "grid": each coherence ``n_repeats`` times.
    dt : float, default=20.0
        Time step in ms.
    fixation_duration, stimulus_duration, delay_duration, decision_duration : float
        Period durations in ms (defaults 100, 800, 300, 300: 5, 40, 15, 15 steps at dt = 20).
    coherences : sequence of float
        Signed coherence levels.
    coherence_scale : float, default=0.032
        Input amplitude per unit of coherence.
    input_noise_std : float, default=0.03
        Gaussian noise on the input at every step.
    n_repeats : int, default=1
        Repetitions per coherence when ``n_trials="grid"``.
    random_state : int, RandomState instance or None, default=None
    return_info : bool, default=False
        Also return ``{"dt": ..., "periods": {name: (start, stop)}}``.

    Returns
    -------
    X : ndarray of shape (n_trials, n_timesteps, 1), float32
    y : ndarray of shape (n_trials, n_timesteps, 1), float32
        +1/-1 in the decision period, NaN elsewhere.
    conditions : dict of ndarray of shape (n_trials,)
        ``coherence`` and ``choice``.
    info : dict
        Only if ``return_info``.

    References
    ----------
    .. [1] Gold & Shadlen, "The neural basis of decision making", Annu. Rev. Neurosci. 2007.
    .. [2] Dubreuil, Valente et al., Nature Neuroscience 2022.

    Examples
    --------
    >>> from sklearn_lowrank.datasets import make_perceptual_decision_task
    >>> X, y, cond = make_perceptual_decision_task(n_trials=5, random_state=0)
    >>> X.shape, y.shape, sorted(cond)
    ((5, 75, 1), (5, 75, 1), ['choice', 'coherence'])
    """
    dt = _check_positive(dt, "dt")
    levels = _check_levels(coherences, "coherences")
    n_fix = _steps(fixation_duration, dt, "fixation_duration")
    n_stim = _steps(stimulus_duration, dt, "stimulus_duration")
    n_delay = _steps(delay_duration, dt, "delay_duration")
    n_dec = _steps(decision_duration, dt, "decision_duration", minimum=1)
    coherence_scale = _check_non_negative(coherence_scale, "coherence_scale")
    rng = check_random_state(random_state)

    grid = [(c,) for c in levels]
    coherence = np.array(grid)[_trial_design(n_trials, n_repeats, grid, rng), 0]
    n = len(coherence)
    stim_stop = n_fix + n_stim
    dec_start = stim_stop + n_delay
    n_steps = dec_start + n_dec
    X = _noisy_inputs(rng, n, n_steps, 1, input_noise_std)
    X[:, n_fix:stim_stop, 0] += coherence_scale * coherence[:, None]
    choice = np.where(coherence > 0, 1.0, -1.0)
    y = np.full((n, n_steps, 1), np.nan)
    y[:, dec_start:, 0] = choice[:, None]
    info = {
        "dt": dt,
        "periods": {"fixation": (0, n_fix), "stimulus": (n_fix, stim_stop), "delay": (stim_stop, dec_start),
                    "decision": (dec_start, n_steps)},
    }
    return _finish(X, y, {"coherence": coherence, "choice": choice}, info, return_info)
