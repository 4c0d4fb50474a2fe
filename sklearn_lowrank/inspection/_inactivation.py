"""Inactivation: predictions of networks with groups of units silenced, and the effect of each population."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from .._core.network import NetworkWeights
from .._populations import population_labels
from .._validation import check_trials_X
from ..metrics import decision_accuracy, r2_score_trials

__all__ = ["silenced_weights", "predict_silenced", "inactivation_effects"]

_MODES = ("silence", "disconnect")


# ---------------------------------------------------------------------------------------------------------------
# Silencing
# ---------------------------------------------------------------------------------------------------------------


def _unit_mask(units, n_units: int) -> np.ndarray:
    """Boolean mask of the silenced units from indices or a boolean mask; a clear error otherwise."""
    arr = np.asarray([] if units is None else units)
    if arr.dtype == bool:
        if arr.shape != (n_units,):
            raise ValueError(f"units as a boolean mask must have shape ({n_units},); got {arr.shape}.")
        return arr.copy()
    if arr.size == 0:
        return np.zeros(n_units, dtype=bool)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"units must be integer indices or a boolean mask; got dtype {arr.dtype}.")
    arr = arr.ravel()
    if arr.min() < -n_units or arr.max() >= n_units:
        raise ValueError(f"units must be indices in [0, {n_units}); got values from {arr.min()} to {arr.max()}.")
    mask = np.zeros(n_units, dtype=bool)
    mask[arr] = True
    return mask


def _network_module(estimator):
    check_is_fitted(estimator, "module_")
    module = estimator.module_
    if not hasattr(module, "m") and not hasattr(module, "J"):
        raise ValueError(
            f"estimator must be a fitted LowRankRNNRegressor (low or full rank), got a {type(estimator).__name__}; "
            "for a GaussianMixtureRNN draw a network with sample_network() first."
        )
    return module


def silenced_weights(estimator, units, *, mode="silence") -> NetworkWeights:
    """The weights of a fitted network with a set of units silenced, the number of units N unchanged.

    With ``mode="silence"`` the silenced units' rows of m and n (for a full-rank network: their rows **and**
    columns of J), their input weights, readout weights and initial state are set to zero. Without noise their
    state stays at x = 0 and their rate at tanh(0) = 0: they neither receive nor send anything. N is kept, so the
    remaining connectivity J = m n^T / N is exactly the intact network's restricted to the other units. (The
    original LINT code deleted the neurons instead, which divided by a smaller N and so scaled up every
    remaining connection: a silent change of the network.)

    With ``mode="disconnect"`` the units keep their input weights and initial state but lose their recurrent
    connections and readout: they become leaky integrators of their external input that nobody listens to.

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted, low rank or full rank (``rank=None``); a network drawn by ``GaussianMixtureRNN.sample_network``
        works too.
    units : array-like of int or bool of shape (n_units,)
        Indices (or a boolean mask) of the units to silence.
    mode : {"silence", "disconnect"}, default="silence"

    Returns
    -------
    weights : NetworkWeights
        Tensors on the module's device (detached copies, or the module's own parameters when no unit is
        silenced); pass them to ``estimator.module_(X, weights=weights)``.

    Examples
    --------
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> from sklearn_lowrank.inspection import silenced_weights
    >>> X, y = make_low_rank_teacher(n_units=20, rank=1, n_inputs=1, n_trials=8, n_timesteps=10,
    ...                              random_state=0, return_X_y=True)
    >>> est = LowRankRNNRegressor(rank=1, max_iter=0, random_state=0).fit(X, y)
    >>> w = silenced_weights(est, [0, 1])
    >>> w.m.shape, float(w.m[:2].abs().sum()), w.n_units
    (torch.Size([20, 1]), 0.0, 20)
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}; got {mode!r}.")
    module = _network_module(estimator)
    silent = _unit_mask(units, module.n_units)
    if not silent.any():
        # The module's own tensors: bit-identical to predict (torch may pick other kernels for plain tensors).
        return module.weights()
    with torch.no_grad():
        w = module.weights()
        keep = torch.from_numpy(~silent).to(device=w.initial_state.device, dtype=w.initial_state.dtype)
        keep_in = keep if mode == "silence" else torch.ones_like(keep)
        common = {
            "input_weights": (w.input_weights * keep_in).detach(),
            "initial_state": (w.initial_state * keep_in).detach(),
            "readout_weights": None if w.readout_weights is None else (w.readout_weights * keep[:, None]).detach(),
            "readout_bias": None if w.readout_bias is None else w.readout_bias.detach().clone(),
        }
        if w.J is not None:
            return NetworkWeights(m=None, n=None, J=(w.J * keep[:, None] * keep[None, :]).detach(), **common)
        return NetworkWeights(m=(w.m * keep[:, None]).detach(), n=(w.n * keep[:, None]).detach(), J=None,
                              **common)


