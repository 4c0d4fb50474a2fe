"""The one training loop shared by every model (Adam, mini-batches, clipping, early stopping).

The loop knows nothing about scikit-learn: it takes a module whose ``forward(inputs, noise_std=, generator=)``
returns predictions, trains it on masked targets, and reports why it stopped.  The estimators turn that report into
warnings.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
from torch import nn

from .canonical import canonicalize_
from .losses import LOSSES, masked_mse, masked_poisson_nll, null_loss
from .solvers import FullBatchObjective, adam_epoch, lbfgs_chunk, make_optimizer

__all__ = [
    "LOSSES",
    "Reporter",
    "TrainingConfig",
    "TrainingResult",
    "check_same_device",
    "evaluate_loss",
    "masked_mse",
    "masked_poisson_nll",
    "module_device",
    "null_loss",
    "resolve_batch_size",
    "train",
]

#: The adaptive schedule divides the learning rate by 5 (MLPRegressor's factor) ...
LR_DECAY = 0.2
#: ... down to this fraction of ``learning_rate_init``.
MIN_LR_RATIO = 1e-2
#: Epochs in a row without improvement after which "adam+lbfgs" hands over from Adam to L-BFGS without lowering
#: Adam's learning rate first; None: when Adam's own rule stops it (after its learning-rate decays). Measured on the
#: spiking teacher of benchmarks/bench_spikes.py, 2 cost accuracy (R^2 of the rates 0.953 and cosine of J_eff 0.503
#: against 0.966 and 0.721 with None) for fewer epochs.
HANDOVER_PATIENCE = None
#: L-BFGS judges its gain over this many times ``n_iter_no_change`` steps (its first steps, while it learns the
#: curvature, are short).
LBFGS_WINDOW = 2
#: L-BFGS's ``tol`` as a fraction of the configured one (measured with ``benchmarks/bench_scales.py`` and
#: ``bench_spikes.py``): 1 stops L-BFGS short of the optimum (cosine of J_eff 0.72 on the spiking teacher, R^2 of
#: the rates 0.971 on the 500-neuron recording); 0.1 reaches cosine 0.90 and R^2 0.984 there for about 1.5 to 3
#: times the epochs, and leaves the 2000-neuron x 320-trial fit unchanged (22 epochs); 0.01 gains nothing more.
LBFGS_TOL_RATIO = 0.1
#: Losses that differ by less than this are round-off of a float32 network at (numerically) zero loss.
FLAT_LOSS = 1e-10

# ---------------------------------------------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------------------------------------------


def module_device(module: nn.Module) -> torch.device:
    """The device of the module's parameters (CPU for a module without parameters)."""
    first = next(module.parameters(), None)
    return torch.device("cpu") if first is None else first.device


def check_same_device(module: nn.Module, *tensors: torch.Tensor | None) -> None:
    """Raise ValueError unless every given tensor lives on the module's device (None entries are skipped).

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core import LowRankRNN
    >>> from sklearn_lowrank._core.training import check_same_device
    >>> net = LowRankRNN(4, 1, 4, 1, alpha=0.2)
    >>> check_same_device(net, torch.zeros(2, 3, 1))
    >>> check_same_device(net, torch.zeros(2, 3, 1, device="meta"))
    Traceback (most recent call last):
    ...
    ValueError: tensors on meta but the module's parameters on cpu; build the module on the data's device.
    """
    device = module_device(module)
    for tensor in tensors:
        if tensor is not None and tensor.device != device:
            raise ValueError(f"tensors on {tensor.device} but the module's parameters on {device}; build the "
                             "module on the data's device.")


# ---------------------------------------------------------------------------------------------------------------
# Progress reporting
# ---------------------------------------------------------------------------------------------------------------


