r"""Mean-field latent dynamics of Gaussian-mixture low-rank networks.

For a network sampled from a :class:`~sklearn_lowrank.GaussianMixtureRNN` and started from x_0 = 0, the state
stays in the span of the connectivity and input loadings, :math:`x_t = \sum_s m_s \kappa_s(t) + \sum_k I_k v_k(t)`,
where v is the input filtered by the network's time constant (:math:`v_{t+1} = (1-\alpha) v_t + \alpha u_t`; v = u
for constant inputs). As N grows the recurrent drive :math:`\frac1N \sum_i n_{ir} \phi(x_i)` concentrates on its
population average, and the latents follow

.. math::

    \frac{d\kappa_r}{dt} = -\kappa_r + \sum_p \pi_p \langle n_r \phi(x) \rangle_p
        = -\kappa_r + \sum_s \tilde\sigma_{n_r m_s} \kappa_s + \sum_k \tilde\sigma_{n_r I_k} v_k + b_r

with, by Stein's lemma for the Gaussian pair (n_r, x) within population p,
:math:`\langle n_r \phi(x)\rangle_p = \mu^p_{n_r}\langle\phi\rangle_p + \mathrm{Cov}_p(n_r, x)\langle\phi'\rangle_p`:

.. math::

    \tilde\sigma_{ab} = \sum_p \pi_p \sigma^p_{ab} \langle\phi'\rangle_p, \qquad
    b_r = \sum_p \pi_p \mu^p_{n_r} \langle\phi\rangle_p, \qquad
    \langle f \rangle_p = \mathbb{E}_z[f(\mu^p_x + \sqrt{\Delta_p} z)],

    \mu^p_x = \sum_s \mu^p_{m_s}\kappa_s + \sum_k \mu^p_{I_k} v_k, \qquad
    \Delta_p = a^T \Sigma^p_{xx} a, \quad a = (\kappa, v),

where :math:`\Sigma^p_{xx}` is the covariance of (m, I) in population p (cross-covariances between m and I
included). With zero means this is the reduction of DESIGN.md section 2; the means add the drive b_r and shift the
operating point :math:`\mu^p_x` of each population.

The Gaussian averages are computed by Gauss-Legendre quadrature in x over the window where both the Gaussian and
tanh vary, with the tails in closed form. Gauss-Hermite quadrature in z (DESIGN.md) converges slowly once
:math:`\Delta_p \gg 1`, which is exactly the regime of input-gated populations: phi' is then a narrow bump on the
scale of the Gaussian, and 40 Gauss-Hermite nodes give :math:`\langle\phi'\rangle = 0.011` instead of 0.079 at
:math:`\mu = 0, \Delta = 100` (200 nodes: 0.063). The window rule is accurate to about 1e-6 at any mean and
variance with 100 nodes. The equations are discretised with the network's own ``alpha``,
:math:`\kappa_{t+1} = (1-\alpha)\kappa_t + \alpha F(\kappa_t, v_t)`, so that trajectories compare step by step
with simulations (``kappa[:, t]`` answers to ``X[:, t]`` as in ``predict``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ndtr
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from ._core.network import simulate
from ._utils import _seed_from
from ._validation import check_trials_X

__all__ = ["effective_couplings", "mean_field_trajectories", "mean_field_flow", "simulate_latents"]

#: Quadrature nodes used by default for the Gaussian averages (error below 1e-5 for any mean and variance).
DEFAULT_QUADRATURE = 100
_WINDOW_SD = 8.0      # the Gaussian beyond 8 sd carries < 1e-15 of the mass
_SATURATION = 20.0    # 1 - tanh(20)^2 < 1e-17
_TINY_SD = 1e-12


# --------------------------------------------------------------------------------------------------------------
# Mixture parameters in the layout of the loadings
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Mixture:
    """The fitted mixture split into the blocks the mean-field equations use (float64)."""

    pi: np.ndarray          # (P,)
    mu_x: np.ndarray        # (P, R + K): means of (m, I)
    mu_n: np.ndarray        # (P, R)
    mu_w: np.ndarray        # (P, O)
    cov_xx: np.ndarray      # (P, R + K, R + K)
    cov_nx: np.ndarray      # (P, R, R + K)
    cov_wx: np.ndarray      # (P, O, R + K)
    rank: int
    n_inputs: int
    alpha: float
    output_activation: str
    bias: np.ndarray        # (O,)


def _as_mixture(mixture) -> _Mixture:
    check_is_fitted(mixture, ["means_", "covariances_", "weights_"])
    module = mixture.module_
    R, K = module.rank, module.n_inputs
    means, covs = np.asarray(mixture.means_, float), np.asarray(mixture.covariances_, float)
    x_idx = np.r_[0:R, 2 * R:2 * R + K]
    n_idx = np.arange(R, 2 * R)
    w_idx = np.arange(2 * R + K, means.shape[1])
    return _Mixture(
        pi=np.asarray(mixture.weights_, float),
        mu_x=means[:, x_idx], mu_n=means[:, n_idx], mu_w=means[:, w_idx],
        cov_xx=covs[:, x_idx][:, :, x_idx], cov_nx=covs[:, n_idx][:, :, x_idx], cov_wx=covs[:, w_idx][:, :, x_idx],
        rank=R, n_inputs=K, alpha=float(module.alpha), output_activation=module.output_activation,
        bias=np.asarray(mixture.readout_bias_, float),
    )


def _quadrature(n_points: int):
    if isinstance(n_points, bool) or not isinstance(n_points, int | np.integer) or n_points < 2:
        raise ValueError(f"n_quadrature must be an integer >= 2; got {n_points!r}.")
    return np.polynomial.legendre.leggauss(int(n_points))


def _gaussian_averages(mean: np.ndarray, var: np.ndarray, nodes, weights):
    """<tanh(x)> and <tanh'(x)> for x ~ N(mean, var), elementwise.

    Gauss-Legendre quadrature in x over the window where both the Gaussian (mean +- 8 sd) and tanh (|x| < 20)
    vary; the Gaussian mass beyond the window enters <tanh> in closed form (tanh = +-1 there to 1e-17).
    """
    sd = np.sqrt(np.maximum(var, 0.0))
    lo = np.maximum(mean - _WINDOW_SD * sd, -_SATURATION)
    hi = np.minimum(mean + _WINDOW_SD * sd, _SATURATION)
    half = np.maximum(hi - lo, 0.0) / 2.0
    x = ((hi + lo) / 2.0)[..., None] + half[..., None] * nodes
    safe_sd = np.where(sd > _TINY_SD, sd, 1.0)
    density = np.exp(-0.5 * ((x - mean[..., None]) / safe_sd[..., None]) ** 2) / (np.sqrt(2 * np.pi)
                                                                                  * safe_sd[..., None])
    w = half[..., None] * weights * density
    rates = np.tanh(x)
    phi = (rates * w).sum(-1) + ndtr((mean - hi) / safe_sd) - ndtr((lo - mean) / safe_sd)
    dphi = ((1.0 - rates**2) * w).sum(-1)
    point = sd <= _TINY_SD
    rate_at_mean = np.tanh(mean)
    return np.where(point, rate_at_mean, phi), np.where(point, 1.0 - rate_at_mean**2, dphi)


def _coefficients(mix: _Mixture, kappa, inputs) -> np.ndarray:
    """a = (kappa, v) of shape (..., R + K), with the input part zero when ``inputs`` is None."""
    kappa = np.asarray(kappa, dtype=np.float64)
    if kappa.shape[-1:] != (mix.rank,):
        raise ValueError(f"kappa must have shape (..., rank) = (..., {mix.rank}); got {kappa.shape}.")
    if inputs is None:
        v = np.zeros(kappa.shape[:-1] + (mix.n_inputs,))
    else:
        v = np.asarray(inputs, dtype=np.float64)
        if v.shape[-1:] != (mix.n_inputs,):
            raise ValueError(f"inputs must have shape (..., n_inputs) = (..., {mix.n_inputs}); got {v.shape}.")
        kappa, v = np.broadcast_arrays(kappa[..., :, None], v[..., None, :])
        kappa, v = kappa[..., 0], v[..., 0, :]
    return np.concatenate([kappa, v], axis=-1)


def _population_averages(mix: _Mixture, a: np.ndarray, nodes, weights):
    """Mean input, variance and Gaussian averages <phi>_p, <phi'>_p of each population, shape (..., P)."""
    mean = a @ mix.mu_x.T
    var = np.einsum("...i,pij,...j->...p", a, mix.cov_xx, a)
    phi, dphi = _gaussian_averages(mean, var, nodes, weights)
    return mean, var, phi, dphi


