"""Shared fixtures: teachers, a small trial data set, the estimators and transformers under test, fitted models,
the network trained on the context-dependent task and its low-rank models, NWB files, a torch teacher
and configuration for the training loop, and quiet fits (``quiet_fit``, ``fit_quietly``).

The small data set (10 trials x 8 steps, 2 inputs, 20 neurons) and the estimator settings (two batches of 5
trials per epoch, 4 epochs) are shared by the bad-input matrix and the reliability tests: fault injection counts
training batches, so the batch size is part of the fixture.
"""

import dataclasses
import datetime
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import GaussianMixtureRNN, LowRankRNNRegressor
from sklearn_lowrank.datasets import make_context_dependent_task, make_low_rank_teacher
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


def _fit_quietly(est, X, y):
    """``est.fit(X, y)`` without the ConvergenceWarning of a deliberately short fit; other warnings still show."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


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
def quiet_fit():
    """``quiet_fit(est, X, y)``: fit without any warning (deliberately short fits warn about max_iter)."""
    return lambda est, X, y: _quiet(lambda: est.fit(X, y))


@pytest.fixture(scope="session")
def fit_quietly():
    """``fit_quietly(est, X, y)``: fit, ignoring only the ConvergenceWarning (a test may still expect others)."""
    return _fit_quietly


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


# ---------------------------------------------------------------------------------------------------------------
# The network trained on the context-dependent task, and low-rank models of its rates
# ---------------------------------------------------------------------------------------------------------------

#: Task settings: dt = 50 ms (alpha = dt / tau = 0.5 with tau = 100 ms) gives 28 steps per trial.
CONTEXT_TASK = {"dt": 50.0, "coherence_scale": 0.3, "context_scale": 0.5}
CONTEXT_ALPHA = 0.5


@pytest.fixture(scope="session")
def context_task_network():
    """A full-rank network of 128 units trained once on 128 trials of the context-dependent task.

    Returns ``(net, X, make_test)``: the fitted network, its training inputs and ``make_test(n_trials)``, held-out
    trials ``(X, y, conditions)`` of the task (random_state=1).
    """
    X, y, _ = make_context_dependent_task(n_trials=128, random_state=0, **CONTEXT_TASK)
    net = LowRankRNNRegressor(rank=None, n_units=128, readout="linear", alpha=CONTEXT_ALPHA, noise_std=0.05,
                              learning_rate_init=1e-3, max_iter=150, random_state=0)
    _quiet(lambda: net.fit(X, y))
    return net, X, lambda n_trials: make_context_dependent_task(n_trials=n_trials, random_state=1, **CONTEXT_TASK)


@pytest.fixture(scope="session")
def context_task_student(context_task_network):
    """``context_task_student(rank)``: a low-rank model fitted (once per rank) to the rates of that network."""
    net, X, _ = context_task_network
    rates = np.tanh(net.predict_states(X))
    students = {}

    def student(rank):
        if rank not in students:
            est = LowRankRNNRegressor(rank=rank, output_activation="tanh", alpha=CONTEXT_ALPHA, max_iter=100,
                                      random_state=0)
            students[rank] = _quiet(lambda: est.fit(X, rates))
        return students[rank]

    return student


# ---------------------------------------------------------------------------------------------------------------
# NWB files
# ---------------------------------------------------------------------------------------------------------------


def _write_nwb(path, trials, units, columns=None):
    """An NWB file at ``path``: ``trials`` (dicts of start_time, stop_time and the ``columns``, name ->
    description) and ``units`` (spike times in s, one array per unit). Skips the test without pynwb."""
    pynwb = pytest.importorskip("pynwb")
    nwb = pynwb.NWBFile(session_description="test", identifier="test",
                        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    for name, description in (columns or {}).items():
        nwb.add_trial_column(name=name, description=description)
    for trial in trials:
        nwb.add_trial(**trial)
    for spike_times in units:
        nwb.add_unit(spike_times=spike_times)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


@pytest.fixture(scope="session")
def write_nwb():
    """``write_nwb(path, trials, units, columns=None) -> path`` (see :func:`_write_nwb`)."""
    return _write_nwb


@pytest.fixture
def coherence_nwb(tmp_path):
    """A recording: 8 trials of 0.5 s, one a second, each with a signed coherence of +-1; 4 units of 200 spikes
    drawn uniformly over the 8 s (25 spikes/s)."""
    rng = np.random.default_rng(0)
    trials = [{"start_time": float(i), "stop_time": i + 0.5, "coherence": float(rng.choice([-1.0, 1.0]))}
              for i in range(8)]
    units = [np.sort(rng.uniform(0, 8, 200)) for _ in range(4)]
    return _write_nwb(tmp_path / "rec.nwb", trials, units, {"coherence": "signed coherence"})


# ---------------------------------------------------------------------------------------------------------------
# The training loop: a torch teacher and the configuration
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def torch_teacher():
    """``torch_teacher(n_units, n_trials, n_timesteps) -> (teacher, u, y)``: a rank-1 ``LowRankRNN`` (alpha 0.2,
    one input, every unit observed) drawn with seed 0, random inputs u from the same generator and its outputs y."""
    from sklearn_lowrank._core.network import LowRankRNN

    def make(n_units, n_trials, n_timesteps):
        gen = torch.Generator().manual_seed(0)
        teacher = LowRankRNN(n_units, 1, n_units, 1, alpha=0.2, generator=gen)
        u = torch.randn(n_trials, n_timesteps, 1, generator=gen)
        with torch.no_grad():
            return teacher, u, teacher(u)

    return make


@pytest.fixture(scope="session")
def training_config():
    """``training_config(**overrides)``: a full ``TrainingConfig`` (it has no defaults of its own) with the
    estimators' defaults and a constant learning rate, some fields overridden."""
    defaults = LowRankRNNRegressor(learning_rate="constant")._training_config()
    return lambda **overrides: dataclasses.replace(defaults, **overrides)
