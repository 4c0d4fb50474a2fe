"""Shared fixtures: teachers, a small trial data set, the estimators and transformers under test, fitted models.

The small data set (10 trials x 8 steps, 2 inputs, 20 neurons) and the estimator settings (two batches of 5
trials per epoch, 4 epochs) are shared by the bad-input matrix and the reliability tests: fault injection counts
training batches, so the batch size is part of the fixture.
"""

import warnings

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_lowrank import GaussianMixtureRNN, LowRankRNNRegressor
from sklearn_lowrank.datasets import make_low_rank_teacher
from sklearn_lowrank.preprocessing import (
    ConditionMeanRemover,
    GaussianSmoother,
    PCADenoiser,
    TimeBinner,
    TrialStandardScaler,
)

N_TRIALS, N_STEPS, N_INPUTS, N_FEATURES = 10, 8, 2, 20
BATCH = 5  # two batches per epoch

_ESTIMATORS = {
    "LowRankRNNRegressor": LowRankRNNRegressor(1, n_units=20, max_iter=4, batch_size=BATCH, random_state=0),
    "GaussianMixtureRNN": GaussianMixtureRNN(2, n_units=20, max_iter=4, batch_size=BATCH, random_state=0),
}
_TRANSFORMERS = {
    "TrialStandardScaler": TrialStandardScaler(),
    "GaussianSmoother": GaussianSmoother(sigma=1.0),
    "TimeBinner": TimeBinner(bin_size=2),
    "ConditionMeanRemover": ConditionMeanRemover(),
    "PCADenoiser": PCADenoiser(n_components=2),
}


def _make_trials(n_trials=N_TRIALS, n_steps=N_STEPS):
    """Inputs (n_trials, n_steps, 2) and activity (n_trials, n_steps, 20) in (-0.5, 0.5), float32."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_trials, n_steps, N_INPUTS)).astype(np.float32)
    y = 0.5 * np.tanh(np.cumsum(X[..., :1], axis=1) / 3 + rng.normal(size=(n_trials, n_steps, N_FEATURES)))
    return X, y.astype(np.float32)


def _quiet(call):
    """Run ``call`` without the warnings of deliberately short fits (max_iter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


# ---------------------------------------------------------------------------------------------------------------
# Teachers
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def teacher_rank2():
    """The acceptance teacher of the foundation issue: 200 units, rank 2, 2 inputs, 250 trials x 50 steps."""
    return make_low_rank_teacher(n_units=200, rank=2, n_inputs=2, n_trials=250, n_timesteps=50, random_state=0)


@pytest.fixture(scope="session")
def small_teacher():
    """A small rank-1 teacher for quick behaviour tests."""
    return make_low_rank_teacher(n_units=30, rank=1, n_inputs=1, n_trials=40, n_timesteps=20, random_state=1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------------------------------------------------------
# The small data set, the models under test and their fits
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def make_trials():
    """Factory ``make_trials(n_trials=10, n_steps=8) -> (X, y)`` of the small data set (always the same draws)."""
    return _make_trials


@pytest.fixture(scope="session")
def quiet():
    """``quiet(call)``: run ``call`` with warnings silenced (short fits warn about max_iter)."""
    return _quiet


@pytest.fixture(scope="session")
def estimators():
    """The estimators under test by name, unfitted; clone one before fitting it."""
    return dict(_ESTIMATORS)


@pytest.fixture(params=list(_ESTIMATORS))
def estimator_name(request):
    """Runs the test once per estimator of the package."""
    return request.param


@pytest.fixture
def estimator(estimator_name):
    """A fresh (cloned, unfitted) estimator of the kind ``estimator_name``."""
    return clone(_ESTIMATORS[estimator_name])


@pytest.fixture(scope="session")
def fitted_estimators():
    """Every estimator fitted once on the small data set, by name. Tests must not modify them."""
    X, y = _make_trials()
    return {name: _quiet(lambda est=est: clone(est).fit(X, y)) for name, est in _ESTIMATORS.items()}


@pytest.fixture
def fitted(fitted_estimators, estimator_name):
    """The fitted estimator of the kind ``estimator_name``."""
    return fitted_estimators[estimator_name]


@pytest.fixture(params=list(_TRANSFORMERS))
def transformer_name(request):
    """Runs the test once per transformer of :mod:`sklearn_lowrank.preprocessing`."""
    return request.param


@pytest.fixture
def transformer(transformer_name):
    """A fresh (cloned, unfitted) transformer of the kind ``transformer_name``."""
    return clone(_TRANSFORMERS[transformer_name])