def _drift(mix: _Mixture, a: np.ndarray, nodes, qw) -> np.ndarray:
    """F(kappa, v) = sum_p pi_p <n phi(x)>_p of shape (..., R)."""
    _, _, phi, dphi = _population_averages(mix, a, nodes, qw)
    cov_n = np.einsum("pri,...i->...pr", mix.cov_nx, a)
    return np.einsum("p,...p,pr->...r", mix.pi, phi, mix.mu_n) + np.einsum("p,...p,...pr->...r", mix.pi, dphi,
                                                                          cov_n)


def _readout(mix: _Mixture, a: np.ndarray, nodes, qw) -> np.ndarray:
    """Mean-field output sum_p pi_p <w g(x)>_p + b of shape (..., O)."""
    mean, _, phi, dphi = _population_averages(mix, a, nodes, qw)
    if mix.output_activation == "identity":
        phi, dphi = mean, np.ones_like(mean)
    cov_w = np.einsum("poi,...i->...po", mix.cov_wx, a)
    out = np.einsum("p,...p,po->...o", mix.pi, phi, mix.mu_w) + np.einsum("p,...p,...po->...o", mix.pi, dphi,
                                                                          cov_w)
    return out + mix.bias


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------


def effective_couplings(mixture, kappa, inputs=None, *, n_quadrature=DEFAULT_QUADRATURE):
    r"""Effective couplings :math:`\tilde\sigma(\kappa, v)` of the mean-field latent dynamics.

    Parameters
    ----------
    mixture : GaussianMixtureRNN
        Fitted.
    kappa : array-like of shape (..., rank)
        Latent states.
    inputs : array-like of shape (..., n_inputs), optional
        Input part v of the state (the filtered input; equal to the input u when it is constant). Zero when
        omitted.
    n_quadrature : int, default=100
        Quadrature nodes of the Gaussian averages.

    Returns
    -------
    result : Bunch
        ``sigma_nm`` (..., rank, rank): :math:`\tilde\sigma_{n_r m_s}`; ``sigma_nI`` (..., rank, n_inputs):
        :math:`\tilde\sigma_{n_r I_k}`; ``mean_drive`` (..., rank): :math:`b_r`; ``gain`` (..., n_components):
        :math:`\langle\phi'\rangle_p`; ``mean_rate`` (..., n_components): :math:`\langle\phi\rangle_p`. The
        drift is ``-kappa + sigma_nm @ kappa + sigma_nI @ v + mean_drive``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import GaussianMixtureRNN
    >>> from sklearn_lowrank.meanfield import effective_couplings
    >>> cov = np.eye(4); cov[0, 1] = cov[1, 0] = 0.8    # loadings (m1, n1, I1, w1); sigma_nm = 0.8
    >>> mix = GaussianMixtureRNN.from_parameters(np.zeros((1, 4)), cov[None], rank=1, n_inputs=1)
    >>> c = effective_couplings(mix, kappa=[0.0])
    >>> c.sigma_nm.shape, round(float(c.sigma_nm[0, 0]), 3)    # at kappa = 0, <phi'> = 1
    ((1, 1), 0.8)
    >>> bool(effective_couplings(mix, kappa=[3.0]).sigma_nm[0, 0] < 0.8)   # saturation lowers the gain
    True
    """
    mix = _as_mixture(mixture)
    nodes, qw = _quadrature(n_quadrature)
    a = _coefficients(mix, kappa, inputs)
    _, _, phi, dphi = _population_averages(mix, a, nodes, qw)
    R = mix.rank
    weighted = np.einsum("p,...p->...p", mix.pi, dphi)
    sigma = np.einsum("...p,pri->...ri", weighted, mix.cov_nx)
    return Bunch(
        sigma_nm=sigma[..., :R], sigma_nI=sigma[..., R:],
        mean_drive=np.einsum("p,...p,pr->...r", mix.pi, phi, mix.mu_n), gain=dphi, mean_rate=phi,
    )


