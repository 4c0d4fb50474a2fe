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


def _forward_loop(x, drive, left, right, decay, keep):
    """Run the steps; with ``keep`` also return every rate and latent product (for the backward and the readout).

    Work is time-major, (n_timesteps, n_trials, n_units), so that every step writes contiguous slices through
    ``out=`` and allocates nothing. With ``keep``, ``rates[t] = tanh(x_t)`` for t = 0..T (T + 1 slices: the last
    one serves the readout of the last step).

    The rates come from the logistic function, tanh(x) = 2 sigmoid(2 x) - 1, which is about three times cheaper
    than tanh on CPUs, and the per-step tanh is most of a step's cost. The loop therefore runs on z = 2 x:
    with s_t = sigmoid(z_t) and c = 1^T L (the column sums of L),

        tanh(x_t) L = s_t (2 L) - c,    z_{t+1} = decay z_t + 2 (drive_t - c R) + (s_t (2 L)) (2 R),

    (full rank: z_{t+1} = decay z_t + 2 (drive_t - c) + s_t (4 L)), and the states x = z / 2, the rates
    2 s - 1 and the latent products are recovered after the loop in one vectorised pass each.
    """
    n_steps, n_trials, n_units = drive.shape
    col_sums = left.sum(0, keepdim=True)  # c, (1, k)
    drive_z = drive.new_empty((n_steps, n_trials, n_units))  # contiguous whatever the layout of drive
    if right is None:
        left_z, right_z = left * 4.0, None
        torch.sub(drive, col_sums, out=drive_z).mul_(2.0)
    else:
        left_z, right_z = left * 2.0, right * 2.0
        torch.sub(drive, col_sums @ right, out=drive_z).mul_(2.0)
    states = drive_z  # overwritten step by step: drive_z[t] is read by the step that writes states[t]
    rates = drive.new_empty((n_steps + 1 if keep else 1, n_trials, n_units))
    latents = None
    if right is not None:
        latents = drive.new_empty((n_steps if keep else 1, n_trials, left.shape[1]))
    z = x * 2.0
    for t in range(n_steps):
        slot = t if keep else 0
        s = torch.sigmoid(z, out=rates[slot])
        if right is None:
            new = states[t].addmm_(s, left_z)
        else:
            new = states[t].addmm_(torch.mm(s, left_z, out=latents[slot]), right_z)
        z = new.add_(z, alpha=decay)
    if keep:
        torch.sigmoid(z, out=rates[n_steps])
        rates.mul_(2.0).sub_(1.0)
        if latents is not None:
            latents.sub_(col_sums)
    else:
        rates = None
    states.mul_(0.5)
    return states, rates, latents


class _Recurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x0, drive, left, right, decay):
        states, rates, latents = _forward_loop(x0, drive, left, right, decay, keep=True)
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
        # tanh'(x_t) = 1 - r_t^2 for every step at once: one vectorised pass instead of one per step.
        deriv = torch.addcmul(rates.new_ones(()).expand_as(rates), rates, rates, value=-1.0)
        if grad_states is None and grad_rates is None:  # pragma: no cover - autograd calls backward with a grad
            grad_states = torch.zeros_like(rates[1:])
        grad_drive = rates.new_empty(rates[1:].shape)
        grad_latents = torch.empty_like(latents) if ctx.has_right else None
        left_t = left.t()
        right_t = right.t() if ctx.has_right else None
        carry = rates.new_zeros((n_trials, n_units))  # dL/dx_{t+1} through the later steps
        for t in range(n_steps - 1, -1, -1):
            # Total dL/dx_{t+1}: through the later steps, from the states, and from the rates tanh(x_{t+1}) that
            # the readout used (chain rule through tanh folded into the step: no full-size temporary).
            if grad_states is None:
                g = torch.addcmul(carry, grad_rates[t], deriv[t + 1], out=grad_drive[t])
            else:
                g = torch.add(carry, grad_states[t], out=grad_drive[t])
                if grad_rates is not None:
                    g.addcmul_(grad_rates[t], deriv[t + 1])
            if ctx.has_right:
                gr = torch.mm(torch.mm(g, right_t, out=grad_latents[t]), left_t)
            else:
                gr = torch.mm(g, left_t)
            # dL/dx_t = decay * g + tanh'(x_t) * dL/dr_t
            carry = gr.mul_(deriv[t]).add_(g, alpha=decay)
        flat_rates = rates[:-1].reshape(-1, n_units)
        flat_grad_drive = grad_drive.reshape(-1, n_units)
        if ctx.has_right:
            k_dim = left.shape[1]
            grad_left = flat_rates.t() @ grad_latents.reshape(-1, k_dim)
            grad_right = latents.reshape(-1, k_dim).t() @ flat_grad_drive
        else:
            grad_left = flat_rates.t() @ flat_grad_drive
            grad_right = None
        return carry, grad_drive, grad_left, grad_right, None


def recurrence(x0: torch.Tensor, drive: torch.Tensor, left: torch.Tensor, right: torch.Tensor | None,
               decay: float, *, return_rates: bool = False):
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

    Returns
    -------
    states : Tensor of shape (n_timesteps, n_trials, n_units)
        Time-major.
    rates : Tensor of shape (n_timesteps, n_trials, n_units), only if ``return_rates``.
    """
    tensors = (x0, drive, left) if right is None else (x0, drive, left, right)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        states, rates = _Recurrence.apply(x0, drive, left, right, decay)
    else:
        states, rates, _ = _forward_loop(x0, drive, left, right, decay, keep=return_rates)
        rates = rates[1:] if return_rates else None
    return (states, rates) if return_rates else states
