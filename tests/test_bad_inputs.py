"""Bad inputs: every case stops with a message naming the argument and what to do, or has a documented result.

The matrix runs for each estimator and each transformer of :mod:`sklearn_lowrank.preprocessing` (the
``estimator`` and ``transformer`` fixtures of conftest.py, on its small data set). "Documented result" cases
assert the documented behaviour exactly (conversions give the same fit as the converted data, capping gives the
same fit as the cap), so nothing is silently coerced into nonsense.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from sklearn_lowrank.metrics import r2_score_trials
from sklearn_lowrank.preprocessing import (
    ConditionMeanRemover,
    GaussianSmoother,
    PCADenoiser,
    TimeBinner,
    TrialStandardScaler,
)

N_TRIALS, N_FEATURES = 10, 20  # the shared data set of conftest.py: 10 trials x 8 steps, 2 inputs


def _with(arr, value, where=(0, 0, 0)):
    out = np.array(arr, dtype=np.float64)
    out[where] = value
    return out


def _object_with(arr, value):
    out = np.asarray(arr).astype(object)
    out[0, 0, 0] = value
    return out


# ---------------------------------------------------------------------------------------------------------------
# Estimators: errors. Each case: (id, call(est, fitted_est, X, y), exception, regex of the message).
# ---------------------------------------------------------------------------------------------------------------

_FIT_ERRORS = [
    ("X_1d", lambda e, f, X, y: e.fit(X[0, 0], y[0, 0]), ValueError, r"X must be a 2D or 3D array, got a 1D.*Reshape"),
    ("X_4d", lambda e, f, X, y: e.fit(X[..., None], y), ValueError, r"X must be a 2D or 3D array, got a 4D.*Reshape"),
    ("y_4d", lambda e, f, X, y: e.fit(X, y[..., None]), ValueError, r"y must be 3D .*got shape \(10, 8, 20, 1\)"),
    ("y_2d_with_3d_X", lambda e, f, X, y: e.fit(X, y[:, 0]), ValueError, r"y must be 3D.*y\[\.\.\., None\]"),
    ("trials_differ", lambda e, f, X, y: e.fit(X, y[:5]), ValueError,
     r"X and y have different numbers of trials: 10 and 5; pass the activity of the same trials"),
    ("steps_differ", lambda e, f, X, y: e.fit(X, y[:, :4]), ValueError,
     r"X and y have different numbers of time steps: 8 and 4; pass y with one row per time step"),
    ("zero_trials", lambda e, f, X, y: e.fit(X[:0], y[:0]), ValueError, r"X has 0 trials.*pass at least one trial"),
    ("zero_trials_2d", lambda e, f, X, y: e.fit(X[:0, 0], y[:0, 0]), ValueError, r"X has 0 trials"),
    ("zero_steps", lambda e, f, X, y: e.fit(X[:, :0], y[:, :0]), ValueError,
     r"X has 0 time steps.*pass at least one time step"),
    ("zero_outputs", lambda e, f, X, y: e.fit(X, y[..., :0]), ValueError, r"y has 0 features; pass at least one"),
    ("nan_in_X", lambda e, f, X, y: e.fit(_with(X, np.nan), y), ValueError,
     r"X contains NaN \(1 entries\); X must be finite.*impute the missing inputs or drop those trials"),
    ("inf_in_X", lambda e, f, X, y: e.fit(_with(X, -np.inf), y), ValueError,
     r"X contains infinity \(inf\) in 1 entries; X must be finite"),
    ("inf_in_y", lambda e, f, X, y: e.fit(X, _with(y, np.inf)), ValueError,
     r"y contains infinity.*mark missing observations with NaN instead"),
    ("y_all_nan", lambda e, f, X, y: e.fit(X, np.full_like(y, np.nan)), ValueError,
     r"y is NaN everywhere.*pass trials with observed activity"),
    ("X_strings", lambda e, f, X, y: e.fit(X.astype(str), y), TypeError, r"X has dtype <U\d+ .*pass numeric data"),
    ("y_strings", lambda e, f, X, y: e.fit(X, y.astype(str)), TypeError, r"y has dtype <U\d+ .*pass numeric data"),
    # An object array holding a string is refused like a string array (numeric strings are not parsed).
    ("X_object_strings", lambda e, f, X, y: e.fit(_object_with(X, "0.5"), y), TypeError,
     r"X has dtype object holding strings or complex numbers; pass real numeric data"),
    ("X_object_dict", lambda e, f, X, y: e.fit(_object_with(X, {"a": 1}), y), TypeError,
     r"X has dtype object with entries that are not real numbers.*pass numeric data"),
    ("X_complex", lambda e, f, X, y: e.fit(X + 1j, y), ValueError, r"Complex data not supported: X.*real-valued"),
    ("y_complex", lambda e, f, X, y: e.fit(X, y * (1 + 1j)), ValueError, r"Complex data not supported: y"),
    ("X_beyond_float32", lambda e, f, X, y: e.fit(_with(X, 1e39), y), ValueError,
     r"X has values beyond the float32 range .*rescale it"),
    ("y_beyond_float32", lambda e, f, X, y: e.fit(X, _with(y, -1e39)), ValueError,
     r"y has values beyond the float32 range .*rescale it"),
    ("X_1e30", lambda e, f, X, y: e.fit(_with(X, 1e30), y), ValueError,
     r"X has values up to 1e\+30 in magnitude.*squares of values above 1.84e\+19 overflow: rescale it"),
    ("y_1e30", lambda e, f, X, y: e.fit(X, _with(y, 1e30)), ValueError, r"y has values up to 1e\+30.*rescale it"),
    ("X_None", lambda e, f, X, y: e.fit(None, y), ValueError, r"X is None\. Pass an array of shape"),
    ("y_None", lambda e, f, X, y: e.fit(X, None), ValueError, r"requires y to be passed.*pass the activity"),
    ("X_ragged_list", lambda e, f, X, y: e.fit([X[0], X[1, :4]], y[:2]), ValueError,
     r"X is a list of trials of different lengths.*lists of trials of the same lengths"),
    ("X_sparse", lambda e, f, X, y: e.fit(sp.csr_matrix(X[:, 0]), y[:, 0]), TypeError,
     r"Sparse data was passed for X.*toarray"),
]


_PREDICT_ERRORS = [
    ("predict_other_n_inputs", lambda e, f, X, y: f.predict(X[..., :1]), ValueError,
     r"X has 1 features, but \w+ is expecting 2 features as input\. Pass the same features \(the input channels"),
    ("predict_nan_in_X", lambda e, f, X, y: f.predict(_with(X, np.nan)), ValueError, r"X contains NaN.*impute"),
    ("predict_X_beyond_float32", lambda e, f, X, y: f.predict(_with(X, 1e39)), ValueError,
     r"X has values beyond the float32 range.*rescale it"),
    ("predict_X_1d", lambda e, f, X, y: f.predict(X[0, 0]), ValueError, r"X must be a 2D or 3D array"),
    ("predict_X_4d", lambda e, f, X, y: f.predict(X[None]), ValueError, r"X must be a 2D or 3D array, got a 4D"),
    ("predict_zero_trials", lambda e, f, X, y: f.predict(X[:0]), ValueError, r"X has 0 trials.*pass at least one"),
    ("predict_zero_steps", lambda e, f, X, y: f.predict(X[:, :0]), ValueError, r"X has 0 time steps"),
    ("predict_X_strings", lambda e, f, X, y: f.predict(X.astype(str)), TypeError, r"X has dtype <U"),
    ("initial_state_shape", lambda e, f, X, y: f.predict(X, initial_state=np.zeros(3)), ValueError,
     r"initial_state must have shape \(20,\) or \(10, 20\); got \(3,\)"),
    ("initial_state_nan", lambda e, f, X, y: f.predict(X, initial_state=np.full(20, np.nan)), ValueError,
     r"initial_state contains NaN \(20 entries\); initial_state must be finite"),
    ("initial_state_strings", lambda e, f, X, y: f.predict(X, initial_state=np.array(["0"] * 20)), TypeError,
     r"initial_state has dtype <U1 .*pass numeric data"),
    ("score_other_n_outputs", lambda e, f, X, y: f.score(X, y[..., :3]), ValueError,
     r"y has 3 outputs, but \w+ predicts 20 .*pass the same neurons/outputs as at fit"),
    ("score_y_all_nan", lambda e, f, X, y: f.score(X, np.full_like(y, np.nan)), ValueError,
     r"y is NaN everywhere: there is nothing to score"),
    ("score_y_inf", lambda e, f, X, y: f.score(X, _with(y, np.inf)), ValueError, r"y contains infinity \(inf\)"),
    ("score_y_strings", lambda e, f, X, y: f.score(X, y.astype(str)), TypeError, r"y has dtype <U"),
    ("score_trials_differ", lambda e, f, X, y: f.score(X, y[:5]), ValueError,
     r"different numbers of trials: 10 and 5"),
]

# Invalid parameters: {estimator name: (exception, regex)}; a missing estimator has no such parameter.
_BOTH = ("LowRankRNNRegressor", "GaussianMixtureRNN")
_PARAM_ERRORS = [
    ("rank_0", {"rank": 0}, {
        "LowRankRNNRegressor": (ValueError, r"'rank' parameter of LowRankRNNRegressor must be an int in the range "
                                            r"\[1, inf\) or None\. Got 0"),
        "GaussianMixtureRNN": (ValueError, r"'rank' parameter of GaussianMixtureRNN must be an int in the range "
                                           r"\[1, inf\)\. Got 0")}),
    ("rank_above_n_units", {"rank": 21}, {
        "LowRankRNNRegressor": (ValueError, r"rank=21 exceeds n_units=20; choose rank <= n_units"),
        "GaussianMixtureRNN": (ValueError, r"rank=21 exceeds n_units=20; choose rank <= n_units")}),
    ("rank_float", {"rank": 1.5}, {
        "LowRankRNNRegressor": (ValueError, r"'rank' parameter.*Got 1\.5"),
        "GaussianMixtureRNN": (ValueError, r"'rank' parameter.*Got 1\.5")}),
    ("n_units_below_n_features", {"n_units": 5}, {
        "LowRankRNNRegressor": (ValueError, r"n_units=5 is smaller than the 20 features of y.*set n_units >= "
                                            r"n_features or None")}),
    ("unknown_readout", {"readout": "softmax"}, {
        "LowRankRNNRegressor": (ValueError, r"'readout' parameter of LowRankRNNRegressor must be a str among"),
        "GaussianMixtureRNN": (ValueError, r"(?s)Invalid parameter 'readout' for estimator GaussianMixtureRNN.*Valid "
                                           r"parameters are")}),
    ("negative_alpha", {"alpha": -0.1}, {
        name: (ValueError, r"'alpha' parameter of \w+ must be a float in the range \(0\.0, 1\.0\]\. Got -0\.1")
        for name in _BOTH}),
    ("alpha_above_1", {"alpha": 1.5}, {
        name: (ValueError, r"'alpha' parameter .*Got 1\.5") for name in _BOTH}),
    ("negative_noise_std", {"noise_std": -0.1}, {
        name: (ValueError, r"'noise_std' parameter of \w+ must be a float in the range \[0\.0, inf\)")
        for name in _BOTH}),
    ("nan_learning_rate", {"learning_rate_init": float("nan")}, {
        name: (ValueError, r"'learning_rate_init' parameter.*Got nan") for name in _BOTH}),
    ("batch_size_0", {"batch_size": 0}, {
        name: (ValueError, r"'batch_size' parameter.*\[1, inf\).*'auto'.*Got 0") for name in _BOTH}),
    ("n_components_0", {"n_components": 0}, {
        "GaussianMixtureRNN": (ValueError, r"'n_components' parameter.*Got 0")}),
    ("n_components_above_n_units", {"n_components": 21}, {
        "GaussianMixtureRNN": (ValueError, r"n_components=21 exceeds n_units=20.*raise n_units or lower "
                                           r"n_components")}),
    ("weights_not_summing_to_1", {"weights": [0.2, 0.2]}, {
        "GaussianMixtureRNN": (ValueError, r"weights must sum to 1; they sum to 0\.4\. Normalise them")}),
    ("n_threads_0", {"n_threads": 0}, {
        name: (ValueError, r"'n_threads' parameter of \w+ must be an int in the range \[1, inf\) or None\. Got 0")
        for name in _BOTH}),
]

_ERROR_CASES = _FIT_ERRORS + _PREDICT_ERRORS
_PARAM_CASES = [(name, case_id, params, *spec) for case_id, params, specs in _PARAM_ERRORS
                for name, spec in specs.items()]


@pytest.mark.parametrize("case, call, exc, match", _ERROR_CASES, ids=[c[0] for c in _ERROR_CASES])
def test_bad_input_raises_a_clear_error(case, call, exc, match, estimator, fitted, make_trials, quiet):
    X, y = make_trials()
    with pytest.raises(exc, match=match):
        quiet(lambda: call(estimator, fitted, X, y))


@pytest.mark.parametrize("name, case, params, exc, match", _PARAM_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in _PARAM_CASES])
def test_invalid_parameter_raises_a_clear_error(name, case, params, exc, match, estimators, make_trials, quiet):
    X, y = make_trials()
    with pytest.raises(exc, match=match):
        quiet(lambda: clone(estimators[name]).set_params(**params).fit(X, y))


def test_early_stopping_needs_two_trials(estimator, make_trials, quiet):
    X, y = make_trials()
    estimator.set_params(early_stopping=True)
    with pytest.raises(ValueError, match=r"early_stopping=True needs at least 2 trials.*pass more trials"):
        quiet(lambda: estimator.fit(X[:1], y[:1]))


# ---------------------------------------------------------------------------------------------------------------
# Estimators: documented results
# ---------------------------------------------------------------------------------------------------------------


def _quiet_fit(est, X, y):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*reached max_iter")
        return est.fit(X, y)


def _fit_predict(prototype, X, y, X_pred=None, **params):
    est = _quiet_fit(clone(prototype).set_params(**params), X, y)
    return est, est.predict(X if X_pred is None else X_pred)


def _same_fit(prototype, X_variant, y_variant, X_ref, y_ref, **params):
    """Fitting (and predicting) on the variant gives bit for bit the fit on the reference data."""
    est, pred = _fit_predict(prototype, X_variant, y_variant, **params)
    _, ref = _fit_predict(prototype, X_ref, y_ref, **params)
    assert pred.dtype == np.float32
    np.testing.assert_array_equal(pred, ref)
    return est, pred


_CONVERSIONS = {
    # Documented in BaseRNNEstimator.fit: inputs are converted to float32, the dtype of the networks.
    "float16": lambda a: a.astype(np.float16),
    "float64": lambda a: a.astype(np.float64),
    "int": lambda a: np.round(4 * a).astype(np.int64),
    "bool": lambda a: a > 0,
    "object_numbers": lambda a: a.astype(object),
}


@pytest.mark.parametrize("kind", _CONVERSIONS)
def test_numeric_dtypes_are_converted_to_float32(kind, estimator, make_trials):
    X, y = make_trials()
    convert = _CONVERSIONS[kind]
    X_conv = convert(X)
    y_conv = convert(y) if kind in ("float16", "float64", "object_numbers") else y
    _same_fit(estimator, X_conv, y_conv, np.asarray(X_conv, dtype=np.float32), np.asarray(y_conv, dtype=np.float32))


def test_batch_size_larger_than_the_data_is_capped(estimator, make_trials):
    """batch_size is documented as capped at the number of (training) trials: the same fit as batch_size=n."""
    X, y = make_trials()
    big, pred = _fit_predict(estimator, X, y, batch_size=1000)
    _, ref = _fit_predict(estimator, X, y, batch_size=N_TRIALS)
    np.testing.assert_array_equal(pred, ref)
    assert big.batch_size == 1000 and np.isfinite(big.loss_curve_).all()


def test_list_of_trial_arrays_is_stacked(estimator, make_trials):
    X, y = make_trials()
    _same_fit(estimator, list(X), list(y), X, y)


def test_non_contiguous_arrays(estimator, make_trials):
    X, y = make_trials()
    X_f = np.asfortranarray(np.concatenate([X, X], axis=-1))[..., ::2]  # strided, Fortran-ordered
    y_f = np.asfortranarray(y[:, :, ::-1])
    assert not X_f.flags.c_contiguous and not y_f.flags.c_contiguous
    _same_fit(estimator, X_f, y_f, np.ascontiguousarray(X_f), np.ascontiguousarray(y_f))


def test_pandas_dataframe_as_2d_X(estimator, make_trials):
    """A DataFrame X with a 1D y is one-step trials: same fit as its values, feature names checked. A table of
    activity (2D y beside a DataFrame, or a DataFrame y) is refused: it is a long-format recording (issue #23)."""
    pd = pytest.importorskip("pandas")

    X, y = make_trials()
    X2, y2 = X[:, 0], y[:, 0, 0]
    df = pd.DataFrame(X2, columns=["stim", "context"])
    with warnings.catch_warnings():
        # No "non-writable array" warning from torch, and no 2D-shape warning: a DataFrame's rows are trials.
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message=".*reached max_iter")
        est, pred = _fit_predict(estimator, df, pd.Series(y2))
    _, ref = _fit_predict(estimator, X2[:, None], y2[:, None, None])  # the explicit one-step trials
    np.testing.assert_array_equal(pred, ref[:, 0, 0])
    assert pred.shape == (N_TRIALS,)
    assert list(est.feature_names_in_) == ["stim", "context"]
    np.testing.assert_array_equal(est.predict(df), pred)
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(df.rename(columns={"stim": "other"}))
    for y_table in (pd.DataFrame(y[:, 0]), y[:, 0]):
        with pytest.raises(ValueError, match="trials_from_dataframe"):
            clone(estimator).fit(df, y_table)


