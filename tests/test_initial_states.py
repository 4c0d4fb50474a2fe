"""Initial states: the estimator's modes, per-trial states learned in fit, inferred for new trials, the scorer."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_lowrank import LowRankRNNRegressor, LowRankRNNRegressorCV, make_initial_state_scorer, split_observed_steps
from sklearn_lowrank._core import LowRankRNN
from sklearn_lowrank._core.trial_states import infer_trial_states
from sklearn_lowrank.datasets import make_rotational_dynamics, make_trial_state_teacher
from sklearn_lowrank.metrics import r2_score_trials


@pytest.fixture(scope="module")
def trial_teacher():
    return make_trial_state_teacher(n_units=20, rank=2, n_conditions=40, n_timesteps=25, noise_std=0.0,
                                    random_state=0)


@pytest.fixture(scope="module")
def per_trial_fit(trial_teacher):
    d = trial_teacher
    return LowRankRNNRegressor(rank=2, initial_state="per_trial", max_iter=15, random_state=0).fit(d.X[:30],
                                                                                                   d.y[:30])


def _head(y, n_steps):
    return split_observed_steps(y, n_steps)[0]


# -- the modes -----------------------------------------------------------------------------------------------------


def test_learned_is_the_default_and_has_no_per_trial_states(small_teacher):
    assert LowRankRNNRegressor().initial_state == "learned"
    est = LowRankRNNRegressor(rank=1, max_iter=3, random_state=0).fit(small_teacher.X, small_teacher.y)
    assert est.initial_state_.any() and not hasattr(est, "initial_states_")


def test_zero_and_fixed_arrays_are_not_trained(small_teacher):
    X, y = small_teacher.X, small_teacher.y
    n_units = y.shape[-1]
    zero = LowRankRNNRegressor(rank=1, max_iter=3, initial_state="zero", random_state=0).fit(X, y)
    assert not zero.initial_state_.any()
    given = np.linspace(-0.5, 0.5, n_units).astype(np.float32)
    shared = LowRankRNNRegressor(rank=1, max_iter=3, initial_state=given, random_state=0).fit(X, y)
    np.testing.assert_array_equal(shared.initial_state_, given)
    per_trial = np.random.default_rng(0).normal(size=(X.shape[0], n_units)).astype(np.float32)
    fixed = LowRankRNNRegressor(rank=1, max_iter=3, initial_state=per_trial, random_state=0).fit(X, y)
    np.testing.assert_allclose(fixed.initial_states_, per_trial)
    assert not fixed.initial_state_.any()


def test_per_trial_states_are_learned_in_the_span(per_trial_fit, trial_teacher):
    est = per_trial_fit
    assert est.initial_states_.shape == (30, 20)
    offsets = est.initial_states_ - est.initial_state_
    basis = np.concatenate([est.m_, est.input_weights_.T], axis=1)
    residual = offsets - (basis @ np.linalg.lstsq(basis, offsets.T, rcond=None)[0]).T
    assert np.abs(residual).max() < 1e-4 * np.abs(offsets).max()
    # The training trials run from their own states fit far better than from the shared one.
    d = trial_teacher
    own = r2_score_trials(d.y[:30], est.predict(d.X[:30], initial_state=est.initial_states_))
    shared = est.score(d.X[:30], d.y[:30])
    assert own > 0.9 and own > shared + 0.1


def test_per_trial_fit_is_reproducible_and_pickles(per_trial_fit, trial_teacher):
    d = trial_teacher
    again = LowRankRNNRegressor(rank=2, initial_state="per_trial", max_iter=15, random_state=0).fit(d.X[:30],
                                                                                                    d.y[:30])
    np.testing.assert_array_equal(again.initial_states_, per_trial_fit.initial_states_)
    loaded = pickle.loads(pickle.dumps(per_trial_fit))
    np.testing.assert_array_equal(loaded.initial_states_, per_trial_fit.initial_states_)
    x0 = per_trial_fit.initial_states_[:3]
    np.testing.assert_array_equal(loaded.predict(d.X[:3], initial_state=x0),
                                  per_trial_fit.predict(d.X[:3], initial_state=x0))


@pytest.mark.parametrize("bad, match", [(np.zeros(7), r"\(20,\) or \(30, 20\)"), (np.full(20, np.nan), "NaN")])
def test_bad_initial_state_arrays_are_refused(trial_teacher, bad, match):
    d = trial_teacher
    with pytest.raises(ValueError, match=match):
        LowRankRNNRegressor(rank=2, max_iter=1, initial_state=bad).fit(d.X[:30], d.y[:30])


def test_unknown_mode_is_refused(trial_teacher):
    with pytest.raises(ValueError, match="initial_state"):
        LowRankRNNRegressor(initial_state="mean").fit(trial_teacher.X, trial_teacher.y)


# -- inference -------------------------------------------------------------------------------------------------


def test_core_inference_recovers_a_known_state():
    net = LowRankRNN(12, 1, 12, 2, alpha=0.2, generator=torch.Generator().manual_seed(1))
    u = torch.randn(4, 20, 1, generator=torch.Generator().manual_seed(2))
    x0 = torch.randn(4, 2, generator=torch.Generator().manual_seed(3)) @ net.m.detach().t()
    y = net(u, initial_state=x0).detach()
    mask = torch.zeros_like(y, dtype=torch.bool)
    mask[:, :8] = True  # only the first 8 steps observed
    found = infer_trial_states(net, u, y * mask, mask, max_iter=50)
    torch.testing.assert_close(found, x0, atol=1e-3, rtol=0)
    assert all(p.grad is None for p in net.parameters())  # the network stays untouched


def test_infer_initial_state_recovers_the_teachers_start():
    # The student is the teacher itself (its exact weights), so the true start is the only right answer.
    d = make_trial_state_teacher(n_units=15, rank=2, n_conditions=6, n_timesteps=20, noise_std=0.0,
                                 random_state=1)
    est = LowRankRNNRegressor(rank=2, max_iter=0, random_state=0).fit(d.X, d.y)
    with torch.no_grad():
        est.module_.m.copy_(torch.from_numpy(d.m))
        est.module_.n.copy_(torch.from_numpy(d.n))
        est.module_.input_weights.copy_(torch.from_numpy(d.input_weights))
        est.module_.initial_state.zero_()
    found = est.infer_initial_state(d.X, _head(d.y, 10), max_iter=50)
    np.testing.assert_allclose(found, d.initial_states, atol=2e-3)


def test_inferred_states_predict_held_out_trials(per_trial_fit, trial_teacher):
    d, est = trial_teacher, per_trial_fit
    X, y = d.X[30:], d.y[30:]
    head, tail = split_observed_steps(y, 8)
    x0 = est.infer_initial_state(X, head)
    inferred = r2_score_trials(tail, est.predict(X, initial_state=x0))
    shared = r2_score_trials(tail, est.predict(X))
    assert inferred > 0.9 and inferred > shared + 0.1


def test_infer_initial_state_checks_its_arguments(per_trial_fit, trial_teacher):
    with pytest.raises(ValueError, match="outputs"):
        per_trial_fit.infer_initial_state(trial_teacher.X, trial_teacher.y[..., :5])
    with pytest.raises(ValueError, match="max_iter"):
        per_trial_fit.infer_initial_state(trial_teacher.X, trial_teacher.y, max_iter=0)


def test_poisson_per_trial_fit_and_inference():
    d = make_trial_state_teacher(n_units=20, rank=2, n_conditions=30, n_timesteps=25, output="counts",
                                 rate_range=(10.0, 80.0), random_state=0)
    est = LowRankRNNRegressor(rank=2, loss="poisson", initial_state="per_trial", max_iter=5,
                              random_state=0).fit(d.X[:20], d.y[:20])
    assert est.initial_states_.shape == (20, 20)
    x0 = est.infer_initial_state(d.X[20:], _head(d.y[20:], 10))
    assert np.isfinite(x0).all() and x0.shape == (10, 20)


# -- the scorer --------------------------------------------------------------------------------------------------


def test_split_observed_steps_counts_observed_steps_per_trial():
    y = np.ones((2, 6, 2), dtype=np.float32)
    y[0, :2] = np.nan  # trial 0 is observed from step 2
    y[1, 1, 0] = np.nan  # one feature missing: the step still counts as observed
    head, tail = split_observed_steps(y, 3)
    np.testing.assert_array_equal(~np.isnan(head[..., 1]), [[0, 0, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]])
    np.testing.assert_array_equal(~np.isnan(tail[..., 1]), [[0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 1, 1]])


def test_scorer_scores_the_steps_after_the_inferred_start(per_trial_fit, trial_teacher):
    d, est = trial_teacher, per_trial_fit
    scorer = make_initial_state_scorer(n_steps=8)
    head, tail = split_observed_steps(d.y[30:], 8)
    expected = r2_score_trials(tail, est.predict(d.X[30:], initial_state=est.infer_initial_state(d.X[30:], head)))
    assert scorer(est, d.X[30:], d.y[30:]) == pytest.approx(expected)
    with pytest.raises(ValueError, match="nothing is left to score"):
        make_initial_state_scorer(n_steps=25)(est, d.X[30:], d.y[30:])
    with pytest.raises(ValueError, match="n_steps"):
        make_initial_state_scorer(n_steps=0)


def test_scorer_in_grid_search_prefers_per_trial_states():
    d = make_rotational_dynamics(n_units=16, n_conditions=12, n_timesteps=30, noise_std=0.0, random_state=0)
    grid = GridSearchCV(LowRankRNNRegressor(rank=2, max_iter=15, random_state=0),
                        {"initial_state": ["learned", "per_trial"]}, cv=KFold(3),
                        scoring=make_initial_state_scorer(n_steps=8))
    grid.fit(d.X, d.y)
    assert grid.best_params_ == {"initial_state": "per_trial"}
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=5
def test_scorer_in_the_rank_search_finds_the_true_rank():
    """LowRankRNNRegressorCV(scoring=the per-trial scorer) on a rank-2 teacher whose trials differ by their start."""
    d = make_trial_state_teacher(n_units=16, rank=2, n_conditions=24, n_timesteps=20, noise_std=0.02, random_state=2)
    scorer = make_initial_state_scorer(n_steps=8)
    search = LowRankRNNRegressorCV([1, 2, 3], cv=3, scoring=scorer, estimator=LowRankRNNRegressor(
        initial_state="per_trial", max_iter=5, random_state=0))
    assert clone(search).get_params()["scoring"].n_steps == 8 and search.get_params()["scoring"] is scorer
    search.fit(d.X, d.y)
    means = search.cv_results_["mean_test_score"]
    assert search.rank_ == 2 and means[1] - means[0] > 0.1  # rank 1 cannot follow the starts; rank 3 adds nothing
    assert search.scorer_ is scorer
    assert search.score(d.X, d.y) == scorer(search.best_estimator_, d.X, d.y)  # score() is the scorer's
    loaded = pickle.loads(pickle.dumps(search))
    assert repr(loaded.scorer_) == repr(scorer) and loaded.score(d.X, d.y) == search.score(d.X, d.y)


# -- the teachers ------------------------------------------------------------------------------------------------


def test_trial_state_teacher_starts_in_the_span_of_m():
    d = make_trial_state_teacher(n_units=25, rank=2, n_conditions=3, n_trials_per_condition=2, n_timesteps=10,
                                 random_state=0)
    np.testing.assert_allclose(d.initial_states, d.initial_latents @ d.m.T)
    assert not np.allclose(d.clean_states[0], d.clean_states[1])  # same condition, different starts
    np.testing.assert_array_equal(d.X[0], d.X[1])


def test_counts_and_rotations():
    d = make_trial_state_teacher(n_units=10, n_conditions=4, n_timesteps=10, output="counts", random_state=0)
    assert (d.y >= 0).all() and np.array_equal(d.y, np.round(d.y)) and d.rates.shape == d.y.shape
    rot = make_rotational_dynamics(n_units=30, n_conditions=4, n_timesteps=40, noise_std=0.0, random_state=0)
    kappa = rot.clean_states @ np.linalg.pinv(rot.m).T  # latent trajectories
    angle = np.unwrap(np.arctan2(kappa[..., 1], kappa[..., 0]), axis=1)
    assert (np.diff(angle, axis=1) > 0).all()  # every condition rotates the same way
    with pytest.raises(ValueError, match="output"):
        make_rotational_dynamics(output="spikes")


# -- inspection ------------------------------------------------------------------------------------------------


def test_latent_coordinates_and_flow_field_read_per_trial_starts(per_trial_fit, trial_teacher):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_lowrank.inspection import latent_coordinates, latent_flow
    from sklearn_lowrank.plotting import plot_flow_field

    est, X = per_trial_fit, trial_teacher.X[:30]
    own = latent_coordinates(est, X, initial_state=est.initial_states_)
    np.testing.assert_allclose(own, latent_coordinates(est, X, est.initial_states_))
    assert not np.allclose(own, latent_coordinates(est, X))
    starts = est.initial_states_ @ est.m_ / (est.m_**2).sum(axis=0)
    flow = latent_flow(est, np.linspace(-2, 2, 7), np.linspace(-2, 2, 7))
    ax = plot_flow_field(flow, starts=starts)
    drawn = [c for c in ax.collections if c.get_label() == "trial starts"]
    np.testing.assert_allclose(drawn[0].get_offsets(), starts)
    with pytest.raises(ValueError, match="starts"):
        plot_flow_field(flow, starts=np.zeros(3))


def test_warm_start_needs_the_same_trials(trial_teacher):
    d = trial_teacher
    est = LowRankRNNRegressor(rank=2, initial_state="per_trial", max_iter=2, warm_start=True, random_state=0)
    est.fit(d.X[:10], d.y[:10])
    first = est.initial_states_.copy()
    est.fit(d.X[:10], d.y[:10])  # goes on from the learned states
    assert est.initial_states_.shape == first.shape and not np.array_equal(est.initial_states_, first)
    with pytest.raises(ValueError, match="initial states of 10 trials"):
        est.fit(d.X[:12], d.y[:12])


def test_infer_initial_state_on_a_mixture_network(small_teacher):
    from sklearn_lowrank import GaussianMixtureRNN

    X, y = small_teacher.X[:10], small_teacher.y[:10]
    est = GaussianMixtureRNN(max_iter=2, n_units=y.shape[-1], random_state=0).fit(X, y)
    head, tail = split_observed_steps(y, 5)
    x0 = est.infer_initial_state(X, head)
    assert x0.shape == (10, y.shape[-1])
    # The inferred starts explain the steps they were fitted to at least as well as the mixture's zero start.
    assert r2_score_trials(head, est.predict(X, initial_state=x0)) >= r2_score_trials(head, est.predict(X))
