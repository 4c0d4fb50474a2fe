"""The recurrence x_{t+1} = d x_t + (tanh(x_t) L) R + drive_t with a hand-written backward through time.

Autograd would record about six nodes per time step and keep their intermediates; the hand-written backward keeps
only the rates tanh(x_t) (and, for low rank, the latent products tanh(x_t) L), walks the steps once in reverse with
two small matmuls per step, and forms the weight gradients after the loop in one matmul each over all steps.

Low rank: L = n (N x R), R = alpha m^T / N (R x N), so no N x N matrix is ever formed. Full rank: L = alpha J^T
and R is None.
"""

from __future__ import annotations

import torch

__all__ = ["recurrence"]


def _forward_loop(x, drive, left, right, decay, keep, want_states=True):
    """Run the steps; with ``keep`` also return every rate and latent product (for the backward and the readout).

    Work is time-major, (n_timesteps, n_trials, n_units), so that every step writes contiguous slices through
    ``out=`` and allocates nothing. With ``keep``, ``rates[t] = tanh(x_t)`` for t = 0..T (T + 1 slices: the last
    one serves the readout of the last step).

    The rates come from the logistic function, tanh(x) = 2 sigmoid(2 x) - 1, which is about three times cheaper
    than tanh on CPUs, and the per-step tanh is most of a step's cost. The loop therefore runs on z = 2 x:
    with s_t = sigmoid(z_t) and c = 1^T L (the column sums of L),

        tanh(x_t) L = s_t (2 L) - c,    z_{t+1} = decay z_t + 2 (drive_t - c R) + (s_t (2 L)) (2 R),

    (full rank: z_{t+1} = decay z_t + 2 (drive_t - c) + s_t (4 L)), and the states x = z / 2, the rates
    2 s - 1 and the latent products are recovered after the loop in one vectorised pass each (the states only
    ``want_states``: None otherwise).

    The (n_units, k) factor the steps multiply by is laid out column-major: with k > 1, MKL's product of a
    (n_trials, n_units) block with a row-major (n_units, k) matrix takes about three times as long.
    """
    n_steps, n_trials, n_units = drive.shape
    col_sums = left.sum(0, keepdim=True)  # c, (1, k)
    drive_z = drive.new_empty((n_steps, n_trials, n_units))  # contiguous whatever the layout of drive
    if right is None:
        left_z, right_z, offset = left * 4.0, None, col_sums
    else:
        left_z, right_z, offset = (left.t() * 2.0).t(), right * 2.0, col_sums @ right
    torch.add(offset * -2.0, drive, alpha=2.0, out=drive_z)  # 2 (drive_t - c R) in one pass
    states = drive_z  # overwritten step by step: drive_z[t] is read by the step that writes states[t]
    rates = drive.new_empty((n_steps + 1 if keep else 1, n_trials, n_units))
    latents = None
    if right is not None:
        latents = drive.new_empty((n_steps if keep else 1, n_trials, left.shape[1]))
    # The per-step slices as views made in one call each (indexing at every step costs a dispatch per slice).
    state_steps, rate_slots = states.unbind(0), rates.unbind(0)
    latent_slots = None if latents is None else latents.unbind(0)
    z = x * 2.0
    for t in range(n_steps):
        slot = t if keep else 0
        s = torch.sigmoid(z, out=rate_slots[slot])
        if right is None:
            new = state_steps[t].addmm_(s, left_z)
        else:
            new = state_steps[t].addmm_(torch.mm(s, left_z, out=latent_slots[slot]), right_z)
        z = new.add_(z, alpha=decay)
    if keep:
        torch.sigmoid(z, out=rate_slots[n_steps])
        torch.add(rates.new_full((), -1.0), rates, alpha=2.0, out=rates)  # 2 s - 1 in one pass
        if latents is not None:
            latents.sub_(col_sums)
    else:
        rates = None
    states = states.mul_(0.5) if want_states else None
    return states, rates, latents


