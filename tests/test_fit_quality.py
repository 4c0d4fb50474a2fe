"""Fit quality on recording-like data: unobserved pre-periods, the adaptive learning rate, rank recovery."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import LowRankRNNRegressor, LowRankRNNRegressorCV
from sklearn_lowrank._core import LowRankRNN
from sklearn_lowrank._core.training import train
from sklearn_lowrank.datasets import make_low_rank_teacher


def _pre_period_teacher(random_state=0):
    """Rank 2, 60 units, two contexts, 40 unobserved steps then 20 observed: 40 training / 10 held-out trials."""
    X, y = make_low_rank_teacher(n_units=60, rank=2, n_trials=50, n_timesteps=60, n_contexts=2, n_unobserved=40,
                                 random_state=random_state, return_X_y=True)
    return X[:40], y[:40], X[40:], y[40:]


def test_teacher_pre_period_and_contexts():
    data = make_low_rank_teacher(n_units=20, rank=1, n_inputs=1, n_trials=6, n_timesteps=12, n_contexts=2,
                                 n_unobserved=5, random_state=0)
    assert data.X.shape == (6, 12, 3)
    assert np.isnan(data.y[:, :5]).all() and np.isfinite(data.y[:, 5:]).all()
    assert np.isfinite(data.states).all()
    assert not data.X[:, :5, 0].any()  # only the context cue during the pre-period
    np.testing.assert_array_equal(data.X[:, :, 1:].sum(axis=2), 1.0)  # one context on throughout each trial
    with pytest.raises(ValueError, match="n_unobserved"):
        make_low_rank_teacher(n_units=10, rank=1, n_timesteps=5, n_unobserved=5)


def test_regression_start_sees_only_the_observed_window():
    # Left in, the unobserved steps were filled as missing targets and dragged the start off (held-out R^2 -1.4
    # on this teacher); on the observed window alone the one-step regression is already at the noise level.
    X, y, X_te, y_te = _pre_period_teacher()
    est = LowRankRNNRegressor(rank=2, max_iter=0, random_state=0).fit(X, y)
    assert est.score(X_te, y_te) > 0.99
    # The initial state is the state before the pre-period, which no regression sees: it keeps its start (zero).
    np.testing.assert_array_equal(est.initial_state_, 0.0)


def test_default_fit_with_unobserved_pre_period():
    X, y, X_te, y_te = _pre_period_teacher()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = LowRankRNNRegressor(rank=2, max_iter=30, random_state=0).fit(X, y)
    assert est.score(X_te, y_te) > 0.995


@pytest.mark.parametrize("schedule", ["constant", "adaptive"])
def test_adaptive_rate_lowers_on_oscillation_only(schedule, training_config, torch_teacher):
    _, u, y = torch_teacher(20, 32, 15)
    net = LowRankRNN(20, 1, 20, 1, alpha=0.2, generator=torch.Generator().manual_seed(1))
    config = training_config(max_iter=150, batch_size=4, learning_rate_init=0.3, n_iter_no_change=3,
                             clip_grad_norm=None, learning_rate=schedule)
    result, optimizer = train(net, u, y, None, config, torch.Generator().manual_seed(2))
    lr = optimizer.param_groups[0]["lr"]
    if schedule == "constant":
        assert result.n_lr_decays == 0 and lr == 0.3
    else:
        # A rate of 0.3 makes Adam's steps bounce: the schedule divides it by 5 at least once, never below 1/100.
        assert result.n_lr_decays >= 1
        assert lr == pytest.approx(0.3 * 0.2 ** result.n_lr_decays)
        assert lr >= 0.3 * 1e-2 * (1 - 1e-9)
    assert result.stop_reason in ("converged", "max_iter")


def test_adaptive_rate_stops_at_once_when_flat(training_config, torch_teacher):
    # A flat loss (the teacher itself, with steps too small to leave it) stops training after n_iter_no_change
    # epochs without lowering the rate, as with a constant rate.
    import copy

    teacher, u, y = torch_teacher(20, 16, 10)
    # Observation noise puts the loss at a real level: the teacher's loss on its own outputs is float round-off
    # (1e-18 to 1e-22 from batch to batch, depending on the CPU's kernels), where relative gains are noise.
    y = y + 0.1 * torch.randn(y.shape, generator=torch.Generator().manual_seed(2))
    config = training_config(max_iter=50, batch_size=4, learning_rate_init=1e-8, n_iter_no_change=3,
                             learning_rate="adaptive")
    result, optimizer = train(copy.deepcopy(teacher), u, y, None, config, torch.Generator().manual_seed(1))
    assert (result.n_iter, result.n_lr_decays, result.stop_reason) == (1 + 3, 0, "converged")
    assert optimizer.param_groups[0]["lr"] == 1e-8


@pytest.mark.parametrize("rank, seed", [(2, 0), (3, 1)])
def test_default_fit_reaches_the_teachers_training_loss_on_noisy_single_trials(rank, seed):
    """8 conditions x 6 noisy single trials (noise of the states' SD): a network of the teacher's rank holds the
    teacher, so a fit that has converged is at most the teacher's own training loss. Measured relative to the
    whole loss (mostly the trials' spread around their averages), the stopping rule ended these fits 2-6 % above
    it, from a start regressed on unsmoothed averages."""
    data = make_low_rank_teacher(n_units=30, rank=rank, n_inputs=rank, n_trials=8, n_timesteps=30,
                                 random_state=seed)
    X, clean = np.repeat(data.X, 6, axis=0), np.repeat(data.states, 6, axis=0)
    y = (clean + np.random.default_rng(seed).normal(scale=clean.std(), size=clean.shape)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = LowRankRNNRegressor(rank=rank, random_state=0).fit(X, y)
    assert np.mean((est.predict(X) - y) ** 2) <= np.mean((clean - y) ** 2)


@pytest.mark.parametrize("true_rank", [1, 2])
def test_cv_recovers_the_rank(true_rank):
    X, y = make_low_rank_teacher(n_units=30, rank=true_rank, n_trials=36, n_timesteps=20, random_state=true_rank,
                                 return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = LowRankRNNRegressorCV(ranks=[3, 1, 2], cv=3,
                                       estimator=LowRankRNNRegressor(max_iter=3, random_state=0)).fit(X, y)
    assert search.rank_ == true_rank
    assert list(search.cv_results_["param_rank"]) == [1, 2, 3]
    assert search.best_estimator_.rank == true_rank and search.best_estimator_.m_.shape == (30, true_rank)
    assert search.transform(X).shape == (36, 20, true_rank)
    assert search.score(X, y) == search.best_estimator_.score(X, y)
    scores = np.stack([search.cv_results_[f"split{k}_test_score"] for k in range(3)], axis=1)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], scores.mean(axis=1))


@pytest.mark.parametrize("ranks, match", [([], "empty"), ([0, 1], "positive"), ([1.5], "positive")])
def test_cv_bad_ranks(ranks, match):
    X, y = make_low_rank_teacher(n_units=10, rank=1, n_trials=6, n_timesteps=5, random_state=0, return_X_y=True)
    with pytest.raises(ValueError, match=match):
        LowRankRNNRegressorCV(ranks=ranks, cv=2).fit(X, y)


def test_cv_estimator_api():
    import pickle

    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    search = LowRankRNNRegressorCV(ranks=[1, 2], cv=2, estimator=LowRankRNNRegressor(max_iter=2, random_state=0))
    assert clone(search).get_params()["ranks"] == [1, 2]
    X, y = make_low_rank_teacher(n_units=10, rank=1, n_trials=8, n_timesteps=6, random_state=0, return_X_y=True)
    with pytest.raises(NotFittedError):
        search.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert search.fit(X, y) is search
    restored = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(restored.predict(X), search.predict(X))
    assert search.n_features_in_ == 2 and search.n_splits_ == 2


@pytest.mark.parametrize("readout, learning_rate, expected", [
    ("identity", "auto", "adaptive"), ("linear", "auto", "constant"),
    ("linear", "adaptive", "adaptive"), ("identity", "constant", "constant"),
])
def test_auto_schedule_adapts_when_fitting_activity_only(readout, learning_rate, expected):
    """'auto': the adaptive rate for activity (identity readout), the original constant rate for task training."""
    est = LowRankRNNRegressor(readout=readout, learning_rate=learning_rate)
    assert est._training_config().learning_rate == expected
