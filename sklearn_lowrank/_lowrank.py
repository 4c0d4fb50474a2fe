"""LowRankRNNRegressor: low-rank RNNs fitted neuron by neuron to recorded activity (LINT)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import BaseRNNEstimator, _assign_parameters
from ._core.canonical import canonical_factors
from ._core.network import FullRankRNN, LowRankRNN
from ._core.start import data_driven_start, extend_rank_start
from ._core.trial_states import TrialStates, infer_trial_states
from ._ragged import ragged_lengths, unpad_trials
from ._utils import _to_numpy
from ._validation import MAX_MAGNITUDE, _check_values, _reject_bad_dtypes

__all__ = ["LowRankRNNRegressor", "canonical_loadings"]

#: Network size used for a linear readout when ``n_units=None``.
DEFAULT_LINEAR_UNITS = 128


# ---------------------------------------------------------------------------------------------------------------
# Canonical form
# ---------------------------------------------------------------------------------------------------------------


def canonical_loadings(m, n):
    """Re-express J = m n^T / N with orthogonal, balanced columns ordered by singular value.

    Parameters
    ----------
    m, n : ndarray of shape (n_units, rank)

    Returns
    -------
    m_c, n_c : ndarray of shape (n_units, rank)
        ``m_c n_c^T = m n^T``; the columns of ``m_c`` are orthogonal, those of ``n_c`` too, column r of both has
        norm sqrt(N s_r) where s_r is the r-th singular value of J; the largest-magnitude entry of each column of
        ``m_c`` is positive.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import canonical_loadings
    >>> rng = np.random.default_rng(0)
    >>> m, n = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    >>> m_c, n_c = canonical_loadings(m, n)
    >>> bool(np.allclose(m_c @ n_c.T, m @ n.T))
    True
    >>> bool(abs(m_c[:, 0] @ m_c[:, 1]) < 1e-8)
    True
    """
    m_c, n_c = canonical_factors(torch.as_tensor(np.asarray(m, dtype=np.float64)),
                                 torch.as_tensor(np.asarray(n, dtype=np.float64)))
    return m_c.numpy(), n_c.numpy()


def _is_mode(initial_state, mode: str) -> bool:
    """Whether the ``initial_state`` parameter is the string ``mode`` (it may be an array)."""
    return isinstance(initial_state, str) and initial_state == mode


# ---------------------------------------------------------------------------------------------------------------
# Estimator
# ---------------------------------------------------------------------------------------------------------------


class LowRankRNNRegressor(TransformerMixin, BaseRNNEstimator):
    r"""Low-rank recurrent network fitted to trials of activity by backpropagation through time.

    The network of N units follows (``alpha = dt / tau``, ``phi = tanh``)

    .. math::

        x_{t+1} = x_t + \alpha(-x_t + J\phi(x_t) + W_{in}^T u_t) + \sigma \xi_t, \qquad J = m n^T / N

    with m, n of shape (N, rank). With ``readout="identity"`` unit i reproduces feature i of y (the
    neuron-by-neuron fit of LINT); extra units (``n_units`` > n_features) are hidden. ``rank=None`` fits the
    full-rank reference network (free J, O(N^2) parameters).

    Parameters
    ----------
    rank : int or None, default=1
        Rank of J; None for a full-rank J.
    n_units : int or None, default=None
        Number of units N. None: one unit per feature of y with ``readout="identity"``, 128 with
        ``readout="linear"``. Larger values add hidden units.
    readout : {"identity", "linear"}, default="identity"
        "identity": ``y_hat[..., i] = g(x_i)``, the neuron-by-neuron fit; "linear": ``g(x) W_out / N + b``
        with trained ``W_out`` and ``b``, for task outputs.
    output_activation : {"identity", "tanh"}, default="identity"
        g above: "identity" compares the states x with y (currents, centred rates); "tanh" compares rates
        tanh(x) with y.
    alpha : float in (0, 1], default=0.2
        Time step over time constant, dt / tau.
    noise_std : float >= 0, default=0.0
        Standard deviation of the recurrent noise during training (never at predict time); the noise added at
        each step is not scaled by sqrt(alpha).
    init : {"auto", "random"}, default="auto"
        "auto": with an identity readout, initialise from a one-step regression of the observed states (see
        Notes), else at random; the regression's network is kept only if it predicts the training trials better
        than the random start (a one-step fit can be unstable when run freely, e.g. a full-rank J on noisy
        rates). "random": Gaussian m, n and input weights.
    initial_state : {"learned", "zero", "per_trial"} or array-like, default="learned"
        Where trials start. "learned": one initial state shared by all trials, trained. "zero": x_0 = 0, not
        trained. "per_trial": each training trial k starts from its own state ``x_0 + P d_k``, trained with the
        network: the shared state plus an offset projected (P) on the span of the connectivity vectors m and the
        input vectors (all directions for ``rank=None``), so that it has ``rank + n_inputs`` degrees of freedom;
        the offsets start from the states :meth:`infer_initial_state` finds for the starting network, and the
        training trials' states are kept in ``initial_states_``. An array of shape (n_units,) or
        (n_trials, n_units): fixed initial states (shared, or one per training trial), not trained. New trials
        start from the shared state unless ``predict`` gets an ``initial_state`` (e.g. from
        :meth:`infer_initial_state`).
    solver : {"auto", "adam", "lbfgs"}, default="auto"
        Optimiser. "adam": Adam on mini-batches of trials. "lbfgs": L-BFGS on the loss of all training trials, one
        quasi-Newton step (with a line search) per epoch, until the last ``2 * n_iter_no_change`` steps together
        improved the loss by less than ``tol`` (``learning_rate*`` and ``clip_grad_norm`` are not used;
        ``batch_size`` only bounds the memory: the gradient is summed over chunks of that many trials; with
        "auto", chunks of at most 256 trials and about 4 million entries, trials x steps x units). "auto": "adam"
        for squared error; for ``loss="poisson"``, "adam" and then "lbfgs" from where Adam stopped (each up to
        ``max_iter`` epochs): the likelihood of spike counts is flat along directions that change the
        connectivity, where Adam's mini-batch steps keep moving and exact steps on all trials converge.
    max_iter : int, default=200
        Maximum number of epochs (per optimiser with ``solver="auto"`` and ``loss="poisson"``).
    batch_size : int or "auto", default="auto"
        Trials per mini-batch (capped at the number of training trials). "auto": min(32, ceil(n_trials / 8)), so
        that small data sets such as condition averages still get at least 8 optimiser steps per epoch.
    learning_rate : {"auto", "adaptive", "constant"}, default="auto"
        "auto": "adaptive" with ``readout="identity"`` (fitting activity, where long trials and unobserved periods
        make the loss oscillate at a constant rate), "constant" with ``readout="linear"`` (training on a task from a
        random start, the original training procedure). "adaptive": when ``n_iter_no_change`` epochs in a row fail
        to improve the loss by ``tol`` and the loss oscillated above its best meanwhile (steps too large to
        settle), training goes on from the best parameters with the learning rate divided by 5, down to
        ``learning_rate_init / 100``; when the loss stays flat instead, training stops as with "constant".
        "constant": stop at the first such plateau.
    learning_rate_init : float, default=0.01
        Adam's learning rate.
    tol : float, default=1e-3
        Improvement of the monitored loss (training loss, or validation loss with early stopping) below which an
        epoch counts as no improvement, as a fraction of the loss for squared error and, for ``loss="poisson"``,
        of the deviance the model explains beyond the null model of each neuron's mean count (the loss of
        single-trial counts is mostly spiking noise, which no model removes). Where trials repeat their inputs,
        the squared error's fraction is of the loss above its floor: the spread of the monitored trials around
        their condition averages, which no network that predicts one trajectory per condition removes.
    n_iter_no_change : int, default=5
        Stop (or, with ``learning_rate="adaptive"``, lower the rate) after this many epochs without improvement.
        The data-driven initialisation starts close to the optimum, so a short patience suffices; from a random
        initialisation (task training) loss plateaus are common and a larger value (e.g. 20) is safer.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the trials and monitor their loss.
    validation_fraction : float in (0, 1), default=0.1
    clip_grad_norm : float or None, default=1.0
        Maximum gradient norm; None disables clipping.
    device : str or torch.device, default="cpu"
        "cpu", "cuda", "cuda:N" or "mps".
    n_threads : int or None, default=None
        Threads torch uses within each operation during fit, predict, score and transform; the previous setting is
        restored afterwards. None keeps torch's setting (one per core by default); 1 keeps a fit from competing
        with itself when other processes share the cores (see the user guide on parallel fits).
    n_init : int >= 1, default=1
        Number of starts: the network is fitted ``n_init`` times from different random starts (as
        ``GaussianMixture`` does) and the fit with the lowest final training loss (``best_loss_``; the validation
        loss with early stopping) is kept. Costs ``n_init`` fits; worth it where the optimum a fit reaches depends
        on the seed. A warm start continues the fitted network once.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the batch order and the noise; an int gives bit-identical CPU fits.
    verbose : int, default=0
        1: one line per epoch; 2: a progress bar.
    warm_start : bool, default=False
        Continue from the fitted network (and optimiser state) on the next call to fit.
    loss : {"squared_error", "poisson"}, default="squared_error"
        Observation model. "squared_error": y holds activity, compared with the readout by squared error.
        "poisson": y holds spike counts per bin (>= 0; NaN for missing), each output gets expected counts
        ``softplus(rate_gain_ * readout + rate_offset_)``, the loss is the Poisson negative log-likelihood,
        ``predict`` returns expected counts and ``score`` the deviance explained (D^2). Single trials can be
        fitted directly: the network is deterministic, so it predicts each condition's expected counts. With an
        identity readout one gain is shared by all units (see Notes). See ``tol`` and ``solver`` for how
        Poisson fits are trained to convergence.

    Attributes
    ----------
    m_ : ndarray of shape (n_units_, rank)
        Left connectivity vectors in canonical form (orthogonal columns ordered by singular value of J).
        Not set when ``rank=None``.
    n_ : ndarray of shape (n_units_, rank)
        Right connectivity vectors; ``connectivity_ = m_ n_^T / n_units_``. Not set when ``rank=None``.
    connectivity_ : ndarray of shape (n_units_, n_units_)
        J, formed on access for low rank.
    input_weights_ : ndarray of shape (n_features_in_, n_units_)
    readout_weights_ : ndarray of shape (n_units_, n_outputs_)
        Only with ``readout="linear"``; ``readout_bias_`` of shape (n_outputs_,) too.
    initial_state_ : ndarray of shape (n_units_,)
        The shared initial state (the start of new trials).
    initial_states_ : ndarray of shape (n_trials, n_units_)
        Initial state of each training trial; only with ``initial_state="per_trial"`` or an array of shape
        (n_trials, n_units).
    rate_gain_, rate_offset_ : ndarray of shape (n_outputs_,)
        Per-output gain and offset of the Poisson readout; only with ``loss="poisson"``.
    n_units_ : int
    n_outputs_ : int
    n_features_in_ : int
        Number of inputs.
    loss_curve_ : list of float
        Training loss per epoch.
    validation_loss_curve_ : list of float
        Only with early stopping.
    best_loss_ : float
        Monitored loss of the kept parameters.
    n_iter_ : int
        Epochs run in the last call to fit.
    module_ : torch.nn.Module
        The fitted torch network.

    See Also
    --------
    GaussianMixtureRNN : the mixture of Gaussians over connectivity loadings.

    Notes
    -----
    Prediction at step t is read from the state after the update driven by ``X[:, t]``. NaN in y is left out of
    the loss and the score.

    With ``init="auto"`` and an identity readout the observed states ``s = g^{-1}(y)`` give a linear regression
    ``(s_t - (1 - alpha) s_{t-1}) / alpha ~ J phi(s_{t-1}) + W_in^T u_t``; J is reduced to the requested rank
    by reduced-rank regression and BPTT refines it. With the squared error and trials that repeat their inputs, the
    regression of their averages (less noise, so a less attenuated estimate) is a second candidate; whichever of
    the starts predicts the training trials best is kept. Saturated rates (|y| > 0.999 with a tanh output) and NaN
    are treated as missing targets. Hidden units start with small random loadings. Steps before the first
    observation of any trial (an unobserved period at the start, NaN in y: a recording that starts after a cue)
    are left out of the regression; the network is then trained through them, from ``initial_state_``, which
    the regression does not set in that case.

    With ``loss="poisson"`` the states to regress on come from the counts: trials with identical inputs are
    averaged, smoothed along time, floored, passed through the inverse link and centred per neuron; the
    readout's offsets start at the neurons' means of the link-inverted rates and the gain at their root-mean-square
    spread. The gain is one trained value shared by all units: a gain per unit would duplicate the scale of the
    unit's own loadings and leave that scale, and with it the connectivity, unidentified.

    References
    ----------
    .. [1] Valente, Pillow & Ostojic, "Extracting computational mechanisms from neural data using low-rank
       RNNs", NeurIPS 2022.
    .. [2] Mastrogiuseppe & Ostojic, "Linking connectivity, dynamics, and computations in low-rank recurrent
       neural networks", Neuron 2018.

    Examples
    --------
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> X, y = make_low_rank_teacher(n_units=30, rank=1, n_trials=40, n_timesteps=20, random_state=0,
    ...                              return_X_y=True)
    >>> est = LowRankRNNRegressor(rank=1, max_iter=20, random_state=0).fit(X, y)
    >>> est.m_.shape, est.transform(X).shape
    ((30, 1), (40, 20, 1))
    >>> bool(est.score(X, y) > 0.9)
    True
    """

    _parameter_constraints: dict = {
        **BaseRNNEstimator._parameter_constraints,
        "rank": [Interval(Integral, 1, None, closed="left"), None],
        "n_units": [Interval(Integral, 1, None, closed="left"), None],
        "readout": [StrOptions({"identity", "linear"})],
        "init": [StrOptions({"auto", "random"})],
        "initial_state": [StrOptions({"learned", "zero", "per_trial"}), "array-like"],
        "learning_rate": [StrOptions({"auto", "constant", "adaptive"})],
        "solver": [StrOptions({"auto", "adam", "lbfgs"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        rank=1,
        *,
        n_units=None,
        readout="identity",
        output_activation="identity",
        alpha=0.2,
        noise_std=0.0,
        init="auto",
        initial_state="learned",
        solver="auto",
        max_iter=200,
        batch_size="auto",
        learning_rate="auto",
        learning_rate_init=1e-2,
        tol=1e-3,
        n_iter_no_change=5,
        early_stopping=False,
        validation_fraction=0.1,
        clip_grad_norm=1.0,
        device="cpu",
        n_threads=None,
        n_init=1,
        random_state=None,
        verbose=0,
        warm_start=False,
        loss="squared_error",
    ):
        _assign_parameters(self, locals())

    # -- hooks ---------------------------------------------------------------------------------------------------
    def _training_config(self):
        config = super()._training_config()
        config.solver = self._solver()
        auto = "adaptive" if self.readout == "identity" else "constant"
        config.learning_rate = auto if self.learning_rate == "auto" else self.learning_rate
        return config

    def _solver(self) -> str:
        if self.solver == "auto":
            return "adam+lbfgs" if self.loss == "poisson" else "adam"
        return self.solver

    def _resolve_sizes(self, n_inputs: int, n_outputs: int) -> int:
        if self.n_units is None:
            n_units = n_outputs if self.readout == "identity" else max(DEFAULT_LINEAR_UNITS, n_outputs)
        else:
            n_units = self.n_units
        if self.readout == "identity" and n_units < n_outputs:
            raise ValueError(
                f"n_units={n_units} is smaller than the {n_outputs} features of y; with readout='identity' "
                "every feature needs its own unit: set n_units >= n_features or None."
            )
        if self.rank is not None and self.rank > n_units:
            raise ValueError(
                f"rank={self.rank} exceeds n_units={n_units}; choose rank <= n_units (or rank=None for a "
                "full-rank network)."
            )
        return n_units

    def _build_module(self, X, y, mask, n_units, generator, device):
        n_inputs, n_outputs = X.shape[-1], y.shape[-1]
        kwargs = {"alpha": self.alpha, "readout": self.readout, "output_activation": self.output_activation}
        if self.rank is None:
            module = FullRankRNN(n_units, n_inputs, n_outputs, generator=generator, **kwargs)
        else:
            module = LowRankRNN(n_units, n_inputs, n_outputs, self.rank, generator=generator, **kwargs)
        module = module.to(device)
        fixed = self._fixed_initial_states(X.shape[0], n_units)
        if fixed is not None or _is_mode(self.initial_state, "zero"):
            module.initial_state.requires_grad_(False)  # the training loop only updates what requires grad
        # With an identity readout a unit's own gain would duplicate the scale of its loadings and leave that
        # scale (and with it the connectivity) unidentified: one gain, shared by all units, is trained instead.
        count_start = self._count_start(X, y, mask, scale=0.5 if self.output_activation == "tanh" else 1.0,
                                        shared_gain=self.readout == "identity")
        if count_start is not None:
            module.observation = count_start[0]
        if self.init == "auto" and self.readout == "identity":
            data_driven_start(module, X, y, mask, loss=self.loss,
                              regression_data=None if count_start is None else count_start[1])
        lower = getattr(self, "_lower_rank_start", None)
        if lower is not None and self._extends(fixed):
            extend_rank_start(module, lower.to(device), X, y, mask, loss=self.loss)
        if fixed is not None:
            self._attach_fixed_states(module, fixed)
        elif _is_mode(self.initial_state, "per_trial"):
            # Started where the starting network best explains each trial: offsets started at zero would take
            # Adam about 1 / learning_rate_init epochs to reach states of order one.
            subspace = self.rank is not None and self._per_trial_subspace
            start = infer_trial_states(module, X, y, mask, loss=self.loss, subspace=subspace)
            module.trial_states = TrialStates(X.shape[0], n_units, offsets=start - module.initial_state.detach(),
                                              subspace=subspace).to(device)
        return module

    def _fit_extending(self, X, y, lower):
        """``fit``, started from the fitted lower-rank network ``lower`` plus new directions where that is better.

        The rank path of :class:`LowRankRNNRegressorCV`: each start of this fit is the fitted rank-r module
        ``lower`` extended to this rank by :func:`~sklearn_lowrank._core.start.extend_rank_start` when that
        predicts the training trials at least as well as the fit's own start; fits that cannot extend (full rank,
        a linear readout, per-trial initial states) ignore ``lower``.
        """
        self._lower_rank_start = lower
        try:
            return self.fit(X, y)
        finally:
            del self._lower_rank_start

    def _extends(self, fixed) -> bool:
        """Whether a fit of these parameters can start from a lower-rank fit (see :meth:`_fit_extending`)."""
        return (self.rank is not None and self.readout == "identity" and not _is_mode(self.initial_state, "per_trial")
                and (fixed is None or fixed.ndim == 1))

    #: Per-trial offsets restricted to span(m, input vectors); False (all directions) only for the comparison in
    #: benchmarks/bench_initial_states.py.
    _per_trial_subspace = True

    def _fixed_initial_states(self, n_trials: int, n_units: int):
        """The array of ``initial_state``, validated, or None for the string modes."""
        if isinstance(self.initial_state, str):
            return None
        x0 = _reject_bad_dtypes(np.asarray(self.initial_state), "initial_state")
        if x0.shape not in ((n_units,), (n_trials, n_units)):
            raise ValueError(f"initial_state must be 'learned', 'zero', 'per_trial' or an array of shape "
                             f"({n_units},) or ({n_trials}, {n_units}) (n_units or n_trials, n_units); got shape "
                             f"{x0.shape}.")
        x0_32 = x0.astype(np.float32)
        _check_values(x0_32, x0, "initial_state", allow_nan=False, max_magnitude=MAX_MAGNITUDE)
        return x0_32

    @staticmethod
    def _attach_fixed_states(module, fixed: np.ndarray) -> None:
        x0 = torch.from_numpy(fixed).to(module.initial_state.device)
        with torch.no_grad():
            module.initial_state.zero_()
            if x0.ndim == 1:
                module.initial_state.copy_(x0)
                return
        module.trial_states = TrialStates(x0.shape[0], module.n_units, offsets=x0, subspace=False,
                                          trainable=False).to(x0.device)

    def _store_fitted(self) -> None:
        module = self.module_
        if isinstance(module, LowRankRNN):
            self.m_ = _to_numpy(module.m)
            self.n_ = _to_numpy(module.n)
        self.input_weights_ = _to_numpy(module.input_weights)
        self.initial_state_ = _to_numpy(module.initial_state)
        trial_states = getattr(module, "trial_states", None)
        if trial_states is not None:
            with torch.no_grad():
                self.initial_states_ = _to_numpy(trial_states.states(module.weights()))
        if module.readout == "linear":
            self.readout_weights_ = _to_numpy(module.readout_weights)
            self.readout_bias_ = _to_numpy(module.readout_bias)

    # -- public API ----------------------------------------------------------------------------------------------
    @property
    def connectivity_(self) -> np.ndarray:
        """J of shape (n_units_, n_units_): ``m_ n_^T / n_units_`` for low rank, the free matrix otherwise."""
        check_is_fitted(self, "module_")
        if not hasattr(self, "m_"):
            return self.module_.J.detach().cpu().numpy().copy()
        return (self.m_ @ self.n_.T) / self.n_units_

    def transform(self, X, initial_state=None):
        """Latent trajectories kappa_r(t) = m_r . x_{t+1} / ||m_r||^2 of each trial.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_inputs)
        initial_state : array-like of shape (n_units,) or (n_trials, n_units), optional

        Returns
        -------
        kappa : ndarray of shape (n_trials, n_timesteps, rank), or list of ndarray for ragged X
            With ``rank=None`` there is no low-rank latent space and the unit states
            (n_trials, n_timesteps, n_units) are returned. With 2D X the time axis is dropped.
        """
        lengths = ragged_lengths(X)
        states, x_ndim = self._simulate(X, initial_state=initial_state, want="states")
        if hasattr(self, "m_"):
            m = self.m_.astype(np.float32)
            norms = np.maximum((m**2).sum(axis=0), np.finfo(np.float32).tiny)
            states = states @ (m / norms)
        if lengths is not None:
            return unpad_trials(states, lengths)
        return states[:, 0] if x_ndim == 2 else states

    def fit_transform(self, X, y=None, **fit_params):
        """Fit to (X, y), then return the latent trajectories of X (see :meth:`transform`).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_inputs)
        y : array-like of shape (n_trials, n_timesteps, n_outputs)

        Returns
        -------
        kappa : ndarray of shape (n_trials, n_timesteps, rank)
        """
        return self.fit(X, y, **fit_params).transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.target_tags.required = True
        return tags