def test_autonomous_network_without_inputs(estimator, make_trials):
    X, y = make_trials()
    est, pred = _fit_predict(estimator, X[..., :0], y)
    assert pred.shape == y.shape and np.isfinite(pred).all()
    assert est.n_features_in_ == 0


def test_predict_float64_equals_float32(fitted, make_trials):
    X, _ = make_trials()
    np.testing.assert_array_equal(fitted.predict(X.astype(np.float64)), fitted.predict(X))


def test_score_allows_a_neuron_unobserved_in_the_scored_trials(fitted, make_trials):
    """A cross-validation fold may miss a neuron entirely (not recorded in its conditions): scored without it."""
    X, y = make_trials()
    y_missing = _with(y, np.nan, (..., 3))
    score = fitted.score(X, y_missing)
    keep = np.arange(N_FEATURES) != 3
    pred = fitted.predict(X)
    assert np.isfinite(score)
    assert score == pytest.approx(r2_score_trials(y[..., keep], pred[..., keep]), rel=1e-6)


def test_mixture_has_no_n_units_floor_from_the_outputs(estimators, make_trials):
    """GaussianMixtureRNN reads out linearly: fewer units than outputs is a valid (documented) model."""
    X, y = make_trials()
    est, pred = _fit_predict(estimators["GaussianMixtureRNN"], X, y, n_units=5)
    assert pred.shape == y.shape and np.isfinite(pred).all()


