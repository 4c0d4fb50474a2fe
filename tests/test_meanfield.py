"""Mean-field reduction of mixture networks: quadrature, Stein's lemma with means, convergence of simulations."""

import numpy as np
import pytest
import torch
from scipy import integrate

from sklearn_lowrank import GaussianMixtureRNN
from sklearn_lowrank.meanfield import (
    _as_mixture,
    _drift,
    _gaussian_averages,
    _quadrature,
    effective_couplings,
    mean_field_flow,
    mean_field_trajectories,
    simulate_latents,
)

# ---------------------------------------------------------------------------------------------------------------
# Mixtures used throughout
# ---------------------------------------------------------------------------------------------------------------


def _rank1_two_populations():
    """Rank 1, two inputs, one output; loadings (m1, n1, I1, I2, w1) with non-zero means.

    Population 1 integrates input 1 and is saturated by input 2 (large I2 variance); population 2 the reverse.
    """
    means = np.array([[0.5, 0.4, 0.3, 0.0, 1.0], [-0.4, 0.3, 0.0, -0.5, -1.0]])
    c1 = np.eye(5)
    c1[0, 1] = c1[1, 0] = 0.9
    c1[1, 2] = c1[2, 1] = 0.6
    c1[3, 3] = 4.0
    c2 = np.eye(5)
    c2[0, 0] = 2.0
    c2[0, 1] = c2[1, 0] = 0.5
    c2[1, 3] = c2[3, 1] = 0.7
    c2[2, 2] = 4.0
    return GaussianMixtureRNN.from_parameters(means, np.stack([c1, c2]), [0.4, 0.6], rank=1, n_inputs=2,
                                              random_state=0)


def _rank2_two_populations():
    """Rank 2, one input, one output; random means and full covariances (loadings m1, m2, n1, n2, I1, w1)."""
    g = np.random.default_rng(3)
    means = 0.4 * g.normal(size=(2, 6))
    covs = []
    for _ in range(2):
        L = np.eye(6) + np.tril(0.5 * g.normal(size=(6, 6)), -1)
        covs.append(L @ L.T)
    return GaussianMixtureRNN.from_parameters(means, np.stack(covs), None, rank=2, n_inputs=1, random_state=0)


def _pulses(n_inputs, n_trials=12, n_timesteps=60, seed=0):
    rng = np.random.default_rng(seed)
    X = np.zeros((n_trials, n_timesteps, n_inputs))
    for i in range(n_trials):
        for k in range(n_inputs):
            a, b = sorted(rng.integers(5, n_timesteps - 5, size=2))
            X[i, a:b + 3, k] = rng.normal(0, 2.0)
    return X.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Gaussian averages
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mean,var", [(0.3, 0.25), (1.0, 9.0), (0.0, 100.0), (2.0, 0.01), (25.0, 1.0),
                                      (-3.0, 1e4), (0.5, 1e-6), (0.5, 0.0)])
def test_gaussian_averages_match_adaptive_integration(mean, var):
    nodes, weights = _quadrature(100)
    phi, dphi = _gaussian_averages(np.array(mean), np.array(var), nodes, weights)
    sd = np.sqrt(var)
    if sd == 0:
        expected = np.tanh(mean), 1 - np.tanh(mean) ** 2
    else:
        pdf = lambda x: np.exp(-0.5 * ((x - mean) / sd) ** 2) / (np.sqrt(2 * np.pi) * sd)  # noqa: E731
        lo, hi = mean - 12 * sd, mean + 12 * sd
        pts = [0.0] if lo < 0 < hi else None
        expected = (integrate.quad(lambda x: np.tanh(x) * pdf(x), lo, hi, points=pts, limit=500)[0],
                    integrate.quad(lambda x: (1 - np.tanh(x) ** 2) * pdf(x), lo, hi, points=pts, limit=500)[0])
    assert phi == pytest.approx(expected[0], abs=1e-5)
    assert dphi == pytest.approx(expected[1], abs=1e-5)


def test_gauss_hermite_would_fail_for_wide_populations():
    # The reason for the windowed rule: 40 Gauss-Hermite nodes are far off once Delta >> 1.
    z, w = np.polynomial.hermite_e.hermegauss(40)
    gh = (1 - np.tanh(10.0 * z) ** 2) @ (w / w.sum())
    nodes, weights = _quadrature(100)
    _, ours = _gaussian_averages(np.array(0.0), np.array(100.0), nodes, weights)
    assert abs(gh - 0.07946) > 0.05
    assert ours == pytest.approx(0.07946, abs=1e-4)


