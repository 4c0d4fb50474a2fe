"""Tests of sklearn_lowrank.inspection against networks whose answers are known independently."""

import warnings

import numpy as np
import pytest
import torch
from scipy import optimize
from sklearn.metrics import adjusted_rand_score

from sklearn_lowrank import GaussianMixtureRNN, LowRankRNNRegressor
from sklearn_lowrank._core.canonical import canonicalize_
from sklearn_lowrank.datasets import simulate_rnn
from sklearn_lowrank.inspection import (
    connectivity_vectors,
    find_fixed_points,
    find_fixed_points_full,
    find_slow_points,
    inactivation_effects,
    latent_flow,
    latent_velocity,
    overlap_matrix,
    population_labels,
    predict_silenced,
    regression_axes,
    silenced_weights,
)

ALPHA = 0.2


def _network(m=None, n=None, w_in=None, *, J=None, readout_weights=None, x0=None, alpha=ALPHA, bias=0.25):
    """A fitted LowRankRNNRegressor holding the given weights (low rank from m, n; full rank from J)."""
    N = (m if J is None else J).shape[0]
    K = w_in.shape[0]
    readout = "identity" if readout_weights is None else "linear"
    n_out = N if readout_weights is None else readout_weights.shape[1]
    X = np.zeros((2, 3, K), np.float32)
    y = np.zeros((2, 3, n_out), np.float32)
    est = LowRankRNNRegressor(rank=None if J is not None else m.shape[1], n_units=N, readout=readout,
                              init="random", alpha=alpha, max_iter=0, random_state=0).fit(X, y)
    module = est.module_
    with torch.no_grad():
        if J is None:
            module.m.copy_(torch.as_tensor(m, dtype=torch.float32))
            module.n.copy_(torch.as_tensor(n, dtype=torch.float32))
        else:
            module.J.copy_(torch.as_tensor(J, dtype=torch.float32))
        module.input_weights.copy_(torch.as_tensor(w_in, dtype=torch.float32))
        module.initial_state.copy_(torch.as_tensor(np.zeros(N) if x0 is None else x0, dtype=torch.float32))
        if readout_weights is not None:
            module.readout_weights.copy_(torch.as_tensor(readout_weights, dtype=torch.float32))
            module.readout_bias.fill_(bias)
    canonicalize_(module)  # fitted networks hold m, n in canonical form
    est._adopt_module(module)
    return est


@pytest.fixture(scope="module")
def random_net():
    """Rank 2, 40 units, 2 inputs, linear readout, non-zero initial state."""
    rng = np.random.default_rng(0)
    N = 40
    return _network(rng.normal(size=(N, 2)), rng.normal(size=(N, 2)) * 1.5, rng.normal(size=(2, N)),
                    readout_weights=rng.normal(size=(N, 1)) * 3, x0=0.5 * rng.normal(size=N))


@pytest.fixture(scope="module")
def pulses():
    rng = np.random.default_rng(1)
    X = np.zeros((6, 25, 2), np.float32)
    X[:, 3:12] = rng.normal(size=(6, 1, 2))
    return X


def _bistable(N=400, g=3.0, seed=0, w_in=None):
    """Rank 1 with n = g m: bistable for g <m^2> > 1."""
    m = np.random.default_rng(seed).normal(size=(N, 1))
    return _network(m, g * m, np.zeros((1, N)) if w_in is None else w_in), m[:, 0]


# ---------------------------------------------------------------------------------------------------------------
# Inactivation
# ---------------------------------------------------------------------------------------------------------------


def test_silencing_nobody_changes_nothing(random_net, pulses):
    np.testing.assert_array_equal(predict_silenced(random_net, pulses, []), random_net.predict(pulses))
    np.testing.assert_array_equal(predict_silenced(random_net, pulses, np.zeros(40, bool)),
                                  random_net.predict(pulses))