def mean_field_trajectories(mixture, X, *, initial_kappa=None, n_quadrature=DEFAULT_QUADRATURE,
                            return_outputs=False):
    r"""Integrate the mean-field latent dynamics for trials of inputs.

    :math:`\kappa_{t+1} = (1-\alpha)\kappa_t + \alpha F(\kappa_t, v_t)`,
    :math:`v_{t+1} = (1-\alpha) v_t + \alpha u_t`, from :math:`\kappa_0` and :math:`v_0 = 0`, with the
    network's ``alpha``: the infinite-N limit of :func:`simulate_latents`.

    Parameters
    ----------
    mixture : GaussianMixtureRNN
        Fitted.
    X : array-like of shape (n_trials, n_timesteps, n_inputs)
        Inputs u.
    initial_kappa : array-like of shape (rank,) or (n_trials, rank), optional
        Zero by default (the networks start from x_0 = 0).
    n_quadrature : int, default=100
        Quadrature nodes of the Gaussian averages.
    return_outputs : bool, default=False
        Also return the mean-field readout :math:`\sum_p \pi_p \langle w\, g(x)\rangle_p + b`.

    Returns
    -------
    kappa : ndarray of shape (n_trials, n_timesteps, rank)
        ``kappa[:, t]`` is the latent state after the update driven by ``X[:, t]``.
    outputs : ndarray of shape (n_trials, n_timesteps, n_outputs)
        Only if ``return_outputs``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import GaussianMixtureRNN
    >>> from sklearn_lowrank.meanfield import mean_field_trajectories
    >>> cov = np.eye(4); cov[1, 2] = cov[2, 1] = 0.5     # n1 correlated with the input loading I1
    >>> mix = GaussianMixtureRNN.from_parameters(np.zeros((1, 4)), cov[None], rank=1, n_inputs=1, alpha=0.5)
    >>> kappa = mean_field_trajectories(mix, np.ones((1, 3, 1)))
    >>> kappa.shape, bool(kappa[0, -1, 0] > 0)
    ((1, 3, 1), True)
    """
    mix = _as_mixture(mixture)
    nodes, qw = _quadrature(n_quadrature)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3 or X.shape[-1] != mix.n_inputs:
        raise ValueError(f"X must have shape (n_trials, n_timesteps, {mix.n_inputs}); got {X.shape}.")
    n_trials, n_steps, _ = X.shape
    kappa = np.zeros((n_trials, mix.rank))
    if initial_kappa is not None:
        k0 = np.asarray(initial_kappa, dtype=np.float64)
        if k0.shape not in ((mix.rank,), (n_trials, mix.rank)):
            raise ValueError(f"initial_kappa must have shape ({mix.rank},) or ({n_trials}, {mix.rank}); "
                             f"got {k0.shape}.")
        kappa = kappa + k0
    v = np.zeros((n_trials, mix.n_inputs))
    alpha = mix.alpha
    kappas = np.empty((n_trials, n_steps, mix.rank))
    outputs = np.empty((n_trials, n_steps, mix.bias.shape[0])) if return_outputs else None
    for t in range(n_steps):
        a = np.concatenate([kappa, v], axis=-1)
        kappa = (1.0 - alpha) * kappa + alpha * _drift(mix, a, nodes, qw)
        v = (1.0 - alpha) * v + alpha * X[:, t]
        kappas[:, t] = kappa
        if return_outputs:
            outputs[:, t] = _readout(mix, np.concatenate([kappa, v], axis=-1), nodes, qw)
    return (kappas, outputs) if return_outputs else kappas


