"""Data-driven initialisation: one-step regression of the observed states, reduced to rank R.

For observed units (identity readout) the states are recovered from the targets by inverting the output
activation, s_t = g^{-1}(y_t) = x_{t+1}, and the dynamics are linear in the unknowns::

    (s_t - (1 - alpha) s_{t-1}) / alpha = J phi(s_{t-1}) + W_in^T u_t + noise

so J and W_in follow from ridge least squares, and the rank-R J from reduced-rank regression (the top-R principal
directions of the recurrent part of the fitted values, after partialling out the inputs).  BPTT then refines.

Targets that cannot be inverted reliably are treated as *missing* rather than clipped: rates with |y| > saturation
(arctanh of a clipped rate, amplified by 1/alpha, would dominate the fit) and NaN entries.  Missing targets are
filled iteratively: the regressors (hence the Gram matrix) do not depend on the targets, so each iteration only
replaces the missing targets by the current fit and updates A^T Z with a sparse product.  A saturated rate is not
missing at random (dropping large targets biases the fit towards small ones), but it is *censored*: the state is
known to lie beyond atanh(saturation) with the sign of the rate.  The fill is therefore clamped to the interval that
this censoring allows (a projected EM, in the spirit of a Tobit model).  Missing *regressors* (NaN rates of a
neuron in a trial) are set to zero, an approximation that the BPTT refinement corrects.

This module imports no scikit-learn.
"""

from __future__ import annotations

import torch

__all__ = ["regression_init"]


def _solve(gram: torch.Tensor, rhs: torch.Tensor, ridge: float) -> torch.Tensor:
    """(gram + ridge * mean(diag) I)^{-1} rhs by Cholesky."""
    p = gram.shape[0]
    if p == 0:
        return rhs.new_zeros((0, rhs.shape[1]))
    lam = ridge * float(torch.diagonal(gram).mean().clamp_min(1e-12))
    chol = torch.linalg.cholesky(gram + lam * torch.eye(p, dtype=gram.dtype, device=gram.device))
    return torch.cholesky_solve(rhs, chol)


def regression_init(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    alpha: float,
    rank: int | None,
    n_units: int,
    output_activation: str,
    ridge: float = 1e-4,
    saturation: float = 0.999,
    n_em_iter: int = 20,
    em_tol: float = 1e-3,
) -> dict:
    """Estimate the observed block of the connectivity, the input weights and the initial state.

    Parameters
    ----------
    inputs : Tensor of shape (n_trials, n_timesteps, n_inputs)
    targets : Tensor of shape (n_trials, n_timesteps, n_features)
        Observed activity of the first ``n_features`` units; any value where ``mask`` is False.
    mask : bool Tensor like ``targets`` or None
    alpha : float
    rank : int or None
        None gives the full (ridge) J.
    n_units : int
        N, the network size that scales J = m n^T / N.
    output_activation : {"identity", "tanh"}
    ridge : float, default=1e-4
        Ridge penalty relative to the mean diagonal of the Gram matrix.
    saturation : float, default=0.999
        With ``output_activation="tanh"``, rates beyond this magnitude are treated as missing targets.
    n_em_iter : int, default=20
        Maximum iterations of the missing-target fill.
    em_tol : float, default=1e-3
        Stop the fill when no filled target moves by more than ``em_tol`` times the standard deviation of the
        targets.

    Returns
    -------
    dict with float64 tensors ``m``, ``n`` (n_features, rank) or ``J`` (n_features, n_features),
    ``input_weights`` (n_inputs, n_features) and ``initial_state`` (n_features,). With a single time step there
    is no transition to regress and only the last two are returned.
    """
    dt = torch.float64
    y = targets.to(dt)
    u = inputs.to(dt)
    observed = torch.ones_like(y, dtype=torch.bool) if mask is None else mask.clone()
    observed &= torch.isfinite(y)
    # sat_sign: +1/-1 where a rate is saturated (the state is only known to lie beyond +/- atanh(saturation)).
    if output_activation == "tanh":
        rates = torch.where(observed, y.clamp(-1.0, 1.0), torch.zeros_like(y))
        sat_sign = torch.where(observed & (rates.abs() > saturation), torch.sign(rates), torch.zeros_like(y))
        states = torch.atanh(rates.clamp(-saturation, saturation))
        usable = observed & (sat_sign == 0)
    else:
        states = torch.where(observed, y, torch.zeros_like(y))
        rates = torch.tanh(states)
        sat_sign = torch.zeros_like(y)
        usable = observed
    n_trials, n_steps, n_feat = y.shape
    n_in = u.shape[-1]
    if n_steps < 2:
        return _single_step_init(states, u, usable, alpha, ridge)

    # Samples t = 1..T-1 of every trial, flattened.
    z = ((states[:, 1:] - (1.0 - alpha) * states[:, :-1]) / alpha).reshape(-1, n_feat)
    phi = rates[:, :-1].reshape(-1, n_feat)
    uu = u[:, 1:].reshape(z.shape[0], n_in)
    missing = ~(usable[:, 1:] & usable[:, :-1]).reshape(-1, n_feat)
    a = torch.cat([phi, uu], dim=1)  # (S, F + n_in)
    gram = a.T @ a
    z_raw = z
    z = torch.where(missing, torch.zeros_like(z), z)
    rows, cols = torch.nonzero(missing, as_tuple=True)

    # EM fill of missing targets on the unconstrained regression (the Gram matrix is fixed).
    atz = a.T @ z
    coef = _solve(gram, atz, ridge)
    if rows.numel():
        # Regressors of the missing entries, gathered once and grouped by unit; float32 halves the memory
        # traffic of this loop, which only has to fill targets to the accuracy that BPTT then refines.
        order = torch.argsort(cols)
        rows, cols = rows[order], cols[order]
        a_miss = a[rows].to(torch.float32)
        lower, upper = _censoring_bounds(z_raw, sat_sign, states, alpha, rows, cols)
        filled = torch.zeros(rows.numel(), dtype=torch.float32, device=z.device)
        scale = float(z.std().clamp_min(1e-12))
        for _ in range(n_em_iter):
            new = torch.clamp((a_miss * coef.T.to(torch.float32)[cols]).sum(dim=1), lower, upper)
            delta = new - filled
            filled = new
            # A^T dZ with dZ sparse: only the missing entries changed.
            dz = a_miss.new_zeros((n_feat, a.shape[1])).index_add_(0, cols, a_miss * delta[:, None])
            atz += dz.T.to(dt)
            coef = _solve(gram, atz, ridge)
            if float(delta.abs().max()) < em_tol * scale:
                break

    g_pp, g_pu, g_uu = gram[:n_feat, :n_feat], gram[:n_feat, n_feat:], gram[n_feat:, n_feat:]
    atz_p, atz_u = atz[:n_feat], atz[n_feat:]
    if n_in:
        # Frisch-Waugh: partial the inputs out of the regressors and the targets.
        uu_inv_gup = _solve(g_uu, g_pu.T, ridge)
        g_res = g_pp - g_pu @ uu_inv_gup
        atz_res = atz_p - uu_inv_gup.T @ atz_u
    else:
        g_res, atz_res = g_pp, atz_p
    b_j = _solve(g_res, atz_res, ridge)  # J^T, (F, F)
    out: dict = {}
    if rank is None:
        j_t = b_j
        out["J"] = j_t.T.contiguous()
    else:
        r = min(rank, n_feat)
        fitted_cov = b_j.T @ g_res @ b_j
        _, evecs = torch.linalg.eigh(fitted_cov)
        v = evecs[:, -r:].flip(-1)  # top-r output directions, (F, r)
        bv = b_j @ v  # (F, r)
        b = (n_units * bv.norm(dim=0)).clamp_min(1e-12)
        m = v * b.sqrt()
        n = n_units * bv / b.sqrt()
        if r < rank:
            pad = rank - r
            m = torch.cat([m, m.new_zeros((n_feat, pad))], dim=1)
            n = torch.cat([n, n.new_zeros((n_feat, pad))], dim=1)
        out["m"], out["n"] = m, n
        j_t = bv @ v.T
    # Input weights given the constrained J: regress what J does not explain on the inputs.
    if n_in:
        out["input_weights"] = _solve(g_uu, atz_u - g_pu.T @ j_t, ridge)
    else:
        out["input_weights"] = y.new_zeros((0, n_feat))
    first = torch.where(observed[:, 0], states[:, 0], torch.nan)
    out["initial_state"] = torch.nan_to_num(first.nanmean(dim=0), nan=0.0)
    return out