def test_silencing_keeps_N_and_matches_a_hand_built_network(random_net, pulses):
    silent = np.arange(0, 40, 3)
    keep = np.ones(40)
    keep[silent] = 0
    w = {k: getattr(random_net, k) for k in ("m_", "n_", "input_weights_", "initial_state_", "readout_weights_")}
    hand = _network(w["m_"] * keep[:, None], w["n_"] * keep[:, None], w["input_weights_"] * keep,
                    readout_weights=w["readout_weights_"] * keep[:, None], x0=w["initial_state_"] * keep)
    assert hand.n_units_ == random_net.n_units_ == silenced_weights(random_net, silent).n_units
    out, states = predict_silenced(random_net, pulses, silent, return_states=True)
    np.testing.assert_allclose(out, hand.predict(pulses), rtol=1e-5, atol=1e-5)
    assert np.all(states[..., silent] == 0)

    # independent float64 simulation: the kept units with J = m n^T / N (N = 40, not the 27 kept units)
    kept = keep.astype(bool)
    J = (w["m_"] @ w["n_"].T / 40)[np.ix_(kept, kept)]
    ref = simulate_rnn(J, w["input_weights_"][:, kept], pulses, alpha=ALPHA, initial_state=w["initial_state_"][kept])
    np.testing.assert_allclose(states[..., kept], ref, atol=1e-4)
    # deleting the units instead (the original code) rescales J by 40 / 27: a different network
    deleted = simulate_rnn(J * 40 / kept.sum(), w["input_weights_"][:, kept], pulses, alpha=ALPHA,
                           initial_state=w["initial_state_"][kept])
    assert np.abs(deleted - ref).max() > 1e-2


def test_full_rank_silencing_zeroes_rows_and_columns(pulses):
    rng = np.random.default_rng(2)
    N = 30
    J = rng.normal(size=(N, N)) * 1.5 / np.sqrt(N)
    w_in = rng.normal(size=(2, N))
    net = _network(J=J, w_in=w_in)
    silent = [1, 5, 7, 20]
    weights = silenced_weights(net, silent)
    assert weights.m is None and torch.all(weights.J[silent] == 0) and torch.all(weights.J[:, silent] == 0)
    states = predict_silenced(net, pulses, silent, return_states=True)[1]
    J0, w0 = J.copy(), w_in.copy()
    J0[silent], J0[:, silent], w0[:, silent] = 0, 0, 0
    np.testing.assert_allclose(states, simulate_rnn(J0, w0, pulses, alpha=ALPHA), atol=1e-4)
    np.testing.assert_array_equal(predict_silenced(net, pulses, []), net.predict(pulses))


def test_silencing_everyone(random_net, pulses):
    out, states = predict_silenced(random_net, pulses, np.ones(40, bool), return_states=True)
    assert np.all(states == 0)
    np.testing.assert_allclose(out, 0.25)  # the readout bias alone
    # disconnected units keep their inputs and initial state: the input-driven decay of a network with J = 0
    states = predict_silenced(random_net, pulses, np.ones(40, bool), mode="disconnect", return_states=True)[1]
    ref = simulate_rnn(np.zeros((40, 40)), random_net.input_weights_, pulses, alpha=ALPHA,
                       initial_state=random_net.initial_state_)
    np.testing.assert_allclose(states, ref, atol=1e-5)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"units": [40]}, "units"), ({"units": [0.5]}, "units"), ({"units": np.ones(3, bool)}, "units"),
    ({"units": [0], "mode": "delete"}, "mode"),
])
def test_silencing_errors(random_net, kwargs, match):
    with pytest.raises(ValueError, match=match):
        silenced_weights(random_net, **kwargs)


def _two_population_loadings(N, rng):
    """Zero-mean populations differing by covariance: population 0 relays input 1 (n ~ I1), population 1 input 2."""
    half = N // 2
    m = rng.normal(size=N)
    w_in = rng.normal(size=(N, 2)) * 0.05
    w_in[:half, 0] *= 20
    w_in[half:, 1] *= 20
    relayed = np.r_[w_in[:half, 0], w_in[half:, 1]]
    n = 2.0 * relayed + 0.2 * rng.normal(size=N)
    return m, n, w_in, np.r_[np.zeros(half, int), np.ones(N - half, int)]


