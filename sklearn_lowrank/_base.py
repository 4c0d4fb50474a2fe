"""Base estimator: validation, seeding, the call into the one training loop, prediction and persistence.

Subclasses fill three hooks, as scikit-learn's ``BaseMixture`` subclasses do:

- ``_resolve_sizes(n_inputs, n_outputs)``: check the parameters against the data, return ``n_units``;
- ``_build_module(X, y, mask, n_units, generator, device)``: the initialised torch module, built on ``device``
  (the data's) and started there;
- ``_store_fitted()``: read the fitted parameters back into ``*_`` attributes (a reader: it changes nothing).

``_adopt_module`` is the one way into fitted state, for ``fit`` and for estimators built from parameters.
"""

from __future__ import annotations

import functools
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._core.canonical import canonicalize_
from ._core.start import poisson_start
from ._core.training import TrainingConfig, train
from ._core.trial_states import infer_trial_states
from ._counts import check_counts
from ._ragged import check_same_lengths, ragged_lengths, read_trials, unpad_trials
from ._utils import _seed_from, _to_numpy, check_device
from ._validation import (
    MAX_MAGNITUDE,
    _check_values,
    _reject_bad_dtypes,
    check_fit_data,
    check_score_y,
    check_trials_X,
)
from ._version import __version__
from .metrics import d2_poisson_score_trials, r2_score_trials

__all__ = ["BaseRNNEstimator"]

#: ``score`` of each loss: R^2 for squared error, the fraction of Poisson deviance explained for counts.
_SCORES = {"squared_error": r2_score_trials, "poisson": d2_poisson_score_trials}
#: Fitted state whose names do not end in ``_``: the optimiser kept for a warm start, the dimension of y at fit.
_PRIVATE_FITTED = ("_optimizer", "_y_ndim")
#: Fitted state that scikit-learn's validation at the door of ``fit`` sets (or removes) before the module is adopted.
_SET_BY_VALIDATION = ("feature_names_in_",)
#: Link of the Poisson readout (softplus: see benchmarks/bench_spikes.py --links for the comparison with exp).
POISSON_LINK = "softplus"


#: The device types of the ``device`` parameter, as listed in its error message.
def _final_loss(result) -> float:
    """The loss a start ended at, +inf when not finite (compared across the starts of ``n_init``)."""
    return result.best_loss if np.isfinite(result.best_loss) else np.inf


def _with_threads(method):
    """Run ``method`` with torch's intra-op threads set to the estimator's ``n_threads`` (None: unchanged).

    The previous setting is restored afterwards, even on error. torch's thread count is global to the process,
    so concurrent fits in threads of one process share it; processes (joblib's default) do not.
    """
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        n_threads = getattr(self, "n_threads", None)
        if n_threads is None:
            return method(self, *args, **kwargs)
        previous = torch.get_num_threads()
        torch.set_num_threads(int(n_threads))
        try:
            return method(self, *args, **kwargs)
        finally:
            torch.set_num_threads(previous)

    return wrapper


