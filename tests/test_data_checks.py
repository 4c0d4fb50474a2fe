"""Data that would fit without error but not as meant: each gets an error or a warning that says the fix.

Also the single trial validator: every door (estimators, transformers, the mean-field simulation and the function
the command line calls on arrays read from a file) gives the same message for the same bad array.
"""

import re
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold

import sklearn_lowrank._mixture as mixture_module
from sklearn_lowrank import GaussianMixtureRNN, LowRankRNNRegressor
from sklearn_lowrank._validation import check_trials_X_y
from sklearn_lowrank.meanfield import simulate_latents
from sklearn_lowrank.preprocessing import TrialStandardScaler


def _fit_recording(est, X, y):
    """Fit, returning the warnings other than the max_iter one of these short fits."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    return [str(w.message) for w in caught if "reached max_iter" not in str(w.message)]


# ---------------------------------------------------------------------------------------------------------------
# One trial passed as 2D (time, channels)
# ---------------------------------------------------------------------------------------------------------------


def test_one_trial_passed_as_2d_warns_and_says_how(make_trials):
    X, y = make_trials(n_trials=1, n_steps=20)
    X2, y2 = X[0], y[0, :, :5]  # (20, 2) and (20, 5): one trial as (time, channels)
    est = LowRankRNNRegressor(max_iter=2, random_state=0)
    messages = _fit_recording(est, X2, y2)
    assert len(messages) == 1
    assert re.search(r"X and y are 2D, \(20, 2\) and \(20, 5\): read as 20 trials of one time step each, with no "
                     r"recurrence over time\. If they are one trial of 20 time steps, pass X\[None\] and y\[None\] "
                     r"\(shapes \(1, 20, 2\) and \(1, 20, 5\)\)", messages[0])
    # The documented reading: the same fit as the explicit one-step trials, which fit silently.
    explicit = LowRankRNNRegressor(max_iter=2, random_state=0)
    assert _fit_recording(explicit, X2[:, None], y2[:, None]) == []
    np.testing.assert_array_equal(est.predict(X2), explicit.predict(X2[:, None])[:, 0])
    # The fix the warning gives: one trial of 20 steps, silently.
    one_trial = LowRankRNNRegressor(max_iter=2, random_state=0)
    assert _fit_recording(one_trial, X2[None], y2[None]) == []
    assert one_trial.predict(X2[None]).shape == (1, 20, 5)
    # A 1D y is unambiguous: one value per trial.
    assert _fit_recording(LowRankRNNRegressor(max_iter=2, random_state=0), X2, y2[:, 0]) == []


# ---------------------------------------------------------------------------------------------------------------
# A tanh readout and y outside (-1, 1)
# ---------------------------------------------------------------------------------------------------------------


def test_tanh_readout_refuses_rates_in_hz_and_warns_on_overshoot(make_trials):
    X, y = make_trials()
    rates = np.abs(y) + 0.1  # in (0.1, 0.6): valid tanh rates
    tanh = LowRankRNNRegressor(max_iter=2, output_activation="tanh", random_state=0)
    assert _fit_recording(clone(tanh), X, rates) == []
    with pytest.raises(ValueError, match=r"of the 1600 observed entries of y \(\d+%\) lie outside \[-1, 1\], the range "
                                         r"of output_activation='tanh' \(largest \|y\|: 55\): the network cannot "
                                         r"fit them\. Scale y into \(-1, 1\) first .* or use "
                                         r"output_activation='identity'"):
        clone(tanh).fit(X, rates * 55 / rates.max())  # rates in Hz
    noisy = rates.copy()
    noisy[0, 0, 0] = 1.05  # one noisy overshoot
    messages = _fit_recording(clone(tanh), X, noisy)
    assert len(messages) == 1 and "1 of the 1600 observed entries of y" in messages[0]
    assert "fitted as saturated rates" in messages[0]
    # Unbounded readouts have no such range: states (identity output) and linear task readouts.
    assert _fit_recording(LowRankRNNRegressor(max_iter=2, random_state=0), X, 5 * rates) == []
    assert _fit_recording(GaussianMixtureRNN(n_units=20, max_iter=2, random_state=0), X, 5 * rates) == []


# ---------------------------------------------------------------------------------------------------------------
# A neuron recorded in some conditions only
# ---------------------------------------------------------------------------------------------------------------


def test_neuron_recorded_in_one_condition_cross_validates(estimator, make_trials):
    """A training fold without neuron 0's condition fits its unit without targets, warns, and scores are finite."""
    X, y = make_trials(n_trials=12)
    conditions = np.repeat(np.arange(6), 2)
    y = y.copy()
    y[conditions != 0, :, 0] = np.nan  # neuron 0 recorded in condition 0 only
    estimator.set_params(max_iter=2)
    messages = _fit_recording(estimator, X[2:], y[2:])
    assert len(messages) == 1
    assert messages[0].startswith("Feature(s) [0] of y have no observation in these trials")
    assert "fitted without targets (as hidden units)" in messages[0]
    pred = estimator.predict(X)
    assert np.isfinite(pred).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearchCV(clone(estimator), {"rank": [1, 2]}, cv=GroupKFold(3)).fit(X, y, groups=conditions)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# ---------------------------------------------------------------------------------------------------------------