def test_population_labels_recovers_covariance_populations():
    rng = np.random.default_rng(3)
    m, n, w_in, truth = _two_population_loadings(200, rng)
    net = _network(m[:, None], n[:, None], w_in.T)
    labels, V = population_labels(net, 2, random_state=0)
    assert V.shape == (200, 4)
    assert adjusted_rand_score(truth, labels) > 0.8  # units with small loadings are ambiguous


def test_population_labels_unconstrained_matches_from_network(random_net):
    labels = population_labels(random_net, 2, symmetric=False, n_init=1, random_state=0)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, mix_labels = GaussianMixtureRNN.from_network(random_net, n_components=2, random_state=0)
    assert adjusted_rand_score(mix_labels, labels) == 1.0


def test_inactivation_effects_per_context():
    """Population 0 carries input 1, population 1 input 2; the output reads the latent: silencing a population
    removes its input's effect, so accuracy drops to chance where that input is the relevant one."""
    rng = np.random.default_rng(4)
    N = 200
    m, n, w_in, truth = _two_population_loadings(N, rng)
    net = _network(m[:, None], n[:, None], w_in.T, readout_weights=m[:, None] * 4, bias=0.0)
    X = np.zeros((200, 20, 2))
    context = rng.integers(1, 3, size=200)
    c = rng.choice([-1.0, 1.0], size=(200, 2))
    X[np.arange(200), 2:10, context - 1] = c[np.arange(200), context - 1][:, None] * 1.0
    X += 0.3 * rng.normal(size=X.shape)  # input noise: a residual trace of a silenced pathway decides nothing
    y = np.full((200, 20, 1), np.nan, np.float32)
    y[:, -1, 0] = c[np.arange(200), context - 1]
    X = X.astype(np.float32)
    res = inactivation_effects(net, X, y, truth, conditions={"context": context})
    assert res.scoring == "accuracy" and res.groups == [1, 2, "all"] and res.populations == ["intact", 0, 1]
    assert res.scores.shape == (3, 3) and res.sizes == {0: 100, 1: 100}
    assert np.all(res.scores[0, :2] > 0.95)
    assert res.scores[1, 0] < 0.75 and res.scores[1, 1] > 0.95
    assert res.scores[2, 1] < 0.75 and res.scores[2, 0] > 0.95
    # the linear readout makes accuracy the default; R^2 on its outputs when asked
    r2 = inactivation_effects(net, X, net.predict(X), truth, scoring="r2")
    assert r2.scoring == "r2" and r2.scores[0, 0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="labels"):
        inactivation_effects(net, X, y, truth[:10])
    with pytest.raises(ValueError, match="scoring"):
        inactivation_effects(net, X, y, truth, scoring="f1")
    with pytest.raises(ValueError, match="conditions"):
        inactivation_effects(net, X, y, truth, conditions={"ctx": context})


def test_inactivation_default_scores_activity_on_the_neurons_left_active(pulses):
    """Issue 16, points 1 and 2: a model of activity with missing entries is scored by R^2 (not accuracy), and a
    silencing is scored on the neurons it leaves active, with the intact network on the same neurons beside it."""
    from sklearn_lowrank.metrics import r2_score_trials

    rng = np.random.default_rng(4)
    m, n, w_in, truth = _two_population_loadings(40, rng)
    net = _network(m[:, None], n[:, None], w_in.T)
    y = net.predict(pulses) + 0.05 * rng.normal(size=(6, 25, 40)).astype(np.float32)
    y[:3, :, :5] = np.nan  # five neurons not recorded in half the trials
    res = inactivation_effects(net, pulses, y, truth)
    assert res.scoring == "r2" and res.score_on == "active" and res.n_scored == [40, 20, 20]
    assert res.baseline[0, 0] == res.scores[0, 0] == pytest.approx(r2_score_trials(y, net.predict(pulses)))
    for row, pop in ((1, 0), (2, 1)):
        kept = truth != pop
        pred = predict_silenced(net, pulses, truth == pop)
        assert res.scores[row, 0] == pytest.approx(r2_score_trials(y[..., kept], pred[..., kept]))
        assert res.baseline[row, 0] == pytest.approx(r2_score_trials(y[..., kept], net.predict(pulses)[..., kept]))
    every = inactivation_effects(net, pulses, y, truth, score_on="all")
    assert every.n_scored == [40, 40, 40]
    # the silenced neurons scored as predicted zeros: the trivial drop that "active" leaves out
    assert np.all(every.scores[1:, 0] < res.scores[1:, 0])
    # a task readout makes the default accuracy
    w_out = rng.normal(size=(40, 1))
    task = inactivation_effects(net, pulses, np.sign(y[..., :1]), truth, readout=(w_out, 0.0))
    assert task.scoring == "accuracy" and task.n_scored == [1, 1, 1]
    with pytest.raises(ValueError, match="score_on"):
        inactivation_effects(net, pulses, y, truth, score_on="silenced")


