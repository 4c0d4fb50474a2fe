"""Training objectives: masked losses over the observed entries of (n_trials, n_timesteps, n_outputs) tensors."""

from __future__ import annotations

import torch

__all__ = ["LOSSES", "batch_loss", "masked_mse", "masked_poisson_nll", "null_loss", "sum_dtype"]


class _SquaredError(torch.autograd.Function):
    """The summed squared error in one node: autograd keeps the residuals only, and its backward scales them.

    ``mse_loss`` forward and backward take about three times as long on the training loop's batches: its backward
    forms the residuals again through temporaries. The residuals take the layout of ``pred`` (time-major in the
    training loop, whatever the layout of ``target``), so that the gradient reaches the recurrence contiguous.
    """

    @staticmethod
    def forward(ctx, pred, target, mask):
        diff = torch.sub(pred, target, out=torch.empty_like(pred))
        if mask is not None:
            diff.mul_(mask)
        ctx.save_for_backward(diff)
        return diff.square().sum()  # float32's cascade sum: as accurate as mse_loss's

    @staticmethod
    def backward(ctx, grad):
        (diff,) = ctx.saved_tensors
        return torch.mul(diff, 2.0 * grad), None, None


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over the observed entries.

    Parameters
    ----------
    pred, target : Tensor of shape (n_trials, n_timesteps, n_outputs)
        ``target`` holds zeros where ``mask`` is False.
    mask : bool Tensor of the same shape, or None when every entry is observed.

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.losses import masked_mse
    >>> pred = torch.tensor([[[1.0, 2.0]]], requires_grad=True)
    >>> loss = masked_mse(pred, torch.tensor([[[0.0, 0.0]]]), torch.tensor([[[True, False]]]))
    >>> loss.item()  # the unobserved entry does not count
    1.0
    >>> loss.backward(); pred.grad
    tensor([[[2., 0.]]])
    """
    total = _SquaredError.apply(pred, target, mask)
    if mask is None:
        return total / pred.numel()
    return total / mask.sum().clamp_min(1)


def sum_dtype(device: torch.device) -> torch.dtype:
    """The dtype losses are summed in: float64, or float32 where the device has no float64 (Apple's MPS).

    The Poisson loss is mostly the spiking noise, and near the optimum the differences a line search compares are
    below float32's resolution of a float32 sum over millions of entries.
    """
    return torch.float32 if device.type == "mps" else torch.float64


class _PoissonNLL(torch.autograd.Function):
    """The summed per-entry Poisson loss in one node: autograd keeps ``pred`` only, not a graph of temporaries.

    Written out, the loss is seven element-wise operations whose results autograd would keep (or allocate again
    in the backward) at the size of the predictions; here the forward frees its temporaries at once and the
    backward forms ``1 - target / pred`` in one pass.
    """

    @staticmethod
    def forward(ctx, pred, target, mask, dtype):
        safe = pred.clamp_min(FLOOR)
        per_entry = torch.xlogy(target, target).sub_(target).sub_(torch.xlogy(target, safe)).add_(pred)
        if mask is not None:
            per_entry.mul_(mask)
        ctx.save_for_backward(pred, target, mask)
        return per_entry.sum(dtype=dtype)

    @staticmethod
    def backward(ctx, grad):
        pred, target, mask = ctx.saved_tensors
        # d/dpred of pred - target log(max(pred, FLOOR)): 1 - target / pred above the floor, 1 below it.
        # In the layout of pred, whatever that of target: the gradient reaches the network contiguous.
        ratio = torch.div(target, pred, out=torch.empty_like(pred)).masked_fill_(pred < FLOOR, 0.0)
        out = torch.sub(1.0, ratio, out=ratio)
        if mask is not None:
            out.mul_(mask)
        return out.mul_(grad.to(out.dtype)), None, None, None


#: Expected counts are floored here inside the log of the Poisson loss.
FLOOR = 1e-8


def masked_poisson_nll(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean Poisson negative log-likelihood of counts ``target`` under expected counts ``pred``, observed entries.

    The per-entry value is ``pred - target log(pred) + target log(target) - target`` (0 log 0 = 0): the negative
    log-likelihood shifted by that of the saturated model, i.e. half the Poisson deviance (scikit-learn's
    ``HalfPoissonLoss``). The shift does not depend on the parameters, so the gradient is the likelihood's, and
    the loss is >= 0 (zero only for a perfect fit), as the loop's relative ``tol`` needs. One autograd node
    (:class:`_PoissonNLL`): its graph holds the predictions only.

    Parameters
    ----------
    pred : Tensor of shape (n_trials, n_timesteps, n_outputs)
        Expected counts, > 0 (the Poisson readout's link guarantees it; they are floored at 1e-8 in the log).
    target : Tensor of the same shape
        Counts (any non-negative value); zeros where ``mask`` is False.
    mask : bool Tensor of the same shape, or None when every entry is observed.

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.losses import masked_poisson_nll
    >>> pred = torch.tensor([[[1.0, 2.0]]], requires_grad=True)
    >>> loss = masked_poisson_nll(pred, torch.tensor([[[1.0, 0.0]]]), None)
    >>> round(loss.item(), 4), pred.grad is None  # (1 - 0 + 0 - 1 + 2) / 2
    (1.0, True)
    >>> loss.backward(); pred.grad  # (1 - target / pred) / 2
    tensor([[[0.0000, 0.5000]]])
    """
    dtype = sum_dtype(pred.device)
    total = _PoissonNLL.apply(pred, target, mask, dtype)
    if mask is None:
        return total / pred.numel()
    return total / mask.sum().clamp_min(1)


#: Entries per chunk of :func:`null_loss` (16 MB per float32 temporary).
NULL_CHUNK_ENTRIES = 2**22

#: Training objectives selected by ``TrainingConfig.loss`` (scikit-learn's names).
LOSSES = {"squared_error": masked_mse, "poisson": masked_poisson_nll}


def batch_loss(pred: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None, idx: torch.Tensor,
               loss_fn=masked_mse):
    """``loss_fn`` (:func:`masked_mse` by default) of the predictions for trials ``idx`` against their targets.

    Networks simulate time-major, so predictions read straight from the states or rates (identity readout) are
    a (trials, steps) view of a (steps, trials) tensor. The targets are gathered trial by trial (one contiguous
    copy per trial: a gather straight into the time-major layout is several times slower) and the losses compare
    them with the predictions across layouts, giving the gradient the predictions' layout: neither the
    predictions nor their gradient are copied to another layout.
    """
    return loss_fn(pred, targets.index_select(0, idx), None if mask is None else mask.index_select(0, idx))


def null_loss(targets: torch.Tensor, mask: torch.Tensor | None, reference: torch.Tensor,
              reference_mask: torch.Tensor | None, loss: str) -> float | None:
    """Poisson loss on ``targets`` of the null model that predicts each output's mean count over ``reference``.

    The unit of ``tol`` in the stopping rule of :func:`~sklearn_lowrank._core.training.train` for Poisson counts;
    None for the other losses, whose rule is relative to the loss itself.

    Parameters
    ----------
    targets, reference : Tensor of shape (n_trials, n_timesteps, n_outputs)
        Counts to score, and counts the means are taken over (zeros where unobserved).
    mask, reference_mask : bool Tensor of the same shape or None
        True where observed.
    loss : str
        A key of :data:`LOSSES`.

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.losses import null_loss
    >>> y = torch.tensor([[[0.0], [2.0]]])
    >>> round(null_loss(y, None, y, None, "poisson"), 4)  # mean 1: (1 - 0) and (1 - 2 log 1 + 2 log 2 - 2)
    0.6931
    >>> null_loss(y, None, y, None, "squared_error") is None
    True
    """
    if loss != "poisson":
        return None
    dims = tuple(range(reference.dim() - 1))
    if reference_mask is None:
        mean = reference.mean(dim=dims)
    else:
        mean = reference.sum(dim=dims) / reference_mask.sum(dim=dims).clamp_min(1)
    # Trial by trial in chunks of about NULL_CHUNK_ENTRIES: the loss's temporaries stay small on large recordings.
    step = max(1, NULL_CHUNK_ENTRIES // max(targets[0].numel(), 1))
    total, count = 0.0, 0.0
    for start in range(0, targets.shape[0], step):
        part = targets[start : start + step]
        part_mask = None if mask is None else mask[start : start + step]
        n_obs = float(part.numel() if part_mask is None else part_mask.sum())
        total += float(LOSSES[loss](mean.clamp_min(1e-8).expand_as(part), part, part_mask)) * n_obs
        count += n_obs
    return total / max(count, 1.0)
