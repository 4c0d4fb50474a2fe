"""Trial-tensor transformers: round trips, NaN handling, Pipeline, GridSearchCV and
TransformedTargetRegressor with LowRankRNNRegressor."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import make_low_rank_teacher
from sklearn_lowrank.metrics import r2_score_trials
from sklearn_lowrank.preprocessing import (
    ConditionMeanRemover,
    GaussianSmoother,
    PCADenoiser,
    TimeBinner,
    TrialStandardScaler,
)

TRANSFORMERS = [TrialStandardScaler(), GaussianSmoother(), TimeBinner(), ConditionMeanRemover(),
                PCADenoiser(n_components=1)]

# scikit-learn's estimator checks run from tests/test_common.py.


@pytest.fixture
def trials():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 25)
    latent = np.sin(2 * np.pi * (t[None, :, None] + rng.uniform(size=(12, 1, 1))))
    X = 3.0 + 2.0 * latent * rng.normal(size=(1, 1, 6)) + 0.1 * rng.normal(size=(12, 25, 6))
    return X


def _with_nans(X):
    X = X.copy()
    X[0, 3, 1] = np.nan
    X[2, :, 4] = np.nan
    X[5, 10:15, 0] = np.nan
    return X


# -- shapes and dtypes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=lambda t: type(t).__name__)
def test_3d_in_3d_out_float32(transformer, trials):
    out = clone(transformer).fit_transform(trials)
    n_steps = 13 if isinstance(transformer, TimeBinner) else 25
    assert out.shape == (12, n_steps, 6) and out.dtype == np.float32
    two_d = clone(transformer).fit_transform(trials[:, 0])
    assert two_d.shape == (12, 6) and two_d.dtype == np.float32


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=lambda t: type(t).__name__)
def test_errors_name_the_problem(transformer, trials):
    est = clone(transformer).fit(trials)
    with pytest.raises(ValueError, match="features"):
        est.transform(trials[..., :3])
    with pytest.raises(ValueError, match="must be a 2D or 3D array"):
        est.transform(trials[0, 0])
    bad = trials.copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clone(transformer).fit(bad)


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=lambda t: type(t).__name__)
def test_feature_names_out(transformer, trials):
    est = clone(transformer).fit(trials)
    np.testing.assert_array_equal(est.get_feature_names_out(), [f"x{i}" for i in range(6)])


# -- round trips -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transformer", [TrialStandardScaler(), TrialStandardScaler(with_std=False),
                                         ConditionMeanRemover()], ids=lambda t: repr(t))
def test_inverse_transform_round_trip(transformer, trials):
    est = clone(transformer).fit(trials)
    np.testing.assert_allclose(est.inverse_transform(est.transform(trials)), trials, rtol=1e-5, atol=1e-5)
    nan = _with_nans(trials)
    back = est.inverse_transform(est.transform(nan))
    np.testing.assert_array_equal(np.isnan(back), np.isnan(nan))
    np.testing.assert_allclose(back[~np.isnan(nan)], nan[~np.isnan(nan)], rtol=1e-5, atol=1e-5)


def test_time_binner_round_trip_and_sums(trials):
    binner = TimeBinner(bin_size=5).fit(trials)
    binned = binner.transform(trials)
    assert binned.shape == (12, 5, 6)
    np.testing.assert_allclose(binned[:, 1], trials[:, 5:10].mean(axis=1), rtol=1e-5)
    piecewise = np.repeat(binned, 5, axis=1)
    np.testing.assert_allclose(binner.inverse_transform(binned), piecewise, rtol=1e-6)
    np.testing.assert_allclose(binner.transform(piecewise), binned, rtol=1e-6)
    counts = np.ones((2, 7, 1))
    summer = TimeBinner(bin_size=3, statistic="sum").fit(counts)
    np.testing.assert_array_equal(summer.transform(counts)[0, :, 0], [3, 3, 1])
    np.testing.assert_allclose(summer.inverse_transform(summer.transform(counts))[0, :6, 0], 1.0)
    assert summer.inverse_transform(summer.transform(counts)).shape == (2, 7, 1)


def test_identity_inverse_of_non_invertible_transformers(trials):
    for est in (GaussianSmoother(sigma=1.5), PCADenoiser(n_components=2)):
        est.fit(trials)
        out = est.transform(trials)
        np.testing.assert_array_equal(est.inverse_transform(out), out)


# -- what each transformer computes ----------------------------------------------------------------------------


def test_standard_scaler_statistics_over_trials_and_time(trials):
    out = TrialStandardScaler().fit_transform(trials)
    np.testing.assert_allclose(out.reshape(-1, 6).mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.reshape(-1, 6).std(axis=0), 1, atol=1e-4)
    constant = np.ones((3, 4, 2))
    np.testing.assert_array_equal(TrialStandardScaler().fit(constant).scale_, [1.0, 1.0])


def test_gaussian_smoother_matches_scipy_in_the_interior_and_keeps_constants(trials):
    from scipy.ndimage import gaussian_filter1d

    out = GaussianSmoother(sigma=1.0).fit_transform(trials)
    ref = gaussian_filter1d(trials, 1.0, axis=1)
    np.testing.assert_allclose(out[:, 5:-5], ref[:, 5:-5], rtol=1e-5)
    constant = np.full((2, 10, 3), 4.0)
    np.testing.assert_allclose(GaussianSmoother(sigma=3.0).fit_transform(constant), 4.0, rtol=1e-6)
    np.testing.assert_array_equal(GaussianSmoother(sigma=0).fit_transform(trials), trials.astype(np.float32))
    smooth = GaussianSmoother(sigma=2.0).fit_transform(trials)
    assert np.abs(np.diff(smooth, axis=1)).mean() < np.abs(np.diff(trials, axis=1)).mean()


def test_condition_mean_remover_removes_the_mean_over_trials(trials):
    remover = ConditionMeanRemover().fit(trials)
    assert remover.mean_.shape == (25, 6)
    np.testing.assert_allclose(remover.transform(trials).mean(axis=0), 0, atol=1e-5)
    with pytest.raises(ValueError, match="n_timesteps"):
        remover.transform(trials[:, :10])


def test_pca_denoiser_components(trials):
    full = PCADenoiser(n_components=6).fit(trials)
    np.testing.assert_allclose(full.transform(trials), trials, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(full.components_ @ full.components_.T, np.eye(6), atol=1e-8)
    frac = PCADenoiser(n_components=0.5).fit(trials)
    assert frac.explained_variance_ratio_.sum() >= 0.5 and frac.n_components_ < 6
    with pytest.raises(ValueError, match="n_components=7"):
        PCADenoiser(n_components=7).fit(trials)


# -- NaN handling ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=lambda t: type(t).__name__)
def test_nan_is_ignored_and_kept(transformer, trials):
    nan = _with_nans(trials)
    est = clone(transformer).fit(nan)
    out = est.transform(nan)
    if isinstance(transformer, TimeBinner):
        # a bin is NaN only when all its steps are
        assert np.isnan(out[2, :, 4]).all() and not np.isnan(out[0, 1, 1])
        return
    np.testing.assert_array_equal(np.isnan(out), np.isnan(nan))
    for name in ("mean_", "scale_", "components_"):
        if hasattr(est, name):
            assert np.isfinite(getattr(est, name)).all()


def test_nan_statistics_equal_those_of_the_observed_entries(trials):
    nan = _with_nans(trials)
    scaler = TrialStandardScaler().fit(nan)
    flat = nan.reshape(-1, 6)
    np.testing.assert_allclose(scaler.mean_, np.nanmean(flat, axis=0))
    np.testing.assert_allclose(scaler.scale_, np.nanstd(flat, axis=0))
    smooth = GaussianSmoother(sigma=1.0).fit_transform(nan)
    # next to a gap the smoother averages the observed neighbours only
    assert np.isfinite(smooth[5, 9, 0]) and np.isfinite(smooth[5, 15, 0])


# -- integration with estimators -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def teacher_data():
    X, y = make_low_rank_teacher(n_units=12, rank=1, n_inputs=1, n_trials=24, n_timesteps=12, random_state=0,
                                 return_X_y=True)
    return X, 4.0 * y + 2.0


def test_pipeline_on_inputs_with_grid_search(teacher_data, quiet_fit):
    X, y = teacher_data
    pipe = make_pipeline(GaussianSmoother(), TrialStandardScaler(),
                         LowRankRNNRegressor(rank=1, max_iter=5, random_state=0))
    search = GridSearchCV(pipe, {"gaussiansmoother__sigma": [0.0, 1.0]}, cv=KFold(2))
    quiet_fit(search, X, y)
    assert search.best_params_["gaussiansmoother__sigma"] in (0.0, 1.0)
    assert search.predict(X).shape == y.shape
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize("transformer", [TrialStandardScaler(), ConditionMeanRemover(), GaussianSmoother(1.0),
                                         PCADenoiser(3)], ids=lambda t: type(t).__name__)
def test_transformed_target_regressor_with_low_rank_rnn(transformer, teacher_data, quiet_fit):
    X, y = teacher_data
    ttr = TransformedTargetRegressor(regressor=LowRankRNNRegressor(rank=1, max_iter=30, random_state=0),
                                     transformer=transformer, check_inverse=False)
    quiet_fit(ttr, X, y)
    pred = ttr.predict(X)
    assert pred.shape == y.shape  # 3D y goes through TransformedTargetRegressor unchanged
    # the regressor saw transformed targets, the predictions are back on the scale of y
    if isinstance(transformer, TrialStandardScaler):
        assert abs(ttr.regressor_.predict(X).mean()) < 0.5
    assert r2_score_trials(y, pred) > 0.5


def test_transformed_target_regressor_scaler_passes_check_inverse(teacher_data):
    X, y = teacher_data
    ttr = TransformedTargetRegressor(regressor=LowRankRNNRegressor(rank=1, max_iter=2, random_state=0),
                                     transformer=TrialStandardScaler())
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", category=Warning, message=".*max_iter.*")
        ttr.fit(X, y)
    # TransformedTargetRegressor.score uses sklearn's r2_score (2D only): score 3D targets with our scorer
    scorer = make_scorer(r2_score_trials)
    assert np.isfinite(scorer(ttr, X, y))