class Reporter:
    """The one channel for training progress: the stage, the iteration, the loss, the time spent and left.

    Parameters
    ----------
    verbose : int
        0: silent; 1: one line per epoch (``Iteration 3 (adam 3), loss = 0.0123, 1.2 s, ~4 s left``) and one line
        when a stage starts; >= 2: a tqdm bar per stage, named after it.
    total : int
        Number of epochs planned (all stages).
    stream : file-like, default=sys.stdout
    desc : str, default="fit"
        Name of the bar before the first stage starts.

    Examples
    --------
    >>> import io
    >>> from sklearn_lowrank._core.training import Reporter
    >>> out = io.StringIO()
    >>> reporter = Reporter(1, 20, stream=out)
    >>> reporter.stage("adam", 10)
    >>> reporter.epoch(1, 0.5, None)
    >>> reporter.stage("lbfgs", 10)
    >>> reporter.epoch(2, 0.25, None, epochs_left=3)
    >>> print(out.getvalue().replace("0.0 s", "T"))  # doctest: +ELLIPSIS
    stage adam (up to 10 iterations)
    Iteration 1 (adam 1), loss = 0.50000000, T...
    stage lbfgs (up to 10 iterations)
    Iteration 2 (lbfgs 1), loss = 0.25000000, T, ~... s left
    <BLANKLINE>
    """

    def __init__(self, verbose: int, total: int, stream=None, desc: str = "fit") -> None:
        self.verbose = verbose
        self.stream = sys.stdout if stream is None else stream
        self.total, self.desc = total, desc
        self._bar = None
        self._start = time.perf_counter()
        self._stage, self._stage_start, self._stage_epochs = desc, self._start, 0

    def stage(self, name: str, max_iter: int) -> None:
        """A new stage (solver) starts: its own counter, announced (never a silent restart)."""
        self._stage, self._stage_start, self._stage_epochs = name, time.perf_counter(), 0
        if self.verbose <= 0:
            return
        if self.verbose >= 2:
            from tqdm.auto import tqdm

            self.close()
            self._bar = tqdm(total=max_iter, desc=name, file=self.stream, leave=False)
            return
        self.stream.write(f"stage {name} (up to {max_iter} iterations)\n")

    def epoch(self, epoch: int, loss: float, validation_loss: float | None, epochs_left: float | None = None):
        """Report epoch ``epoch`` (counted over all stages); ``epochs_left`` estimates the epochs left in the stage
        (None: no estimate, nothing shown)."""
        self._stage_epochs += 1
        if self.verbose <= 0:
            return
        if self._bar is not None:
            postfix = {"loss": f"{loss:.4g}"}
            if validation_loss is not None:
                postfix["val"] = f"{validation_loss:.4g}"
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(1)
            return
        now = time.perf_counter()
        line = f"Iteration {epoch} ({self._stage} {self._stage_epochs}), loss = {loss:.8f}"
        if validation_loss is not None:
            line += f", validation loss = {validation_loss:.8f}"
        line += f", {now - self._start:.1f} s"
        if epochs_left is not None:
            per_epoch = (now - self._stage_start) / self._stage_epochs
            line += f", ~{per_epoch * epochs_left:.0f} s left"
        self.stream.write(line + "\n")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class TrainingConfig:
    """Hyper-parameters of :func:`train` (names follow scikit-learn's MLPRegressor).

    Every field is required: the estimators are the one source of defaults.
    """

    max_iter: int
    batch_size: int | str
    learning_rate_init: float
    tol: float
    n_iter_no_change: int
    early_stopping: bool
    validation_fraction: float
    clip_grad_norm: float | None
    noise_std: float
    verbose: int
    loss: str  # a key of LOSSES
    #: "adaptive" lowers the rate on oscillating plateaus (:func:`_lower_learning_rate`), "constant" keeps it.
    learning_rate: str
    #: "adam": mini-batches of trials; "lbfgs": quasi-Newton steps on the loss of all training trials (one step
    #: per epoch; ``learning_rate*`` (the schedule too), ``clip_grad_norm``, ``tol`` unused, ``batch_size`` only
    #: chunks the gradient); "adam+lbfgs": "adam" until it stops, then "lbfgs" from there (each up to ``max_iter``).
    solver: str


