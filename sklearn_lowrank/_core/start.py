"""Where training starts: the data-driven start of a network and the count (Poisson) start of its readout.

Everything here runs on the module's device: the estimators build the module on the target device once and hand
it, with the data on that same device, to these functions and then to the training loop.

This module imports no scikit-learn.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .conditions import average_identical_inputs, group_sums, input_groups
from .devices import check_same_device
from .network import LINKS, PoissonReadout
from .regression import regression_init
from .training import evaluate_loss

__all__ = ["count_state_targets", "data_driven_start", "extend_rank_start", "poisson_start",
           "gaussian_band", "smooth_along_time"]

#: Random loadings of units the regression does not estimate (hidden units) are shrunk by this factor.
HIDDEN_SCALE = 0.1
#: Widths (standard deviations, in time steps) of the Gaussian smoothing along time of the further candidates of
#: the data-driven start; the comparison on the training trials picks among them. Noise that is independent from
#: step to step swamps the one-step differences the regression fits and shrinks its estimate. Measured on the first
#: fold of the rank-2 single-trial teacher of ``benchmarks/bench_recordings.py --case rank`` (alpha = 0.2, as the
#: only smoothed candidate): a width of 1 started ranks 1-5 at a training loss of 2.588-2.708 against 2.723-2.741
#: from the unsmoothed averages (the teacher's own: 2.575); a width of 2.5 at 2.866-3.102.
SMOOTHING_WIDTHS = (1.0, 2.0)


# ---------------------------------------------------------------------------------------------------------------
# Data-driven start
# ---------------------------------------------------------------------------------------------------------------


def _load_regression(module: nn.Module, est: dict, n_observed: int, load_initial_state: bool) -> None:
    """Overwrite the observed block of ``module`` with the regression estimate; hidden units shrink."""
    with torch.no_grad():
        dtype = module.initial_state.dtype
        if "J" in est:
            module.J.mul_(HIDDEN_SCALE)
            module.J[:n_observed, :n_observed] = est["J"].to(dtype)
        if "m" in est:
            module.m.mul_(HIDDEN_SCALE)
            module.n.mul_(HIDDEN_SCALE)
            module.m[:n_observed] = est["m"].to(dtype)
            module.n[:n_observed] = est["n"].to(dtype)
        module.input_weights.mul_(HIDDEN_SCALE)
        module.input_weights[:, :n_observed] = est["input_weights"].to(dtype)
        if load_initial_state:
            module.initial_state[:n_observed] = est["initial_state"].to(dtype)


def data_driven_start(
    module: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    loss: str = "squared_error",
    regression_data: tuple | None = None,
    max_check_trials: int = 64,
) -> str:
    """Start a network with an identity readout from a one-step regression of the observed states, if it helps.

    The observed block of the connectivity, the input weights and (when trainable, and observed from the first
    step) the initial state are overwritten with :func:`~sklearn_lowrank._core.regression.regression_init`'s estimate;
    the loadings of hidden units are shrunk. A one-step regression can give a network that is unstable when run
    freely (a full-rank J fitted to noisy rates, for example), so the estimate is kept only when it predicts the
    training trials (at most ``max_check_trials`` of them, evenly spaced) better than the module's current,
    random parameters. With the squared error and trials that repeat their inputs, the regression of their
    averages (:func:`average_identical_inputs`: 1 / n of the noise of n single trials, which would shrink the
    estimate) is a second candidate, and the averages smoothed along time (:func:`smooth_along_time`, at each
    width of :data:`SMOOTHING_WIDTHS`) are further ones: noise independent from step to step swamps the one-step
    differences the regression fits. The candidate that predicts the training trials best is kept.

    Parameters
    ----------
    module : LowRankRNN or FullRankRNN
        With ``readout="identity"``; modified in place.
    inputs : Tensor of shape (n_trials, n_timesteps, n_inputs)
    targets : Tensor of shape (n_trials, n_timesteps, n_outputs)
        Zero where unobserved.
    mask : bool Tensor like ``targets`` or None
        True where observed.
    loss : {"squared_error", "poisson"}, default="squared_error"
        The training loss, by which the regression and the random start are compared.
    regression_data : (inputs, states, mask) or None, default=None
        Data to regress on instead of ``(inputs, targets, mask)``: with counts, the rate-like states of
        :func:`poisson_start`.
    max_check_trials : int, default=64

    Returns
    -------
    start : {"regression", "random"}
        Which start the module now holds.

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core import LowRankRNN
    >>> from sklearn_lowrank._core.start import data_driven_start
    >>> teacher = LowRankRNN(20, 1, 20, 1, alpha=0.2, generator=torch.Generator().manual_seed(0))
    >>> u = torch.randn(16, 10, 1, generator=torch.Generator().manual_seed(1))
    >>> with torch.no_grad():
    ...     y = teacher(u)
    >>> net = LowRankRNN(20, 1, 20, 1, alpha=0.2, generator=torch.Generator().manual_seed(2))
    >>> data_driven_start(net, u, y, None)
    'regression'
    """
    check_same_device(module, inputs, targets, mask)
    random_start = copy.deepcopy(module.state_dict())
    subset = _check_trials(inputs, targets, mask, max_check_trials)
    best, best_loss = None, math.inf
    for trials in _regression_candidates(inputs, targets, mask, loss, regression_data):
        module.load_state_dict(random_start)
        _regress_into(module, *trials, targets.shape[-1])
        candidate_loss = evaluate_loss(module, *subset, loss=loss)
        if best is None or candidate_loss < best_loss:  # only a strictly better candidate replaces the first
            best, best_loss = copy.deepcopy(module.state_dict()), candidate_loss
    module.load_state_dict(random_start)
    if not best_loss <= evaluate_loss(module, *subset, loss=loss):
        return "random"
    module.load_state_dict(best)
    return "regression"


def _regression_candidates(inputs, targets, mask, loss: str, regression_data):
    """The data sets the start regresses on, in turn: ``regression_data`` alone if given; else the trials, then,
    with the squared error and trials that repeat their inputs, the condition averages and the averages smoothed
    along time at each width of :data:`SMOOTHING_WIDTHS`.

    Only repeated inputs get the smoothed candidates: there the trials' spread around their averages shows noise
    that no network fits, and a regression of a few averages costs little; smoothing every single trial would
    double the start's cost on large recordings.

    A generator: the single-trial regression runs before any grouping of the trials.
    """
    if regression_data is not None:
        yield regression_data
        return
    yield inputs, targets, mask
    if loss != "squared_error":
        return
    averaged = average_identical_inputs(inputs, targets, mask)
    if averaged is None:
        return
    yield averaged
    for sigma in SMOOTHING_WIDTHS:
        yield averaged[0], smooth_along_time(averaged[1], averaged[2], sigma), averaged[2]


def gaussian_band(n_steps: int, sigma: float, *, dtype=torch.float32, device=None,
                  half_width: int | None = None) -> torch.Tensor:
    """The (n_steps, n_steps) matrix of Gaussian weights exp(-(s - t)^2 / (2 sigma^2)), zero beyond ``half_width``
    steps if given: ``band @ values`` filters (trials, steps, features) along time (not normalised).

    Examples
    --------
    >>> from sklearn_lowrank._core.start import gaussian_band
    >>> gaussian_band(4, 1.0, half_width=1)
    tensor([[1.0000, 0.6065, 0.0000, 0.0000],
            [0.6065, 1.0000, 0.6065, 0.0000],
            [0.0000, 0.6065, 1.0000, 0.6065],
            [0.0000, 0.0000, 0.6065, 1.0000]])
    """
    steps = torch.arange(n_steps, dtype=dtype, device=device)
    lag = steps[:, None] - steps[None, :]
    band = torch.exp(-0.5 * (lag / sigma) ** 2)
    return band if half_width is None else torch.where(lag.abs() <= half_width, band, 0.0)


def smooth_along_time(values: torch.Tensor, mask: torch.Tensor | None, sigma: float) -> torch.Tensor:
    """``values`` filtered along time by a normalised Gaussian of standard deviation ``sigma`` steps.

    Each entry becomes the Gaussian-weighted mean of the observed entries (``mask``) of its trial and feature; the
    normalisation also corrects the edges of each trial. Unobserved entries stay zero.

    Parameters
    ----------
    values : Tensor of shape (n_trials, n_timesteps, n_features)
        Zero where ``mask`` is False.
    mask : bool Tensor like ``values`` or None
    sigma : float > 0

    Returns
    -------
    smoothed : Tensor like ``values``

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.start import smooth_along_time
    >>> v = torch.tensor([[[0.0], [3.0], [0.0]]])
    >>> smooth_along_time(v, None, 1.0).flatten()
    tensor([1.0446, 1.3556, 1.0446])
    >>> smooth_along_time(torch.ones(1, 4, 1), None, 2.0).flatten()  # a constant is kept, edges included
    tensor([1., 1., 1., 1.])
    """
    kernel = gaussian_band(values.shape[1], sigma, dtype=values.dtype, device=values.device)
    if mask is None:  # a product along time per trial (a convolution over all entries is several times slower)
        return torch.matmul(kernel / kernel.sum(dim=1, keepdim=True), values)
    weight = mask.to(values.dtype)
    smoothed = torch.matmul(kernel, values * weight) / torch.matmul(kernel, weight).clamp_min(1e-12)
    return torch.where(mask, smoothed, 0.0)


def _check_trials(inputs, targets, mask, max_check_trials: int) -> tuple:
    """At most ``max_check_trials`` evenly spaced trials (inputs, targets, mask): where two starts are compared."""
    step = max(1, -(-inputs.shape[0] // max_check_trials))
    return inputs[::step], targets[::step], None if mask is None else mask[::step]


def _regress_into(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None,
                  n_observed: int) -> None:
    """Load :func:`~sklearn_lowrank._core.regression.regression_init`'s estimate from these trials into ``module``.

    Steps before the first observation in any trial (an unobserved pre-period) hold no transition to regress on;
    left in, they are filled as missing targets and pull the estimate far off. The regression then sees the
    observed window only, and the initial state (the state before the pre-period) stays as it is.
    """
    first = 0 if mask is None else int(mask.flatten(2).any(dim=2).any(dim=0).to(torch.uint8).argmax())
    est = regression_init(
        inputs[:, first:], targets[:, first:], None if mask is None else mask[:, first:],
        alpha=module.alpha, rank=getattr(module, "rank", None), n_units=module.n_units,
        output_activation=module.output_activation,
    )
    _load_regression(module, est, n_observed, module.initial_state.requires_grad and first == 0)


def _new_direction(m: torch.Tensor, n: torch.Tensor, lower_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Column (m_new, n_new) of the leading singular pair of the part of m n^T outside span(lower_m) (float64).

    ``m_new n_new^T`` is the best rank-one approximation of ``(I - P) m n^T``, P the orthogonal projection on the
    columns of ``lower_m``; both columns have norm sqrt(s), s its singular value, as in the canonical form.
    """
    m, n, lower_m = m.double(), n.double(), lower_m.double()
    q, _ = torch.linalg.qr(lower_m)
    outside = m - q @ (q.T @ m)
    qa, ra = torch.linalg.qr(outside)
    qb, rb = torch.linalg.qr(n)
    u, s, vt = torch.linalg.svd(ra @ rb.T)
    scale = s[0].sqrt()
    return (qa @ u[:, 0]) * scale, (qb @ vt[0]) * scale


