"""The one training loop shared by every model (Adam, mini-batches, clipping, early stopping).

The loop knows nothing about scikit-learn: it takes a module whose ``forward(inputs, noise_std=, generator=)``
returns predictions, trains it on masked targets, and reports why it stopped.  The estimators turn that report into
warnings.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
from torch import nn

from .canonical import canonicalize_
from .conditions import condition_floor
from .devices import check_same_device, module_device
from .losses import LOSSES, null_loss
from .progress import Reporter
from .solvers import FullBatchObjective, adam_epoch, lbfgs_chunk, make_optimizer
from .stopping import _lower_learning_rate, _Monitor

__all__ = ["TrainingConfig", "TrainingResult", "evaluate_loss", "resolve_batch_size", "train"]

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
    floor: float  # the lowest squared error on the monitored trials of a network that treats a condition alike
    batch_size: int
    chunk: int  # at most this many trials simulated at once in a mini-batch (memory bound: lbfgs_chunk)
    reporter: Reporter
    epoch: int = 0  # epochs run by all stages

    def monitored_loss(self) -> float:
        """Noise-free loss of the monitored trials (validation with early stopping, else training)."""
        if self.config.early_stopping:
            return evaluate_loss(self.module, *self.val_data, loss=self.config.loss)
        return evaluate_loss(self.module, *self.data, loss=self.config.loss, idx=self.train_idx)


def _width(module, targets) -> int:
    """The widest per-step tensor of a simulation: the number of units, or of outputs if larger."""
    return max(getattr(module, "n_units", 0), targets.shape[-1])


def _prepare(module, inputs, targets, mask, config, generator) -> _Run:
    """Split the trials, set up the noise generator, the null model and the floor of the stopping rule, and the
    reporter."""
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
    floor = 0.0  # the lowest loss on the monitored trials: the zero of tol's scale for squared error
    if config.loss == "squared_error" and getattr(module, "trial_states", None) is None:
        floor = condition_floor(*(val_data if config.early_stopping else (inputs, targets, mask)),
                                idx=None if config.early_stopping else train_idx)
    n_stages = 2 if config.solver == "adam+lbfgs" else 1
    return _Run(module=module, params=[p for p in module.parameters() if p.requires_grad], floor=floor,
                data=(inputs, targets, mask), config=config, generator=generator, draws=draws, train_idx=train_idx,
                val_data=val_data, null=null, batch_size=resolve_batch_size(config.batch_size, train_idx.numel()),
                chunk=lbfgs_chunk("auto", train_idx.numel(), targets.shape[1], _width(module, targets)),
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
    monitor = _Monitor(stage.tol, run.null, run.floor, patience=patience, window=solver == "lbfgs")
    objective = None
    if solver == "lbfgs":
        inputs, targets, mask = run.data
        chunk = lbfgs_chunk(config.batch_size, run.train_idx.numel(), targets.shape[1], _width(module, targets))
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
                                                             run.generator, run.draws, run.chunk)
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
                                                                best_at_last_decay, run.null, run.floor):
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