# ---------------------------------------------------------------------------------------------------------------
# Transformers
# ---------------------------------------------------------------------------------------------------------------

_T_ERRORS = [
    ("X_1d", lambda t, X: t.fit(X[0, 0]), ValueError, r"X must be a 2D or 3D array, got a 1D array.*Reshape"),
    ("X_4d", lambda t, X: t.fit(X[..., None]), ValueError, r"X must be a 2D or 3D array, got a 4D array.*Reshape"),
    ("zero_trials", lambda t, X: t.fit(X[:0]), ValueError, r"X has 0 trials.*pass at least one trial"),
    ("zero_steps", lambda t, X: t.fit(X[:, :0]), ValueError, r"X has 0 time steps.*pass at least one"),
    ("zero_features", lambda t, X: t.fit(X[..., :0]), ValueError, r"X has 0 features"),
    ("other_n_features", lambda t, X: t.fit(X).transform(X[..., :2]), ValueError,
     r"X has 2 features, but \w+ is expecting 4 features as input\. Pass the same features"),
    ("inf_in_X", lambda t, X: t.fit(_with(X, np.inf)), ValueError,
     r"X contains infinity \(inf\) in 1 entries; X must be finite: mark missing observations with NaN instead"),
    ("strings", lambda t, X: t.fit(X.astype(str)), TypeError, r"X has dtype <U\d+ .*pass numeric data"),
    ("object_strings", lambda t, X: t.fit(_object_with(X, "0.5")), TypeError, r"X has dtype object holding strings"),
    ("object_dict", lambda t, X: t.fit(_object_with(X, {"a": 1})), TypeError, r"X has dtype object with entries"),
    ("complex", lambda t, X: t.fit(X + 1j), ValueError, r"Complex data not supported: X"),
    ("fit_beyond_float32", lambda t, X: t.fit(_with(X, 1e39)), ValueError,
     r"X has values up to 1e\+39 in magnitude, beyond the float32 range.*rescale it"),
    ("transform_beyond_float32", lambda t, X: t.fit(X).transform(_with(X, -1e39)), ValueError,
     r"beyond the float32 range"),
    ("None", lambda t, X: t.fit(None), ValueError, r"X is None"),
    ("ragged_list", lambda t, X: t.fit([X[0], X[1, :3]]), ValueError, r"X is a list of trials of different lengths"),
    ("unfitted_transform", lambda t, X: t.transform(X), Exception, r"not fitted yet"),
    ("sparse", lambda t, X: t.fit(sp.csr_matrix(X[:, 0])), TypeError, r"Sparse data was passed for X"),
]
_T_SPECIFIC_ERRORS = [
    (ConditionMeanRemover(), "other_n_steps", lambda t, X: t.fit(X).transform(X[:, :4]), ValueError,
     r"X has 4 time steps but ConditionMeanRemover was fitted on 8; pass trials of the same length"),
    (TrialStandardScaler(), "inverse_overflow",
     lambda t, X: t.fit(X.astype(np.float64) * 1e37).inverse_transform(X.astype(np.float64) * 1e37), ValueError,
     r"The output has values beyond the float32 range.*rescale X"),
    (PCADenoiser(n_components=2), "n_components_above_n_features",
     lambda t, X: t.set_params(n_components=5).fit(X), ValueError,
     r"n_components=5 must be <= n_features=4; lower n_components"),
    (GaussianSmoother(), "negative_sigma", lambda t, X: t.set_params(sigma=-1.0).fit(X), ValueError,
     r"'sigma' parameter of GaussianSmoother must be a float in the range \[0\.0, inf\)"),
    (TimeBinner(), "bin_size_0", lambda t, X: t.set_params(bin_size=0).fit(X), ValueError,
     r"'bin_size' parameter of TimeBinner must be an int in the range \[1, inf\)"),
]