def extend_rank_start(
    module: nn.Module,
    lower: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    loss: str = "squared_error",
    max_check_trials: int = 64,
) -> str:
    """Start a rank-(r + k) network from a fitted lower-rank one plus the leading new directions, if it helps.

    The candidate holds every parameter of ``lower`` (its m, n as the first columns, its input weights, initial
    state and Poisson readout) and, for each extra rank, one new column: the leading singular pair of the part of
    ``module``'s own start (its data-driven regression start, or its random one) that lies outside the span of
    the columns already held. It replaces ``module``'s start when it predicts the training trials (at most
    ``max_check_trials``, evenly spaced) at least as well, so a rank path never starts worse than an independent
    fit would.

    Parameters
    ----------
    module : LowRankRNN
        Of rank r + k, holding its own start; modified in place.
    lower : LowRankRNN
        A fitted network of rank r <= module's rank, with the same units, inputs, outputs and readout.
    inputs : Tensor of shape (n_trials, n_timesteps, n_inputs)
    targets : Tensor of shape (n_trials, n_timesteps, n_outputs)
        Zero where unobserved.
    mask : bool Tensor like ``targets`` or None
    loss : {"squared_error", "poisson"}, default="squared_error"
    max_check_trials : int, default=64

    Returns
    -------
    start : {"path", "own"}
        "path": the module now holds the extended lower-rank network; "own": its own start was better.

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core import LowRankRNN
    >>> from sklearn_lowrank._core.start import extend_rank_start
    >>> teacher = LowRankRNN(20, 1, 20, 2, alpha=0.2, generator=torch.Generator().manual_seed(0))
    >>> u = torch.randn(16, 10, 1, generator=torch.Generator().manual_seed(1))
    >>> with torch.no_grad():
    ...     y = teacher(u)
    >>> lower = LowRankRNN(20, 1, 20, 1, alpha=0.2, generator=torch.Generator().manual_seed(2))
    >>> net = LowRankRNN(20, 1, 20, 2, alpha=0.2, generator=torch.Generator().manual_seed(3))
    >>> extend_rank_start(net, lower, u, y, None) in ("path", "own")
    True
    """
    check_same_device(module, inputs, targets, mask)
    if lower.rank > module.rank or lower.m.shape[0] != module.m.shape[0]:
        raise ValueError(f"lower must be a network of rank <= {module.rank} with {module.m.shape[0]} units; got "
                         f"rank {lower.rank} with {lower.m.shape[0]} units.")
    candidate = copy.deepcopy(module)
    with torch.no_grad():
        m, n = lower.m.detach().double(), lower.n.detach().double()
        for _ in range(module.rank - lower.rank):
            m_new, n_new = _new_direction(module.m.detach(), module.n.detach(), m)
            m, n = torch.cat([m, m_new[:, None]], dim=1), torch.cat([n, n_new[:, None]], dim=1)
        candidate.m.copy_(m.to(candidate.m.dtype))
        candidate.n.copy_(n.to(candidate.n.dtype))
        candidate.input_weights.copy_(lower.input_weights)
        candidate.initial_state.copy_(lower.initial_state)
        if getattr(lower, "observation", None) is not None:
            candidate.observation.load_state_dict(lower.observation.state_dict())
    subset = _check_trials(inputs, targets, mask, max_check_trials)
    if not evaluate_loss(candidate, *subset, loss=loss) <= evaluate_loss(module, *subset, loss=loss):
        return "own"
    module.load_state_dict(candidate.state_dict())
    return "path"


