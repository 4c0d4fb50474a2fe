"""LowRankRNNRegressor: recovery of ground-truth teachers and scikit-learn integration."""

import functools
import warnings

import numpy as np
import pytest
import torch
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_lowrank import LowRankRNNRegressor, one_standard_error_rule
from sklearn_lowrank.datasets import make_low_rank_teacher, simulate_rnn
from sklearn_lowrank.inspection import effective_connectivity
from sklearn_lowrank.metrics import connectivity_cosine, r2_score_trials

N_TRAIN = 200


def _split(data):
    return data.X[:N_TRAIN], data.y[:N_TRAIN], data.X[N_TRAIN:], data.y[N_TRAIN:]


def _recovery(est, data):
    X_tr, y_tr, X_te, y_te = _split(data)
    est.fit(X_tr, y_tr)
    j_eff = effective_connectivity(est.m_, est.n_, est.input_weights_)
    j_eff_true = effective_connectivity(data.m, data.n, data.input_weights)
    clean = simulate_rnn(data.J, data.input_weights, X_te, alpha=data.alpha)
    ceiling = r2_score_trials(y_te, clean if data.output == "states" else np.tanh(clean))
    return {
        "r2": est.score(X_te, y_te),
        "cos_j_eff": connectivity_cosine(j_eff, j_eff_true),
        "cos_j": connectivity_cosine(est.connectivity_, data.J),
        "ceiling": ceiling,
    }


@pytest.fixture(scope="module")
def fitted_rank2(teacher_rank2):
    est = LowRankRNNRegressor(rank=2, random_state=0)
    return est, _recovery(est, teacher_rank2)


def test_recovery_rank2_states(fitted_rank2):
    _, res = fitted_rank2
    assert res["ceiling"] >= 0.97, res
    assert res["r2"] >= 0.95, res
    assert res["cos_j_eff"] >= 0.9, res
    assert res["cos_j"] >= 0.9, res


def test_recovery_rank2_rates_tanh():
    data = make_low_rank_teacher(n_units=200, rank=2, n_inputs=2, n_trials=250, n_timesteps=50, output="rates",
                                 random_state=0)
    est = LowRankRNNRegressor(rank=2, output_activation="tanh", random_state=0)
    res = _recovery(est, data)
    assert res["ceiling"] >= 0.97, res
    assert res["r2"] >= 0.95, res
    assert res["cos_j_eff"] >= 0.9, res