def test_inactivation_of_a_mixture_network(pulses):
    means = np.zeros((2, 5))
    covs = np.stack([np.eye(5), 2 * np.eye(5)])
    mix = GaussianMixtureRNN.from_parameters(means, covs, [0.25, 0.75], rank=1, n_inputs=2, n_units=80,
                                             random_state=0)
    y = np.zeros((6, 25, 1), np.float32)
    y[:, -1] = 1.0
    res = inactivation_effects(mix, pulses, y, scoring="r2", random_state=5)
    assert res.sizes == {0: 20, 1: 60}
    net, labels = mix.sample_network(random_state=5, return_labels=True)
    np.testing.assert_array_equal(res.labels, labels)
    from sklearn_lowrank.metrics import r2_score_trials

    assert res.scores[1, 0] == pytest.approx(r2_score_trials(y, predict_silenced(net, pulses, labels == 0)))


# ---------------------------------------------------------------------------------------------------------------
# Latent dynamics
# ---------------------------------------------------------------------------------------------------------------


def test_bistable_rank_one_fixed_points():
    g = 3.0
    net, m = _bistable(g=g)
    fp = find_fixed_points(net)
    assert fp.kappa.shape == (3, 1) and fp.stable.tolist() == [True, False, True]
    # independent answer: kappa = g <m tanh(m kappa)> over the sampled units, in the transform's coordinates
    # (canonical m_ = s m with s = sign * sqrt(g) || ...: kappa_transform = kappa / s)
    s = net.m_[0, 0] / m[0]
    kappa_star = optimize.brentq(lambda k: -k + g * np.mean(m * np.tanh(m * k)), 0.1, 10.0)
    np.testing.assert_allclose(np.sort(np.abs(fp.kappa[[0, 2], 0])), [kappa_star / abs(s)] * 2, rtol=1e-6)
    assert abs(fp.kappa[1, 0]) < 1e-8
    # mean field (N -> inf, m ~ N(0, 1)): kappa* = g E[z tanh(z kappa*)], close at N = 400
    z, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / w.sum()
    mf = optimize.brentq(lambda k: -k + g * np.sum(w * z * np.tanh(z * k)), 0.1, 10.0)
    assert abs(kappa_star - mf) / mf < 0.1
    # eigenvalue at 0: -1 + g <m^2>, unstable
    np.testing.assert_allclose(fp.eigenvalues[1, 0].real, -1 + g * np.mean(m**2), rtol=1e-6)
    # the network settles there: simulate from small kicks of both signs
    X = np.zeros((2, 150, 1), np.float32)
    x0 = np.outer([0.1, -0.1], net.m_[:, 0])
    final = net.transform(X, initial_state=x0)[:, -1, 0]
    np.testing.assert_allclose(np.sort(final), np.sort(fp.kappa[[0, 2], 0]), rtol=1e-3)


def test_latent_velocity_is_one_step_of_the_network():
    """On the set x = m kappa_s + W_in^T u, one step moves the transform's kappa by alpha F (rank 2, inputs not
    orthogonal to m)."""
    rng = np.random.default_rng(6)
    N = 60
    m = rng.normal(size=(N, 2))
    w_in = rng.normal(size=(2, N)) + 0.5 * m.T
    net = _network(m, rng.normal(size=(N, 2)) * 2, w_in)
    u = np.array([0.3, -0.7])
    kappa_s = rng.normal(size=(5, 2))
    x0 = kappa_s @ net.m_.T + u @ net.input_weights_
    X = np.broadcast_to(u.astype(np.float32), (5, 1, 2))
    kappa0 = x0 @ np.linalg.pinv(net.m_).T  # the transform's coordinates
    kappa1 = net.transform(X, initial_state=x0)[:, 0]
    np.testing.assert_allclose(kappa1 - kappa0, ALPHA * latent_velocity(net, kappa0, u), atol=2e-5)