def poisson_start(
    inputs: torch.Tensor,
    counts: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    link: str = "softplus",
    scale: float = 1.0,
    shared_gain: bool = False,
) -> tuple[PoissonReadout, tuple]:
    """The Poisson readout to attach to a network fitted to counts, and rate-like data to start it from.

    Parameters
    ----------
    inputs : Tensor of shape (n_trials, n_timesteps, n_inputs)
    counts : Tensor of shape (n_trials, n_timesteps, n_outputs)
        Spike counts, zero where ``mask`` is False.
    mask : bool Tensor like ``counts`` or None
    link : {"softplus", "exp"}, default="softplus"
    scale : float, default=1.0
        Root mean square spread of the returned states.
    shared_gain : bool, default=False
        One gain for all outputs.

    Returns
    -------
    readout : PoissonReadout
        Its gain and offset map the states back to smoothed rate estimates; on the data's device.
    regression_data : (inputs, states, mask)
        One trial per distinct input pattern (:func:`count_state_targets`), to pass
        to :func:`data_driven_start` as ``regression_data``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.start import poisson_start
    >>> counts = torch.poisson(torch.full((4, 20, 3), 2.0), generator=torch.Generator().manual_seed(0))
    >>> readout, (X_g, states, mask_g) = poisson_start(torch.zeros(4, 20, 1), counts, None)
    >>> X_g.shape, states.shape, readout.offset.shape
    (torch.Size([1, 20, 1]), torch.Size([1, 20, 3]), torch.Size([3]))
    """
    X_g, states, mask_g, gain, offset = count_state_targets(inputs, counts, mask, inverse_link=LINKS[link][1],
                                                             scale=scale)
    readout = PoissonReadout(counts.shape[-1], link=link, gain=gain, offset=offset, shared_gain=shared_gain)
    return readout.to(counts.device), (X_g, states, mask_g)