def _single_step_init(states, u, usable, alpha, ridge) -> dict:
    """One step per trial: s_0 = c + alpha W_in^T u_0, so regress s_0 on [1, u_0] per unit (observed trials)."""
    s0, u0, w = states[:, 0], u[:, 0], usable[:, 0].to(states.dtype)
    design = torch.cat([u0.new_ones((u0.shape[0], 1)), u0], dim=1)
    coef = torch.stack([_solve(design.T @ (design * w[:, i:i + 1]), design.T @ (s0[:, i] * w[:, i])[:, None],
                               ridge)[:, 0] for i in range(s0.shape[1])], dim=1)
    return {"input_weights": coef[1:] / alpha, "initial_state": coef[0]}


def _censoring_bounds(z, sat_sign, states, alpha, rows, cols):
    """Bounds on the missing targets z = (s_t - (1 - alpha) s_{t-1}) / alpha implied by saturated rates.

    A state saturated at +c (c = atanh(saturation), which ``states`` holds after clipping) is >= c, at -c it is
    <= -c. When only s_t is saturated, z >= (c - (1 - alpha) s_{t-1}) / alpha (or <=); when only s_{t-1} is, the
    bound flips. With both saturated or a NaN involved, the entry is unbounded.
    """
    n_feat = z.shape[1]
    sig_t = sat_sign[:, 1:].reshape(-1, n_feat)[rows, cols]
    sig_p = sat_sign[:, :-1].reshape(-1, n_feat)[rows, cols]
    zb = z[rows, cols]  # with clipped states: exactly the bound value where one of the two is saturated
    inf = torch.full_like(zb, float("inf"))
    only_t = (sig_t != 0) & (sig_p == 0)
    only_p = (sig_p != 0) & (sig_t == 0)
    lower = torch.where(only_t & (sig_t > 0), zb, -inf)
    lower = torch.where(only_p & (sig_p < 0), zb, lower)
    upper = torch.where(only_t & (sig_t < 0), zb, inf)
    upper = torch.where(only_p & (sig_p > 0), zb, upper)
    del states, alpha
    return lower.to(torch.float32), upper.to(torch.float32)
