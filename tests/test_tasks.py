"""Task generators, task metrics and task training of LowRankRNNRegressor."""

import warnings

import numpy as np
import pytest

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import (
    make_context_dependent_task,
    make_delayed_match_to_sample_task,
    make_perceptual_decision_task,
    make_working_memory_task,
)
from sklearn_lowrank.metrics import decision_accuracy, psychometric_matrix

GENERATORS = [
    (make_context_dependent_task, 4),
    (make_perceptual_decision_task, 1),
    (make_working_memory_task, 1),
    (make_delayed_match_to_sample_task, 2),
]
#: The per-trial conditions each generator returns.
CONDITIONS = {
    make_context_dependent_task: {"context", "coherence_1", "coherence_2", "choice"},
    make_perceptual_decision_task: {"coherence", "choice"},
    make_working_memory_task: {"f1", "f2", "choice", "delay_steps", "decision_start"},
    make_delayed_match_to_sample_task: {"sample", "test", "match", "choice", "delay_steps", "decision_start"},
}


# -- every generator -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, n_inputs", GENERATORS)
def test_shapes_dtypes_and_nan_window(make, n_inputs):
    X, y, cond = make(n_trials=7, random_state=0)
    assert X.dtype == np.float32 and y.dtype == np.float32
    assert X.shape[0] == y.shape[0] == 7 and X.shape[1] == y.shape[1]
    assert X.shape[2] == n_inputs and y.shape[2] == 1
    assert np.isfinite(X).all()
    assert set(cond) == CONDITIONS[make]
    for values in cond.values():
        assert np.asarray(values).shape == (7,)
    assert set(np.unique(cond["choice"])) <= {-1.0, 1.0}
    # every trial has a response window holding its choice and is NaN elsewhere
    window = ~np.isnan(y[..., 0])
    assert window.any(axis=1).all() and (~window).any(axis=1).all()
    means = np.nanmean(y[..., 0], axis=1)
    np.testing.assert_array_equal(means, cond["choice"])


