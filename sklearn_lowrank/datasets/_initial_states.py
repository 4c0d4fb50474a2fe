"""Teachers whose trials differ by where they start: per-trial latent initial states, and rotational dynamics.

Both networks are low rank and every trial starts in the span of the connectivity vectors m (``x_0 = m kappa_0``),
from a latent state ``kappa_0`` of its own (:func:`make_trial_state_teacher`) or of its condition
(:func:`make_rotational_dynamics`, autonomous: no inputs at all).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._spikes import _LINKS
from ._teacher import make_low_rank_teacher, simulate_rnn

__all__ = ["make_rotational_dynamics", "make_trial_state_teacher"]

_OUTPUTS = ("states", "rates", "counts")


def _observe(states, output, rng, rate_range, bin_size):
    """y from the states: x, tanh(x), or Poisson counts at ``softplus(gain_i x_i + offset_i)`` per bin."""
    if output == "states":
        return states, None
    if output == "rates":
        return np.tanh(states), None
    f, f_inv = _LINKS["softplus"]
    z_lo, z_hi = f_inv(np.asarray(rate_range, dtype=np.float64) * bin_size / 1000.0)
    q_lo, q_hi = np.percentile(states.reshape(-1, states.shape[-1]), [2.0, 98.0], axis=0)
    gain = (z_hi - z_lo) / np.maximum(q_hi - q_lo, 1e-6)
    rates = f(gain * states + (z_lo - gain * q_lo))
    return rng.poisson(rates).astype(np.float64), rates


def _check_output(output, noise_std):
    if output not in _OUTPUTS:
        raise ValueError(f"output must be one of {_OUTPUTS}, got {output!r}.")
    if noise_std < 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std!r}.")


def _run_trials(net, X, kappa0, condition, *, noise_std, output, rng, rate_range, bin_size, return_X_y):
    """Run the teacher ``net`` (m, n, J, input_weights, alpha) from the latent starts ``kappa0`` of the trials,
    with recurrent noise and without, observe the runs as ``output`` and return them as the teachers do."""
    x0 = kappa0 @ net.m.T
    states = simulate_rnn(net.J, net.input_weights, X, alpha=net.alpha, initial_state=x0, noise_std=noise_std,
                          random_state=rng)
    clean = simulate_rnn(net.J, net.input_weights, X, alpha=net.alpha, initial_state=x0)
    y, rates = _observe(np.concatenate([states, clean]), output, rng, rate_range, bin_size)
    n = condition.size
    if return_X_y:
        return X.astype(np.float32), y[:n].astype(np.float32)
    return Bunch(X=X.astype(np.float32), y=y[:n].astype(np.float32), states=states, clean_states=clean,
                 initial_states=x0, initial_latents=kappa0, rates=None if rates is None else rates[:n],
                 clean_rates=None if rates is None else rates[n:], condition=condition, m=net.m, n=net.n,
                 J=net.J, input_weights=net.input_weights, alpha=net.alpha)


def make_trial_state_teacher(
    n_units=100,
    rank=2,
    n_inputs=1,
    n_conditions=20,
    n_trials_per_condition=1,
    n_timesteps=50,
    *,
    initial_std=1.0,
    alpha=0.2,
    noise_std=0.02,
    output="states",
    rate_range=(5.0, 40.0),
    bin_size=10.0,
    random_state=None,
    return_X_y=False,
):
    """A low-rank teacher whose trials start from different latent states: variability no input explains.

    The network and input pulses of :func:`make_low_rank_teacher` (``n_conditions`` input patterns, each
    repeated on ``n_trials_per_condition`` trials), but trial k starts from ``x_0 = m kappa_0^k`` with
    ``kappa_0^k ~ N(0, initial_std^2 I_rank)`` drawn per trial: trials of one condition differ by their start
    only, and a model with one shared initial state can explain none of those differences.

    Parameters
    ----------
    n_units : int, default=100
    rank : int, default=2
    n_inputs : int, default=1
    n_conditions : int, default=20
    n_trials_per_condition : int, default=1
    n_timesteps : int, default=50
    initial_std : float, default=1.0
        Standard deviation of each latent coordinate of the initial states.
    alpha : float, default=0.2
    noise_std : float, default=0.02
        Recurrent noise of each trial (not scaled by sqrt(alpha)).
    output : {"states", "rates", "counts"}, default="states"
        y is x, tanh(x), or Poisson spike counts per bin with expected counts ``softplus(gain_i x_i + offset_i)``,
        the gain and offset of each neuron mapping its 2nd and 98th percentiles to ``rate_range`` (Hz).
    rate_range : (float, float), default=(5.0, 40.0)
    bin_size : float, default=10.0
        Bin width in ms (counts only).
    random_state : int, RandomState instance or None, default=None
    return_X_y : bool, default=False

    Returns
    -------
    data : Bunch
        ``X`` (n_trials, n_timesteps, n_inputs) and ``y`` (n_trials, n_timesteps, n_units) float32 with
        n_trials = n_conditions * n_trials_per_condition (condition-major); ``states`` (noisy) and
        ``clean_states`` (without recurrent noise, from the same starts), ``initial_states`` (n_trials, n_units),
        ``initial_latents`` (n_trials, rank), ``rates`` (expected counts per bin, counts only, from the noisy
        states) and ``clean_rates``, ``condition``, ``m``, ``n``, ``J``, ``input_weights``, ``alpha``.
    (X, y) : tuple, if ``return_X_y``.

    Examples
    --------
    >>> from sklearn_lowrank.datasets import make_trial_state_teacher
    >>> d = make_trial_state_teacher(n_units=30, n_conditions=4, n_trials_per_condition=3, n_timesteps=20,
    ...                              random_state=0)
    >>> d.X.shape, d.y.shape, d.initial_states.shape, d.condition.tolist()[:4]
    ((12, 20, 1), (12, 20, 30), (12, 30), [0, 0, 0, 1])
    """
    _check_output(output, noise_std)
    rng = check_random_state(random_state)
    net = make_low_rank_teacher(n_units=n_units, rank=rank, n_inputs=n_inputs, n_trials=n_conditions,
                                n_timesteps=n_timesteps, alpha=alpha, noise_std=0.0, random_state=rng)
    condition = np.repeat(np.arange(n_conditions), n_trials_per_condition)
    X = net.X[condition]
    kappa0 = initial_std * rng.standard_normal((condition.size, rank))
    return _run_trials(net, X, kappa0, condition, noise_std=noise_std, output=output, rng=rng,
                       rate_range=rate_range, bin_size=bin_size, return_X_y=return_X_y)


def make_rotational_dynamics(
    n_units=100,
    n_conditions=8,
    n_trials_per_condition=1,
    n_timesteps=60,
    *,
    frequency=0.5,
    growth=1.0,
    radius=(1.0, 2.0),
    alpha=0.2,
    noise_std=0.02,
    output="states",
    rate_range=(5.0, 40.0),
    bin_size=10.0,
    random_state=None,
    return_X_y=False,
):
    """Autonomous rotational dynamics: conditions differ only by their preparatory state, no inputs follow it.

    A rank-2 network whose latent overlap ``n^T m / N`` is ``[[growth, -frequency], [frequency, growth]]`` (plus
    a small independent part): near the origin the latents rotate by about ``alpha * frequency`` radians per
    step, and tanh saturation makes large orbits shrink, as the rotations of motor cortex after movement onset
    (Churchland et al., Nature 2012). Condition c starts from ``x_0 = m kappa_0^c`` with ``kappa_0^c`` at angle
    ``2 pi c / n_conditions`` and a radius drawn in ``radius``; X has no channels (n_inputs = 0).

    Parameters
    ----------
    n_units : int, default=100
    n_conditions : int, default=8
    n_trials_per_condition : int, default=1
    n_timesteps : int, default=60
    frequency : float, default=0.5
        Rotation rate of the latent overlap (radians per unit of time, tau).
    growth : float, default=1.0
        Diagonal of the latent overlap: 1 is neutral in the linear regime.
    radius : (float, float), default=(1.0, 2.0)
        Range of the radii of the preparatory latent states.
    alpha : float, default=0.2
    noise_std : float, default=0.02
        Recurrent noise.
    output : {"states", "rates", "counts"}, default="states"
        As in :func:`make_trial_state_teacher`.
    rate_range : (float, float), default=(5.0, 40.0)
    bin_size : float, default=10.0
    random_state : int, RandomState instance or None, default=None
    return_X_y : bool, default=False

    Returns
    -------
    data : Bunch
        As :func:`make_trial_state_teacher` (``initial_latents`` of shape (n_trials, 2)).
    (X, y) : tuple, if ``return_X_y``.

    Examples
    --------
    >>> from sklearn_lowrank.datasets import make_rotational_dynamics
    >>> d = make_rotational_dynamics(n_units=30, n_conditions=4, n_timesteps=20, random_state=0)
    >>> d.X.shape, d.y.shape, d.initial_latents.shape
    ((4, 20, 0), (4, 20, 30), (4, 2))
    """
    _check_output(output, noise_std)
    rng = check_random_state(random_state)
    m = rng.standard_normal((n_units, 2))
    overlap = np.array([[growth, -frequency], [frequency, growth]])
    n = m @ overlap.T + 0.3 * rng.standard_normal((n_units, 2))
    J = m @ n.T / n_units
    condition = np.repeat(np.arange(n_conditions), n_trials_per_condition)
    angle = 2.0 * np.pi * np.arange(n_conditions) / n_conditions
    r = rng.uniform(*radius, size=n_conditions)
    kappa0 = (r[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1))[condition]
    X = np.zeros((condition.size, n_timesteps, 0))
    net = Bunch(m=m, n=n, J=J, input_weights=np.zeros((0, n_units)), alpha=alpha)
    return _run_trials(net, X, kappa0, condition, noise_std=noise_std, output=output, rng=rng,
                       rate_range=rate_range, bin_size=bin_size, return_X_y=return_X_y)