def count_state_targets(
    inputs: torch.Tensor,
    counts: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    inverse_link,
    sigma: float = 2.0,
    scale: float = 1.0,
    floor: float = 0.1,
):
    """States to start a Poisson fit from: smoothed, link-inverted and standardised rate estimates.

    Trials with identical inputs are averaged first (a deterministic network predicts the same expected counts
    for all of them, so their mean is the estimate of those counts), then each neuron's mean counts are smoothed
    along time by a normalised Gaussian filter (missing entries left out), floored at ``floor`` times the neuron's
    mean count (the inverse link of 0 is -inf), passed through the inverse link, centred on each neuron's mean and
    divided by one common factor that gives them a root-mean-square spread of ``scale``. The per-neuron means and
    the common factor are the readout's offsets and gains: ``link(gain * s + offset)`` returns the smoothed
    rates.

    Parameters
    ----------
    inputs : Tensor of shape (n_trials, n_timesteps, n_inputs)
    counts : Tensor of shape (n_trials, n_timesteps, n_features)
        Zero where ``mask`` is False.
    mask : bool Tensor like ``counts`` or None
    inverse_link : callable
        Inverse of the readout's link.
    sigma : float, default=2.0
        Standard deviation of the smoothing, in time steps.
    scale : float, default=1.0
        Root mean square over neurons of the standard deviations of the returned states.
    floor : float, default=0.1

    Returns
    -------
    inputs : Tensor of shape (n_groups, n_timesteps, n_inputs)
        One trial per distinct input pattern.
    states : Tensor of shape (n_groups, n_timesteps, n_features)
    mask : bool Tensor like ``states`` or None
        Where some trial of the group was observed.
    gain, offset : Tensor of shape (n_features,)
    """
    n_trials, n_steps, n_feat = counts.shape
    groups_x, group_of = input_groups(inputs)
    n_groups = groups_x.shape[0]
    sums, seen = group_sums(counts, mask, group_of, n_groups)
    # The Gaussian kernel as a (T, T) banded matrix, zero padding (normalised below): one batched product smooths
    # every group and feature in place of a 1-channel conv1d, whose unfolded input (entries x kernel width) took a
    # gigabyte at 2000 neurons x 64 input patterns x 100 steps.
    band = gaussian_band(n_steps, max(sigma, 1e-6), dtype=counts.dtype, device=counts.device,
                         half_width=max(1, int(math.ceil(3 * sigma))))

    def smooth(a):  # (G, T, F) along T
        return torch.matmul(band.to(a.dtype), a)

    s_sums, s_seen = smooth(sums), smooth(seen)
    observed = seen > 0
    rates = s_sums / s_seen.clamp_min(1e-12)
    mean_count = (sums.sum(dim=(0, 1)) / seen.sum(dim=(0, 1)).clamp_min(1)).clamp_min(1e-6)
    z = inverse_link(torch.maximum(rates, floor * mean_count))
    w = observed.to(z.dtype)
    n_obs = w.sum(dim=(0, 1)).clamp_min(1)
    offset = (z * w).sum(dim=(0, 1)) / n_obs
    # One gain for all neurons (the root mean square of their spreads): a neuron's spread of link-inverted rates
    # is the only trace of the spread of its unit's state, and standardising each neuron separately would erase
    # it (the dynamics then fit almost as well with every unit rescaled, and the connectivity is lost).
    std = (((z - offset) ** 2 * w).sum(dim=(0, 1)) / n_obs).mean().sqrt()
    gain = (std.clamp_min(1e-6) / scale).expand(n_feat).clone()
    states = torch.where(observed, (z - offset) / gain, 0.0)
    group_inputs = groups_x.reshape(n_groups, n_steps, inputs.shape[-1])
    return group_inputs, states, None if bool(observed.all()) else observed, gain, offset
