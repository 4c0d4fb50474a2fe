"""The optimisers of the training loop: Adam on mini-batches of trials, L-BFGS on all trials."""

from __future__ import annotations

import math

import torch
from torch import nn

from .losses import batch_loss, sum_dtype

__all__ = ["CHUNK_ENTRIES", "LBFGS_CHUNK", "LBFGS_HISTORY", "LBFGS_LINE_SEARCH_EVALS", "FullBatchObjective",
           "adam_epoch", "backward_in_parts", "lbfgs_chunk", "make_optimizer", "trial_kwargs"]

#: Steps L-BFGS remembers to approximate the curvature (torch's default is 100; a low-rank network has few
#: parameters, and a short memory adapts faster as the curvature changes along the path).
LBFGS_HISTORY = 20
#: Loss evaluations the strong-Wolfe line search of one L-BFGS step may spend after its first (torch's own default
#: for the line search). torch bounds them by ``max_eval - 1``, and ``max_eval`` defaults to ``max_iter * 5 // 4``:
#: 1 with one step per call, which left the line search no evaluation to back off with. A step whose trial length
#: overshot (always the first after the curvature history is reset, whose length is ``1 / |g|_1``) then stayed
#: where it was, and the reset repeated the same step until the stopping rule ended the fit.
LBFGS_LINE_SEARCH_EVALS = 25
#: At most this many trials per chunk of the full-batch gradient of L-BFGS with ``batch_size="auto"``.
LBFGS_CHUNK = 256
#: ... and at most about this many entries (trials x steps x units) simulated at once, by L-BFGS's chunks and by the
#: parts of a large Adam mini-batch: 8 MB per float32 tensor of the graph (states, rates, predictions, their
#: gradients). Memory then stays bounded at any data size, and the allocations of one part stay well below glibc's
#: largest dynamic mmap threshold (32 MB), so that the memory freed after one part is reused by the next instead of
#: being returned to the system and faulted in again. Measured at 4000 units x 640 trials x 100 steps (one Adam
#: epoch, 2-core machine): 4.0 million page faults and 7.0 s of system time per epoch with whole batches of 32
#: trials, 0.3 million and 0.6 s with parts of 16 MB, none with parts of 8 MB (``benchmarks/bench_scales.py``).
CHUNK_ENTRIES = 2**21


