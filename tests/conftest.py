import numpy as np
import pytest

from sklearn_lowrank.datasets import make_low_rank_teacher


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