# ---------------------------------------------------------------------------------------------------------------
# The drift: Stein's lemma with non-zero means
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [_rank1_two_populations, _rank2_two_populations])
def test_drift_matches_monte_carlo_population_average(make):
    mix = make()
    module = mix.module_
    R, K = module.rank, module.n_inputs
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        loadings, _ = module.sample_loadings(gen, n_units=400_000)
    V = loadings.double().numpy()
    m, n, inp = V[:, :R], V[:, R:2 * R], V[:, 2 * R:2 * R + K]
    rng = np.random.default_rng(1)
    kappa, v = rng.normal(0, 1.5, size=R), rng.normal(0, 1.0, size=K)
    direct = n.T @ np.tanh(m @ kappa + inp @ v) / V.shape[0]
    nodes, weights = _quadrature(100)
    mf = _drift(_as_mixture(mix), np.concatenate([kappa, v]), nodes, weights)
    np.testing.assert_allclose(mf, direct, atol=0.02)
    # the mean terms matter: the zero-mean formula of DESIGN.md section 2 misses them
    assert np.abs(mix.means_).max() > 0.2


def test_effective_couplings_reassemble_the_drift():
    mix = _rank1_two_populations()
    kappa = np.array([[0.3], [-1.2], [2.0]])
    v = np.array([[0.5, -0.2], [1.0, 0.0], [0.0, 2.0]])
    c = effective_couplings(mix, kappa, v)
    assert c.sigma_nm.shape == (3, 1, 1) and c.sigma_nI.shape == (3, 1, 2) and c.gain.shape == (3, 2)
    nodes, weights = _quadrature(100)
    drift = _drift(_as_mixture(mix), np.concatenate([kappa, v], axis=1), nodes, weights)
    rebuilt = (c.sigma_nm @ kappa[..., None])[..., 0] + (c.sigma_nI @ v[..., None])[..., 0] + c.mean_drive
    np.testing.assert_allclose(rebuilt, drift, atol=1e-12)
    # an input with a large loading variance in a population lowers that population's gain
    gain_off = effective_couplings(mix, [0.0], [0.0, 0.0]).gain
    gain_on = effective_couplings(mix, [0.0], [0.0, 2.0]).gain
    assert gain_on[0] < 0.5 * gain_off[0]


def test_zero_mean_single_population_reduces_to_design_formula():
    # DESIGN.md section 2: sigma~ = sigma_nm <phi'(sqrt(Delta) z)>, Delta = sigma_m^2 kappa^2 + sigma_I^2 u^2
    cov = np.diag([1.5, 1.0, 0.7, 1.0])
    cov[0, 1] = cov[1, 0] = 0.8
    mix = GaussianMixtureRNN.from_parameters(np.zeros((1, 4)), cov[None], rank=1, n_inputs=1)
    kappa, u = 0.9, 1.3
    delta = 1.5 * kappa**2 + 0.7 * u**2
    z, w = np.polynomial.hermite_e.hermegauss(80)
    gain = (1 - np.tanh(np.sqrt(delta) * z) ** 2) @ (w / w.sum())
    c = effective_couplings(mix, [kappa], [u])
    assert c.sigma_nm[0, 0] == pytest.approx(0.8 * gain, rel=1e-5)  # float32-stored covariances
    assert c.mean_drive[0] == 0.0


# ---------------------------------------------------------------------------------------------------------------
# Trajectories, flow, simulations
# ---------------------------------------------------------------------------------------------------------------


def test_simulate_latents_decomposes_states_exactly():
    mix = _rank2_two_populations()
    X = _pulses(1, n_trials=3, n_timesteps=20)
    kappa = simulate_latents(mix, X, n_units=300, random_state=0)
    assert kappa.shape == (3, 20, 2)
    # the latents obey the exact discrete recursion kappa_{t+1} = (1 - a) kappa_t + a n^T phi(x_t) / N
    module = mix.module_
    gen = torch.Generator().manual_seed(_seed(0))
    with torch.no_grad():
        loadings, _ = module.sample_loadings(gen, n_units=300)
    V = loadings.double().numpy()
    m, n, inp = V[:, :2], V[:, 2:4], V[:, 4:5]
    a = module.alpha
    k, v = np.zeros((3, 2)), np.zeros((3, 1))
    for t in range(20):
        x = k @ m.T + v @ inp.T
        k = (1 - a) * k + a * np.tanh(x) @ n / 300
        v = (1 - a) * v + a * X[:, t]
        np.testing.assert_allclose(kappa[:, t], k, atol=2e-4)


