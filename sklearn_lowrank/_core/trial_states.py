"""Initial states per trial: learned with the network in fit, inferred for new trials with the network fixed.

Trial k starts from ``x_0^k = x_0 + P d_k``: the shared initial state plus an offset ``d_k``. With ``subspace``
the offset is projected (P) on the span of the connectivity vectors m and the input vectors (the columns of
``W_in^T``). A low-rank network forgets any part of its state outside that span at the rate ``1 - alpha`` per
step whatever the connectivity, so that part is a transient the network cannot carry; restricted to the span, a
trial's start has ``rank + n_inputs`` degrees of freedom instead of ``n_units``. The projection is recomputed
from the current m at each call, so offsets stay meaningful when m is rotated into canonical form.

This module imports no scikit-learn.
"""

from __future__ import annotations

import torch
from torch import nn

from .losses import LOSSES
from .network import NetworkWeights

__all__ = ["TrialStates", "infer_trial_states", "span_basis"]


def span_basis(weights: NetworkWeights) -> torch.Tensor | None:
    """Orthonormal basis (n_units, k) of the span of m and the input vectors; None for a full-rank network."""
    if weights.m is None:
        return None
    basis = torch.cat([weights.m, weights.input_weights.t()], dim=1)
    return torch.linalg.qr(basis, mode="reduced")[0]


class TrialStates(nn.Module):
    """Per-trial offsets of the initial state, read by ``RNNBase.forward`` through its ``trial_index``.

    Parameters
    ----------
    n_trials, n_units : int
    offsets : Tensor of shape (n_trials, n_units), optional
        Starting offsets (zeros by default).
    subspace : bool, default=True
        Project the offsets on the span of m and the input vectors (ignored by full-rank networks).
    trainable : bool, default=True
        Whether the training loop updates the offsets.
    dtype : torch.dtype, default=torch.float32

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core import LowRankRNN
    >>> from sklearn_lowrank._core.trial_states import TrialStates
    >>> net = LowRankRNN(6, 0, 6, 1, alpha=0.2, generator=torch.Generator().manual_seed(0))
    >>> net.trial_states = TrialStates(3, 6, offsets=torch.ones(3, 6))
    >>> x0 = net.trial_states(net.weights(), torch.tensor([0, 2]))
    >>> x0.shape, bool(torch.allclose(x0[0], x0[1]))
    (torch.Size([2, 6]), True)
    """

    def __init__(self, n_trials: int, n_units: int, *, offsets: torch.Tensor | None = None, subspace: bool = True,
                 trainable: bool = True, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        start = torch.zeros(n_trials, n_units, dtype=dtype) if offsets is None else offsets.detach().to(dtype)
        self.offsets = nn.Parameter(start.clone(), requires_grad=trainable)
        self.subspace = subspace

    def project(self, offsets: torch.Tensor, weights: NetworkWeights) -> torch.Tensor:
        """``offsets`` (n, n_units) projected on the span of the network (unchanged without ``subspace``)."""
        basis = span_basis(weights) if self.subspace else None
        return offsets if basis is None else (offsets @ basis) @ basis.t()

    def forward(self, weights: NetworkWeights, trial_index: torch.Tensor) -> torch.Tensor:
        """Initial states (len(trial_index), n_units) of the given trials."""
        return weights.initial_state + self.project(self.offsets[trial_index], weights)

    def states(self, weights: NetworkWeights) -> torch.Tensor:
        """Initial states of every trial, (n_trials, n_units)."""
        return weights.initial_state + self.project(self.offsets, weights)


def _detached(weights: NetworkWeights) -> NetworkWeights:
    fields = {name: (None if value is None else value.detach()) for name, value in vars(weights).items()}
    return NetworkWeights(**fields)


def _infer_chunk(module, weights, inputs, targets, mask, start, subspace, loss, max_iter):
    """L-BFGS over the initial states of one chunk of trials (independent problems, summed)."""
    helper = TrialStates(inputs.shape[0], module.n_units, offsets=start - weights.initial_state, subspace=subspace,
                         dtype=start.dtype).to(start.device)
    optimizer = torch.optim.LBFGS(helper.parameters(), lr=1.0, max_iter=max_iter, history_size=max_iter,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)
    loss_fn = LOSSES[loss]
    index = torch.arange(inputs.shape[0], device=inputs.device)
    n_trials = float(inputs.shape[0])

    def objective():
        optimizer.zero_grad()
        pred = module(inputs, weights=weights, initial_state=helper(weights, index))
        value = loss_fn(pred, targets, mask) * n_trials  # a sum over trials of per-trial means: scale-free
        value.backward()
        return value

    optimizer.step(objective)
    with torch.no_grad():
        return helper.states(weights)


def infer_trial_states(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None,
                       *, loss: str = "squared_error", subspace: bool = True, start: torch.Tensor | None = None,
                       max_iter: int = 20, chunk: int = 256) -> torch.Tensor:
    """The initial states that best explain each trial's observed targets, the network fixed.

    Parameters
    ----------
    module : RNNBase
        The fitted network (its parameters are not changed).
    inputs : Tensor of shape (n_trials, n_timesteps, n_inputs)
    targets : Tensor of shape (n_trials, n_timesteps, n_outputs)
        Zero where unobserved.
    mask : bool Tensor like ``targets`` or None
        True where observed.
    loss : str, default="squared_error"
        A key of :data:`~sklearn_lowrank._core.losses.LOSSES`: the loss of the fit.
    subspace : bool, default=True
        Search the span of m and the input vectors around the shared initial state (full-rank networks: all
        directions).
    start : Tensor of shape (n_trials, n_units), optional
        Where the search starts (the shared initial state by default).
    max_iter : int, default=20
        L-BFGS iterations per chunk of trials.
    chunk : int, default=256
        Trials solved together (a memory bound: trials are independent problems).

    Returns
    -------
    states : Tensor of shape (n_trials, n_units)

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core import LowRankRNN
    >>> from sklearn_lowrank._core.trial_states import infer_trial_states
    >>> net = LowRankRNN(8, 0, 8, 1, alpha=0.2, generator=torch.Generator().manual_seed(0))
    >>> u = torch.zeros(2, 15, 0)
    >>> x0 = net.m.detach().t() * torch.tensor([[0.5], [-0.5]])  # two starts in the span of m
    >>> y = net(u, initial_state=x0).detach()
    >>> found = infer_trial_states(net, u, y, None)
    >>> bool(torch.allclose(found, x0, atol=1e-3))
    True
    """
    weights = _detached(module.weights())
    n_trials = inputs.shape[0]
    if start is None:
        start = weights.initial_state.expand(n_trials, module.n_units)
    parts = []
    # The network is fixed: its own parameters (e.g. a Poisson readout's gain) must not collect gradients.
    trainable = [p for p in module.parameters() if p.requires_grad]
    try:
        for p in trainable:
            p.requires_grad_(False)
        with torch.enable_grad():
            for lo in range(0, n_trials, chunk):
                sl = slice(lo, lo + chunk)
                parts.append(_infer_chunk(module, weights, inputs[sl], targets[sl],
                                          None if mask is None else mask[sl], start[sl], subspace, loss, max_iter))
    finally:
        for p in trainable:
            p.requires_grad_(True)
    if not parts:
        return weights.initial_state.new_zeros((0, module.n_units))
    return torch.cat(parts)
