"""Spike counts: the Poisson observation model, bits per spike, D^2, ragged trials, co-smoothing, the teacher."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import d2_tweedie_score

from sklearn_lowrank import GaussianMixtureRNN, LowRankRNNRegressor
from sklearn_lowrank._core.losses import masked_poisson_nll
from sklearn_lowrank.datasets import make_spiking_teacher
from sklearn_lowrank.inspection import co_smoothing
from sklearn_lowrank.metrics import bits_per_spike, d2_poisson_score_trials


@pytest.fixture(scope="module")
def teacher():
    return make_spiking_teacher(n_neurons=24, n_conditions=6, n_trials_per_condition=6, n_timesteps=30,
                                rate_range=(10.0, 40.0), random_state=0)


# -- the loss and the metrics --------------------------------------------------------------------------------------

def test_poisson_nll_is_half_deviance_with_the_likelihood_gradient():
    rng = np.random.default_rng(0)
    y = torch.tensor(rng.poisson(1.5, size=(3, 4, 2)), dtype=torch.float64)
    mu = torch.tensor(rng.uniform(0.2, 3.0, size=(3, 4, 2)), requires_grad=True)
    loss = masked_poisson_nll(mu, y, None)
    (grad,) = torch.autograd.grad(loss, mu)
    torch.testing.assert_close(grad, (1 - y / mu.detach()) / y.numel())
    assert float(loss.detach()) >= 0
    assert float(masked_poisson_nll(y.clamp_min(1e-12), y, None)) == pytest.approx(0.0, abs=1e-9)
    mask = torch.ones_like(y, dtype=torch.bool)
    mask[0] = False
    torch.testing.assert_close(masked_poisson_nll(mu, y * mask, mask), masked_poisson_nll(mu[1:], y[1:], None))


def test_d2_matches_scikit_learn_for_one_neuron():
    rng = np.random.default_rng(1)
    y = rng.poisson(2.0, size=(5, 7, 1)).astype(float)
    mu = rng.uniform(0.5, 4.0, size=y.shape)
    assert d2_poisson_score_trials(y, mu) == pytest.approx(d2_tweedie_score(y.ravel(), mu.ravel(), power=1))


def test_bits_per_spike_nan_aware_and_checks():
    rng = np.random.default_rng(2)
    rates = rng.uniform(0.05, 1.0, size=(10, 20, 3))
    counts = rng.poisson(rates).astype(float)
    assert bits_per_spike(counts, rates) > 0
    null = np.broadcast_to(counts.mean(axis=(0, 1)), counts.shape)
    assert bits_per_spike(counts, null) == pytest.approx(0.0, abs=1e-12)
    with_nan = counts.copy()
    with_nan[0] = np.nan  # left out: the same as scoring trials 1..9
    assert bits_per_spike(with_nan, rates) == pytest.approx(bits_per_spike(counts[1:], rates[1:]))
    with pytest.raises(ValueError, match="predicted_rates"):
        bits_per_spike(counts, -rates)
    with pytest.raises(ValueError, match="shapes"):
        bits_per_spike(counts, rates[:, :5])


# -- the estimators ------------------------------------------------------------------------------------------------

def test_poisson_fit_predicts_expected_counts(teacher, fit_quietly):
    d = teacher
    est = fit_quietly(LowRankRNNRegressor(rank=2, loss="poisson", max_iter=30, random_state=0), d.X, d.y)
    pred = est.predict(d.X)
    assert pred.shape == d.y.shape and np.all(pred > 0)
    assert est.rate_gain_.shape == est.rate_offset_.shape == (24,)
    assert est.score(d.X, d.y) == pytest.approx(d2_poisson_score_trials(d.y, pred), rel=1e-5)
    assert bits_per_spike(d.y, pred) > 0.5 * bits_per_spike(d.y, d.rates) > 0
    # Squared error fits keep no Poisson readout.
    se = fit_quietly(clone(est).set_params(loss="squared_error", max_iter=1), d.X, d.y)
    assert not hasattr(se, "rate_gain_")


def test_poisson_fit_is_deterministic_and_non_integer_counts_accepted(teacher, fit_quietly):
    d = teacher
    y = d.y * 0.5  # non-integer non-negative targets, as PoissonRegressor accepts
    a = fit_quietly(LowRankRNNRegressor(rank=1, loss="poisson", max_iter=2, random_state=3), d.X, y)
    b = fit_quietly(LowRankRNNRegressor(rank=1, loss="poisson", max_iter=2, random_state=3), d.X, y)
    np.testing.assert_array_equal(a.predict(d.X), b.predict(d.X))


def test_negative_counts_and_silent_neurons(teacher, fit_quietly):
    d = teacher
    y = d.y.copy()
    y[0, 0, 3] = -1.0
    est = LowRankRNNRegressor(rank=1, loss="poisson", max_iter=1)
    with pytest.raises(ValueError, match=r"y has 1 negative entries \(in features \[3\]\)"):
        est.fit(d.X, y)
    y = d.y.copy()
    y[..., 5] = 0.0
    with pytest.warns(UserWarning, match=r"Neuron\(s\) \[5\] of y never fire"):
        fit_quietly(est, d.X, y)
    # NaN (not recorded) is not a negative count.
    y = d.y.copy()
    y[0, :, 2] = np.nan
    fit_quietly(est, d.X, y)


def test_mixture_with_poisson_readout(teacher, fit_quietly):
    d = teacher
    mix = fit_quietly(GaussianMixtureRNN(2, n_units=64, loss="poisson", max_iter=3, random_state=0), d.X, d.y[..., :4])
    pred = mix.predict(d.X)
    assert pred.shape == (36, 30, 4) and np.all(pred > 0)
    assert mix.rate_gain_.shape == (4,)
    assert np.isfinite(mix.score(d.X, d.y[..., :4]))
    net = mix.sample_network(random_state=0)
    assert net.loss == "poisson" and np.all(net.predict(d.X) > 0)


# -- ragged trials ---------------------------------------------------------------------------------------------------

def _ragged(d, lengths=(30, 22, 15)):
    idx = np.arange(d.X.shape[0])
    cut = [lengths[i % 3] for i in idx]
    return [d.X[i, :n] for i, n in zip(idx, cut)], [d.y[i, :n] for i, n in zip(idx, cut)], cut


def test_ragged_fit_equals_hand_padded_fit(teacher, fit_quietly):
    d = teacher
    X_list, y_list, lengths = _ragged(d)
    X_pad = np.zeros_like(d.X)
    y_pad = np.full_like(d.y, np.nan)
    for i, n in enumerate(lengths):
        X_pad[i, :n], y_pad[i, :n] = X_list[i], y_list[i]
    params = {"rank": 2, "loss": "poisson", "max_iter": 5, "random_state": 0}
    ragged = fit_quietly(LowRankRNNRegressor(**params), X_list, y_list)
    padded = fit_quietly(LowRankRNNRegressor(**params), X_pad, y_pad)
    np.testing.assert_allclose(ragged.m_, padded.m_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ragged.rate_offset_, padded.rate_offset_, rtol=1e-5, atol=1e-6)
    pred = ragged.predict(X_list)
    assert [p.shape for p in pred] == [(n, 24) for n in lengths]
    full = padded.predict(X_pad)
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(pred[i], full[i, :n], rtol=1e-5, atol=1e-7)
    assert [k.shape for k in ragged.transform(X_list)[:3]] == [(30, 2), (22, 2), (15, 2)]
    assert ragged.score(X_list, y_list) == pytest.approx(padded.score(X_pad, y_pad), rel=1e-5)
    with pytest.raises(ValueError, match="same lengths"):
        ragged.score(X_list, y_list[::-1])
    with pytest.raises(ValueError, match="different numbers of features"):
        ragged.predict([d.X[0, :5], d.X[1, :7, :1]])


# -- co-smoothing and the teacher ------------------------------------------------------------------------------------

def test_co_smoothing_and_its_checks(teacher):
    d = teacher
    est = LowRankRNNRegressor(rank=2, loss="poisson", max_iter=10, random_state=0)
    train, test = d.condition < 5, d.condition == 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = co_smoothing(est, d.X[train], d.y[train], d.X[test], d.y[test], held_out=np.arange(18, 24))
    assert res.rates.shape == (6, 30, 6) and np.isfinite(res.bits_per_spike)
    assert res.held_in.tolist() == list(range(18)) and not hasattr(est, "m_")  # the template stays unfitted
    with pytest.raises(ValueError, match="held_out must name"):
        co_smoothing(est, d.X, d.y, d.X, d.y, held_out=np.arange(24))


def test_spiking_teacher_rates_and_counts():
    d = make_spiking_teacher(n_neurons=50, n_conditions=5, n_trials_per_condition=4, n_timesteps=40, bin_size=5.0,
                             rate_range=(5.0, 20.0), link="exp", random_state=0)
    q2, q98 = np.percentile(d.rates_hz.reshape(-1, 50), [2, 98], axis=0)
    np.testing.assert_allclose(q2, 5.0, rtol=0.05)
    np.testing.assert_allclose(q98, 20.0, rtol=0.05)
    np.testing.assert_array_equal(d.y, np.round(d.y))
    np.testing.assert_array_equal(d.rates[0], d.rates[3])  # noise-free: trials of a condition share their rates
    noisy = make_spiking_teacher(n_neurons=50, n_conditions=5, n_trials_per_condition=4, n_timesteps=40,
                                 noise_std=0.1, random_state=0)
    assert not np.allclose(noisy.rates[0], noisy.rates[1])
    with pytest.raises(ValueError, match="rate_range"):
        make_spiking_teacher(rate_range=(20.0, 5.0))


def test_warm_start_refuses_a_change_of_loss(teacher, fit_quietly):
    d = teacher
    est = fit_quietly(LowRankRNNRegressor(rank=1, loss="poisson", max_iter=1, warm_start=True, random_state=0),
                      d.X, d.y)
    fit_quietly(est, d.X, d.y)  # same loss: continues
    with pytest.raises(ValueError, match="warm_start=True but loss='squared_error'"):
        est.set_params(loss="squared_error").fit(d.X, d.y)


def test_nwb_counts_and_ragged_trials(tmp_path, write_nwb):
    from sklearn_lowrank.datasets import load_nwb_trials

    trials = [{"start_time": 0.0, "stop_time": 0.5}, {"start_time": 2.0, "stop_time": 2.3}]
    path = write_nwb(tmp_path / "ragged.nwb", trials, [[0.05, 0.06, 0.25, 2.05, 2.15, 2.45]])
    X, y, _ = load_nwb_trials(path, window=(0, 1000), bin_size=100, output="counts", ragged=True)
    assert [t.shape for t in y] == [(5, 1), (3, 1)] and [t.shape for t in X] == [(5, 0), (3, 0)]
    assert y[0][:, 0].tolist() == [2.0, 0.0, 1.0, 0.0, 0.0] and y[1][:, 0].tolist() == [1.0, 1.0, 0.0]
    _, rates, _ = load_nwb_trials(path, window=(0, 1000), bin_size=100)
    assert rates[0, 0, 0] == 20.0  # spikes/s by default
    with pytest.raises(ValueError, match="smoothing_sigma=0"):
        load_nwb_trials(path, output="counts", smoothing_sigma=20.0)


def test_identity_readout_trains_one_shared_gain(teacher, fit_quietly):
    d = teacher
    est = fit_quietly(LowRankRNNRegressor(rank=1, loss="poisson", max_iter=3, random_state=0), d.X, d.y)
    assert est.module_.observation.gain.shape == (1,) and est.module_.observation.gain.requires_grad
    assert np.unique(est.rate_gain_).size == 1
    mix = fit_quietly(GaussianMixtureRNN(1, n_units=16, loss="poisson", max_iter=1, random_state=0), d.X, d.y[..., :3])
    assert mix.module_.observation.gain.shape == (3,)  # a linear readout keeps a gain per output