def _assign_parameters(estimator, arguments: dict) -> None:
    """The body of each estimator's ``__init__``: store every constructor argument unchanged under its own name.

    scikit-learn's rule (``__init__`` only assigns; validation happens in ``fit``) kept in one place, so that the
    estimators, which share most parameters, do not repeat their assignments. ``arguments`` is ``locals()`` taken
    first thing in ``__init__``: exactly its parameters.
    """
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class BaseRNNEstimator(RegressorMixin, BaseEstimator):
    """Shared machinery of the recurrent-network estimators; not meant to be used directly."""

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, 1, closed="right")],
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "output_activation": [StrOptions({"identity", "tanh"})],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "clip_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "device": [str, torch.device],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    #: Parameters a warm start cannot change, each also an attribute of the fitted module.
    _warm_start_fixed: tuple = ()

    # -- hooks ---------------------------------------------------------------------------------------------------
    def _resolve_sizes(self, n_inputs: int, n_outputs: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_module(self, X, y, mask, n_units, generator, device):  # pragma: no cover - abstract
        raise NotImplementedError

    def _store_fitted(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- fit -----------------------------------------------------------------------------------------------------
    def _training_config(self) -> TrainingConfig:
        return TrainingConfig(
            max_iter=self.max_iter,
            batch_size=self.batch_size,
            learning_rate_init=self.learning_rate_init,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            clip_grad_norm=self.clip_grad_norm,
            noise_std=self.noise_std,
            verbose=self.verbose,
            loss=self.loss,
            learning_rate="constant",  # estimators with a schedule parameter override this hook
            solver="adam",  # ... and with a solver parameter
        )

    def _output_range(self) -> tuple[float, float] | None:
        """The range the predictions can take when it is bounded (tanh rates of an identity readout), else None."""
        if self.output_activation == "tanh" and getattr(self, "readout", "linear") == "identity":
            return (-1.0, 1.0)
        return None

    def _count_start(self, X, y, mask, scale: float = 1.0, shared_gain: bool = False):
        """With ``loss="poisson"``: the Poisson readout to attach and the data to start the network from.

        None for squared error; else :func:`~sklearn_lowrank._core.start.poisson_start`'s ``(readout,
        (X_g, states, mask_g))``, computed on the data's device.
        """
        if self.loss != "poisson":
            return None
        return poisson_start(X, y, mask, link=POISSON_LINK, scale=scale, shared_gain=shared_gain)

    def _store_observation(self) -> None:
        """``rate_gain_`` and ``rate_offset_`` of the Poisson readout (none for squared error)."""
        observation = getattr(self.module_, "observation", None)
        if observation is None:
            return
        self.rate_gain_ = np.broadcast_to(_to_numpy(observation.gain), observation.offset.shape).copy()
        self.rate_offset_ = _to_numpy(observation.offset)

    @_fit_context(prefer_skip_nested_validation=True)
    @_with_threads
    def fit(self, X, y):
        """Fit the network to trials of inputs X and activity y by backpropagation through time.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_inputs)
            Inputs of each trial; ``n_inputs`` may be 0. A 2D array (n_trials, n_inputs) is read as trials of one
            time step (see Notes). A list of equally shaped (n_timesteps, n_inputs) arrays is stacked along
            trials; a list of (n_timesteps_i, n_inputs) trials of different lengths is padded with zeros after each
            trial's end; one trial is ``X[None]``, of shape (1, n_timesteps, n_inputs).
        y : array-like of shape (n_trials, n_timesteps, n_outputs)
            Activity (identity readout) or task targets (linear readout); spike counts per bin (>= 0, not
            necessarily integers) with ``loss="poisson"``. NaN marks a missing observation, left out of the
            loss. With 2D X, y is (n_trials,) or (n_trials, n_outputs). For ragged X, a list of
            (n_timesteps_i, n_outputs) trials of the same lengths, padded with NaN.

        Returns
        -------
        self : object
            The fitted estimator.

        Notes
        -----
        X and y are converted to float32, the dtype of the networks: float16, float64, integer, boolean and
        object arrays of numbers are accepted; strings and complex numbers are refused. NaN or inf in X, inf in y,
        values beyond the float32 range and values above about 1.8e19 in magnitude (whose squares overflow
        float32) are errors: rescale such data first.

        Data that fit without error but not as meant get a ``UserWarning`` that says the fix:

        - 2D X with 2D y: one trial passed as (n_timesteps, n_channels) would be fitted as one-step trials with
          no recurrence; pass ``X[None], y[None]`` for one trial. One-step trials are unambiguous as 3D arrays
          (``X[:, None], y[:, None]``), with a DataFrame X or with a 1D y, and are then fitted silently.
        - X or y far from the O(1) scale of the networks' states (largest magnitude of X above 1e3, of y above
          1e2 or below 0.1): rescale them.
        - A feature of y with no observation in these trials (a neuron recorded only in conditions that a
          cross-validation fold leaves out): its unit is fitted without targets, as a hidden unit, and still
          predicted.

        With a tanh identity readout (``output_activation="tanh"``, rates in (-1, 1)), y slightly outside
        [-1, 1] (noise) is fitted as saturated rates with a warning; more than 1% of the observed entries
        outside, or any beyond 1.5 in magnitude (e.g. rates in Hz), is an error.
        """
        device = check_device(self.device)
        X, y, mask, _, y_ndim = check_fit_data(self, X, y, output_range=self._output_range())
        if self.loss == "poisson":
            check_counts(y, mask)  # a neuron never observed is reported once, by the validator
        warm = self.warm_start and hasattr(self, "module_")
        n_units = self._resolve_sizes(X.shape[-1], y.shape[-1])
        if warm:
            self._check_warm_start(X.shape[-1], y.shape[-1], n_units, X.shape[0])
        config = self._training_config()
        if config.early_stopping and X.shape[0] < 2:
            raise ValueError("early_stopping=True needs at least 2 trials to hold some out; pass more trials.")
        rs = check_random_state(self.random_state)
        X_t = torch.from_numpy(X).to(device)
        y_t = torch.from_numpy(y).to(device)
        mask_t = None if mask is None else torch.from_numpy(mask).to(device)
        module = result = optimizer = None
        for _ in range(1 if warm else getattr(self, "n_init", 1)):
            fit = self._fit_start(X_t, y_t, mask_t, n_units, config, rs, device, warm)
            # several starts: the lowest final loss wins (a diverged start's non-finite loss never does)
            if result is None or _final_loss(fit[1]) < _final_loss(result):
                module, result, optimizer = fit
        canonicalize_(module, optimizer)
        self._adopt_module(module, y_ndim=y_ndim, result=result, optimizer=optimizer, warm=warm)
        self._warn_stop(result.stop_reason)
        return self

    def _fit_start(self, X_t, y_t, mask_t, n_units, config, rs, device, warm):
        """One start of ``fit``: a new network (or the fitted one, warm) trained; (module, result, optimizer)."""
        init_seed, train_seed = _seed_from(rs), _seed_from(rs)
        if warm:
            module = self.module_.to(device)
            optimizer = getattr(self, "_optimizer", None)
        else:
            module = self._build_module(X_t, y_t, mask_t, n_units, torch.Generator().manual_seed(init_seed), device)
            optimizer = None
        result, optimizer = train(module, X_t, y_t, mask_t, config, torch.Generator().manual_seed(train_seed),
                                  optimizer=optimizer)
        return module, result, optimizer

    def _adopt_module(self, module, *, y_ndim: int = 3, result=None, optimizer=None, warm: bool = False) -> None:
        """The one way into fitted state: hold ``module`` and set every fitted attribute from it.

        Called by ``fit`` (with the training ``result`` and the optimiser kept for a warm start) and by the
        constructors that build a fitted estimator from given parameters (no result: empty history). Low-rank
        modules arrive in canonical form (:func:`~sklearn_lowrank._core.canonical.canonicalize_`). Every fitted
        attribute of an earlier fit is cleared first (a warm start carries its loss curves over), so none of them
        can outlive the fit that set it.
        """
        previous = self._clear_fitted()
        self.module_ = module
        if optimizer is not None:
            self._optimizer = optimizer
        self.n_units_ = module.n_units
        self.n_outputs_ = module.n_outputs
        self.n_features_in_ = module.n_inputs
        self._y_ndim = y_ndim
        warm = warm and result is not None
        self.loss_curve_ = (list(previous.get("loss_curve_", [])) if warm else []) + (
            [] if result is None else result.loss_curve)
        if result is not None and self.early_stopping:
            earlier = list(previous.get("validation_loss_curve_", [])) if warm else []
            self.validation_loss_curve_ = earlier + result.validation_loss_curve
        self.best_loss_ = float("nan") if result is None else result.best_loss
        self.n_iter_ = 0 if result is None else result.n_iter
        self._store_fitted()
        self._store_observation()

    def _check_warm_start(self, n_inputs: int, n_outputs: int, n_units: int, n_trials: int) -> None:
        """The one check of a warm start: the data and parameters must fit the module it continues from.

        The sizes and the observation model are compared with the fitted module, and so are the parameters named
        in ``_warm_start_fixed`` (each compared with the module's attribute of the same name); a module with
        per-trial initial states continues only on as many trials as it holds states for.
        """
        module = self.module_
        trial_states = getattr(module, "trial_states", None)
        if trial_states is not None and trial_states.offsets.shape[0] != n_trials:
            raise ValueError(f"warm_start=True but the fitted model holds initial states of "
                             f"{trial_states.offsets.shape[0]} trials and X has {n_trials}; pass the same trials "
                             "or set warm_start=False.")
        if n_outputs != module.n_outputs:
            raise ValueError(f"warm_start=True but y has {n_outputs} outputs where the fitted model has "
                             f"{module.n_outputs}; set warm_start=False to fit a new model.")
        if (getattr(module, "observation", None) is not None) != (self.loss == "poisson"):
            raise ValueError(f"warm_start=True but loss={self.loss!r} differs from the fitted model's observation "
                             "model; set warm_start=False to fit a new model.")
        changed = [name for name, now, fitted in [("the inputs of X", n_inputs, module.n_inputs),
                                                  ("n_units", n_units, module.n_units)]
                   + [(name, getattr(self, name), getattr(module, name)) for name in self._warm_start_fixed]
                   if now != fitted]
        if changed:
            raise ValueError(f"warm_start=True but {', '.join(changed)} changed since the fit; set "
                             "warm_start=False to fit a new model.")

    def _clear_fitted(self) -> dict:
        """Remove every fitted attribute (public ones end in ``_``; the private ones are ``_PRIVATE_FITTED``) but
        those the validation of the current fit has just set (``_SET_BY_VALIDATION``).

        Returns the removed attributes by name.
        """
        names = [k for k in vars(self) if ((k.endswith("_") and not k.startswith("__")) or k in _PRIVATE_FITTED)
                 and k not in _SET_BY_VALIDATION]
        return {name: self.__dict__.pop(name) for name in names}

    def _warn_stop(self, reason: str) -> None:
        name = type(self).__name__
        messages = {
            "max_iter": (f"{name}: reached max_iter={self.max_iter} before the loss stopped improving; increase "
                         "max_iter" + ("." if "lbfgs" in self._training_config().solver else " or learning_rate_init."),
                         ConvergenceWarning),
            "diverged": (f"{name}: the loss became NaN/inf; training stopped and the best finite parameters were "
                         "restored. Lower learning_rate_init or set clip_grad_norm.", ConvergenceWarning),
            "interrupted": (f"{name}: training interrupted (KeyboardInterrupt); the best parameters so far were "
                            "kept.", UserWarning),
        }
        if reason in messages and self.max_iter > 0:
            message, category = messages[reason]
            warnings.warn(message, category, stacklevel=3)

    # -- predict -------------------------------------------------------------------------------------------------
    @_with_threads
    def _simulate(self, X, *, initial_state=None, batch_size: int = 256, want: str = "outputs"):
        """Noise-free simulation in batches of trials; returns float32 numpy arrays of outputs or states."""
        check_is_fitted(self, "module_")
        X, x_ndim = check_trials_X(self, read_trials(X, "X", fill=0.0)[0], reset=False)  # ragged: unpadded by callers
        module = self.module_
        device = next(module.parameters()).device
        x0 = None
        if initial_state is not None:
            x0 = _reject_bad_dtypes(np.asarray(initial_state), "initial_state")
            if x0.shape not in ((self.n_units_,), (X.shape[0], self.n_units_)):
                raise ValueError(
                    f"initial_state must have shape ({self.n_units_},) or ({X.shape[0]}, {self.n_units_}); "
                    f"got {x0.shape}."
                )
            with np.errstate(over="ignore"):
                x0_32 = x0.astype(np.float32)
            _check_values(x0_32, x0, "initial_state", allow_nan=False, max_magnitude=MAX_MAGNITUDE)
            x0 = x0_32
        parts = []
        with torch.no_grad():
            for start in range(0, X.shape[0], batch_size):
                sl = slice(start, start + batch_size)
                x0_b = None
                if x0 is not None:
                    x0_b = torch.from_numpy(x0 if x0.ndim == 1 else x0[sl]).to(device)
                outputs, states = module(torch.from_numpy(X[sl]).to(device), initial_state=x0_b,
                                         return_states=True)
                parts.append((outputs if want == "outputs" else states).cpu().numpy())
        n_last = self.n_outputs_ if want == "outputs" else self.n_units_
        out = np.concatenate(parts, axis=0) if parts else np.zeros((0, X.shape[1], n_last), np.float32)
        return out, x_ndim

    def predict(self, X, initial_state=None):
        """Predict the activity (or task outputs) of each trial, without noise.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_inputs)
        initial_state : array-like of shape (n_units,) or (n_trials, n_units), optional
            Initial state x_0 to use instead of the fitted ``initial_state_``.

        Returns
        -------
        y_pred : ndarray of shape (n_trials, n_timesteps, n_outputs), or list of ndarray
            ``y_pred[:, t]`` is read from the state after the update driven by ``X[:, t]``; expected spike counts
            per bin with ``loss="poisson"``. With 2D X the time axis is dropped, and so is the output axis if
            ``y`` was 1D at fit. For X a list of trials of different lengths, a list of (n_timesteps_i, n_outputs)
            arrays.
        """
        lengths = ragged_lengths(X)
        out, x_ndim = self._simulate(X, initial_state=initial_state)
        if lengths is not None:
            return unpad_trials(out, lengths)
        if x_ndim == 2:
            out = out[:, 0]
            if self._y_ndim == 1:
                out = out[:, 0]
        return out

    def predict_states(self, X, initial_state=None):
        """Simulate the network and return the full unit states x_{t+1} (observed and hidden units).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_inputs)
        initial_state : array-like of shape (n_units,) or (n_trials, n_units), optional

        Returns
        -------
        states : ndarray of shape (n_trials, n_timesteps, n_units), or list of ndarray for ragged X
        """
        lengths = ragged_lengths(X)
        states = self._simulate(X, initial_state=initial_state, want="states")[0]
        return states if lengths is None else unpad_trials(states, lengths)

    @_with_threads
    def infer_initial_state(self, X, y, *, max_iter=20):
        """Initial states that best explain the observed activity of new trials, the network fixed.

        Batched L-BFGS over each trial's initial state, with the loss of the fit (squared error, or the Poisson
        likelihood of counts) over the observed entries of ``y``: NaN entries (the steps after those used to
        infer the state, unrecorded neurons) are left out. The search starts from the shared ``initial_state_``
        and, for a low-rank network, moves in the span of the connectivity vectors m and the input vectors (the
        directions the network carries; see ``initial_state="per_trial"``).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_inputs), or list of (n_timesteps_i, n_inputs) arrays
        y : array-like of shape (n_trials, n_timesteps, n_outputs), or list of (n_timesteps_i, n_outputs) arrays
            Observed activity; NaN where not observed.
        max_iter : int, default=20
            L-BFGS iterations (each a simulation of the trials forward and back).

        Returns
        -------
        initial_state : ndarray of shape (n_trials, n_units_)
            To pass to ``predict(X, initial_state=...)``, ``predict_states`` and ``transform``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_lowrank import LowRankRNNRegressor
        >>> from sklearn_lowrank.datasets import make_low_rank_teacher
        >>> X, y = make_low_rank_teacher(n_units=20, rank=1, n_trials=30, n_timesteps=20, random_state=0,
        ...                              return_X_y=True)
        >>> est = LowRankRNNRegressor(rank=1, max_iter=10, random_state=0).fit(X, y)
        >>> y_head = y.copy()
        >>> y_head[:, 5:] = np.nan  # infer each trial's start from its first 5 steps
        >>> est.infer_initial_state(X, y_head).shape
        (30, 20)
        """
        check_is_fitted(self, "module_")
        if not (isinstance(max_iter, Integral) and max_iter >= 1):
            raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}.")
        check_same_lengths(X, y)
        X, x_ndim = check_trials_X(self, read_trials(X, "X", fill=0.0)[0], reset=False)
        y = check_score_y(y, X.shape, x_ndim)
        if y.shape[-1] != self.n_outputs_:
            raise ValueError(f"y has {y.shape[-1]} outputs, but {type(self).__name__} predicts {self.n_outputs_} "
                             "(n_outputs_ at fit time); pass the same neurons/outputs as at fit.")
        device = next(self.module_.parameters()).device
        observed = ~np.isnan(y)
        mask = None if observed.all() else torch.from_numpy(observed).to(device)
        targets = torch.from_numpy(np.where(observed, y, 0.0).astype(np.float32)).to(device)
        states = infer_trial_states(self.module_, torch.from_numpy(X).to(device), targets, mask, loss=self.loss,
                                    max_iter=int(max_iter))
        return states.detach().cpu().numpy()

    def score(self, X, y, sample_weight=None):
        """Variance-weighted R^2 of the prediction over all features, trials and time steps (NaN ignored).

        With ``loss="poisson"``, the fraction of Poisson deviance explained, D^2
        (:func:`~sklearn_lowrank.metrics.d2_poisson_score_trials`).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_timesteps, n_inputs), or list of (n_timesteps_i, n_inputs) arrays
        y : array-like of shape (n_trials, n_timesteps, n_outputs), or list of (n_timesteps_i, n_outputs) arrays
            NaN entries are left out.
        sample_weight : array-like of shape (n_trials,), optional
            Weight of each trial.

        Returns
        -------
        score : float
            1 - sum of squared errors / sum of squared deviations from each feature's mean; with
            ``loss="poisson"``, 1 - Poisson deviance / deviance of each neuron's mean count. Higher is better.
        """
        check_same_lengths(X, y)
        out, x_ndim = self._simulate(X)
        y = check_score_y(y, out.shape[:2] + (self.n_features_in_,), x_ndim)
        if y.shape[-1] != out.shape[-1]:
            raise ValueError(f"y has {y.shape[-1]} outputs, but {type(self).__name__} predicts {out.shape[-1]} "
                             "(n_outputs_ at fit time); pass the same neurons/outputs as at fit.")
        return _SCORES[self.loss](y, out, sample_weight=sample_weight)

    # -- tags and persistence ------------------------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.two_d_array = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.non_deterministic = False
        return tags

    def __getstate__(self):
        # A copy: since Python 3.11 object.__getstate__ returns the live __dict__, which the edits below would
        # change (dropping the optimiser, moving a GPU model's module to the CPU).
        state = dict(super().__getstate__())
        state.pop("_optimizer", None)  # optimiser moments are not needed to predict; they would pin the device
        if "module_" in state:
            state["module_"] = _cpu_copy(state["module_"])
        state["_versions"] = {"sklearn_lowrank": __version__, "torch": torch.__version__.split("+")[0]}
        return state

    def __setstate__(self, state):
        versions = state.pop("_versions", None)
        if versions is not None:
            current = {"sklearn_lowrank": __version__, "torch": torch.__version__.split("+")[0]}
            diff = {k: (v, current[k]) for k, v in versions.items() if current.get(k) != v}
            if diff:
                details = ", ".join(f"{k} {old} (saved) vs {new} (here)" for k, (old, new) in diff.items())
                warnings.warn(f"Loading a {type(self).__name__} saved under other versions: {details}. "
                              "Predictions may differ; refit if in doubt.", UserWarning, stacklevel=2)
        super().__setstate__(state)


def _cpu_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of the module on the CPU (a model fitted on a GPU then loads on a CPU-only machine)."""
    import copy

    first = next(module.parameters(), None)
    if first is None or first.device.type == "cpu":
        return module
    return copy.deepcopy(module).to("cpu")