def predict_silenced(estimator, X, units, *, mode="silence", return_states=False):
    """Predict with a set of units silenced (see :func:`silenced_weights`), without noise.

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted, low or full rank.
    X : array-like of shape (n_trials, n_timesteps, n_inputs)
    units : array-like of int or bool of shape (n_units,)
        Units to silence; an empty list gives ``estimator.predict(X)``.
    mode : {"silence", "disconnect"}, default="silence"
    return_states : bool, default=False
        Also return the unit states.

    Returns
    -------
    y_pred : ndarray of shape (n_trials, n_timesteps, n_outputs), float32
        With an identity readout the silenced observed units predict g(0) = 0.
    states : ndarray of shape (n_trials, n_timesteps, n_units), float32
        Only if ``return_states``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> from sklearn_lowrank.inspection import predict_silenced
    >>> X, y = make_low_rank_teacher(n_units=20, rank=1, n_inputs=1, n_trials=8, n_timesteps=10,
    ...                              random_state=0, return_X_y=True)
    >>> est = LowRankRNNRegressor(rank=1, max_iter=0, random_state=0).fit(X, y)
    >>> bool(np.allclose(predict_silenced(est, X, []), est.predict(X)))
    True
    >>> float(np.abs(predict_silenced(est, X, [3])[..., 3]).max())
    0.0
    """
    module = _network_module(estimator)
    weights = silenced_weights(estimator, units, mode=mode)
    X, _ = check_trials_X(estimator, X, reset=False)
    with torch.no_grad():
        inputs = torch.from_numpy(X).to(weights.initial_state.device)
        outputs, states = module(inputs, weights=weights, return_states=True)
    outputs, states = outputs.cpu().numpy(), states.cpu().numpy()
    return (outputs, states) if return_states else outputs


# ---------------------------------------------------------------------------------------------------------------
# Effect of silencing each population
# ---------------------------------------------------------------------------------------------------------------


def _apply_readout(outputs, readout, n_units, keep):
    if readout is None:
        return outputs
    if callable(readout):
        return np.asarray(readout(outputs), dtype=np.float32)
    weights, bias = readout
    weights = np.asarray(weights, dtype=np.float32)
    weights = weights[:, None] if weights.ndim == 1 else weights
    if weights.shape[0] != outputs.shape[-1]:
        raise ValueError(f"readout weights must have {outputs.shape[-1]} rows (one per predicted feature); got "
                         f"shape {weights.shape}.")
    return (outputs @ (weights * keep[: weights.shape[0], None])) / n_units + np.asarray(bias, np.float32)


def _default_scoring(network, readout) -> str:
    """Accuracy for a task readout (given, or the network's own linear readout), R^2 for activity."""
    if readout is not None or getattr(network, "readout_weights_", None) is not None:
        return "accuracy"
    return "r2"


def _scored_features(network, readout, silent: np.ndarray, n_features: int, score_on: str) -> np.ndarray:
    """Features of y scored for one silencing: with an identity readout, feature i is unit i's activity."""
    identity = readout is None and getattr(network, "readout_weights_", None) is None
    if score_on == "all" or not identity:
        return np.ones(n_features, dtype=bool)
    # A silenced unit predicts g(0) = 0 by construction: scoring it measures the silencing, not the network.
    return ~silent[:n_features]


def _score(score_fn, y, pred, features) -> float:
    if not features.any():
        return float("nan")
    return float(score_fn(y[..., features], pred[..., features]))


