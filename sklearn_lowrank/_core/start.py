"""Where training starts: the data-driven start of a network and the count (Poisson) start of its readout.

Everything here runs on the module's device: the estimators build the module on the target device once and hand
it, with the data on that same device, to these functions and then to the training loop.

This module imports no scikit-learn.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .devices import check_same_device
from .network import LINKS, PoissonReadout
from .regression import count_state_targets, regression_init
from .training import evaluate_loss

__all__ = ["data_driven_start", "poisson_start"]

#: Random loadings of units the regression does not estimate (hidden units) are shrunk by this factor.
HIDDEN_SCALE = 0.1


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
    random parameters.

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
    reg_inputs, reg_targets, reg_mask = (inputs, targets, mask) if regression_data is None else regression_data
    # Steps before the first observation in any trial (an unobserved pre-period) hold no transition to regress
    # on; left in, they are filled as missing targets and pull the estimate far off. The regression then sees the
    # observed window only, and the initial state (the state before the pre-period) stays as it is.
    first = 0 if reg_mask is None else int(reg_mask.flatten(2).any(dim=2).any(dim=0).to(torch.uint8).argmax())
    est = regression_init(
        reg_inputs[:, first:], reg_targets[:, first:], None if reg_mask is None else reg_mask[:, first:],
        alpha=module.alpha, rank=getattr(module, "rank", None), n_units=module.n_units,
        output_activation=module.output_activation,
    )
    _load_regression(module, est, targets.shape[-1], module.initial_state.requires_grad and first == 0)
    step = max(1, -(-inputs.shape[0] // max_check_trials))
    subset = (inputs[::step], targets[::step], None if mask is None else mask[::step])
    regression_loss = evaluate_loss(module, *subset, loss=loss)
    random_module = copy.deepcopy(module)
    random_module.load_state_dict(random_start)
    if not regression_loss <= evaluate_loss(random_module, *subset, loss=loss):
        module.load_state_dict(random_start)
        return "random"
    return "regression"


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
        One trial per distinct input pattern (:func:`~sklearn_lowrank._core.regression.count_state_targets`), to pass
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