def mean_field_flow(mixture, kappa1, kappa2=None, *, inputs=None, n_quadrature=DEFAULT_QUADRATURE):
    r"""Mean-field flow field :math:`d\kappa/dt = -\kappa + F(\kappa, v)` on a grid (rank 1 or 2).

    Parameters
    ----------
    mixture : GaussianMixtureRNN
        Fitted, of rank 1 or 2.
    kappa1 : array-like of shape (n_points1,)
        Grid values of kappa_1.
    kappa2 : array-like of shape (n_points2,), optional
        Grid values of kappa_2; required for rank 2, not allowed for rank 1.
    inputs : array-like of shape (n_inputs,), optional
        Constant input (taken as the filtered input v, its steady state); zero by default.
    n_quadrature : int, default=100

    Returns
    -------
    velocity : ndarray of shape (n_points1,) for rank 1, (n_points1, n_points2, 2) for rank 2
        ``velocity[i, j]`` is the flow at (kappa1[i], kappa2[j]), in units of kappa per time constant (multiply
        by alpha for the change per step).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import GaussianMixtureRNN
    >>> from sklearn_lowrank.meanfield import mean_field_flow
    >>> cov = np.eye(3); cov[0, 1] = cov[1, 0] = 0.9    # rank 1, no input: (m1, n1, w1)
    >>> cov = 2.0 * cov                                   # sigma_nm = 1.8 > 1: two stable states
    >>> mix = GaussianMixtureRNN.from_parameters(np.zeros((1, 3)), cov[None], rank=1, n_inputs=0)
    >>> grid = np.linspace(-3, 3, 60)
    >>> v = mean_field_flow(mix, grid)
    >>> int(np.sum(np.diff(np.sign(v)) != 0))            # zero crossings: -kappa*, 0, +kappa*
    3
    """
    mix = _as_mixture(mixture)
    if mix.rank not in (1, 2):
        raise ValueError(f"mean_field_flow draws rank 1 or 2 dynamics; this mixture has rank {mix.rank}.")
    k1 = np.asarray(kappa1, dtype=np.float64).ravel()
    if mix.rank == 1:
        if kappa2 is not None:
            raise ValueError("kappa2 is only for rank-2 mixtures; this mixture has rank 1.")
        grid = k1[:, None]
    else:
        if kappa2 is None:
            raise ValueError("kappa2 (the grid of kappa_2) is required for a rank-2 mixture.")
        k2 = np.asarray(kappa2, dtype=np.float64).ravel()
        grid = np.stack(np.meshgrid(k1, k2, indexing="ij"), axis=-1)
    v = np.zeros(mix.n_inputs) if inputs is None else np.asarray(inputs, dtype=np.float64)
    if v.shape != (mix.n_inputs,):
        raise ValueError(f"inputs must have shape ({mix.n_inputs},); got {v.shape}.")
    nodes, qw = _quadrature(n_quadrature)
    a = np.concatenate([grid, np.broadcast_to(v, grid.shape[:-1] + v.shape)], axis=-1)
    velocity = -grid + _drift(mix, a, nodes, qw)
    return velocity[..., 0] if mix.rank == 1 else velocity