def test_fixed_points_with_input_match_the_simulation():
    N = 300
    rng = np.random.default_rng(7)
    m = rng.normal(size=(N, 1))
    net = _network(m, 3 * m, (0.8 * m + rng.normal(size=(N, 1))).T)
    u = np.array([0.4])
    fp = find_fixed_points(net, u)
    assert fp.stable.sum() >= 1
    X = np.full((3, 300, 1), 0.4, np.float32)
    final = net.transform(X, initial_state=np.outer([2.0, 0.0, -2.0], net.m_[:, 0]))[:, -1, 0]
    for k in final:  # every simulated end point is a stable fixed point of the reduced dynamics
        assert np.min(np.abs(fp.kappa[fp.stable, 0] - k)) < 1e-3


def test_flow_field_shapes_and_zero_at_fixed_points():
    net, _ = _bistable()
    fp = find_fixed_points(net)
    flow = latent_flow(net, np.linspace(-3, 3, 31))
    assert flow.velocity.shape == (31, 1) and flow.speed.shape == (31,)
    np.testing.assert_allclose(latent_velocity(net, fp.kappa), 0.0, atol=1e-7)
    rng = np.random.default_rng(8)
    m = rng.normal(size=(50, 2))
    net2 = _network(m, 2.5 * m, np.zeros((1, 50)))
    flow2 = latent_flow(net2, np.linspace(-2, 2, 9), np.linspace(-1, 1, 7))
    assert flow2.velocity.shape == (7, 9, 2)
    np.testing.assert_allclose(flow2.velocity[3, 2], latent_velocity(net2, [flow2.kappa1[2], flow2.kappa2[3]]))
    with pytest.raises(ValueError, match="kappa2"):
        latent_flow(net2, np.linspace(-1, 1, 3))
    with pytest.raises(ValueError, match="inputs"):
        latent_flow(net2, np.linspace(-1, 1, 3), np.linspace(-1, 1, 3), inputs=[1.0, 2.0])


def test_rank_two_and_three_fixed_points_agree_with_full_dynamics():
    rng = np.random.default_rng(9)
    N = 80
    m = rng.normal(size=(N, 2))
    net = _network(m, 2.0 * m, np.zeros((1, N)))
    fp = find_fixed_points(net)
    assert len(fp.kappa) >= 5 and fp.stable.sum() >= 2
    np.testing.assert_allclose(latent_velocity(net, fp.kappa), 0.0, atol=1e-7)
    full = find_fixed_points_full(net, fp.kappa @ net.m_.T + 1e-3 * rng.normal(size=(len(fp.kappa), N)))
    assert len(full.states) == len(fp.kappa)
    order = np.lexsort(full.kappa.T[::-1])
    np.testing.assert_allclose(full.kappa[order], fp.kappa[np.lexsort(fp.kappa.T[::-1])], atol=1e-5)
    assert full.stable.sum() == fp.stable.sum()
    # rank 3: random starts in the bounding box
    m3 = rng.normal(size=(N, 3))
    fp3 = find_fixed_points(_network(m3, 2.0 * m3, np.zeros((1, N))), n_starts=6, random_state=0)
    assert fp3.kappa.shape[1] == 3 and fp3.stable.any()


