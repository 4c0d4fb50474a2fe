"""The one training loop shared by every model (Adam, mini-batches, clipping, early stopping).

The loop knows nothing about scikit-learn: it takes a module whose ``forward(inputs, noise_std=, generator=)``
returns predictions, trains it on masked targets, and reports why it stopped.  The estimators turn that report into
warnings.
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from .canonical import canonicalize_
from .losses import LOSSES, masked_mse, masked_poisson_nll, null_loss
from .solvers import LBFGS_CHUNK, LBFGS_TOL, FullBatchObjective, adam_epoch, make_optimizer

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
    """The one channel for training progress.

    Parameters
    ----------
    verbose : int
        0: silent; 1: one scikit-learn style line per epoch (``Iteration 3, loss = 0.0123``); >= 2: a tqdm bar.
    total : int
        Number of epochs planned.
    stream : file-like, default=sys.stdout
    """

    def __init__(self, verbose: int, total: int, stream=None, desc: str = "fit") -> None:
        self.verbose = verbose
        self.stream = sys.stdout if stream is None else stream
        self._bar = None
        if verbose >= 2:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, file=self.stream, leave=False)

    def epoch(self, epoch: int, loss: float, validation_loss: float | None) -> None:
        if self.verbose <= 0:
            return
        if self._bar is not None:
            postfix = {"loss": f"{loss:.4g}"}
            if validation_loss is not None:
                postfix["val"] = f"{validation_loss:.4g}"
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(1)
            return
        line = f"Iteration {epoch}, loss = {loss:.8f}"
        if validation_loss is not None:
            line += f", validation loss = {validation_loss:.8f}"
        self.stream.write(line + "\n")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


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


def evaluate_loss(module: nn.Module, inputs, targets, mask, batch_size: int = 256,
                  loss: str = "squared_error") -> float:
    """Noise-free masked ``loss`` (a key of :data:`LOSSES`) of ``module`` over the given trials, without autograd."""
    loss_fn = LOSSES[loss]
    total, count = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, inputs.shape[0], batch_size):
            sl = slice(start, start + batch_size)
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


def _train_in_stages(module, inputs, targets, mask, config, generator, optimizer):
    """Adam, then L-BFGS from where Adam stopped: one result, the curves and epochs of both."""
    split_state = generator.get_state()  # its first draw is the validation split: the same for both stages
    first, optimizer = train(module, inputs, targets, mask, replace(config, solver="adam"), generator,
                             optimizer=optimizer)
    if first.stop_reason in ("diverged", "interrupted"):
        return first, optimizer
    # Balanced loadings (J unchanged) condition the quasi-Newton steps: Adam may leave m and n at any scale.
    canonicalize_(module)
    generator.set_state(split_state)
    # Adam's result stays unless L-BFGS beats its monitored loss (a validation loss may rise as the training loss
    # falls).
    second, optimizer = train(module, inputs, targets, mask, replace(config, solver="lbfgs"), generator,
                              keep_start=True)
    second.loss_curve = first.loss_curve + second.loss_curve
    second.validation_loss_curve = first.validation_loss_curve + second.validation_loss_curve
    second.n_iter += first.n_iter
    second.n_lr_decays += first.n_lr_decays
    return second, optimizer


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
    if config.solver == "adam+lbfgs":
        return _train_in_stages(module, inputs, targets, mask, config, generator, optimizer)
    check_same_device(module, inputs, targets, mask)
    device = module_device(module)
    if generator.device == device:
        draws = generator
    else:
        draws = torch.Generator(device=device).manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
    result = TrainingResult()
    params = [p for p in module.parameters() if p.requires_grad]
    lbfgs = config.solver == "lbfgs"
    if optimizer is None or isinstance(optimizer, torch.optim.LBFGS) != lbfgs:
        optimizer = make_optimizer(params, config)
    elif not lbfgs:
        # Warm start: the current learning rate applies (e.g. lowered after a divergence), not the saved one.
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate_init
    train_idx, val_idx = _split(inputs.shape[0], config, generator)
    # The held-out trials are gathered once, not at every epoch.
    val_data = (inputs[val_idx], targets[val_idx], None if mask is None else mask[val_idx])
    null = None  # the null model's loss on the monitored trials: the unit of tol for Poisson counts
    if config.loss == "poisson":
        train_data = (targets[train_idx], None if mask is None else mask[train_idx])
        null = null_loss(*(val_data[1:] if config.early_stopping else train_data), *train_data, config.loss)
    n_train = train_idx.numel()
    batch_size = resolve_batch_size(config.batch_size, n_train)
    reporter = Reporter(config.verbose, config.max_iter)
    loss_fn = LOSSES[config.loss]
    # L-BFGS steps are single steps on the exact loss: any decrease beyond float32 round-off is progress, and
    # training stops once n_iter_no_change steps in a row (restarted along the gradient) no longer lower it.
    tol = LBFGS_TOL if lbfgs else config.tol
    if lbfgs:
        chunk = LBFGS_CHUNK if config.batch_size == "auto" else resolve_batch_size(config.batch_size, n_train)
        objective = FullBatchObjective(module, params, inputs, targets, mask, train_idx, chunk, loss_fn,
                                        config.noise_std)

    best_state = copy.deepcopy(module.state_dict())
    best_loss = best_at_last_decay = math.inf
    if keep_start:
        if config.early_stopping:
            best_loss = evaluate_loss(module, *val_data, max(batch_size, 256), config.loss)
        elif lbfgs and config.noise_std == 0:
            best_loss = float(objective())  # cached for the first step
        else:
            best_loss = evaluate_loss(module, inputs[train_idx], targets[train_idx],
                                      None if mask is None else mask[train_idx], max(batch_size, 256), config.loss)
    no_improve = 0
    try:
        for epoch in range(config.max_iter):
            if lbfgs:
                objective.new_step(generator)
                before = float(objective())  # cached: the point of the last step
                optimizer.step(objective)
                epoch_loss = float(objective())  # at the new point: cached when the line search ended there
                n_batches, diverged = 1, not math.isfinite(epoch_loss)
                if not epoch_loss < before:
                    # The curvature history led nowhere: the next step restarts along the gradient, from the best
                    # parameters (a failed line search may have left a worse point).
                    optimizer.state.clear()
                    module.load_state_dict(best_state)
            else:
                epoch_loss, n_batches, diverged = adam_epoch(module, params, optimizer, inputs, targets, mask,
                                                             train_idx, batch_size, loss_fn, config, generator,
                                                             draws)
            if diverged or not all(torch.isfinite(p).all() for p in params):
                result.stop_reason = "diverged"
                break
            epoch_loss /= max(n_batches, 1)
            result.loss_curve.append(epoch_loss)
            result.n_iter = epoch + 1
            monitored = epoch_loss
            val_loss = None
            if config.early_stopping:
                val_loss = evaluate_loss(module, *val_data, max(batch_size, 256), config.loss)
                result.validation_loss_curve.append(val_loss)
                monitored = val_loss
            reporter.epoch(epoch + 1, epoch_loss, val_loss)
            if not math.isfinite(monitored):
                result.stop_reason = "diverged"
                break
            # MLPRegressor's rule with a relative tol (losses of rates and currents differ in scale): an epoch
            # counts as no improvement unless it beats the best by a fraction tol (of the loss, or of the
            # deviance explained for Poisson counts: _tol_scale).
            if _improves(monitored, best_loss, tol, None if lbfgs else null):
                no_improve = 0
            else:
                no_improve += 1
            if monitored < best_loss:
                best_loss = monitored
                best_state = copy.deepcopy(module.state_dict())
            if no_improve >= config.n_iter_no_change:
                # The schedule is Adam's: an L-BFGS step's length comes from its line search.
                if lbfgs or not _lower_learning_rate(optimizer, config, result, best_loss, best_at_last_decay,
                                                     null):
                    result.stop_reason = "converged"
                    break
                best_at_last_decay = best_loss
                # Go on from the best parameters at the lower rate (their Adam moments are kept: they are
                # estimates of the gradient's scale, which does not change with the step size).
                module.load_state_dict(best_state)
                no_improve = 0
    except KeyboardInterrupt:
        result.stop_reason = "interrupted"
    finally:
        reporter.close()
    module.load_state_dict(best_state)
    if result.stop_reason == "diverged":
        # The moments of the diverging steps would throw the restored parameters off again on a warm start.
        optimizer.state.clear()
    result.best_loss = best_loss
    return result, optimizer
