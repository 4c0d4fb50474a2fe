"""A spiking teacher: a low-rank network's rates turned into Poisson spike counts on single trials."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._teacher import make_low_rank_teacher, simulate_rnn

__all__ = ["make_spiking_teacher"]

#: Links (and inverses) from a neuron's drive to its expected count, as in the estimators' Poisson readout.
_LINKS = {
    "softplus": (lambda z: np.logaddexp(0.0, z), lambda r: np.where(r > 20.0, r, np.log(np.expm1(r)))),
    "exp": (np.exp, np.log),
}


def make_spiking_teacher(
    n_neurons=300,
    rank=2,
    n_inputs=2,
    n_conditions=20,
    n_trials_per_condition=30,
    n_timesteps=100,
    *,
    bin_size=10.0,
    rate_range=(5.0, 20.0),
    link="softplus",
    shared_gain=False,
    alpha=0.2,
    noise_std=0.0,
    random_state=None,
    return_X_y=False,
):
    """Single-trial spike counts of a low-rank network: the rates of a rank-R teacher, Poisson counts per bin.

    The network of :func:`make_low_rank_teacher` (same connectivity, input pulses of random amplitude and timing)
    is run once per condition. Neuron i fires at ``link(gain_i x_i(t) + offset_i)`` expected spikes per bin,
    with ``gain_i`` and ``offset_i`` chosen so that the 2nd and 98th percentiles of its state over all conditions
    map to ``rate_range`` (in Hz, at the given bin size): the observation model of the estimators'
    ``loss="poisson"`` readout with an identity output activation. Each condition is repeated on
    ``n_trials_per_condition`` trials with independent Poisson counts (and, with ``noise_std > 0``, independent
    recurrent noise, so that the rates vary from trial to trial too).

    Parameters
    ----------
    n_neurons : int, default=300
    rank : int, default=2
    n_inputs : int, default=2
    n_conditions : int, default=20
        Distinct input patterns.
    n_trials_per_condition : int, default=30
    n_timesteps : int, default=100
        Bins per trial.
    bin_size : float, default=10.0
        Bin width in ms.
    rate_range : (float, float), default=(5.0, 20.0)
        Firing rates in Hz spanned by each neuron (its 2nd to 98th percentile).
    link : {"softplus", "exp"}, default="softplus"
    shared_gain : bool, default=False
        One gain and offset for all neurons (the units share their transfer function), mapping the 2nd and 98th
        percentiles of all states pooled to ``rate_range``; a neuron whose state varies little then keeps a rate
        near the middle of the range. With per-neuron gains the scale of each unit's state leaves no trace in
        the spikes, so the connectivity can only be recovered up to a rescaling of each unit.
    alpha : float, default=0.2
        dt / tau of the network.
    noise_std : float, default=0.0
        Recurrent noise of each single trial (0: all trials of a condition share their rates).
    random_state : int, RandomState instance or None, default=None
    return_X_y : bool, default=False
        Return only ``(X, y)``.

    Returns
    -------
    data : Bunch
        ``X`` (n_trials, n_timesteps, n_inputs) float32 with n_trials = n_conditions * n_trials_per_condition
        (condition-major), ``y`` spike counts (n_trials, n_timesteps, n_neurons) float32, ``rates`` their
        expectations in spikes per bin, ``rates_hz``, ``states``, ``condition`` (n_trials,), ``m``, ``n``
        (n_neurons, rank), ``J``, ``input_weights`` (n_inputs, n_neurons), ``gain``, ``offset`` (n_neurons,),
        ``bin_size``, ``alpha``, ``link``.
    (X, y) : tuple, if ``return_X_y``.

    Examples
    --------
    >>> from sklearn_lowrank.datasets import make_spiking_teacher
    >>> d = make_spiking_teacher(n_neurons=40, n_conditions=4, n_trials_per_condition=5, n_timesteps=50,
    ...                          random_state=0)
    >>> d.X.shape, d.y.shape, d.condition[:7].tolist()
    ((20, 50, 2), (20, 50, 40), [0, 0, 0, 0, 0, 1, 1])
    >>> bool(4.0 < d.rates_hz.mean() < 21.0)
    True
    """
    if link not in _LINKS:
        raise ValueError(f"link must be one of {sorted(_LINKS)}, got {link!r}.")
    lo, hi = (float(r) for r in rate_range)
    if not 0 < lo < hi:
        raise ValueError(f"rate_range must be (low, high) with 0 < low < high in Hz; got {rate_range!r}.")
    if bin_size <= 0:
        raise ValueError(f"bin_size must be > 0 ms, got {bin_size!r}.")
    if n_conditions < 1 or n_trials_per_condition < 1:
        raise ValueError("n_conditions and n_trials_per_condition must be >= 1.")
    rng = check_random_state(random_state)
    net = make_low_rank_teacher(n_units=n_neurons, rank=rank, n_inputs=n_inputs, n_trials=n_conditions,
                                n_timesteps=n_timesteps, alpha=alpha, noise_std=0.0, random_state=rng)
    condition = np.repeat(np.arange(n_conditions), n_trials_per_condition)
    X = net.X[condition]
    if noise_std > 0:
        states = simulate_rnn(net.J, net.input_weights, X, alpha=alpha, noise_std=noise_std, random_state=rng)
    else:
        states = net.states[condition]
    f, f_inv = _LINKS[link]
    z_lo, z_hi = f_inv(np.array([lo, hi]) * bin_size / 1000.0)
    # Percentiles of each neuron's state, or of all states pooled (one gain and offset for every neuron).
    q_lo, q_hi = np.percentile(net.states.reshape(-1, 1 if shared_gain else n_neurons), [2.0, 98.0], axis=0)
    gain = np.broadcast_to((z_hi - z_lo) / np.maximum(q_hi - q_lo, 1e-6), (n_neurons,)).copy()
    offset = np.broadcast_to(z_lo - gain * q_lo, (n_neurons,)).copy()
    rates = f(gain * states + offset)
    y = rng.poisson(rates).astype(np.float32)
    if return_X_y:
        return X, y
    return Bunch(X=X, y=y, rates=rates, rates_hz=rates * 1000.0 / bin_size, states=states, condition=condition,
                 m=net.m, n=net.n, J=net.J, input_weights=net.input_weights, gain=gain, offset=offset,
                 bin_size=float(bin_size), alpha=alpha, link=link)
