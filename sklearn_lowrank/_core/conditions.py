"""Conditions: trials that share their input pattern, the averages of their targets, and the loss no network that
treats them alike can go below.

A network without recurrent noise and with one initial state predicts the same trajectory for every trial of a
condition. Its squared error on single trials is therefore its error on the condition averages plus the spread of
the trials around their averages, which no such network removes (:func:`condition_floor`). The data-driven start
regresses on the averages (:mod:`~sklearn_lowrank._core.start`); the stopping rule of the training loop measures
its ``tol`` above the floor (:mod:`~sklearn_lowrank._core.stopping`).

This module imports no scikit-learn.
"""

from __future__ import annotations

import torch

__all__ = ["FLOOR_CHUNK_ENTRIES", "average_identical_inputs", "condition_floor", "group_sums", "input_groups"]

#: Entries (trials x steps x features) per chunk of :func:`group_sums` and :func:`condition_floor` (8 MB per
#: float32 temporary).
FLOOR_CHUNK_ENTRIES = 2**21


def input_groups(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct input patterns, (n_groups, n_timesteps * n_inputs), and each trial's group index."""
    flat = inputs.reshape(inputs.shape[0], -1)
    if flat.shape[1] == 0:  # no inputs (or no steps): every trial is of the one condition
        return flat[:1], torch.zeros(inputs.shape[0], dtype=torch.long, device=inputs.device)
    return torch.unique(flat, dim=0, return_inverse=True)


def _trials_per_chunk(targets: torch.Tensor) -> int:
    """Trials of ``targets`` in a chunk of about :data:`FLOOR_CHUNK_ENTRIES` entries (at least one)."""
    return max(1, FLOOR_CHUNK_ENTRIES // max(targets[0].numel(), 1))


def group_sums(targets: torch.Tensor, mask: torch.Tensor | None, group_of: torch.Tensor, n_groups: int,
               rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums of the observed targets of each group of trials and the number of trials observed at each entry.

    Summed over chunks of about :data:`FLOOR_CHUNK_ENTRIES` entries, in trial order: no temporary of the size of
    the recording.

    Parameters
    ----------
    targets : Tensor of shape (n_trials, n_timesteps, n_features)
        Zero where ``mask`` is False.
    mask : bool Tensor like ``targets`` or None
    group_of : Tensor of shape (n_rows,)
        The group of each trial taken (of ``rows``, or of every trial).
    n_groups : int
    rows : Tensor of shape (n_rows,) or None, default=None
        The trials to take (all by default).

    Returns
    -------
    sums, seen : Tensor of shape (n_groups, n_timesteps, n_features)

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.conditions import group_sums
    >>> y = torch.tensor([[[1.0]], [[2.0]], [[5.0]]])
    >>> [t.flatten().tolist() for t in group_sums(y, None, torch.tensor([0, 0, 1]), 2)]
    [[3.0, 5.0], [2.0, 1.0]]
    """
    shape = (n_groups,) + tuple(targets.shape[1:])
    sums, seen = targets.new_zeros(shape), targets.new_zeros(shape)
    n_rows = targets.shape[0] if rows is None else rows.numel()
    step = _trials_per_chunk(targets)
    for start in range(0, n_rows, step):
        part = slice(start, start + step)
        trials = part if rows is None else rows[part]
        groups, values = group_of[part], targets[trials]
        if mask is None:
            sums.index_add_(0, groups, values)
            seen += torch.bincount(groups, minlength=n_groups).to(targets.dtype).view(-1, *([1] * (len(shape) - 1)))
        else:
            weight = mask[trials].to(targets.dtype)
            sums.index_add_(0, groups, values * weight)
            seen.index_add_(0, groups, weight)
    return sums, seen


def average_identical_inputs(inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None):
    """Trials with identical inputs averaged into one: (inputs, targets, mask), or None if no two trials share
    their inputs.

    A network without recurrent noise predicts the same trajectory for every trial of a condition, so the average
    of their targets is what it can fit; the average of n noisy single trials has 1 / n of their noise, which
    would otherwise bias the one-step regression of the data-driven start (noise in the regressors shrinks the
    estimate: attenuation).

    Parameters
    ----------
    inputs : Tensor of shape (n_trials, n_timesteps, n_inputs)
    targets : Tensor of shape (n_trials, n_timesteps, n_features)
        Zero where ``mask`` is False.
    mask : bool Tensor like ``targets`` or None

    Returns
    -------
    (inputs, targets, mask) of n_groups trials, mask None when every entry of every group was observed; or None.

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.conditions import average_identical_inputs
    >>> u = torch.tensor([[[1.0]], [[1.0]], [[2.0]]])
    >>> y = torch.tensor([[[0.0]], [[2.0]], [[5.0]]])
    >>> a = average_identical_inputs(u, y, None)
    >>> a[1].flatten().tolist(), a[2]
    ([1.0, 5.0], None)
    >>> average_identical_inputs(u[1:], y[1:], None) is None
    True
    """
    groups_x, group_of = input_groups(inputs)
    n_groups = groups_x.shape[0]
    if n_groups == inputs.shape[0]:
        return None
    sums, seen = group_sums(targets, mask, group_of, n_groups)
    observed = seen > 0
    means = torch.where(observed, sums / seen.clamp_min(1), 0.0)
    return (groups_x.reshape(n_groups, *inputs.shape[1:]), means, None if bool(observed.all()) else observed)


def condition_floor(inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None,
                    idx: torch.Tensor | None = None) -> float:
    """Mean squared error of each condition's average over its trials: the lowest squared error that any network
    predicting the same trajectory for every trial of a condition reaches on these trials.

    0 when no two trials share their inputs. The mean runs over the observed entries, as
    :func:`~sklearn_lowrank._core.losses.masked_mse`'s does.

    Parameters
    ----------
    inputs : Tensor of shape (n_trials, n_timesteps, n_inputs)
    targets : Tensor of shape (n_trials, n_timesteps, n_features)
        Zero where ``mask`` is False.
    mask : bool Tensor like ``targets`` or None
    idx : Tensor of trial indices or None, default=None
        The trials to take (all by default).

    Returns
    -------
    floor : float

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.conditions import condition_floor
    >>> u = torch.tensor([[[1.0]], [[1.0]], [[2.0]]])
    >>> y = torch.tensor([[[0.0]], [[2.0]], [[5.0]]])
    >>> condition_floor(u, y, None)  # (1 + 1 + 0) / 3
    0.6666666666666666
    >>> condition_floor(u[1:], y[1:], None)
    0.0
    """
    if idx is not None:
        inputs = inputs[idx]
    groups_x, group_of = input_groups(inputs)
    n_groups = groups_x.shape[0]
    if n_groups == inputs.shape[0]:  # before touching the targets: most recordings end here
        return 0.0
    rows = torch.arange(inputs.shape[0], device=inputs.device) if idx is None else idx.to(inputs.device)
    sums, seen = group_sums(targets, mask, group_of, n_groups, rows)
    means = sums / seen.clamp_min(1)
    total = torch.zeros((), dtype=torch.float64, device=targets.device)
    step = _trials_per_chunk(targets)
    for start in range(0, rows.numel(), step):
        trials, groups = rows[start : start + step], group_of[start : start + step]
        residual = targets[trials] - means[groups]
        if mask is not None:
            residual = residual * mask[trials]
        total += residual.square().sum(dtype=torch.float64)
    n_obs = float(rows.numel() * targets[0].numel()) if mask is None else float(mask[rows].sum())
    return float(total) / max(n_obs, 1.0)