@pytest.mark.parametrize("make, n_inputs", GENERATORS)
def test_reproducible_with_random_state(make, n_inputs):
    a = make(n_trials=5, random_state=3)
    b = make(n_trials=5, random_state=3)
    c = make(n_trials=5, random_state=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    rs = np.random.RandomState(0)
    assert not np.array_equal(make(n_trials=5, random_state=rs)[0], make(n_trials=5, random_state=rs)[0])


@pytest.mark.parametrize("make, n_inputs", GENERATORS)
def test_invalid_arguments_name_the_argument(make, n_inputs):
    with pytest.raises(ValueError, match="n_trials"):
        make(n_trials=0)
    with pytest.raises(ValueError, match="n_trials"):
        make(n_trials="all")
    with pytest.raises(ValueError, match="dt"):
        make(n_trials=2, dt=0)
    with pytest.raises(ValueError, match="input_noise_std"):
        make(n_trials=2, input_noise_std=-1.0)
    with pytest.raises(ValueError, match="decision_duration"):
        make(n_trials=2, decision_duration=-5.0)
    with pytest.raises(ValueError, match="n_repeats"):
        make(n_trials="grid", n_repeats=0)


@pytest.mark.parametrize("make, n_inputs", GENERATORS)
def test_noise_free_inputs_are_piecewise_constant(make, n_inputs):
    X, _, _ = make(n_trials=4, input_noise_std=0.0, random_state=0)
    # without noise each channel takes at most 3 values per trial (0, a stimulus, a second stimulus), and every
    # trial has a stimulus on some channel
    n_values = np.array([[len(np.unique(X[i, :, k])) for k in range(n_inputs)] for i in range(4)])
    assert n_values.max() <= 3 and (n_values.max(axis=1) >= 2).all()
    assert (X[:, 0] == 0).all()  # fixation: no input yet


# -- context-dependent task ------------------------------------------------------------------------------------


def test_context_task_timing_in_steps():
    X, y, cond, info = make_context_dependent_task(n_trials=6, input_noise_std=0.0, random_state=0,
                                                    return_info=True)
    periods = info["periods"]
    # dt = 20 ms: 100 / 350 / 800 / 100 / 20 ms -> 5 / 17 / 40 / 5 / 1 steps (floor, as the original code)
    assert periods == {"fixation": (0, 5), "context_only": (5, 22), "stimulus": (22, 62), "delay": (62, 67),
                       "decision": (67, 68)}
    assert X.shape == (6, 68, 4)
    stim = X[:, 22:62, :2]
    np.testing.assert_allclose(stim[:, 0, 0], 0.1 * cond["coherence_1"], rtol=1e-6)
    np.testing.assert_allclose(stim[:, 0, 1], 0.1 * cond["coherence_2"], rtol=1e-6)
    assert np.all(X[:, :22, :2] == 0) and np.all(X[:, 62:, :2] == 0)
    cue = X[:, :, 2:]
    assert np.all(cue[:, :5] == 0) and np.all(cue[:, 67:] == 0)
    for i, ctx in enumerate(cond["context"]):
        np.testing.assert_allclose(cue[i, 5:67, ctx - 1], 0.5)
        assert np.all(cue[i, :, 2 - ctx] == 0)


def test_context_task_other_dt_and_decision_window():
    X, y, _, info = make_context_dependent_task(n_trials=3, dt=50.0, decision_duration=100.0, random_state=0,
                                                return_info=True)
    # 100 / 350 / 800 / 100 / 100 ms at dt = 50 -> 2 / 7 / 16 / 2 / 2 steps
    assert X.shape[1] == 29 and info["periods"]["decision"] == (27, 29)
    assert np.isnan(y[:, :27]).all() and not np.isnan(y[:, 27:]).any()
    # a decision period shorter than dt keeps one step
    X, y, _ = make_context_dependent_task(n_trials=3, dt=50.0, random_state=0)
    assert X.shape[1] == 28 and (~np.isnan(y[0, :, 0])).sum() == 1


def test_context_task_rule():
    _, y, cond = make_context_dependent_task(n_trials=300, random_state=0)
    ctx1 = cond["context"] == 1
    np.testing.assert_array_equal(cond["choice"][ctx1], np.sign(cond["coherence_1"][ctx1]))
    np.testing.assert_array_equal(cond["choice"][~ctx1], np.sign(cond["coherence_2"][~ctx1]))
    # incongruent trials exist: the rule is not "follow channel 1" everywhere
    assert np.any(np.sign(cond["coherence_1"]) != np.sign(cond["coherence_2"]))
    assert set(np.unique(cond["context"])) == {1, 2}


def test_context_task_grid():
    X, y, cond = make_context_dependent_task(n_trials="grid", n_repeats=2, coherences=(-1, 1), random_state=0)
    assert X.shape[0] == 2 * 2 * 2 * 2
    combos = set(zip(cond["context"], cond["coherence_1"], cond["coherence_2"]))
    assert len(combos) == 8
    np.testing.assert_array_equal(cond["context"][:8], 1)


def test_context_task_noise_statistics():
    X, _, cond = make_context_dependent_task(n_trials=200, coherence_scale=0.0, random_state=0)
    assert abs(X[..., :2].std() - 0.1) < 0.005
    assert set(np.unique(X[..., 2:]).tolist()) == {0.0, 0.5}  # the context cues carry no noise


# -- other tasks -----------------------------------------------------------------------------------------------


def test_perceptual_decision_timing_and_rule():
    X, y, cond, info = make_perceptual_decision_task(n_trials=50, input_noise_std=0.0, random_state=0,
                                                     return_info=True)
    assert info["periods"] == {"fixation": (0, 5), "stimulus": (5, 45), "delay": (45, 60), "decision": (60, 75)}
    np.testing.assert_allclose(X[:, 10, 0], 0.032 * cond["coherence"], rtol=1e-6)
    np.testing.assert_array_equal(cond["choice"], np.sign(cond["coherence"]))
    assert np.isnan(y[:, :60]).all() and not np.isnan(y[:, 60:]).any()
    _, _, grid = make_perceptual_decision_task(n_trials="grid", random_state=0)
    assert len(grid["coherence"]) == 10


def test_working_memory_timing_and_rule():
    X, y, cond, info = make_working_memory_task(n_trials=30, input_noise_std=0.0, random_state=0,
                                                return_info=True)
    # 100 + 100 + max delay 1000 + 100 + 100 ms at dt = 20
    assert X.shape[1] == 5 + 5 + 50 + 5 + 5
    np.testing.assert_array_equal(cond["choice"], np.where(cond["f1"] > cond["f2"], 1.0, -1.0))
    assert np.all((cond["delay_steps"] >= 25) & (cond["delay_steps"] <= 50))
    for i in range(30):
        start = cond["decision_start"][i]
        window = np.flatnonzero(~np.isnan(y[i, :, 0]))
        np.testing.assert_array_equal(window, np.arange(start, start + 5))
        np.testing.assert_allclose(X[i, 5, 0], (cond["f1"][i] - info["f_mid"]) / info["f_span"], rtol=1e-5)
        np.testing.assert_allclose(X[i, start - 1, 0], (cond["f2"][i] - info["f_mid"]) / info["f_span"],
                                   rtol=1e-5)
    fixed = make_working_memory_task(n_trials=3, delay_duration=600.0, random_state=0)[2]
    np.testing.assert_array_equal(fixed["delay_steps"], 30)
    with pytest.raises(ValueError, match="delay_duration"):
        make_working_memory_task(n_trials=3, delay_duration=(800.0, 500.0))
    with pytest.raises(ValueError, match="frequency_pairs"):
        make_working_memory_task(n_trials=3, frequency_pairs=[(10.0, 10.0)])


def test_delayed_match_to_sample_rule():
    X, y, cond = make_delayed_match_to_sample_task(n_trials=40, input_noise_std=0.0, random_state=0)
    assert X.shape[1] == 5 + 25 + 150 + 25 + 50
    np.testing.assert_array_equal(cond["match"], cond["sample"] == cond["test"])
    np.testing.assert_array_equal(cond["choice"], np.where(cond["match"], 1.0, -1.0))
    for i in range(40):
        np.testing.assert_array_equal(X[i, 5:30, cond["sample"][i]], 1.0)
        np.testing.assert_array_equal(X[i, 5:30, 1 - cond["sample"][i]], 0.0)
        start = cond["decision_start"][i]
        np.testing.assert_array_equal(X[i, start - 25 : start, cond["test"][i]], 1.0)
        assert (~np.isnan(y[i, :, 0])).sum() == 50


# -- metrics ---------------------------------------------------------------------------------------------------


def test_decision_accuracy():
    _, y, cond = make_context_dependent_task(n_trials=20, random_state=0)
    perfect = np.nan_to_num(y)
    assert decision_accuracy(y, perfect) == 1.0
    assert decision_accuracy(y, -perfect) == 0.0
    assert decision_accuracy(y[..., 0], perfect[..., 0]) == 1.0  # 2D (n_trials, n_timesteps)
    wrong = perfect.copy()
    wrong[:5] *= -1
    assert decision_accuracy(y, wrong) == pytest.approx(0.75)
    # only the response window counts
    outside = perfect - np.where(np.isnan(y), 100.0 * np.sign(perfect.sum(axis=1, keepdims=True)), 0.0)
    assert decision_accuracy(y, outside) == 1.0
    with pytest.raises(ValueError, match="response window"):
        decision_accuracy(np.full((2, 3, 1), np.nan), np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match="shapes"):
        decision_accuracy(y, perfect[:, :-1])


def test_psychometric_matrix_of_a_perfect_and_a_channel_1_observer():
    _, y, cond = make_context_dependent_task(n_trials="grid", random_state=0)
    matrix, c1, c2, contexts = psychometric_matrix(y, np.nan_to_num(y), cond)
    np.testing.assert_array_equal(contexts, [1, 2])
    np.testing.assert_array_equal(c1, [-4, -2, -1, 1, 2, 4])
    expected_ctx1 = np.repeat((c1 > 0)[:, None], 6, axis=1).astype(float)
    np.testing.assert_array_equal(matrix[0], expected_ctx1)
    np.testing.assert_array_equal(matrix[1], expected_ctx1.T)
    # an observer that always follows channel 1 looks the same in both contexts
    follow_1 = np.where(np.isnan(y), 0.0, np.sign(cond["coherence_1"])[:, None, None])
    matrix, *_ = psychometric_matrix(y, follow_1, cond)
    np.testing.assert_array_equal(matrix[0], matrix[1])
    with pytest.raises(ValueError, match="coherence_3"):
        psychometric_matrix(y, follow_1, cond, first="coherence_3")


# -- task training ---------------------------------------------------------------------------------------------


def test_linear_readout_fits_nan_masked_targets_exactly_where_observed():
    X, y, _ = make_context_dependent_task(n_trials=16, dt=50.0, random_state=0)
    est = LowRankRNNRegressor(rank=1, n_units=16, readout="linear", alpha=0.5, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    assert np.isfinite(est.loss_curve_).all()
    y_pred = est.predict(X)
    assert y_pred.shape == y.shape and np.isfinite(y_pred).all()
    assert np.isfinite(est.score(X, y))


@pytest.mark.parametrize("rank", [1, None])
def test_task_loss_is_the_mse_over_the_response_window_only(rank):
    X, y, _ = make_context_dependent_task(n_trials=16, dt=50.0, random_state=0)
    params = {"rank": rank, "n_units": 16, "readout": "linear", "alpha": 0.5, "batch_size": 16, "random_state": 0}
    initial = LowRankRNNRegressor(max_iter=0, **params).fit(X, y)
    window = ~np.isnan(y)
    expected = np.mean((initial.predict(X)[window] - y[window]) ** 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one_epoch = LowRankRNNRegressor(max_iter=1, **params).fit(X, y)
    # one batch of all trials: the first loss is the initial network's error, measured in the window only
    assert one_epoch.loss_curve_[0] == pytest.approx(expected, rel=1e-4)


def test_rank_one_network_learns_the_context_dependent_task():
    """A rank-1 network of 64 units reaches >= 0.9 accuracy on held-out trials (a few seconds on one thread).

    dt = 50 ms (alpha = 0.5) gives 28 steps per trial. The loss sits on a plateau (~0.5, the choice is ignored)
    for some epochs before it drops, hence ``n_iter_no_change`` larger than that plateau.
    """
    X, y, _ = make_context_dependent_task(n_trials=128, dt=50.0, random_state=0)
    X_test, y_test, cond_test = make_context_dependent_task(n_trials=200, dt=50.0, random_state=1)
    est = LowRankRNNRegressor(rank=1, n_units=64, readout="linear", alpha=0.5, noise_std=0.05,
                              learning_rate_init=0.03, max_iter=100, n_iter_no_change=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    y_pred = est.predict(X_test)
    assert decision_accuracy(y_test, y_pred) >= 0.9
    matrix, *_ = psychometric_matrix(y_test, y_pred, cond_test)
    # context 1 follows channel 1 (rows), context 2 channel 2 (columns) at the strongest coherences
    assert np.nanmean(matrix[0, -1, :]) > 0.8 and np.nanmean(matrix[0, 0, :]) < 0.2
    assert np.nanmean(matrix[1, :, -1]) > 0.8 and np.nanmean(matrix[1, :, 0]) < 0.2