def _seed(random_state):
    from sklearn_lowrank._utils import _seed_from

    return _seed_from(random_state)


@pytest.mark.parametrize("make", [_rank1_two_populations, _rank2_two_populations])
def test_sampled_networks_approach_mean_field_as_n_grows(make):
    """Acceptance: the error shrinks over N = 512, 2048, 8192 and R^2 >= 0.95 at the largest N.

    Finite-size errors are heavy-tailed across draws (a slow mode amplifies an unlucky draw), so the median over
    12 sampled networks per N is compared. Measured medians (RMSE): rank 1: 0.026, 0.013, 0.0046; rank 2: 0.021,
    0.0077, 0.0051.
    """
    mix = make()
    X = _pulses(mix.n_features_in_)
    mf = mean_field_trajectories(mix, X)
    sst = ((mf - mf.mean(axis=(0, 1))) ** 2).sum()
    assert np.sqrt(sst / mf.size) > 0.05  # the dynamics are not trivial
    rmse, r2 = [], []
    for n_units in (512, 2048, 8192):
        sse = np.array([((simulate_latents(mix, X, n_units=n_units, random_state=s) - mf) ** 2).sum()
                        for s in range(12)])
        rmse.append(np.median(np.sqrt(sse / mf.size)))
        r2.append(np.median(1 - sse / sst))
    assert rmse[0] > rmse[1] > rmse[2]
    assert rmse[2] < 0.5 * rmse[0]
    assert r2[2] >= 0.95


def test_mean_field_outputs_match_large_sampled_network():
    mix = _rank1_two_populations()
    X = _pulses(2, n_trials=6)
    _, out = mean_field_trajectories(mix, X, return_outputs=True)
    net = mix.sample_network(n_units=8192, random_state=0)
    np.testing.assert_allclose(net.predict(X), out, atol=0.05)


def test_discretisation_uses_the_network_alpha():
    mix = _rank2_two_populations()
    k0 = np.array([0.7, -0.4])
    kappa = mean_field_trajectories(mix, np.zeros((1, 1, 1)), initial_kappa=k0)
    flow = mean_field_flow(mix, [k0[0]], [k0[1]])
    np.testing.assert_allclose(kappa[0, 0], k0 + mix.alpha * flow[0, 0], atol=1e-12)


def test_flow_shapes_and_fixed_points():
    cov = 2.0 * np.eye(3)
    cov[0, 1] = cov[1, 0] = 1.8  # sigma_nm = 1.8: bistable
    mix = GaussianMixtureRNN.from_parameters(np.zeros((1, 3)), cov[None], rank=1, n_inputs=0)
    grid = np.linspace(-4, 4, 80)
    v = mean_field_flow(mix, grid)
    assert v.shape == (80,)
    np.testing.assert_allclose(v, -v[::-1], atol=1e-10)  # odd
    assert v[-1] < 0 < v[45]
    mix2 = _rank2_two_populations()
    v2 = mean_field_flow(mix2, np.linspace(-1, 1, 5), np.linspace(-2, 2, 7), inputs=[0.5])
    assert v2.shape == (5, 7, 2) and np.isfinite(v2).all()


def test_errors_name_the_argument():
    mix1 = _rank1_two_populations()
    mix2 = _rank2_two_populations()
    with pytest.raises(ValueError, match="kappa2"):
        mean_field_flow(mix1, [0.0], [0.0])
    with pytest.raises(ValueError, match="kappa2"):
        mean_field_flow(mix2, [0.0])
    with pytest.raises(ValueError, match="inputs"):
        mean_field_flow(mix1, [0.0], inputs=[1.0])
    with pytest.raises(ValueError, match="X must have shape"):
        mean_field_trajectories(mix1, np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match="initial_kappa"):
        mean_field_trajectories(mix1, np.zeros((2, 3, 2)), initial_kappa=[0.0, 1.0])
    with pytest.raises(ValueError, match="n_quadrature"):
        effective_couplings(mix1, [0.0], n_quadrature=1)
    with pytest.raises(ValueError, match="kappa"):
        effective_couplings(mix1, [0.0, 1.0])
    with pytest.raises(ValueError, match="n_units"):
        simulate_latents(mix1, np.zeros((1, 3, 2)), n_units=1)
    cov = np.eye(7)[None].repeat(1, axis=0)
    rank3 = GaussianMixtureRNN.from_parameters(np.zeros((1, 7)), cov, rank=3, n_inputs=0)
    with pytest.raises(ValueError, match="rank 1 or 2"):
        mean_field_flow(rank3, [0.0])
