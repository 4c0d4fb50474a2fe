"""The stopping rule of the training loop: what ``tol`` is a fraction of, the adaptive learning-rate schedule and
the monitor of the best loss that ends a stage."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from torch import nn

__all__ = ["FLAT_LOSS", "LR_DECAY", "MIN_LR_RATIO"]

#: The adaptive schedule divides the learning rate by 5 (MLPRegressor's factor) ...
LR_DECAY = 0.2
#: ... down to this fraction of ``learning_rate_init``.
MIN_LR_RATIO = 1e-2
#: Losses that differ by less than this are round-off of a float32 network at (numerically) zero loss.
FLAT_LOSS = 1e-10


def _tol_scale(best_loss: float, null: float | None, floor: float = 0.0) -> float:
    """What ``tol`` is a fraction of: the loss above its floor, or for Poisson counts the deviance explained.

    A squared-error loss can go to zero, so a relative improvement is meaningful; where trials repeat their inputs
    it can only go down to ``floor``, the spread of single trials around their condition averages
    (:func:`~sklearn_lowrank._core.conditions.condition_floor`), and the scale is the loss above it: relative to
    a loss that is mostly that spread, the slow descent of a network towards the condition averages gains less than
    any usable ``tol`` per epoch and would end training far from its optimum. A Poisson loss of single-trial
    counts is mostly the spiking noise, which no model removes: relative to the loss, a real improvement of the
    rates is below any usable ``tol``. Relative to the deviance the model explains beyond the null model of mean
    rates (``null - best_loss``), it is not. A model no better than the null falls back to the loss, a loss not
    above its floor to the loss itself.
    """
    if null is not None and best_loss < null:
        return null - best_loss
    if best_loss > floor:
        return best_loss - floor
    return best_loss


def _improves(loss: float, best_loss: float, tol: float, null: float | None, floor: float = 0.0) -> bool:
    """Whether ``loss`` beats ``best_loss`` by more than a fraction ``tol`` of :func:`_tol_scale`."""
    if not math.isfinite(best_loss):
        return loss < best_loss
    return loss < best_loss - tol * _tol_scale(best_loss, null, floor)


def _lower_learning_rate(optimizer, config, result, best_loss: float,
                         best_at_last_decay: float, null: float | None = None, floor: float = 0.0) -> bool:
    """The adaptive schedule: divide the learning rate by ``1 / LR_DECAY`` if the last epochs oscillated.

    Epochs without improvement either lie flat within ``tol`` of the best loss (a minimum or a slow descent:
    training has converged) or rise above it (the steps are too large to settle: a smaller rate goes further).
    Only the second case lowers the rate, so that a fit that has converged stops as soon as with a constant rate.
    The rate goes down to ``MIN_LR_RATIO`` times its initial value (three divisions by 5), and no further once a
    lower rate has not improved the best loss (``best_at_last_decay``) by a fraction ``tol``: the oscillation is
    then the noise of mini-batches at the optimum, not steps too large. ``tol`` is a fraction of
    :func:`_tol_scale` (``null``: the null model's loss, Poisson only; ``floor``: the loss's floor, squared error
    only). ``config`` and ``result`` are the
    training loop's ``TrainingConfig`` and ``TrainingResult`` (``n_lr_decays`` is counted there). Returns False
    when training should stop.
    """
    if config.learning_rate != "adaptive":
        return False
    if result.n_lr_decays and not _improves(best_loss, best_at_last_decay, config.tol, null, floor):
        return False
    window = result.validation_loss_curve if config.early_stopping else result.loss_curve
    window = window[-config.n_iter_no_change:]
    # Flat: within 10 tol of the best, or within float32 round-off of a zero loss.
    if max(window) <= best_loss + config.tol * 10.0 * _tol_scale(best_loss, null, floor) + FLAT_LOSS:
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
    #: The floor of the monitored loss (squared error where trials repeat their inputs; see :func:`_tol_scale`).
    floor: float = 0.0
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
        a fraction ``tol`` of :func:`_tol_scale` (the loss above its floor, or the deviance explained for Poisson
        counts).

        With ``window``, the stage stops when the best loss of the last ``patience`` epochs together improved by
        less than that: L-BFGS steps near the optimum each gain little, and in sum more than ``tol``.
        """
        improved = _improves(monitored, self.best_loss, self.tol, self.null, self.floor)
        self.no_improve = 0 if improved else self.no_improve + 1
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
                gained = _improves(self.best_loss, self.history[-1 - self.patience], self.tol, self.null,
                                  self.floor)
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
        threshold = self.tol * _tol_scale(self.best_loss, self.null, self.floor)
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