def lbfgs_chunk(batch_size, n_train: int, n_timesteps: int, width: int) -> int:
    """Trials per chunk of the full-batch objective: ``batch_size`` if an int, else bounded by memory.

    ``width`` is the widest per-step tensor, the number of units (or of outputs, if larger). The chunks change
    the summation order of the gradient only (:class:`FullBatchObjective`).

    Examples
    --------
    >>> from sklearn_lowrank._core.solvers import lbfgs_chunk
    >>> lbfgs_chunk("auto", 320, 100, 2000), lbfgs_chunk("auto", 40, 100, 500), lbfgs_chunk(16, 80, 100, 500)
    (10, 40, 16)
    """
    if batch_size != "auto":
        return max(1, min(int(batch_size), n_train))
    return max(1, min(LBFGS_CHUNK, n_train, CHUNK_ENTRIES // max(n_timesteps * width, 1)))


def trial_kwargs(module, idx: torch.Tensor) -> dict:
    """``trial_index=idx`` for a module with initial states per trial (``module.trial_states``), else nothing."""
    return {} if getattr(module, "trial_states", None) is None else {"trial_index": idx}


def backward_in_parts(module, inputs, targets, mask, parts, weights, loss_fn, noise_std, draws, total=None):
    """Simulate each part (a tensor of trial indices) in turn and back-propagate its loss times its weight: the
    parameters' gradients accumulate the weighted sum. Returns the weighted losses summed (detached), added to
    ``total`` (in its dtype) if given, else in the losses' dtype.

    The one loop behind L-BFGS's chunks (:class:`FullBatchObjective`) and Adam's parts of a mini-batch
    (:func:`adam_epoch`); a weight of 1 multiplies nothing.
    """
    for idx, weight in zip(parts, weights):
        loss = batch_loss(module(inputs[idx], noise_std=noise_std, generator=draws, **trial_kwargs(module, idx)),
                          targets, mask, idx, loss_fn)
        if weight != 1.0:
            loss = loss * weight
        loss.backward()
        total = loss.detach() if total is None else total + loss.detach().to(total.dtype)
    return total


class FullBatchObjective:
    """The loss of all training trials and its gradient: the closure L-BFGS evaluates.

    The gradient is accumulated chunk by chunk (the memory of one chunk's graph, not of all trials). The last
    evaluation is cached: L-BFGS evaluates again, at the start of each step, the point its line search accepted.
    With recurrent noise, each step draws its noise from a new seed and every evaluation within the step uses that
    seed, so that the line search compares losses of one objective.
    """

    def __init__(self, module, params, inputs, targets, mask, idx, chunk, loss_fn, noise_std):
        self.module, self.params = module, params
        self.data = (inputs, targets, mask)
        self.chunks = [idx[start : start + chunk] for start in range(0, idx.numel(), chunk)]
        self.n_obs = [float(c.numel() * targets[0].numel() if mask is None else mask[c].sum()) for c in self.chunks]
        self.total = max(sum(self.n_obs), 1.0)
        self.loss_fn, self.noise_std = loss_fn, noise_std
        self.seed, self._cache = None, None

    def new_step(self, generator: torch.Generator) -> None:
        if self.noise_std > 0:
            self.seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            self._cache = None

    def __call__(self) -> torch.Tensor:
        x = torch.cat([p.detach().reshape(-1) for p in self.params])
        if self._cache is not None and torch.equal(x, self._cache[0]):
            for p, grad in zip(self.params, self._cache[2]):
                p.grad = grad.clone()
            return self._cache[1]
        inputs, targets, mask = self.data
        draws = None
        if self.noise_std > 0:
            draws = torch.Generator(device=inputs.device).manual_seed(self.seed)
        for p in self.params:
            p.grad = None
        total = backward_in_parts(self.module, inputs, targets, mask, self.chunks,
                                  [n_obs / self.total for n_obs in self.n_obs], self.loss_fn, self.noise_std, draws,
                                  total=torch.zeros((), dtype=sum_dtype(inputs.device), device=inputs.device))
        grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in self.params]
        self._cache = (x, total, grads)
        return total


def adam_epoch(module, params, optimizer, inputs, targets, mask, train_idx, batch_size, loss_fn, config,
               generator, draws, chunk=None) -> tuple[float, int, bool]:
    """One pass over the training trials in shuffled mini-batches: (summed batch loss, batches, diverged).

    ``config`` is the loop's :class:`~sklearn_lowrank._core.training.TrainingConfig` (its ``noise_std`` and
    ``clip_grad_norm``); ``generator`` shuffles the trials, ``draws`` draws the recurrent noise. ``chunk``: at
    most this many trials are simulated at once (:func:`lbfgs_chunk`); a larger mini-batch is simulated in
    equal parts whose gradients are summed, each weighted by its share of the batch's observed entries, so that
    the step is the one of the whole batch (to float rounding) while no tensor of the graph grows past
    :data:`CHUNK_ENTRIES` entries. Without the parts, a batch of 32 trials of 100 steps at 4000 units makes
    51 MB tensors, above glibc's mmap threshold: each is mapped and unmapped at every step, and an epoch
    spent more system time faulting pages in than computing.
    """
    n_train = train_idx.numel()
    perm = train_idx[torch.randperm(n_train, generator=generator)]
    epoch_loss, n_batches = 0.0, 0
    for start in range(0, n_train, batch_size):
        idx = perm[start : start + batch_size]
        optimizer.zero_grad(set_to_none=True)
        n_parts = 1 if chunk is None else -(-idx.numel() // chunk)
        parts, weights = [idx], [1.0]
        if n_parts > 1:
            parts = idx.tensor_split(n_parts)
            n_obs = [float(p.numel()) if mask is None else float(mask[p].sum()) for p in parts]
            weights = [obs / max(sum(n_obs), 1.0) for obs in n_obs]
        loss = backward_in_parts(module, inputs, targets, mask, parts, weights, loss_fn, config.noise_std, draws)
        if config.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(params, config.clip_grad_norm)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            return epoch_loss, n_batches, True
        optimizer.step()
        epoch_loss += loss_value
        n_batches += 1
    return epoch_loss, n_batches, False


def make_optimizer(params, config) -> torch.optim.Optimizer:
    """A new optimiser for ``config.solver`` ("adam" or "lbfgs") over ``params``."""
    if config.solver == "lbfgs":
        # One quasi-Newton step per call (per epoch), its step length found by a strong-Wolfe line search. torch's
        # own tolerances are off (a mean loss over many entries has tiny gradients): the loop's rule stops.
        return torch.optim.LBFGS(params, lr=1.0, max_iter=1, max_eval=1 + LBFGS_LINE_SEARCH_EVALS,
                                 history_size=LBFGS_HISTORY, line_search_fn="strong_wolfe", tolerance_grad=0.0,
                                 tolerance_change=0.0)
    return torch.optim.Adam(params, lr=config.learning_rate_init)