@dataclass
class TrainingResult:
    """What :func:`train` did.

    Attributes
    ----------
    loss_curve : list of float
        Mean training loss of each epoch.
    validation_loss_curve : list of float
        Validation loss after each epoch (empty without early stopping).
    n_iter : int
        Epochs run.
    best_loss : float
        The monitored loss of the restored parameters.
    stop_reason : {"converged", "max_iter", "diverged", "interrupted"}
    n_lr_decays : int
        How many times the adaptive schedule lowered the learning rate.
    """

    loss_curve: list = field(default_factory=list)
    validation_loss_curve: list = field(default_factory=list)
    n_iter: int = 0
    best_loss: float = math.inf
    stop_reason: str = "max_iter"
    n_lr_decays: int = 0


def resolve_batch_size(batch_size: int | str, n_train: int) -> int:
    """Trials per mini-batch: an int is capped at ``n_train``; "auto" is min(32, ceil(n_train / 8)).

    "auto" keeps at least 8 optimiser steps per epoch on small data sets (condition-averaged recordings have a
    few dozen trials, where a batch of 32 would give one step per epoch) and batches of 32 otherwise.
    """
    if batch_size == "auto":
        return max(1, min(32, -(-n_train // 8)))
    return max(1, min(int(batch_size), n_train))


def _split(n_trials: int, config: TrainingConfig, generator: torch.Generator):
    """Trial indices for training and validation (validation empty without early stopping)."""
    if not config.early_stopping:
        return torch.arange(n_trials), torch.arange(0)
    n_val = max(1, int(round(config.validation_fraction * n_trials)))
    if n_val >= n_trials:
        raise ValueError(
            f"validation_fraction={config.validation_fraction} leaves no training trial out of {n_trials}; "
            "lower validation_fraction or pass more trials."
        )
    perm = torch.randperm(n_trials, generator=generator)
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def evaluate_loss(module: nn.Module, inputs, targets, mask, batch_size: int | None = None,
                  loss: str = "squared_error", *, idx: torch.Tensor | None = None) -> float:
    """Noise-free masked ``loss`` (a key of :data:`LOSSES`) of ``module`` over the given trials, without autograd.

    ``batch_size`` trials are simulated at a time; None: as many as the L-BFGS objective's chunks
    (:func:`~sklearn_lowrank._core.solvers.lbfgs_chunk`), which bounds the memory. ``idx``: the trials to score
    (all by default), gathered one batch at a time.
    """
    loss_fn = LOSSES[loss]
    if batch_size is None:
        batch_size = lbfgs_chunk("auto", inputs.shape[0], targets.shape[1],
                                 max(getattr(module, "n_units", 0), targets.shape[-1]))
    total, count = 0.0, 0.0
    with torch.no_grad():
        order = torch.arange(inputs.shape[0]) if idx is None else idx
        for start in range(0, order.numel(), batch_size):
            sl = order[start : start + batch_size]
            pred = module(inputs[sl])
            m = None if mask is None else mask[sl]
            n_obs = pred.numel() if m is None else float(m.sum())
            total += float(loss_fn(pred, targets[sl], m)) * n_obs
            count += n_obs
    return total / max(count, 1.0)


def _tol_scale(best_loss: float, null: float | None) -> float:
    """What ``tol`` is a fraction of: the loss itself, or for Poisson counts the deviance explained.

    A squared-error loss can go to zero, so a relative improvement is meaningful. A Poisson loss of single-trial
    counts is mostly the spiking noise, which no model removes: relative to the loss, a real improvement of the
    rates is below any usable ``tol``. Relative to the deviance the model explains beyond the null model of mean
    rates (``null - best_loss``), it is not. A model no better than the null falls back to the loss.
    """
    if null is None or not best_loss < null:
        return best_loss
    return null - best_loss


def _improves(loss: float, best_loss: float, tol: float, null: float | None) -> bool:
    """Whether ``loss`` beats ``best_loss`` by more than a fraction ``tol`` of :func:`_tol_scale`."""
    if not math.isfinite(best_loss):
        return loss < best_loss
    return loss < best_loss - tol * _tol_scale(best_loss, null)


def _lower_learning_rate(optimizer, config: TrainingConfig, result: TrainingResult, best_loss: float,
                         best_at_last_decay: float, null: float | None = None) -> bool:
    """The adaptive schedule: divide the learning rate by ``1 / LR_DECAY`` if the last epochs oscillated.

    Epochs without improvement either lie flat within ``tol`` of the best loss (a minimum or a slow descent:
    training has converged) or rise above it (the steps are too large to settle: a smaller rate goes further).
    Only the second case lowers the rate, so that a fit that has converged stops as soon as with a constant rate.
    The rate goes down to ``MIN_LR_RATIO`` times its initial value (three divisions by 5), and no further once a
    lower rate has not improved the best loss (``best_at_last_decay``) by a fraction ``tol``: the oscillation is
    then the noise of mini-batches at the optimum, not steps too large. ``tol`` is a fraction of
    :func:`_tol_scale` (``null``: the null model's loss, Poisson only). Returns False when training should stop.
    """
    if config.learning_rate != "adaptive":
        return False
    if result.n_lr_decays and not _improves(best_loss, best_at_last_decay, config.tol, null):
        return False
    window = result.validation_loss_curve if config.early_stopping else result.loss_curve
    window = window[-config.n_iter_no_change:]
    # Flat: within 10 tol of the best, or within float32 round-off of a zero loss.
    if max(window) <= best_loss + config.tol * 10.0 * _tol_scale(best_loss, null) + FLAT_LOSS:
        return False
    lr = optimizer.param_groups[0]["lr"] * LR_DECAY
    if lr < config.learning_rate_init * MIN_LR_RATIO * (1.0 - 1e-9):
        return False
    for group in optimizer.param_groups:
        group["lr"] = lr
    result.n_lr_decays += 1
    return True


@dataclass
class _Monitor:
    """The stopping rule: the best monitored loss and its parameters, and the epochs since it last improved."""

    tol: float
    null: float | None
    best_loss: float = math.inf
    best_state: dict | None = None
    no_improve: int = 0
    #: Epochs without improvement that end the stage.
    patience: int = 0
    #: Judge the gain of the last ``patience`` epochs together (L-BFGS) rather than epoch by epoch (Adam).
    window: bool = False
    history: list = field(default_factory=list)  # the best loss after each epoch (window rule)
    #: Improvements of the best loss by the last epochs (for the estimate of the epochs left).
    gains: list = field(default_factory=list)

    def update(self, module: nn.Module, monitored: float) -> None:
        """MLPRegressor's rule with a relative tol: an epoch counts as no improvement unless it beats the best by
        a fraction ``tol`` of :func:`_tol_scale` (the loss, or the deviance explained for Poisson counts).

        With ``window``, the stage stops when the best loss of the last ``patience`` epochs together improved by
        less than that: L-BFGS steps near the optimum each gain little, and in sum more than ``tol``.
        """
        self.no_improve = 0 if _improves(monitored, self.best_loss, self.tol, self.null) else self.no_improve + 1
        if math.isfinite(self.best_loss):
            self.gains = (self.gains + [max(self.best_loss - monitored, 0.0)])[-3:]
        if monitored < self.best_loss:
            self.best_loss = monitored
            self.best_state = copy.deepcopy(module.state_dict())
        if self.window:
            self.history.append(self.best_loss)
            if len(self.history) <= self.patience:
                self.no_improve = 0
            else:
                gained = _improves(self.best_loss, self.history[-1 - self.patience], self.tol, self.null)
                self.no_improve = 0 if gained else self.patience

    def epochs_left(self, cap: int) -> float | None:
        """Epochs until the stopping rule fires, if the gains keep shrinking as they did (at most ``cap``); None
        while there is no estimate (too few epochs, or gains that do not shrink).

        The gains (of the last epochs, or of the last two windows of ``patience`` epochs with ``window``), taken
        to shrink geometrically, fall below ``tol`` of the loss's scale after ``log(threshold / gain) /
        log(ratio)`` of them; then ``patience`` more epochs end the stage (none more with ``window``).
        """
        if not math.isfinite(self.best_loss):
            return None
        threshold = self.tol * _tol_scale(self.best_loss, self.null)
        if self.window:
            h, p = self.history, self.patience
            if len(h) <= 2 * p:
                return None
            first, last, per, extra = h[-1 - 2 * p] - h[-1 - p], h[-1 - p] - h[-1], p, 0
        else:
            if len(self.gains) < 3:
                return None
            first, last, per, extra = self.gains[0], self.gains[-1], 2, self.patience
        first, last = max(first, 1e-300), max(last, 1e-300)
        if last <= threshold:
            return float(min(cap, max(extra - self.no_improve, 0)))
        if last >= first:
            return None
        return float(min(cap, per * math.log(threshold / last) / math.log(last / first) + extra))


@dataclass
class _Run:
    """What the stages of one call of :func:`train` share: data, split, loss, stopping scale, progress."""

    module: nn.Module
    params: list
    data: tuple  # (inputs, targets, mask)
    config: TrainingConfig
    generator: torch.Generator
    draws: torch.Generator  # recurrent noise on the module's device
    train_idx: torch.Tensor  # training trials: every batch and chunk is a set of these indices
    val_data: tuple
    null: float | None
    batch_size: int
    reporter: Reporter
    epoch: int = 0  # epochs run by all stages

    def monitored_loss(self) -> float:
        """Noise-free loss of the monitored trials (validation with early stopping, else training)."""
        if self.config.early_stopping:
            return evaluate_loss(self.module, *self.val_data, loss=self.config.loss)
        return evaluate_loss(self.module, *self.data, loss=self.config.loss, idx=self.train_idx)


def _prepare(module, inputs, targets, mask, config, generator) -> _Run:
    """Split the trials, set up the noise generator, the null model of the stopping rule and the reporter."""
    device = module_device(module)
    if generator.device == device:
        draws = generator
    else:
        draws = torch.Generator(device=device).manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
    train_idx, val_idx = _split(inputs.shape[0], config, generator)
    # The held-out trials are gathered once, not at every epoch.
    val_data = (inputs[val_idx], targets[val_idx], None if mask is None else mask[val_idx])
    null = None  # the null model's loss on the monitored trials: the unit of tol for Poisson counts
    if config.loss == "poisson":
        train_data = (targets, mask)  # every trial trains without early stopping: no copy of the recording
        if config.early_stopping:
            train_data = (targets[train_idx], None if mask is None else mask[train_idx])
        null = null_loss(*(val_data[1:] if config.early_stopping else train_data), *train_data, config.loss)
    n_stages = 2 if config.solver == "adam+lbfgs" else 1
    return _Run(module=module, params=[p for p in module.parameters() if p.requires_grad],
                data=(inputs, targets, mask), config=config, generator=generator, draws=draws, train_idx=train_idx,
                val_data=val_data, null=null, batch_size=resolve_batch_size(config.batch_size, train_idx.numel()),
                reporter=Reporter(config.verbose, config.max_iter * n_stages))


def _stage_optimizer(run: _Run, solver: str, optimizer):
    """``optimizer`` if it is of ``solver``'s kind (warm start, at the configured rate), else a new one."""
    lbfgs = solver == "lbfgs"
    if optimizer is None or isinstance(optimizer, torch.optim.LBFGS) != lbfgs:
        return make_optimizer(run.params, replace(run.config, solver=solver))
    if not lbfgs:
        # Warm start: the current learning rate applies (e.g. lowered after a divergence), not the saved one.
        for group in optimizer.param_groups:
            group["lr"] = run.config.learning_rate_init
    return optimizer


def _lbfgs_step(run: _Run, optimizer, objective: FullBatchObjective, monitor: _Monitor) -> tuple[float, bool]:
    """One quasi-Newton step on the loss of all training trials: (its loss, diverged)."""
    objective.new_step(run.generator)
    before = float(objective())  # cached: the point of the last step
    optimizer.step(objective)
    loss = float(objective())  # at the new point: cached when the line search ended there
    if not loss < before and monitor.best_state is not None:
        # The curvature history led nowhere: the next step restarts along the gradient, from the best parameters
        # (a failed line search may have left a worse point).
        optimizer.state.clear()
        run.module.load_state_dict(monitor.best_state)
    return loss, not math.isfinite(loss)


def _run_stage(run: _Run, stage: _Stage, optimizer, result: TrainingResult, keep_start: bool):
    """Train with one solver until the stopping rule, ``max_iter`` or a divergence; keep the best parameters.

    Records the curves in ``result``; returns the optimiser.
    """
    config, module, params = run.config, run.module, run.params
    solver, patience = stage.solver, stage.patience
    optimizer = _stage_optimizer(run, solver, optimizer)
    monitor = _Monitor(stage.tol, run.null, patience=patience, window=solver == "lbfgs")
    objective = None
    if solver == "lbfgs":
        inputs, targets, mask = run.data
        chunk = lbfgs_chunk(config.batch_size, run.train_idx.numel(), targets.shape[1],
                            max(getattr(module, "n_units", 0), targets.shape[-1]))
        objective = FullBatchObjective(module, params, inputs, targets, mask, run.train_idx, chunk,
                                       LOSSES[config.loss], config.noise_std)
    monitor.best_state = copy.deepcopy(module.state_dict())
    if keep_start:
        use_cache = objective is not None and config.noise_std == 0 and not config.early_stopping
        monitor.best_loss = float(objective()) if use_cache else run.monitored_loss()
        monitor.history.append(monitor.best_loss)
    best_at_last_decay = math.inf
    run.reporter.stage(solver, config.max_iter)
    try:
        for it in range(config.max_iter):
            if objective is not None:
                epoch_loss, diverged = _lbfgs_step(run, optimizer, objective, monitor)
            else:
                epoch_loss, n_batches, diverged = adam_epoch(module, params, optimizer, *run.data, run.train_idx,
                                                             run.batch_size, LOSSES[config.loss], config,
                                                             run.generator, run.draws)
                epoch_loss /= max(n_batches, 1)
            if diverged or not all(torch.isfinite(p).all() for p in params):
                result.stop_reason = "diverged"
                break
            run.epoch += 1
            result.loss_curve.append(epoch_loss)
            monitored, val_loss = epoch_loss, None
            if config.early_stopping:
                monitored = val_loss = evaluate_loss(module, *run.val_data, loss=config.loss)
                result.validation_loss_curve.append(val_loss)
            if not math.isfinite(monitored):
                result.stop_reason = "diverged"
                break
            monitor.update(module, monitored)
            run.reporter.epoch(run.epoch, epoch_loss, val_loss, monitor.epochs_left(config.max_iter - it - 1))
            if monitor.no_improve >= patience:
                # The schedule is Adam's: an L-BFGS step's length comes from its line search.
                if not stage.decays or not _lower_learning_rate(optimizer, config, result, monitor.best_loss,
                                                                best_at_last_decay, run.null):
                    result.stop_reason = "converged"
                    break
                best_at_last_decay = monitor.best_loss
                # Go on from the best parameters at the lower rate (their Adam moments are kept: they are estimates
                # of the gradient's scale, which does not change with the step size).
                module.load_state_dict(monitor.best_state)
                monitor.no_improve = 0
        else:
            result.stop_reason = "max_iter"
    except KeyboardInterrupt:
        result.stop_reason = "interrupted"
    module.load_state_dict(monitor.best_state)
    result.best_loss = monitor.best_loss
    return optimizer


class _Stage(NamedTuple):
    """One solver's run: epochs without improvement that end it, its ``tol``, and whether Adam's schedule may
    lower the learning rate instead of ending it."""

    solver: str
    patience: int
    tol: float
    decays: bool


def _stages(config: TrainingConfig) -> list[_Stage]:
    """The solvers to run in turn.

    "adam+lbfgs" hands over from Adam to L-BFGS on measured progress: when Adam's stopping rule ends it (its
    epochs no longer gain ``tol``, even at a lower learning rate), or with :data:`HANDOVER_PATIENCE` set, as soon
    as that many epochs in a row gain less than ``tol``, without learning-rate decays. L-BFGS
    stops when the last ``LBFGS_WINDOW * n_iter_no_change`` steps together gained less than ``LBFGS_TOL_RATIO *
    tol`` (see :class:`_Monitor`).
    """
    lbfgs = _Stage("lbfgs", LBFGS_WINDOW * config.n_iter_no_change, LBFGS_TOL_RATIO * config.tol, False)
    if config.solver == "lbfgs":
        return [lbfgs]
    adam = _Stage("adam", config.n_iter_no_change, config.tol, True)
    if config.solver == "adam+lbfgs":
        if HANDOVER_PATIENCE is not None:
            adam = _Stage("adam", min(HANDOVER_PATIENCE, config.n_iter_no_change), config.tol, False)
        return [adam, lbfgs]
    return [adam]


def train(
    module: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None,
    config: TrainingConfig,
    generator: torch.Generator,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    keep_start: bool = False,
) -> tuple[TrainingResult, torch.optim.Optimizer]:
    """Train ``module`` in place (Adam on mini-batches of trials, L-BFGS on all of them, or both); keep the best.

    Parameters
    ----------
    module : nn.Module
        ``module(inputs, noise_std=, generator=)`` returns predictions like ``targets``.
    inputs : Tensor of shape (n_trials, n_timesteps, n_inputs)
    targets : Tensor of shape (n_trials, n_timesteps, n_outputs)
        Zero where unobserved.
    mask : bool Tensor like ``targets`` or None
        True where observed.
    config : TrainingConfig
    generator : torch.Generator
        A CPU generator: drives the split, the batch order and, on the CPU, the recurrent noise (and sampled
        weights); on another device those come from a generator on that device seeded from this one. The same
        seed gives the same fit.
    optimizer : torch.optim.Optimizer, optional
        Continue with this optimiser (warm start) if it is of ``config.solver``'s kind; a new one otherwise.
    keep_start : bool, default=False
        Count the starting parameters as the best so far, with their monitored loss, so that training must beat
        them to replace them (otherwise the first epoch's parameters are the first best).

    Returns
    -------
    result : TrainingResult
    optimizer : torch.optim.Optimizer
    """
    check_same_device(module, inputs, targets, mask)
    run = _prepare(module, inputs, targets, mask, config, generator)
    result = TrainingResult()
    try:
        for i, stage in enumerate(_stages(config)):
            if i:
                # Balanced loadings (J unchanged) condition the quasi-Newton steps: Adam may leave m and n at any
                # scale. The previous stage's result stays unless this one beats its monitored loss.
                canonicalize_(module)
            optimizer = _run_stage(run, stage, optimizer, result, keep_start or i > 0)
            if result.stop_reason in ("diverged", "interrupted"):
                break
    finally:
        run.reporter.close()
    if result.stop_reason == "diverged":
        # The moments of the diverging steps would throw the restored parameters off again on a warm start.
        optimizer.state.clear()
    result.n_iter = run.epoch
    return result, optimizer