def test_slow_points_include_fixed_points_and_ghosts():
    net, m = _bistable(g=1.0 / np.mean(np.random.default_rng(0).normal(size=400) ** 2) * 1.02)
    slow = find_slow_points(net)
    fixed = find_fixed_points(net)
    for k in fixed.kappa:
        assert np.min(np.abs(slow.kappa[:, 0] - k[0])) < 1e-3
    # a strong input removes the fixed points near 0 but leaves a slow region: local minima of q with q > 0
    N = 400
    mm = np.random.default_rng(10).normal(size=(N, 1))
    ghost_net = _network(mm, 1.6 * mm, 0.3 * mm.T)
    u = np.array([0.6])
    slow = find_slow_points(ghost_net, u, max_speed=0.1)
    fixed = find_fixed_points(ghost_net, u)
    assert len(fixed.kappa) == 1
    ghosts = slow.kappa[slow.speed > 1e-8]
    assert len(ghosts) >= 1
    for k in ghosts:
        q = 0.5 * latent_velocity(ghost_net, np.array([[k[0] - 1e-3], [k[0]], [k[0] + 1e-3]]), u)[:, 0] ** 2
        assert q[1] <= q[0] and q[1] <= q[2]


# ---------------------------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------------------------


def test_overlap_matrix_known_values(random_net):
    net, m = _bistable(g=3.0)
    res = overlap_matrix(net)
    assert res.row_names == ["m1", "n1", "I1"]
    np.testing.assert_allclose(res.matrix[0, 1], 1.0, atol=1e-6)  # n = g m
    raw = overlap_matrix(net, normalize=False)
    np.testing.assert_allclose(raw.matrix[0, 1], net.m_[:, 0] @ net.n_[:, 0] / 400)
    np.testing.assert_allclose(raw.matrix[0, 1], 3.0 * np.mean(m**2), rtol=1e-5)  # sigma_mn = g <m^2>
    V, names = connectivity_vectors(random_net)
    assert names == ["m1", "m2", "n1", "n2", "I1", "I2", "w1"] and V.shape == (40, 7)
    with pytest.raises(ValueError, match="units"):
        overlap_matrix(V, np.ones((3, 2)))


def test_regression_axes_recover_planted_directions():
    rng = np.random.default_rng(11)
    n_trials, T, N = 300, 8, 30
    F = np.c_[rng.choice([-1.0, 1.0], n_trials), rng.choice([-2.0, -1.0, 1.0, 2.0], n_trials)]
    d = rng.normal(size=(N, 2))
    profile = np.linspace(0, 1, T)
    activity = profile[None, :, None] * (F @ d.T)[:, None, :] + 0.05 * rng.normal(size=(n_trials, T, N))
    res = regression_axes(activity, {"choice": F[:, 0], "coherence": F[:, 1]})
    assert res.axes.shape == (N, 2) and res.names == ["choice", "coherence"]
    assert res.time_index.tolist() == [T - 1, T - 1] and res.condition_means.shape == (8, T, N)
    q = np.linalg.qr(d)[0]
    np.testing.assert_allclose(np.abs(np.sum(res.axes * q, axis=0)), 1.0, atol=1e-3)
    np.testing.assert_allclose(res.axes.T @ res.axes, np.eye(2), atol=1e-10)
    raw = regression_axes(activity, {"choice": F[:, 0], "coherence": F[:, 1]}, orthogonalize=False,
                          n_components=2, time_index=-1)
    cos = np.sum(raw.axes * d / np.linalg.norm(d, axis=0), axis=0)
    np.testing.assert_allclose(cos, 1.0, atol=1e-3)
    with pytest.raises(ValueError, match="variables"):
        regression_axes(activity, {"choice": F[:10, 0]})
    with pytest.raises(ValueError, match="collinear"):
        regression_axes(activity, {"a": F[:, 0], "b": 2 * F[:, 0]})


def test_dynamics_errors_name_the_argument():
    rng = np.random.default_rng(12)
    full = _network(J=rng.normal(size=(10, 10)) / 10, w_in=np.zeros((1, 10)))
    with pytest.raises(ValueError, match="find_fixed_points_full"):
        find_fixed_points(full)
    m3 = rng.normal(size=(20, 3))
    net3 = _network(m3, m3, np.zeros((1, 20)))
    with pytest.raises(ValueError, match="rank 1 or 2"):
        latent_flow(net3, np.linspace(-1, 1, 3))
    with pytest.raises(ValueError, match="n_starts"):
        find_fixed_points(net3, n_starts=1)
    with pytest.raises(ValueError, match="kappa"):
        latent_velocity(net3, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="initial_states"):
        find_fixed_points_full(full, np.zeros((2, 11)))