class _Recurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x0, drive, left, right, decay, want_states):
        states, rates, latents = _forward_loop(x0, drive, left, right, decay, keep=True, want_states=want_states)
        ctx.decay = decay
        ctx.has_right = right is not None
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(rates, latents, left, right)
        return states, rates[1:]

    @staticmethod
    def backward(ctx, grad_states, grad_rates):
        rates, latents, left, right = ctx.saved_tensors
        decay = ctx.decay
        n_steps, n_trials, n_units = rates.shape[0] - 1, rates.shape[1], rates.shape[2]
        if grad_states is None and grad_rates is None:  # pragma: no cover - autograd calls backward with a grad
            grad_states = torch.zeros_like(rates[1:])
        grad_drive = rates.new_empty(rates[1:].shape)
        grad_latents = torch.empty_like(latents) if ctx.has_right else None
        left_t = left.t()
        right_t = right.contiguous().t() if ctx.has_right else None  # column-major: see _forward_loop
        carry = rates.new_zeros((n_trials, n_units))  # dL/dx_{t+1} through the later steps
        # tanh'(x_t) = 1 - r_t^2, formed step by step while the rates are in cache (a full-size tensor of them would
        # be written once and read twice from memory). One buffer: each step reads tanh'(x_{t+1}) before writing
        # tanh'(x_t) over it.
        one, deriv_next = rates.new_ones(()), torch.empty_like(carry)
        # Per-step views made in one call each, as in the forward loop.
        rate_steps, drive_steps = rates.unbind(0), grad_drive.unbind(0)
        torch.addcmul(one, rate_steps[n_steps], rate_steps[n_steps], value=-1.0, out=deriv_next)
        state_grads = None if grad_states is None else grad_states.unbind(0)
        rate_grads = None if grad_rates is None else grad_rates.unbind(0)
        latent_grads = grad_latents.unbind(0) if ctx.has_right else None
        for t in range(n_steps - 1, -1, -1):
            # Total dL/dx_{t+1}: through the later steps, from the states, and from the rates tanh(x_{t+1}) that
            # the readout used (chain rule through tanh folded into the step: no full-size temporary).
            if state_grads is None:
                g = torch.addcmul(carry, rate_grads[t], deriv_next, out=drive_steps[t])
            else:
                g = torch.add(carry, state_grads[t], out=drive_steps[t])
                if rate_grads is not None:
                    g.addcmul_(rate_grads[t], deriv_next)
            if latent_grads is not None:
                gr = torch.mm(torch.mm(g, right_t, out=latent_grads[t]), left_t)
            else:
                gr = torch.mm(g, left_t)
            # dL/dx_t = decay * g + tanh'(x_t) * dL/dr_t
            torch.addcmul(one, rate_steps[t], rate_steps[t], value=-1.0, out=deriv_next)
            carry = gr.mul_(deriv_next).add_(g, alpha=decay)
        flat_rates = rates[:-1].reshape(-1, n_units)
        flat_grad_drive = grad_drive.reshape(-1, n_units)
        if ctx.has_right:
            k_dim = left.shape[1]
            # As the transpose of (k, S) @ (S, N): MKL takes about ten times as long for (N, S) @ (S, k) when k > 1.
            grad_left = (grad_latents.reshape(-1, k_dim).t() @ flat_rates).t()
            grad_right = latents.reshape(-1, k_dim).t() @ flat_grad_drive
        else:
            grad_left = flat_rates.t() @ flat_grad_drive
            grad_right = None
        return carry, grad_drive, grad_left, grad_right, None, None


def recurrence(x0: torch.Tensor, drive: torch.Tensor, left: torch.Tensor, right: torch.Tensor | None,
               decay: float, *, return_rates: bool = False, return_states: bool = True):
    """States x_1..x_T of x_{t+1} = decay x_t + (tanh(x_t) left) right + drive_t.

    Parameters
    ----------
    x0 : Tensor of shape (n_trials, n_units)
    drive : Tensor of shape (n_timesteps, n_trials, n_units)
        Time-major, so that each step reads a contiguous slice.
    left : Tensor of shape (n_units, k)
    right : Tensor of shape (k, n_units) or None (then k must be n_units)
    decay : float
    return_rates : bool, default=False
        Also return tanh(x_1)..tanh(x_T), which the loop computes anyway (a tanh readout then needs no second
        pass over the states).
    return_states : bool, default=True
        False: the states are None (with ``return_rates``; a tanh readout needs the rates only), which spares
        converting them.

    Returns
    -------
    states : Tensor of shape (n_timesteps, n_trials, n_units) or None
        Time-major.
    rates : Tensor of shape (n_timesteps, n_trials, n_units), only if ``return_rates``.
    """
    tensors = (x0, drive, left) if right is None else (x0, drive, left, right)
    want_states = return_states or not return_rates  # without the rates, the states are the result
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        states, rates = _Recurrence.apply(x0, drive, left, right, decay, want_states)
    else:
        states, rates, _ = _forward_loop(x0, drive, left, right, decay, keep=return_rates, want_states=want_states)
        rates = rates[1:] if return_rates else None
    return (states, rates) if return_rates else states