def _trials():
    """Activity for the transformers: 10 trials x 8 steps x 4 neurons."""
    return np.random.default_rng(1).normal(size=(N_TRIALS, 8, 4))


@pytest.mark.parametrize("case, call, exc, match", _T_ERRORS, ids=[c[0] for c in _T_ERRORS])
def test_transformer_bad_input_raises_a_clear_error(case, call, exc, match, transformer):
    with pytest.raises(exc, match=match):
        call(transformer, _trials())


@pytest.mark.parametrize("prototype, case, call, exc, match", _T_SPECIFIC_ERRORS,
                         ids=[f"{type(c[0]).__name__}-{c[1]}" for c in _T_SPECIFIC_ERRORS])
def test_transformer_specific_bad_input_raises_a_clear_error(prototype, case, call, exc, match):
    with pytest.raises(exc, match=match):
        call(clone(prototype), _trials())


_T_EQUIVALENT = {
    # variant of X -> the reference it must transform exactly like (documented: converted to float64 internally,
    # float32 out; lists of trials stack; layout does not matter).
    "float16": (lambda X: X.astype(np.float16), lambda X: X.astype(np.float16).astype(np.float64)),
    "float32": (lambda X: X.astype(np.float32), lambda X: X.astype(np.float32).astype(np.float64)),
    "int": (lambda X: np.round(4 * X).astype(np.int32), lambda X: np.round(4 * X)),
    "bool": (lambda X: X > 0, lambda X: (X > 0).astype(np.float64)),
    "object_numbers": (lambda X: X.astype(object), lambda X: X),
    "list_of_trials": (lambda X: list(X), lambda X: X),
    "non_contiguous": (lambda X: np.asfortranarray(np.concatenate([X, X], -1))[..., ::2],
                       lambda X: np.ascontiguousarray(np.concatenate([X, X], -1)[..., ::2])),
}