def simulate_latents(mixture, X, *, n_units=None, random_state=None):
    r"""Latent trajectories of one network sampled from the mixture, for comparison with the mean field.

    The network (of the loadings as drawn, not the canonical form) is simulated without noise from x_0 = 0 and
    its states are decomposed exactly on the loadings, :math:`x_t = m\kappa(t) + I v(t)` (least squares on the
    columns of [m, I]; exact since the state never leaves their span).

    Parameters
    ----------
    mixture : GaussianMixtureRNN
        Fitted.
    X : array-like of shape (n_trials, n_timesteps, n_inputs)
        Checked as by the mixture's ``predict``.
    n_units : int, optional
        Size of the sampled network; the mixture's ``n_units_`` by default.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    kappa : ndarray of shape (n_trials, n_timesteps, rank)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import GaussianMixtureRNN
    >>> from sklearn_lowrank.meanfield import mean_field_trajectories, simulate_latents
    >>> cov = np.eye(4); cov[1, 2] = cov[2, 1] = 0.5
    >>> mix = GaussianMixtureRNN.from_parameters(np.zeros((1, 4)), cov[None], rank=1, n_inputs=1)
    >>> X = np.ones((2, 20, 1))
    >>> sim = simulate_latents(mix, X, n_units=4096, random_state=0)
    >>> mf = mean_field_trajectories(mix, X)
    >>> bool(np.abs(sim - mf).max() < 0.1 * np.abs(mf).max())
    True
    """
    check_is_fitted(mixture, "module_")
    module = mixture.module_
    n = mixture.n_units_ if n_units is None else n_units
    if not isinstance(n, int | np.integer) or n < module.n_components:
        raise ValueError(f"n_units must be an integer >= n_components={module.n_components}; got {n!r}.")
    X, _ = check_trials_X(mixture, X, reset=False)
    generator = torch.Generator(device=module.means.device).manual_seed(_seed_from(random_state))
    with torch.no_grad():
        loadings, _ = module.sample_loadings(generator, n_units=int(n))
        weights = module.split_loadings(loadings)
        states = simulate(weights, torch.from_numpy(X).to(loadings.device), module.alpha)
        basis = torch.cat([weights.m, weights.input_weights.t()], dim=1).double()
        coef = torch.linalg.lstsq(basis, states.double().reshape(-1, int(n)).t()).solution
    kappa = coef[: module.rank].t().reshape(X.shape[0], X.shape[1], module.rank)
    return kappa.cpu().numpy()
