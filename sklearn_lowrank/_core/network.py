"""Recurrent networks and the one simulation routine.

Every network (low rank, full rank, Gaussian mixture) reduces to the same discrete-time dynamics::

    x_{t+1} = (1 - alpha) x_t + alpha * (J phi(x_t) + W_in^T u_t) + noise_std * xi_t

and differs only in how it produces its weights: :class:`LowRankRNN` holds ``m`` and ``n`` (J = m n^T / N),
:class:`FullRankRNN` holds J itself, and the mixture network (``mixture.py``) samples loadings.  They all implement
:meth:`RNNBase.weights` and inherit the simulation and the readout from :class:`RNNBase`.

This module imports no scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .recurrence import recurrence

__all__ = ["RNNBase", "LowRankRNN", "FullRankRNN", "NetworkWeights", "simulate", "OUTPUT_ACTIVATIONS",
           "PoissonReadout", "LINKS"]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


OUTPUT_ACTIVATIONS = {"identity": _identity, "tanh": torch.tanh}


# ---------------------------------------------------------------------------------------------------------------
# Weights and simulation
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class NetworkWeights:
    """The weights of one network, as used by :func:`simulate`.

    Exactly one of (``m``, ``n``) and ``J`` is set: low-rank networks never form the N x N matrix.

    Attributes
    ----------
    m, n : Tensor of shape (n_units, rank) or None
        Connectivity vectors, J = m n^T / n_units.
    J : Tensor of shape (n_units, n_units) or None
        Full connectivity (row i receives from column j).
    input_weights : Tensor of shape (n_inputs, n_units)
    initial_state : Tensor of shape (n_units,)
    readout_weights : Tensor of shape (n_units, n_outputs) or None
    readout_bias : Tensor of shape (n_outputs,) or None
    """

    m: torch.Tensor | None
    n: torch.Tensor | None
    J: torch.Tensor | None
    input_weights: torch.Tensor
    initial_state: torch.Tensor
    readout_weights: torch.Tensor | None = None
    readout_bias: torch.Tensor | None = None

    @property
    def n_units(self) -> int:
        return self.initial_state.shape[-1]


def simulate(
    weights: NetworkWeights,
    inputs: torch.Tensor,
    alpha: float,
    *,
    initial_state: torch.Tensor | None = None,
    noise_std: float = 0.0,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
    return_rates: bool = False,
    return_states: bool = True,
):
    """Run the dynamics over a batch of trials and return the states after each update.

    Parameters
    ----------
    weights : NetworkWeights
    inputs : Tensor of shape (n_trials, n_timesteps, n_inputs)
    alpha : float
        dt / tau.
    initial_state : Tensor of shape (n_units,) or (n_trials, n_units), optional
        Overrides ``weights.initial_state``.
    noise_std : float, default=0.0
        Standard deviation of the Gaussian noise added after each update (not multiplied by sqrt(alpha)).
    generator : torch.Generator, optional
        Source of the noise.
    noise : Tensor of shape (n_trials, n_timesteps, n_units), optional
        Explicit noise added after each update, already scaled (instead of, or on top of, the drawn noise).
    return_rates : bool, default=False
        Also return tanh(states), computed by the simulation loop anyway.
    return_states : bool, default=True
        With ``return_rates``, False returns None for the states (what a tanh readout needs is the rates).

    Returns
    -------
    states : Tensor of shape (n_trials, n_timesteps, n_units) or None
        ``states[:, t]`` is x_{t+1}, the state after the update driven by ``inputs[:, t]``.
    rates : Tensor of shape (n_trials, n_timesteps, n_units), only if ``return_rates``.
    """
    n_trials, n_timesteps, _ = inputs.shape
    n_units = weights.n_units
    x = weights.initial_state if initial_state is None else initial_state
    x = x.expand(n_trials, n_units)
    # All input projections in one matmul, scaled by alpha once, computed time-major so that each step of the
    # recurrence reads a contiguous slice. The noise is drawn straight into the same drive tensor (one call, no
    # separate noise tensor) and the projections are added onto it.
    w_in = weights.input_weights * alpha
    if noise_std > 0:
        # In place on the base tensor, not on a view of it (autograd would then copy the gradient around).
        flat = inputs.new_empty((n_timesteps * n_trials, n_units)).normal_(0.0, noise_std, generator=generator)
        flat.addmm_(inputs.transpose(0, 1).reshape(n_timesteps * n_trials, inputs.shape[-1]), w_in)
        drive = flat.view(n_timesteps, n_trials, n_units)
    else:
        drive = torch.matmul(inputs.transpose(0, 1), w_in)
    if noise is not None:
        drive = drive + noise.transpose(0, 1)
    if weights.J is None:
        # Low rank: (phi(x) n) (alpha m / N)^T, never an N x N matrix.
        left, right = weights.n, (weights.m * (alpha / n_units)).t()
    else:
        left, right = (weights.J * alpha).t(), None
    out = recurrence(x, drive, left, right, 1.0 - alpha, return_rates=return_rates, return_states=return_states)
    if return_rates:
        return None if out[0] is None else out[0].transpose(0, 1), out[1].transpose(0, 1)
    return out.transpose(0, 1)


# ---------------------------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------------------------


class RNNBase(nn.Module):
    """Simulation and readout shared by every network; subclasses provide :meth:`weights`.

    Parameters
    ----------
    n_units, n_inputs, n_outputs : int
    alpha : float
        dt / tau.
    readout : {"identity", "linear"}
        "identity": output k is unit k; "linear": ``g(x) W_out / N + b``.
    output_activation : {"identity", "tanh"}
        g in the readout.
    """

    def __init__(
        self,
        n_units: int,
        n_inputs: int,
        n_outputs: int,
        *,
        alpha: float,
        readout: str = "identity",
        output_activation: str = "identity",
    ) -> None:
        super().__init__()
        self.n_units = n_units
        self.n_inputs = n_inputs
        self.n_outputs = n_outputs
        self.alpha = alpha
        self.readout = readout
        self.output_activation = output_activation
        self._g = OUTPUT_ACTIVATIONS[output_activation]
        # Observation model on top of the readout: None (the readout is the prediction) or a PoissonReadout
        # (expected spike counts), attached by the estimators when fitting counts.
        self.observation = None
        # Initial states per training trial (a trial_states.TrialStates), read through forward's trial_index.
        self.trial_states = None

    def weights(self, generator: torch.Generator | None = None) -> NetworkWeights:  # pragma: no cover - abstract
        raise NotImplementedError

    def read_out(self, states: torch.Tensor, weights: NetworkWeights, rates: torch.Tensor | None = None):
        """Map states (n_trials, n_timesteps, n_units) to outputs (n_trials, n_timesteps, n_outputs).

        ``rates`` (tanh of the states, if the simulation returned them) spares a second tanh pass; with them and a
        tanh output, ``states`` may be None.
        """
        g_states = rates if (rates is not None and self.output_activation == "tanh") else None
        if self.readout == "identity":
            if self.n_outputs < self.n_units:
                # Only then slice: autograd's backward of a slice copies the gradient into a new zero tensor of
                # the trial-major layout, and the recurrence's backward would read that copy across strides.
                states = None if states is None else states[..., : self.n_outputs]
                g_states = None if g_states is None else g_states[..., : self.n_outputs]
            return self._g(states) if g_states is None else g_states
        if g_states is None:
            g_states = self._g(states)
        out = torch.matmul(g_states, weights.readout_weights) / self.n_units
        return out + weights.readout_bias

    def forward(
        self,
        inputs: torch.Tensor,
        *,
        noise_std: float = 0.0,
        generator: torch.Generator | None = None,
        initial_state: torch.Tensor | None = None,
        return_states: bool = False,
        weights: NetworkWeights | None = None,
        trial_index: torch.Tensor | None = None,
    ):
        """Simulate a batch of trials.

        Parameters
        ----------
        inputs : Tensor of shape (n_trials, n_timesteps, n_inputs)
        noise_std : float, default=0.0
            Standard deviation of the recurrent noise (drawn in one call with ``generator``).
        generator : torch.Generator, optional
            Source of the noise (and of sampled weights for stochastic networks).
        initial_state : Tensor of shape (n_units,) or (n_trials, n_units), optional
        return_states : bool, default=False
            Also return the states (n_trials, n_timesteps, n_units).
        weights : NetworkWeights, optional
            Use these weights instead of calling :meth:`weights` (e.g. a network with units silenced).
        trial_index : Tensor of shape (n_trials,), optional
            Indices of these trials among the training trials: with per-trial initial states (``trial_states``)
            and no ``initial_state``, each trial starts from its own state. The training loop passes it.

        Returns
        -------
        outputs : Tensor of shape (n_trials, n_timesteps, n_outputs)
        states : Tensor of shape (n_trials, n_timesteps, n_units), only if ``return_states``.
        """
        if weights is None:
            weights = self.weights(generator)
        trial_states = getattr(self, "trial_states", None)  # modules pickled before it existed lack it
        if initial_state is None and trial_index is not None and trial_states is not None:
            initial_state = trial_states(weights, trial_index)
        want_rates = self.output_activation == "tanh"
        # A tanh readout reads the rates only: the states are formed when asked for.
        out = simulate(weights, inputs, self.alpha, initial_state=initial_state, noise_std=noise_std,
                       generator=generator, return_rates=want_rates, return_states=return_states or not want_rates)
        states, rates = out if want_rates else (out, None)
        outputs = self.read_out(states, weights, rates)
        if self.observation is not None:
            outputs = self.observation(outputs)
        return (outputs, states) if return_states else outputs


class _DeterministicRNN(RNNBase):
    """Parameters common to the low- and full-rank networks: input weights, initial state, readout."""

    def __init__(self, n_units, n_inputs, n_outputs, *, generator=None, dtype=torch.float32, **kwargs) -> None:
        super().__init__(n_units, n_inputs, n_outputs, **kwargs)
        factory = {"dtype": dtype}
        self.input_weights = nn.Parameter(torch.randn(n_inputs, n_units, generator=generator, **factory))
        self.initial_state = nn.Parameter(torch.zeros(n_units, **factory))
        if self.readout == "linear":
            w = torch.randn(n_units, n_outputs, generator=generator, **factory) * math.sqrt(n_units) / 4
            self.readout_weights = nn.Parameter(w)
            self.readout_bias = nn.Parameter(torch.zeros(n_outputs, **factory))
        else:
            self.readout_weights = None
            self.readout_bias = None

    def _common(self) -> dict:
        return {
            "input_weights": self.input_weights,
            "initial_state": self.initial_state,
            "readout_weights": self.readout_weights,
            "readout_bias": self.readout_bias,
        }


class LowRankRNN(_DeterministicRNN):
    """Low-rank network, J = m n^T / N with trainable m, n of shape (n_units, rank).

    Parameters
    ----------
    n_units, n_inputs, n_outputs, rank : int
    generator : torch.Generator, optional
        Source of the random initial weights.
    **kwargs
        ``alpha``, ``readout``, ``output_activation`` as in :class:`RNNBase`.
    """

    def __init__(self, n_units, n_inputs, n_outputs, rank, *, generator=None, dtype=torch.float32, **kwargs):
        super().__init__(n_units, n_inputs, n_outputs, generator=generator, dtype=dtype, **kwargs)
        self.rank = rank
        self.m = nn.Parameter(torch.randn(n_units, rank, generator=generator, dtype=dtype))
        self.n = nn.Parameter(torch.randn(n_units, rank, generator=generator, dtype=dtype))

    def weights(self, generator=None) -> NetworkWeights:
        return NetworkWeights(m=self.m, n=self.n, J=None, **self._common())


class FullRankRNN(_DeterministicRNN):
    """Full-rank reference network with a free N x N connectivity J (O(N^2) parameters).

    Parameters
    ----------
    n_units, n_inputs, n_outputs : int
    gain : float, default=0.5
        Initial J has i.i.d. entries of standard deviation gain / sqrt(N).
    generator : torch.Generator, optional
    **kwargs
        ``alpha``, ``readout``, ``output_activation`` as in :class:`RNNBase`.
    """

    def __init__(self, n_units, n_inputs, n_outputs, *, gain=0.5, generator=None, dtype=torch.float32, **kwargs):
        super().__init__(n_units, n_inputs, n_outputs, generator=generator, dtype=dtype, **kwargs)
        j = torch.randn(n_units, n_units, generator=generator, dtype=dtype) * (gain / math.sqrt(n_units))
        self.J = nn.Parameter(j)

    def weights(self, generator=None) -> NetworkWeights:
        return NetworkWeights(m=None, n=None, J=self.J, **self._common())


# ---------------------------------------------------------------------------------------------------------------
# Observation model for spike counts
# ---------------------------------------------------------------------------------------------------------------


def inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """x with softplus(x) = y for y > 0, in the dtype of y (numerically safe for small and large y).

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.network import inverse_softplus
    >>> y = torch.tensor([1e-6, 1.0, 50.0], dtype=torch.float64)
    >>> bool(torch.allclose(torch.nn.functional.softplus(inverse_softplus(y)), y))
    True
    """
    return torch.where(y > 20.0, y, torch.log(torch.expm1(y.clamp_min(1e-12))))


#: Positive links of the Poisson readout and their inverses.
LINKS = {"softplus": (nn.functional.softplus, inverse_softplus), "exp": (torch.exp, torch.log)}


class PoissonReadout(nn.Module):
    """Expected spike counts per bin, ``link(gain * readout + offset)``, with one gain and offset per output.

    Parameters
    ----------
    n_outputs : int
    link : {"softplus", "exp"}, default="softplus"
    gain, offset : Tensor of shape (n_outputs,), optional
        Initial values (1 and 0 by default).
    shared_gain : bool, default=False
        One trainable gain for all outputs (a parameter of shape (1,), started at the mean of ``gain``).
    dtype : torch.dtype, default=torch.float32

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.network import PoissonReadout
    >>> obs = PoissonReadout(2, offset=torch.tensor([0.0, 1.0]))
    >>> obs(torch.zeros(1, 1, 2)).round(decimals=4)
    tensor([[[0.6931, 1.3133]]], grad_fn=<RoundBackward1>)
    """

    def __init__(self, n_outputs: int, *, link: str = "softplus", gain=None, offset=None, shared_gain: bool = False,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.link = link
        self._link = LINKS[link][0]
        gain = torch.ones(n_outputs, dtype=dtype) if gain is None else torch.as_tensor(gain).to(dtype)
        offset = torch.zeros(n_outputs, dtype=dtype) if offset is None else torch.as_tensor(offset).to(dtype)
        self.gain = nn.Parameter(gain.mean().reshape(1) if shared_gain else gain.clone())
        self.offset = nn.Parameter(offset.clone())

    def forward(self, readout: torch.Tensor) -> torch.Tensor:
        return self._link(readout * self.gain + self.offset)

    def extra_repr(self) -> str:
        return f"n_outputs={self.offset.numel()}, link={self.link!r}, shared_gain={self.gain.numel() == 1}"