# Device strings
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["gpu", "CPU", "cuda:x", ""])
def test_device_strings_are_checked_as_the_argument(device, estimator, make_trials):
    X, y = make_trials()
    with pytest.raises(ValueError, match=rf"device={re.escape(repr(device))} is not a valid device; use 'cpu', "
                                         r"'cuda', 'cuda:N' \(the N-th GPU\), 'mps' \(Apple GPU\)"):
        estimator.set_params(device=device).fit(X, y)


# ---------------------------------------------------------------------------------------------------------------
# Implausible scales
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("change, message", [
    (lambda X, y: (X * 1e6, y), r"X has values up to \S+ in magnitude, far above the O\(1\) range of the networks' "
                                r"states \(above 1000\).*Rescale X: .*TrialStandardScaler in a pipeline"),
    (lambda X, y: (X, y * 1e3), r"y has values up to \S+ in magnitude, far above .*TransformedTargetRegressor"),
    (lambda X, y: (X, y * 1e-4), r"y has values up to \S+ in magnitude, far below the O\(1\) range .*\(below 0\.1\)"),
], ids=["X_1e6", "y_1e3", "y_1e-4"])
def test_implausible_scales_warn_with_the_fix(change, message, estimator, make_trials):
    X, y = make_trials()
    estimator.set_params(max_iter=1)
    assert _fit_recording(clone(estimator), X, y) == []
    messages = _fit_recording(estimator, *change(X, y))
    assert len(messages) == 1 and re.search(message, messages[0]), messages


# ---------------------------------------------------------------------------------------------------------------
# One validator behind every door
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def doors():
    """Each door that takes trial inputs X, as a function of X (and the y it is fitted with)."""
    mix = GaussianMixtureRNN.from_parameters(np.zeros((1, 5)), np.eye(5)[None], rank=1, n_inputs=2, n_units=20,
                                             random_state=0)
    return {
        "estimator": lambda X, y: LowRankRNNRegressor(max_iter=1).fit(X, y),
        "transformer": lambda X, y: TrialStandardScaler().fit(X),
        "simulate_latents": lambda X, y: simulate_latents(mix, X, random_state=0),
        "command_line": lambda X, y: check_trials_X_y(X, y),
    }


@pytest.mark.parametrize("door", ["estimator", "transformer", "simulate_latents", "command_line"])
@pytest.mark.parametrize("bad, exc, message", [
    (lambda X: X[..., None], ValueError, r"^X must be a 2D or 3D array, got a 4D array \(shape \(10, 8, 2, 1\)\)"),
    (lambda X: X.astype(str), TypeError, r"^X has dtype <U\d+ \(strings/bytes\); pass numeric data"),
    (lambda X: X + 1j, ValueError, r"^Complex data not supported: X"),
    (lambda X: [X[0], X[1, :3]], ValueError, r"^X is a list of trials of different lengths"),
    (lambda X: X[:0], ValueError, r"^X has 0 trials"),
    (lambda X: X[:, :0], ValueError, r"^X has 0 time steps"),
], ids=["4d", "strings", "complex", "ragged", "no_trials", "no_steps"])
def test_one_validator_behind_every_door(door, bad, exc, message, doors, make_trials):
    X, y = make_trials()
    if door in ("estimator", "command_line") and message.startswith("^X is a list"):
        # the doors of fit accept trials of unequal length (padded); these 2 trials do not match y's 10
        message = "trials"
    with pytest.raises(exc, match=message):
        doors[door](bad(X), y)


def test_command_line_door_requires_3d_and_returns_float32(make_trials):
    X, y = make_trials()
    X_out, y_out, x_ndim, y_ndim = check_trials_X_y(X.astype(np.float64), y.astype(np.float64), allow_2d=False)
    assert X_out.dtype == y_out.dtype == np.float32 and (x_ndim, y_ndim) == (3, 3)
    with pytest.raises(ValueError, match=r"^X must be a 3D array, got a 2D array \(shape \(10, 2\)\)"):
        check_trials_X_y(X[:, 0], y[:, 0], allow_2d=False)
    with pytest.raises(ValueError, match=r"^y is NaN everywhere"):
        check_trials_X_y(X, np.full_like(y, np.nan))


def test_mixture_checks_its_proportions_once_per_fit(make_trials, monkeypatch):
    calls = []
    check = mixture_module.check_mixture_weights
    monkeypatch.setattr(mixture_module, "check_mixture_weights", lambda *args: calls.append(args) or check(*args))
    X, y = make_trials()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GaussianMixtureRNN(2, n_units=20, weights=[0.25, 0.75], max_iter=1, random_state=0).fit(X, y)
    assert len(calls) == 1


def test_score_of_one_step_trials_takes_y_as_given(fitted_estimators, make_trials):
    """1D and 2D y with 2D X are scored as the same one-step trials in 3D: no reshaping to the caller's shape."""
    X, y = make_trials()
    est = fitted_estimators["LowRankRNNRegressor"]
    X2, y2 = X[:, 0], y[:, 0]
    assert est.score(X2, y2) == est.score(X2[:, None], y2[:, None])
