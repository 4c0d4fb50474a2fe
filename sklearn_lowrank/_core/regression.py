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


def _cholesky(gram: torch.Tensor, ridge: float) -> torch.Tensor:
    """Cholesky factor of gram + ridge * mean(diag) I."""
    p = gram.shape[0]
    lam = ridge * float(torch.diagonal(gram).mean().clamp_min(1e-12)) if p else 0.0
    return torch.linalg.cholesky(gram + lam * torch.eye(p, dtype=gram.dtype, device=gram.device))


def _solve(gram: torch.Tensor, rhs: torch.Tensor, ridge: float) -> torch.Tensor:
    """(gram + ridge * mean(diag) I)^{-1} rhs."""
    if gram.shape[0] == 0:
        return rhs.new_zeros((0, rhs.shape[1]))
    return torch.cholesky_solve(rhs, _cholesky(gram, ridge))


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
    fill_max_iter: int = 10,
    fill_tol: float = 1e-3,
    max_regressors: int | None = 512,
    samples_per_regressor: int | None = 64,
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
    fill_max_iter : int, default=10
        Maximum conjugate-gradient iterations of the missing-target fill (per active-set round).
    fill_tol : float, default=1e-3
        Relative residual at which the conjugate gradients stop.
    max_regressors : int or None, default=512
        With more observed units than this, regress on this many principal components of the rates (computed
        on a deterministic subsample of time points) instead of on every unit's rate. None: never.
    samples_per_regressor : int or None, default=64
        Use every k-th trial so that there are at most about this many samples (time steps) per regressor; the
        regression needs enough samples, not all of them (BPTT then uses every trial). None: all trials.

    Returns
    -------
    dict with float64 tensors ``m``, ``n`` (n_features, rank) or ``J`` (n_features, n_features),
    ``input_weights`` (n_inputs, n_features) and ``initial_state`` (n_features,). With a single time step there
    is no transition to regress and only the last two are returned.
    """
    # Bulk arrays stay in the data's dtype (float32: this is memory-bound work on n_samples x n_features arrays);
    # Gram matrices and solves are float64. Full-size temporaries are few and freed as soon as a step is done with
    # them (``del``): this runs on whole recordings.
    dt = torch.float64
    inputs, targets, mask = _subsample_trials(inputs, targets, mask, max_regressors, samples_per_regressor)
    u = inputs.to(targets.dtype)
    rates, states, saturated, usable = _observed_states(targets, mask, output_activation, saturation)
    n_trials, n_steps, n_feat = targets.shape
    n_in = u.shape[-1]
    if n_steps < 2:
        return _single_step_init(states.to(dt), u.to(dt), usable, alpha, ridge)
    initial_state = torch.where(usable[:, 0], states[:, 0], torch.nan).to(dt).nanmean(dim=0)
    # Samples t = 1..T-1 of every trial, flattened.
    z_raw = torch.sub(states[:, 1:], states[:, :-1], alpha=1.0 - alpha).div_(alpha).reshape(-1, n_feat)
    del states
    missing = (usable[:, 1:] & usable[:, :-1]).logical_not_().reshape(-1, n_feat)
    del usable
    gaps = _missing_entries(missing, z_raw, rates, saturated)
    del saturated
    # Large networks: regress on the top principal components of the rates (the part of J that the activity
    # can reveal lives there), which keeps the cost quadratic, not cubic, in the number of units.
    basis = None
    if max_regressors is not None and n_feat > max_regressors:
        phi = torch.clamp(rates[:, :-1].reshape(z_raw.shape[0], n_feat), -1.0, 1.0)
        del rates
        basis = _principal_axes(phi, max_regressors)
        a = _regressors(phi, u, basis.shape[1], lambda out: torch.matmul(phi, basis, out=out))
        del phi
    else:
        a = _regressors(z_raw, u, n_feat, lambda out: out.view(n_trials, n_steps - 1, n_feat).copy_(rates[:, :-1]))
        del rates
        if output_activation == "tanh":
            a[:, :n_feat].clamp_(-1.0, 1.0)  # rates slightly beyond +/-1 (noisy recordings) act as +/-1
    gram = (a.T @ a).to(dt)
    z = z_raw.masked_fill_(missing, 0.0)
    del missing
    atz = (a.T @ z).to(dt)
    del z, z_raw
    if gaps is not None:
        atz = _fill_missing(a, *gaps, atz, _cholesky(gram, ridge), fill_max_iter, fill_tol)
    del a
    out, j_t, uu_chol = _connectivity(gram, atz, gram.shape[0] - n_in, basis, rank, n_units, ridge)
    # Input weights given the constrained J: regress what J does not explain on the inputs.
    if n_in:
        n_reg = gram.shape[0] - n_in
        j_reg = j_t if basis is None else basis.to(dt).T @ j_t  # J^T in regressor coordinates
        out["input_weights"] = torch.cholesky_solve(atz[n_reg:] - gram[:n_reg, n_reg:].T @ j_reg, uu_chol)
    else:
        out["input_weights"] = gram.new_zeros((0, n_feat))
    out["initial_state"] = torch.nan_to_num(initial_state, nan=0.0)
    return out


# ---------------------------------------------------------------------------------------------------------------
# The steps of the regression
# ---------------------------------------------------------------------------------------------------------------


def _subsample_trials(inputs, targets, mask, max_regressors, samples_per_regressor):
    """Every k-th trial, so that there are at most about ``samples_per_regressor`` samples per regressor.

    The regression needs enough samples, not all of them; every k-th trial keeps the time structure.
    """
    if samples_per_regressor is None:
        return inputs, targets, mask
    n_regressors = (targets.shape[-1] if max_regressors is None else min(targets.shape[-1], max_regressors)) \
        + inputs.shape[-1]
    n_samples = targets.shape[0] * max(targets.shape[1] - 1, 1)
    stride = max(1, -(-n_samples // (samples_per_regressor * n_regressors)))
    if stride > 1:
        targets, inputs = targets[::stride], inputs[::stride]
        mask = None if mask is None else mask[::stride]
    return inputs, targets, mask


def _observed_states(y, mask, output_activation, saturation):
    """The rates, the states s = g^{-1}(y), where |rate| > saturation, and where the state is usable.

    ``rates`` are the observed targets (zero where not); ``saturated`` (bool, tanh only, else None): |rate| >
    saturation, where the state is only known to lie beyond +/- atanh(saturation) with the sign of the rate;
    ``usable``: observed and not saturated.
    """
    # All finite (the usual case) is checked by one reduction: a finite sum implies finite entries.
    all_finite = bool(torch.isfinite(y.sum()))
    observed = None if all_finite else torch.isfinite(y)
    if mask is not None:
        observed = mask.clone() if observed is None else observed.logical_and_(mask)
    all_observed = observed is None or bool(observed.all())
    rates = y if all_observed else torch.where(observed, y, 0.0)
    if output_activation == "tanh":
        saturated = rates.abs() > saturation
        states = rates.clamp(-saturation, saturation).atanh_()
        usable = saturated.logical_not()
        if not all_observed:
            usable &= observed
    else:
        states = rates
        rates = torch.tanh(states)
        saturated = None
        usable = torch.ones_like(y, dtype=torch.bool) if all_observed else observed
    return rates, states, saturated, usable


def _missing_entries(missing, z_raw, rates, saturated):
    """(lower, upper, guess, rows, cols) of the missing targets, grouped by unit; None when none is missing.

    The bounds come from the censoring of saturated rates (unbounded without a tanh output); the fill starts from
    the clipped values where a bound is known (closer than zero), else from zero.
    """
    rows, cols = torch.nonzero(missing, as_tuple=True)
    if not rows.numel():
        return None
    order = torch.argsort(cols, stable=True)  # grouped by unit
    rows, cols = rows[order], cols[order]
    if saturated is not None:
        lower, upper = _censoring_bounds(z_raw, rates, saturated, rows, cols)
        guess = torch.where(torch.isfinite(lower) | torch.isfinite(upper), z_raw[rows, cols], 0.0)
    else:
        lower = torch.full((rows.numel(),), -float("inf"), dtype=z_raw.dtype, device=z_raw.device)
        upper = -lower
        guess = torch.zeros_like(lower)
    return lower, upper, guess, rows, cols


def _regressors(like, u, n_reg, write_recurrent):
    """The regressors a = [phi(s_{t-1}), u_t] of shape (S, n_reg + n_in), written in place (no intermediate copy).

    ``write_recurrent(out)`` writes the recurrent block into ``out`` (S, n_reg); the inputs u_t (t = 1..T-1) fill
    the rest.
    """
    n_trials, n_steps, n_in = u.shape
    a = like.new_empty((n_trials * (n_steps - 1), n_reg + n_in))
    write_recurrent(a[:, :n_reg])
    a[:, n_reg:].view(n_trials, n_steps - 1, n_in).copy_(u[:, 1:])
    return a


def _connectivity(gram, atz, n_reg, basis, rank, n_units, ridge):
    """J (or its rank-R factors m, n) from the normal equations, with the inputs partialled out.

    Returns the dict of ``J`` or ``m``, ``n``; J^T in unit coordinates; and the Cholesky factor of the inputs'
    Gram block (None without inputs), reused for the input weights.
    """
    dt = torch.float64
    g_pp, g_pu, g_uu = gram[:n_reg, :n_reg], gram[:n_reg, n_reg:], gram[n_reg:, n_reg:]
    atz_p, atz_u = atz[:n_reg], atz[n_reg:]
    uu_chol = None
    if g_uu.shape[0]:
        # Frisch-Waugh: partial the inputs out of the regressors and the targets.
        uu_chol = _cholesky(g_uu, ridge)  # factorised once: also used for the input weights
        uu_inv_gup = torch.cholesky_solve(g_pu.T, uu_chol)
        g_res = g_pp - g_pu @ uu_inv_gup
        atz_res = atz_p - uu_inv_gup.T @ atz_u
    else:
        g_res, atz_res = g_pp, atz_p
    g_chol = _cholesky(g_res, ridge)
    b_j = torch.cholesky_solve(atz_res, g_chol)  # J^T in regressor coordinates, (n_reg, F)
    if rank is None:
        j_t = b_j if basis is None else basis.to(dt) @ b_j
        return {"J": j_t.T.contiguous()}, j_t, uu_chol
    m, n, j_t = _reduced_rank(g_chol, b_j, basis, rank, n_units)
    return {"m": m, "n": n}, j_t, uu_chol


def _reduced_rank(g_chol, b_j, basis, rank, n_units):
    """m, n (F, rank) and J^T = b v v^T of reduced-rank regression, with J = m n^T / n_units.

    The top-r right singular vectors of L^T B (G_res = L L^T) are the top-r principal directions of the fitted
    values Phi_res B; columns beyond the number of features are zero.
    """
    n_feat = b_j.shape[1]
    r = min(rank, n_feat)
    fitted = g_chol.T @ b_j
    _, eigvecs = torch.linalg.eigh(fitted.T @ fitted)  # ascending; half the cost of the SVD of L^T B
    v = eigvecs[:, -r:].flip(1)  # top-r output directions, (F, r)
    bv = b_j @ v  # (n_reg, r)
    if basis is not None:
        bv = basis.to(torch.float64) @ bv  # back to unit coordinates, (F, r)
    b = (n_units * bv.norm(dim=0)).clamp_min(1e-12)
    m = v * b.sqrt()
    n = n_units * bv / b.sqrt()
    if r < rank:
        pad = rank - r
        m = torch.cat([m, m.new_zeros((n_feat, pad))], dim=1)
        n = torch.cat([n, n.new_zeros((n_feat, pad))], dim=1)
    return m, n, bv @ v.T


def _single_step_init(states, u, usable, alpha, ridge) -> dict:
    """One step per trial: s_0 = c + alpha W_in^T u_0, so regress s_0 on [1, u_0] per unit (observed trials)."""
    s0, u0, w = states[:, 0], u[:, 0], usable[:, 0].to(states.dtype)
    design = torch.cat([u0.new_ones((u0.shape[0], 1)), u0], dim=1)
    coef = torch.stack([_solve(design.T @ (design * w[:, i:i + 1]), design.T @ (s0[:, i] * w[:, i])[:, None],
                               ridge)[:, 0] for i in range(s0.shape[1])], dim=1)
    return {"input_weights": coef[1:] / alpha, "initial_state": coef[0]}


def _censoring_bounds(z, rates, saturated, rows, cols):
    """Bounds on the missing targets z = (s_t - (1 - alpha) s_{t-1}) / alpha implied by saturated rates.

    A state saturated at +c (c = atanh(saturation), which the clipped states hold) is >= c, at -c it is <= -c.
    When only s_t is saturated, z >= (c - (1 - alpha) s_{t-1}) / alpha (or <=); when only s_{t-1} is, the bound
    flips. With both saturated or a NaN involved, the entry is unbounded. ``rows`` index the flattened samples
    (trial, t = 1..T-1); ``rates`` and ``saturated`` are (n_trials, n_timesteps, F). Only the missing entries are
    looked up: no full-size sign tensor.
    """
    per_trial = rates.shape[1] - 1
    trial, step = torch.div(rows, per_trial, rounding_mode="floor"), rows % per_trial + 1
    sig_t = torch.sign(rates[trial, step, cols]) * saturated[trial, step, cols]
    sig_p = torch.sign(rates[trial, step - 1, cols]) * saturated[trial, step - 1, cols]
    zb = z[rows, cols]  # with clipped states: exactly the bound value where one of the two is saturated
    inf = torch.full_like(zb, float("inf"))
    only_t = (sig_t != 0) & (sig_p == 0)
    only_p = (sig_p != 0) & (sig_t == 0)
    lower = torch.where(only_t & (sig_t > 0), zb, -inf)
    lower = torch.where(only_p & (sig_p < 0), zb, lower)
    upper = torch.where(only_t & (sig_t < 0), zb, inf)
    upper = torch.where(only_p & (sig_p > 0), zb, upper)
    return lower, upper


def _fill_missing(a, lower, upper, guess, rows, cols, atz, chol, max_iter, tol):
    """A^T Z with the missing targets filled by the regression on the others, within their censoring bounds.

    For each unit k with missing targets the fixed point of "fill the missing targets with the fit" is the least
    squares fit on the observed targets alone: ``(G - A_Mk^T A_Mk) c_k = A^T z_k``. It is solved for all such units
    at once by conjugate gradients preconditioned with the Cholesky factor of G (the plain fill-and-refit
    iteration is Richardson's iteration on the same system and needs many more passes). Missing targets whose fit
    leaves their censoring interval are then fixed at the bound (an active set, a few rounds).

    The work is dominated by passes over the gathered rows A_M (memory-bound): the fitted values A_Mk c_k are
    tracked through the iterations rather than recomputed, so that each conjugate-gradient step costs one pass
    each way and each active-set round one more.
    """
    dt = chol.dtype
    units, counts = torch.unique_consecutive(cols, return_counts=True)
    bounds = [0, *torch.cumsum(counts, 0).tolist()]
    segments = [(k, a[rows[b0:b1]], b0, b1) for k, (b0, b1) in enumerate(zip(bounds[:-1], bounds[1:]))]
    g_reg = chol @ chol.T  # G + ridge I, the matrix the Cholesky factor stands for

    def a_t_entries(values):  # (P, K[, c]): for each unit, A_Mk^T values_k (c columns of values in one pass)
        # As (values_k^T A_Mk)^T: MKL takes about five times as long for A_Mk^T @ values_k with two columns.
        return torch.stack([(values[b0:b1].transpose(0, -1) @ a_k).transpose(0, -1)
                            for _, a_k, b0, b1 in segments], dim=1).to(dt)

    def a_entries(coef):  # fitted values at the missing entries
        coef_f = coef.to(a.dtype)
        return torch.cat([a_k @ coef_f[:, k] for k, a_k, _, _ in segments])

    atz_k = atz[:, units]
    entry_unit = torch.repeat_interleave(torch.arange(len(segments), device=a.device), counts)
    free = torch.ones(rows.numel(), dtype=torch.bool, device=a.device)
    fixed_values = torch.zeros(rows.numel(), dtype=a.dtype, device=a.device)  # zero wherever ``free``
    # Initial guess: the regression with the missing targets at ``guess`` (the solution does not depend on it).
    coef = torch.cholesky_solve(atz_k + a_t_entries(guess), chol)
    fit = a_entries(coef)
    for _ in range(3):
        # H c = b with H = G - A_M^T diag(free) A_M and b = A^T z + A_M^T (fixed values): b and the residual
        # b - H c in one pass, given the tracked fit.
        both = a_t_entries(torch.stack([torch.where(free, fit, fixed_values), fixed_values], dim=1))
        b = atz_k + both[..., 1]
        residual = atz_k - g_reg @ coef + both[..., 0]
        coef, fit = _pcg(g_reg, a_entries, a_t_entries, free.to(a.dtype), entry_unit, b.norm(dim=0), residual, coef,
                         fit, chol, max_iter, tol)
        violated = free & ((fit < lower) | (fit > upper))
        if not bool(violated.any()):
            break
        fixed_values = torch.where(violated, torch.clamp(fit, lower, upper), fixed_values)
        free = free & ~violated
    atz = atz.clone()
    atz[:, units] += a_t_entries(torch.where(free, fit, fixed_values))
    return atz


def _pcg(g_reg, a_entries, a_t_entries, free_f, entry_unit, b_norm, r, x, ax, chol, max_iter, tol):
    """Column-wise preconditioned conjugate gradients for H x = b, H = g_reg - A_M^T diag(free) A_M (SPD).

    Starts from ``x`` with residual ``r = b - H x`` (``b_norm``: the column norms of b); ``ax`` (the fitted
    values A_M x at the missing entries, entry i belonging to column ``entry_unit[i]``) is kept up to date and
    returned with the solution.
    """
    zv = torch.cholesky_solve(r, chol)
    p = zv.clone()
    rz = (r * zv).sum(0)
    b_norm = b_norm.clamp_min(1e-30)
    for _ in range(max_iter):
        active = r.norm(dim=0) > tol * b_norm
        if not bool(active.any()):
            break
        ap = a_entries(p)
        hp = g_reg @ p - a_t_entries(ap * free_f)
        curvature = (p * hp).sum(0)
        # Converged columns take no step (their rz may be 0: avoid 0 / 0).
        step = torch.where(active, rz / torch.where(active, curvature, 1.0), 0.0)
        x = x + step * p
        ax = ax + step.to(ax.dtype)[entry_unit] * ap
        r = r - step * hp
        zv = torch.cholesky_solve(r, chol)
        rz_new = (r * zv).sum(0)
        beta = torch.where(active, rz_new / torch.where(active, rz, 1.0), 0.0)
        p = zv + beta * p
        rz = rz_new
    return x, ax


def _principal_axes(phi: torch.Tensor, k: int, max_samples: int = 8192, n_power_iter: int = 2) -> torch.Tensor:
    """Top-k principal axes (uncentred) of the rows of ``phi`` (n_samples, F), shape (F, k), orthonormal.

    A randomised range finder (Halko et al. 2011) with a fixed-seed local generator, on every ``stride``-th
    sample (at most ``max_samples``): deterministic, and an initialisation needs the dominant subspace, not its
    last digits.
    """
    stride = max(1, phi.shape[0] // max_samples)
    sub = phi[::stride]
    gen = torch.Generator(device=phi.device).manual_seed(0)
    omega = torch.randn(phi.shape[1], min(k + 16, phi.shape[1]), generator=gen, device=phi.device, dtype=phi.dtype)
    q, _ = torch.linalg.qr(sub @ omega)
    for _ in range(n_power_iter):
        q, _ = torch.linalg.qr(sub.T @ q)
        q, _ = torch.linalg.qr(sub @ q)
    _, _, vh = torch.linalg.svd((q.T @ sub).to(torch.float64), full_matrices=False)
    return vh[:k].T.to(phi.dtype).contiguous()