def inactivation_effects(estimator, X, y, labels=None, *, conditions=None, context="context", scoring="auto",
                         score_on="active", readout=None, mode="silence", n_components=2, n_units=None,
                         random_state=None):
    """Score the network intact and with each population silenced in turn.

    With an identity readout (a model of activity, one unit per recorded neuron) a silenced unit predicts
    g(0) = 0 by construction; scoring it would report the silencing itself as a loss of fit. By default
    (``score_on="active"``) each silencing is therefore scored on the neurons it leaves active, and ``baseline``
    holds the intact network's score on the same neurons, the comparison that measures the effect of the
    silenced population on the others.

    Parameters
    ----------
    estimator : LowRankRNNRegressor or GaussianMixtureRNN
        A fitted network (low or full rank), or a fitted mixture: then one network of ``n_units`` units is drawn
        with ``sample_network(random_state=random_state)`` and its populations are the mixture's components.
    X : array-like of shape (n_trials, n_timesteps, n_inputs)
    y : array-like of shape (n_trials, n_timesteps, n_outputs)
        Targets: activity (NaN = not recorded) for "r2", task outputs (NaN outside the response window) for
        "accuracy".
    labels : array-like of shape (n_units,), optional
        Population of each unit. None: from the mixture, or :func:`population_labels` with ``n_components``.
    conditions : dict of array-like of shape (n_trials,), optional
        With ``conditions[context]`` the scores are given per context (plus "all").
    context : str, default="context"
        Key of the context in ``conditions``.
    scoring : {"auto", "accuracy", "r2"}, default="auto"
        "accuracy": :func:`~sklearn_lowrank.metrics.decision_accuracy`; "r2": variance-weighted R^2
        (:func:`~sklearn_lowrank.metrics.r2_score_trials`); "auto" follows the readout: accuracy when the
        predictions are task outputs (a ``readout`` is given or the network has a linear readout), R^2 on the
        activity otherwise.
    score_on : {"active", "all"}, default="active"
        With an identity readout: score each silencing on the neurons it leaves active ("active") or on every
        neuron ("all", the silenced ones included as predicted zeros). Without effect when the predictions are
        task outputs.
    readout : (weights, bias) or callable, optional
        Maps the predictions to task outputs before scoring, e.g. the readout ``(W_out of shape (n_units,
        n_outputs), b)`` of the full-rank network a low-rank model of activity stands for: outputs = pred W / N
        + b, the silenced units' rows of W set to zero. A callable receives the predictions.
    mode : {"silence", "disconnect"}, default="silence"
        See :func:`silenced_weights`.
    n_components : int, default=2
        Populations when ``labels`` is None and ``estimator`` is not a mixture.
    n_units : int, optional
        Size of the network drawn from a mixture.
    random_state : int, RandomState instance or None, default=None
        Seeds the population fit or the draw from the mixture.

    Returns
    -------
    result : Bunch
        ``populations`` (list: "intact" then each label), ``groups`` (list of column names: the contexts then
        "all", or ["all"]), ``scores`` ndarray of shape (n_populations + 1, n_groups), ``baseline`` ndarray of
        the same shape (the intact network scored on the same outputs as each row; equal to ``scores`` in the
        first row), ``n_scored`` (outputs scored per row), ``scoring`` (str), ``score_on`` (str), ``labels``
        ndarray of shape (n_units,), ``sizes`` (units per population).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> from sklearn_lowrank.inspection import inactivation_effects
    >>> X, y = make_low_rank_teacher(n_units=20, rank=1, n_inputs=1, n_trials=8, n_timesteps=10,
    ...                              random_state=0, return_X_y=True)
    >>> est = LowRankRNNRegressor(rank=1, max_iter=0, random_state=0).fit(X, y)
    >>> res = inactivation_effects(est, X, y, labels=np.arange(20) % 2)
    >>> res.populations, res.groups, res.scores.shape, res.scoring, res.n_scored
    (['intact', 0, 1], ['all'], (3, 1), 'r2', [20, 10, 10])
    """
    if score_on not in ("active", "all"):
        raise ValueError(f"score_on must be 'active' or 'all'; got {score_on!r}.")
    if hasattr(estimator, "sample_network"):
        network, mix_labels = estimator.sample_network(n_units=n_units, random_state=random_state,
                                                       return_labels=True)
        labels = mix_labels if labels is None else labels
    else:
        network = estimator
    module = _network_module(network)
    N = module.n_units
    if labels is None:
        labels = population_labels(network, n_components, random_state=random_state)[0]
    labels = np.asarray(labels).ravel()
    if labels.shape != (N,):
        raise ValueError(f"labels must have shape (n_units,) = ({N},); got {labels.shape}.")
    y = np.asarray(y, dtype=np.float32)
    if scoring == "auto":
        scoring = _default_scoring(network, readout)
    score_fns = {"accuracy": decision_accuracy, "r2": r2_score_trials}
    if scoring not in score_fns:
        raise ValueError(f"scoring must be 'auto', 'accuracy' or 'r2'; got {scoring!r}.")
    score_fn = score_fns[scoring]
    groups, selections = ["all"], [slice(None)]
    if conditions is not None:
        try:
            ctx = np.asarray(conditions[context]).ravel()
        except KeyError:
            raise ValueError(f"conditions has no key {context!r}; pass context=<key>. Keys: "
                             f"{sorted(conditions)}.") from None
        if ctx.shape != (y.shape[0],):
            raise ValueError(f"conditions[{context!r}] must have shape ({y.shape[0]},); got {ctx.shape}.")
        values = np.unique(ctx)
        groups = [v.item() for v in values] + ["all"]
        selections = [ctx == v for v in values] + [slice(None)]

    populations = ["intact"] + [p.item() for p in np.unique(labels)]
    scores = np.empty((len(populations), len(groups)))
    baseline = np.empty_like(scores)
    n_scored = []
    intact = None
    for row, pop in enumerate(populations):
        silent = np.zeros(N, dtype=bool) if pop == "intact" else labels == pop
        pred = predict_silenced(network, X, silent, mode=mode)
        pred = _apply_readout(pred, readout, N, (~silent).astype(np.float32))
        if pred.shape != y.shape:
            raise ValueError(f"the predictions have shape {pred.shape} but y has shape {y.shape}; pass a "
                             "readout mapping the predictions to y's outputs.")
        intact = pred if intact is None else intact
        features = _scored_features(network, readout, silent, y.shape[-1], score_on)
        n_scored.append(int(features.sum()))
        scores[row] = [_score(score_fn, y[sel], pred[sel], features) for sel in selections]
        baseline[row] = [_score(score_fn, y[sel], intact[sel], features) for sel in selections]
    sizes = {p: int(np.sum(labels == p)) for p in populations[1:]}
    return Bunch(populations=populations, groups=groups, scores=scores, baseline=baseline, n_scored=n_scored,
                 scoring=scoring, score_on=score_on, labels=labels, sizes=sizes)
