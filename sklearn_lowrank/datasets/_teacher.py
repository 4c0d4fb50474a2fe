"""Ground-truth low-rank teachers: random rank-R networks with known m, n and input weights."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_low_rank_teacher", "simulate_rnn"]


def simulate_rnn(J, input_weights, inputs, *, alpha=0.2, initial_state=None, noise_std=0.0, random_state=None):
    """Simulate x_{t+1} = (1 - alpha) x_t + alpha (J tanh(x_t) + W_in^T u_t) + noise_std xi_t in numpy.

    An independent float64 implementation of the network equations (see the user guide, "The model"), used to
    generate ground truth.

    Parameters
    ----------
    J : ndarray of shape (n_units, n_units)
    input_weights : ndarray of shape (n_inputs, n_units)
    inputs : ndarray of shape (n_trials, n_timesteps, n_inputs)
    alpha : float, default=0.2
    initial_state : ndarray of shape (n_units,) or (n_trials, n_units), optional
        Zeros by default.
    noise_std : float, default=0.0
        Recurrent noise (not scaled by sqrt(alpha)).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    states : ndarray of shape (n_trials, n_timesteps, n_units)
        ``states[:, t]`` is x_{t+1}.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.datasets import simulate_rnn
    >>> x = simulate_rnn(np.zeros((2, 2)), np.ones((1, 2)), np.ones((1, 3, 1)), alpha=0.5)
    >>> x[0, :, 0]
    array([0.5  , 0.75 , 0.875])
    """
    J = np.asarray(J, dtype=np.float64)
    w_in = np.asarray(input_weights, dtype=np.float64)
    u = np.asarray(inputs, dtype=np.float64)
    n_trials, n_steps, _ = u.shape
    n_units = J.shape[0]
    rng = check_random_state(random_state)
    x = np.zeros((n_trials, n_units)) if initial_state is None else np.broadcast_to(
        np.asarray(initial_state, dtype=np.float64), (n_trials, n_units)).copy()
    drive = alpha * (u @ w_in)
    if noise_std > 0:
        drive = drive + noise_std * rng.standard_normal((n_trials, n_steps, n_units))
    states = np.empty((n_trials, n_steps, n_units))
    for t in range(n_steps):
        x = (1.0 - alpha) * x + alpha * (np.tanh(x) @ J.T) + drive[:, t]
        states[:, t] = x
    return states


def _pulse_inputs(rng, n_trials, n_timesteps, n_inputs, amplitudes):
    """Each input channel: a pulse of random amplitude over a random window of about a third of the trial."""
    u = np.zeros((n_trials, n_timesteps, n_inputs))
    width = max(1, n_timesteps // 3)
    for k in range(n_inputs):
        onsets = rng.randint(0, max(1, n_timesteps - width), size=n_trials)
        amp = rng.choice(amplitudes, size=n_trials)
        for i in range(n_trials):
            u[i, onsets[i] : onsets[i] + width, k] = amp[i]
    return u


def make_low_rank_teacher(
    n_units=200,
    rank=2,
    n_inputs=2,
    n_trials=200,
    n_timesteps=50,
    *,
    alpha=0.2,
    noise_std=0.02,
    output="states",
    overlap=1.6,
    rotation=0.6,
    amplitudes=(-1.0, -0.5, -0.25, 0.25, 0.5, 1.0),
    n_contexts=0,
    n_unobserved=0,
    full_rank_gain=0.0,
    random_state=None,
    return_X_y=False,
):
    """A random rank-R network driven by input pulses: trials with known connectivity.

    The connectivity vectors are Gaussian with a prescribed overlap ``n^T m / N ~ O`` where O has ``overlap`` on
    its diagonal and a rotation of strength ``rotation`` between consecutive latent dimensions, plus an
    independent part, so that the latents do not decay at once. Input r drives latent r (its weights overlap
    with n_r) and carries pulses of random amplitude at random times.

    Recording-like variants: ``n_contexts`` context channels, one of which is on for the whole of each trial
    (its weights are random and overlap with the n vectors, so that the context moves the latents), and an
    unobserved pre-period of ``n_unobserved`` steps during which only the context cue is on and y is NaN, as
    when a recording starts after the cue. ``full_rank_gain=g`` adds a random full-rank part ``g chi / sqrt(N)``
    (chi standard normal) to J: a full-rank network with low-rank structure.

    Parameters
    ----------
    n_units : int, default=200
    rank : int, default=2
    n_inputs : int, default=2
    n_trials : int, default=200
    n_timesteps : int, default=50
    alpha : float, default=0.2
    noise_std : float, default=0.02
        Recurrent noise of the teacher.
    output : {"states", "rates"}, default="states"
        y is x (fit with ``output_activation="identity"``) or tanh(x) (``output_activation="tanh"``).
    overlap : float, default=1.6
        Self-overlap n_r . m_r / N of each latent dimension.
    rotation : float, default=0.6
        Antisymmetric coupling between consecutive latent dimensions (rank >= 2).
    amplitudes : sequence of float
        Pulse amplitudes drawn for each trial and input.
    n_contexts : int, default=0
        Context channels appended after the ``n_inputs`` pulse channels; each trial has one context, drawn at
        random, whose channel is 1 throughout the trial.
    n_unobserved : int, default=0
        Steps at the start of each trial without pulses and with y set to NaN (the true states stay in
        ``states``).
    full_rank_gain : float, default=0.0
        Gain g of the random full-rank part of J.
    random_state : int, RandomState instance or None, default=None
    return_X_y : bool, default=False
        Return only ``(X, y)``.

    Returns
    -------
    data : Bunch
        ``X`` (n_trials, n_timesteps, n_inputs), ``y`` (n_trials, n_timesteps, n_units), ``states``, ``m``, ``n``
        (n_units, rank), ``J`` (n_units, n_units), ``input_weights`` (n_inputs, n_units), ``alpha``,
        ``noise_std``, ``output``.
    (X, y) : tuple, if ``return_X_y``.

    Examples
    --------
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> data = make_low_rank_teacher(n_units=50, rank=2, n_trials=10, n_timesteps=20, random_state=0)
    >>> data.X.shape, data.y.shape, data.m.shape
    ((10, 20, 2), (10, 20, 50), (50, 2))
    """
    if output not in ("states", "rates"):
        raise ValueError(f"output must be 'states' or 'rates', got {output!r}.")
    if rank < 1 or rank > n_units:
        raise ValueError(f"rank must be in [1, n_units={n_units}], got {rank}.")
    rng = check_random_state(random_state)
    m = rng.standard_normal((n_units, rank))
    o = overlap * np.eye(rank)
    for r in range(rank - 1):
        o[r, r + 1], o[r + 1, r] = -rotation, rotation
    n = m @ o.T + 0.5 * rng.standard_normal((n_units, rank))
    J = m @ n.T / n_units
    if not 0 <= n_unobserved < n_timesteps:
        raise ValueError(f"n_unobserved must be in [0, n_timesteps={n_timesteps}), got {n_unobserved}.")
    if full_rank_gain:
        J = J + full_rank_gain * rng.standard_normal((n_units, n_units)) / np.sqrt(n_units)
    w_in = rng.standard_normal((n_inputs + n_contexts, n_units))
    for k in range(n_inputs + n_contexts):
        w_in[k] += 2.0 * n[:, k % rank] / np.linalg.norm(n[:, k % rank]) * np.sqrt(n_units)
    # A context is on throughout the trial: at half the pulses' weight it shifts the latents without pinning
    # them in saturation.
    w_in[n_inputs:] *= 0.5
    X = np.zeros((n_trials, n_timesteps, n_inputs + n_contexts))
    X[:, n_unobserved:, :n_inputs] = _pulse_inputs(rng, n_trials, n_timesteps - n_unobserved, n_inputs,
                                                   np.asarray(amplitudes, dtype=np.float64))
    if n_contexts:
        X[np.arange(n_trials), :, n_inputs + rng.randint(0, n_contexts, size=n_trials)] = 1.0
    states = simulate_rnn(J, w_in, X, alpha=alpha, noise_std=noise_std, random_state=rng)
    y = states if output == "states" else np.tanh(states)
    X, y = X.astype(np.float32), y.astype(np.float32)
    y[:, :n_unobserved] = np.nan
    if return_X_y:
        return X, y
    return Bunch(X=X, y=y, states=states, m=m, n=n, J=J, input_weights=w_in, alpha=alpha, noise_std=noise_std,
                 output=output)