def test_random_init_also_learns(small_teacher):
    X, y = small_teacher.X, small_teacher.y
    est = LowRankRNNRegressor(rank=1, init="random", max_iter=60, n_iter_no_change=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.loss_curve_[-1] < est.loss_curve_[0] / 2
    assert est.score(X, y) > 0.5


def test_fitted_attributes_and_canonical_form(fitted_rank2, teacher_rank2):
    est, _ = fitted_rank2
    n_units = 200
    assert est.m_.shape == est.n_.shape == (n_units, 2)
    assert est.connectivity_.shape == (n_units, n_units)
    assert est.input_weights_.shape == (2, n_units)
    assert est.initial_state_.shape == (n_units,)
    assert est.n_units_ == n_units and est.n_outputs_ == n_units and est.n_features_in_ == 2
    assert est.n_iter_ == len(est.loss_curve_) >= 1
    # Orthogonal columns, ordered by singular value, positive largest entry.
    assert abs(est.m_[:, 0] @ est.m_[:, 1]) < 1e-3 * np.linalg.norm(est.m_) ** 2
    assert abs(est.n_[:, 0] @ est.n_[:, 1]) < 1e-3 * np.linalg.norm(est.n_) ** 2
    norms = np.linalg.norm(est.m_, axis=0)
    assert norms[0] >= norms[1]
    assert np.all(est.m_[np.argmax(np.abs(est.m_), axis=0), [0, 1]] > 0)
    np.testing.assert_allclose(np.linalg.norm(est.m_, axis=0), np.linalg.norm(est.n_, axis=0), rtol=1e-4)
    assert not hasattr(LowRankRNNRegressor(), "m_")


def test_transform_is_projection_on_m(fitted_rank2, teacher_rank2):
    est, _ = fitted_rank2
    X = teacher_rank2.X[:5]
    kappa = est.transform(X)
    assert kappa.shape == (5, 50, 2)
    states = est.predict_states(X)
    expected = states @ est.m_ / (est.m_**2).sum(axis=0)
    np.testing.assert_allclose(kappa, expected, rtol=1e-4, atol=1e-5)
    # Predictions are the observed units' states (identity readout, identity output).
    np.testing.assert_allclose(est.predict(X), states, rtol=1e-6)


def test_rank_selection_plateau_and_one_standard_error_rule(teacher_rank2):
    X, y = teacher_rank2.X[:150], teacher_rank2.y[:150]
    search = GridSearchCV(LowRankRNNRegressor(random_state=0), {"rank": [1, 2, 3, 4]}, cv=3,
                          refit=one_standard_error_rule)
    search.fit(X, y)
    mean = search.cv_results_["mean_test_score"]
    std = search.cv_results_["std_test_score"]
    assert mean[0] < mean[1] - 0.03, mean  # rank 1 clearly worse
    assert np.all(np.abs(mean[2:] - mean[1]) <= 3 * std[1] + 1e-3), (mean, std)  # plateau from rank 2
    assert search.best_params_ == {"rank": 2}
    assert search.best_estimator_.rank == 2


def test_full_rank_fit(small_teacher):
    X, y = small_teacher.X, small_teacher.y
    est = LowRankRNNRegressor(rank=None, max_iter=30, random_state=0).fit(X[:30], y[:30])
    assert not hasattr(est, "m_") and not hasattr(est, "n_")
    assert est.connectivity_.shape == (30, 30)
    assert est.score(X[30:], y[30:]) > 0.9
    assert est.transform(X[:2]).shape == (2, 20, 30)  # the unit states: no low-rank latent space


def _integration_task(n_trials=96, n_steps=25, seed=0):
    """Output = running mean of a noisy input: a small task for a linear readout."""
    rng = np.random.default_rng(seed)
    coh = rng.choice([-1.0, -0.5, 0.5, 1.0], size=n_trials)
    u = coh[:, None, None] * np.ones((1, n_steps, 1)) + 0.3 * rng.normal(size=(n_trials, n_steps, 1))
    target = np.full((n_trials, n_steps, 1), np.nan)
    target[:, -5:, 0] = np.sign(coh)[:, None] * 0.8
    return u.astype(np.float32), target.astype(np.float32)


def test_linear_readout_learns_task():
    X, y = _integration_task()
    est = LowRankRNNRegressor(rank=1, n_units=32, readout="linear", max_iter=60, learning_rate_init=3e-2,
                              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.readout_weights_.shape == (32, 1) and est.readout_bias_.shape == (1,)
    X_te, y_te = _integration_task(seed=1)
    pred = est.predict(X_te)
    choice = np.sign(pred[:, -5:, 0].mean(axis=1))
    assert (choice == np.sign(y_te[:, -1, 0])).mean() >= 0.9
    assert est.score(X_te, y_te) > 0.5


def test_hidden_units_train_and_predict_observed_only(small_teacher):
    X, y = small_teacher.X, small_teacher.y[..., :20]  # 20 observed of the teacher's 30 units
    est = LowRankRNNRegressor(rank=1, n_units=30, max_iter=30, random_state=0).fit(X, y)
    assert est.n_units_ == 30 and est.m_.shape == (30, 1)
    assert est.predict(X).shape == y.shape
    assert est.predict_states(X).shape == (40, 20, 30)
    assert est.score(X, y) > 0.8


def test_nan_targets_are_ignored(small_teacher):
    X, y = small_teacher.X, small_teacher.y.copy()
    y_nan = y.copy()
    y_nan[:10, :, 3] = np.nan  # neuron 3 not recorded in 10 trials
    y_nan[5, 4:8, :] = np.nan
    est = LowRankRNNRegressor(rank=1, max_iter=30, random_state=0).fit(X, y_nan)
    assert np.all(np.isfinite(est.m_))
    score_nan = est.score(X, y_nan)
    assert np.isfinite(score_nan) and score_nan > 0.9
    # The score only looks at observed entries: corrupting the masked ones changes nothing.
    y_other = np.where(np.isnan(y_nan), 1e3, y_nan)
    assert est.score(X, np.where(np.isnan(y_nan), np.nan, y_other)) == pytest.approx(score_nan)


def test_determinism_and_global_rng_untouched(small_teacher):
    X, y = small_teacher.X, small_teacher.y
    torch_state = torch.random.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking the legacy global RNG
    kw = {"rank": 1, "max_iter": 15, "noise_std": 0.05, "random_state": 7, "init": "random"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = LowRankRNNRegressor(**kw).fit(X, y)
        b = LowRankRNNRegressor(**kw).fit(X, y)
        c = LowRankRNNRegressor(**{**kw, "random_state": 8}).fit(X, y)
    assert np.array_equal(a.m_, b.m_) and np.array_equal(a.n_, b.n_)
    assert np.array_equal(a.predict(X), b.predict(X))
    assert a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.m_, c.m_)
    assert torch.equal(torch_state, torch.random.get_rng_state())
    assert np.array_equal(np_state, np.random.get_state()[1])  # noqa: NPY002


def test_cross_val_score_splits_trials(small_teacher):
    scores = cross_val_score(LowRankRNNRegressor(rank=1, max_iter=10, random_state=0), small_teacher.X,
                             small_teacher.y, cv=KFold(3))
    assert scores.shape == (3,) and np.all(scores > 0.8)


def test_pipeline_with_transformer_on_X(small_teacher):
    scale = FunctionTransformer(lambda X: 2.0 * X, inverse_func=lambda X: X / 2.0)
    pipe = make_pipeline(scale, LowRankRNNRegressor(rank=1, max_iter=10, random_state=0))
    pipe.fit(small_teacher.X, small_teacher.y)
    assert pipe.predict(small_teacher.X).shape == small_teacher.y.shape
    assert pipe.score(small_teacher.X, small_teacher.y) > 0.8
    search = GridSearchCV(pipe, {"lowrankrnnregressor__rank": [1, 2]}, cv=2,
                          refit=one_standard_error_rule).fit(small_teacher.X, small_teacher.y)
    assert search.best_params_["lowrankrnnregressor__rank"] in (1, 2)


def test_transformed_target_regressor(small_teacher):
    ttr = TransformedTargetRegressor(
        regressor=LowRankRNNRegressor(rank=1, max_iter=10, random_state=0),
        # With 3D y pass a transformer: TransformedTargetRegressor validates ``func`` as 2D-only.
        transformer=FunctionTransformer(lambda y: 3.0 * y, inverse_func=lambda y: y / 3.0), check_inverse=False,
    )
    ttr.fit(small_teacher.X, small_teacher.y)
    pred = ttr.predict(small_teacher.X)
    assert pred.shape == small_teacher.y.shape
    assert r2_score_trials(small_teacher.y, pred) > 0.8
    np.testing.assert_allclose(pred, ttr.regressor_.predict(small_teacher.X) / 3.0, rtol=1e-6)


def test_two_d_input_is_single_step_trials():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = X @ np.array([0.5, -0.2, 0.1], dtype=np.float32)
    est = LowRankRNNRegressor(rank=1, max_iter=100, learning_rate_init=5e-2, random_state=0).fit(X, y)
    assert est.predict(X).shape == (60,)
    assert est.score(X, y) > 0.9
    y2 = np.stack([y, -y], axis=1)
    with pytest.warns(UserWarning, match="read as 60 trials of one time step"):  # could be one trial: warned
        est2 = LowRankRNNRegressor(rank=1, max_iter=5, random_state=0).fit(X, y2)
    assert est2.predict(X).shape == (60, 2)
    assert est2.transform(X).shape == (60, 1)


def test_warm_start_continues(small_teacher):
    X, y = small_teacher.X, small_teacher.y
    est = LowRankRNNRegressor(rank=1, max_iter=5, warm_start=True, init="random", random_state=0, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        first = list(est.loss_curve_)
        module = est.module_
        est.fit(X, y)
    assert est.module_ is module
    assert len(est.loss_curve_) == 2 * len(first) == 10
    assert est.loss_curve_[-1] < first[-1]


def test_early_stopping_records_validation(small_teacher):
    est = LowRankRNNRegressor(rank=1, max_iter=100, early_stopping=True, validation_fraction=0.25,
                              n_iter_no_change=3, random_state=0).fit(small_teacher.X, small_teacher.y)
    assert len(est.validation_loss_curve_) == est.n_iter_ < 100
    assert est.best_loss_ == pytest.approx(min(est.validation_loss_curve_))


def test_verbose_lines(small_teacher, capsys):
    LowRankRNNRegressor(rank=1, max_iter=3, tol=0.0, verbose=1, random_state=0).fit(small_teacher.X,
                                                                                     small_teacher.y)
    out = capsys.readouterr().out
    assert out.count("Iteration") == 3 and "loss = " in out


def test_max_iter_warns_convergence(small_teacher):
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        LowRankRNNRegressor(rank=1, max_iter=2, tol=0.0, random_state=0).fit(small_teacher.X, small_teacher.y)


def test_predict_with_initial_state(small_teacher):
    est = LowRankRNNRegressor(rank=1, max_iter=5, random_state=0).fit(small_teacher.X, small_teacher.y)
    X = small_teacher.X[:3]
    default = est.predict(X)
    np.testing.assert_allclose(est.predict(X, initial_state=est.initial_state_), default, rtol=1e-6)
    per_trial = np.zeros((3, 30), dtype=np.float32)
    assert not np.allclose(est.predict(X, initial_state=per_trial), default)
    with pytest.raises(ValueError, match="initial_state must have shape"):
        est.predict(X, initial_state=np.zeros(5))


def test_verbose_progress_bar(small_teacher, capsys, monkeypatch):
    """verbose=2: a tqdm bar named "fit" advancing one epoch at a time, showing each epoch's loss, then cleared."""
    import tqdm.auto
    import tqdm.std

    # Refresh at every update (tqdm otherwise skips refreshes within 0.1 s, which makes the output timing-dependent).
    monkeypatch.setattr(tqdm.auto, "tqdm", functools.partial(tqdm.std.tqdm, mininterval=0, miniters=1))
    est = LowRankRNNRegressor(rank=1, max_iter=3, verbose=2, tol=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(small_teacher.X, small_teacher.y)
    out = capsys.readouterr().out
    frames = [f for f in out.split("\r") if f.strip()]
    assert frames[0].startswith("adam:   0%") and "| 0/3 " in frames[0]  # the bar is named after the stage
    for epoch, loss in enumerate(est.loss_curve_, start=1):
        assert any(f"| {epoch}/3 " in f and f"loss={loss:.4g}" in f for f in frames), (epoch, frames)
    assert out.rstrip("\r").split("\r")[-1].strip() == ""  # leave=False: the bar is cleared at the end


def test_initial_state_can_stay_at_zero(small_teacher):
    est = LowRankRNNRegressor(rank=1, max_iter=5, initial_state="zero", random_state=0)
    est.fit(small_teacher.X, small_teacher.y)
    assert not est.initial_state_.any()
    trained = LowRankRNNRegressor(rank=1, max_iter=5, random_state=0).fit(small_teacher.X, small_teacher.y)
    assert trained.initial_state_.any()


@pytest.mark.parametrize("output", ["states", "rates"])
def test_initialisation_alone_predicts_held_out_trials(output):
    """The data-driven initialisation (max_iter=0: no backpropagation at all) on a rank-2 teacher."""
    data = make_low_rank_teacher(n_units=100, rank=2, n_inputs=2, n_trials=150, n_timesteps=40, output=output,
                                 random_state=3)
    est = LowRankRNNRegressor(rank=2, max_iter=0, output_activation="identity" if output == "states" else "tanh",
                              random_state=0).fit(data.X[:100], data.y[:100])
    assert est.n_iter_ == 0 and est.loss_curve_ == []
    assert est.score(data.X[100:], data.y[100:]) >= 0.8


def test_initialisation_with_hidden_units_and_missing_data(small_teacher):
    """Hidden units and NaN: the regression uses the observed part, BPTT does the rest."""
    y = small_teacher.y[..., :20].copy()
    y[:5, :, 2] = np.nan
    est = LowRankRNNRegressor(rank=1, n_units=30, max_iter=0, random_state=0).fit(small_teacher.X, y)
    assert np.all(np.isfinite(est.m_)) and np.all(np.isfinite(est.predict(small_teacher.X)))
    assert est.score(small_teacher.X, y) > 0.5


@pytest.mark.parametrize("rank, output, noise", [(None, "rates", 0.05), (1, "states", 0.0)])
def test_auto_init_never_starts_worse_than_random(rank, output, noise):
    """init="auto" keeps the regression's network only if it beats the random start on the training trials
    (a full-rank J fitted to noisy rates can be unstable when run freely)."""
    data = make_low_rank_teacher(n_units=128, rank=1, n_inputs=1, n_trials=80, n_timesteps=40, output=output,
                                 random_state=0)
    y = data.y + noise * np.random.default_rng(0).normal(size=data.y.shape).astype(np.float32)
    if output == "rates":
        y = np.clip(y, -1, 1)
    act = "tanh" if output == "rates" else "identity"
    scores = {init: LowRankRNNRegressor(rank=rank, init=init, max_iter=0, output_activation=act,
                                        random_state=0).fit(data.X, y).score(data.X, y)
              for init in ("auto", "random")}
    assert scores["auto"] >= scores["random"] - 1e-6, scores


def test_one_standard_error_rule_tolerance():
    # The cv_results_ measured on a clean rank-2 teacher: rank 4 is best by 2e-4 with a tiny standard error.
    results = {"param_rank": np.array([1, 2, 3, 4]),
               "mean_test_score": np.array([0.93458, 0.99901, 0.99901, 0.99923]),
               "std_test_score": np.array([2.4e-3, 2.7e-4, 2.8e-4, 4.9e-5])}
    for i, row in enumerate(([0.932, 0.99924, 0.99924, 0.99925], [0.938, 0.99916, 0.99916, 0.99916],
                             [0.934, 0.99863, 0.99862, 0.99928])):
        results[f"split{i}_test_score"] = np.array(row)
    assert one_standard_error_rule(results, tol=0.0) == 3  # the textbook rule picks rank 4
    assert one_standard_error_rule(results) == 1  # differences below tol are ties: rank 2
    results["mean_test_score"] = np.array([0.5, 0.9, 0.95, 0.96])  # real differences are not ties
    assert one_standard_error_rule(results) == 3


def test_one_standard_error_rule_paired_over_folds():
    # Fold scores of single-trial counts: every rank scores higher on the fold of easier conditions (split2), so
    # the fold SE (0.005) exceeds the gain of rank 2 over rank 1 (0.0026) that every fold shows.
    splits = np.array([[0.01287, 0.01581, 0.01468, 0.01441],
                       [0.01094, 0.01352, 0.01370, 0.01373],
                       [0.03071, 0.03328, 0.03359, 0.03372]])
    results = {"param_rank": np.array([1, 2, 3, 4]), "mean_test_score": splits.mean(axis=0),
               "std_test_score": splits.std(axis=0)}
    results.update({f"split{k}_test_score": splits[k] for k in range(3)})
    assert one_standard_error_rule(results, tol=0.0) == 0
    assert one_standard_error_rule(results, tol=0.0, paired=True) == 1  # ranks 3, 4 tie with 2 fold by fold
    # A rank that wins in one fold only is a tie with the best under the paired rule too.
    splits[:, 0] = splits[:, 1] + np.array([0.004, -0.004, -0.004])
    results.update({"mean_test_score": splits.mean(axis=0), "std_test_score": splits.std(axis=0)})
    results.update({f"split{k}_test_score": splits[k] for k in range(3)})
    assert one_standard_error_rule(results, tol=0.0, paired=True) == 0
    with pytest.raises(ValueError, match="paired=True"):
        one_standard_error_rule({k: v for k, v in results.items() if not k.startswith("split")}, paired=True)