@pytest.mark.parametrize("kind", _T_EQUIVALENT)
def test_transformer_converts_like_the_reference(kind, transformer):
    variant, reference = _T_EQUIVALENT[kind]
    X = _trials()
    out = clone(transformer).fit_transform(variant(X))
    ref = clone(transformer).fit_transform(reference(X))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ref)


def test_transformer_pandas_dataframe(transformer):
    pd = pytest.importorskip("pandas")

    X2 = _trials()[:, 0]
    df = pd.DataFrame(X2, columns=["a", "b", "c", "d"])
    t = clone(transformer).fit(df)
    np.testing.assert_array_equal(t.transform(df), clone(transformer).fit_transform(X2))
    assert list(t.feature_names_in_) == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="feature names should match"):
        t.transform(df.rename(columns={"d": "e"}))


def test_transformer_huge_but_representable_values(transformer, transformer_name):
    """1e30 is within float32: computed in float64, the output is finite and scales with the input."""
    X = _trials()
    out = clone(transformer).fit_transform(X * 1e30)
    ref = clone(transformer).fit_transform(X)
    assert np.isfinite(out).all()
    if transformer_name == "TrialStandardScaler":
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)  # standardised: the scale is gone
    else:
        np.testing.assert_allclose(out / np.float32(1e30), ref, rtol=1e-5, atol=1e-6)


def test_transformer_all_nan_feature_stays_nan_and_leaves_the_others(transformer, transformer_name):
    """Documented: NaN marks a missing observation, is ignored by the statistics and stays NaN."""
    X = _trials()
    X_nan = X.copy()
    X_nan[..., 3] = np.nan
    out = clone(transformer).fit_transform(X_nan)
    assert np.isnan(out[..., 3]).all()
    if transformer_name != "PCADenoiser":  # PCA mixes features: the others change with the components
        np.testing.assert_allclose(out[..., :3], clone(transformer).fit_transform(X[..., :3]), rtol=1e-5,
                                   atol=1e-6)
    assert np.isfinite(out[..., :3]).all()
