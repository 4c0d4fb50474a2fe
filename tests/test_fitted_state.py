"""One way into fitted state: fit and the constructors from parameters set the same attributes the same way."""

import numpy as np
import pytest
import torch

from sklearn_lowrank import GaussianMixtureRNN, LowRankRNNRegressor, canonical_loadings
from sklearn_lowrank.datasets import make_low_rank_teacher

COMMON = {"module_", "n_units_", "n_outputs_", "n_features_in_", "loss_curve_", "best_loss_", "n_iter_"}


@pytest.fixture(scope="module")
def teacher():
    return make_low_rank_teacher(n_units=12, rank=2, n_inputs=1, n_trials=16, n_timesteps=8, random_state=0)


def _fitted_attributes(est):
    return {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}


def test_store_fitted_only_reads(teacher):
    est = LowRankRNNRegressor(rank=2, max_iter=3, random_state=0).fit(teacher.X, teacher.y)
    before = {k: v.detach().clone() for k, v in est.module_.state_dict().items()}
    est._store_fitted()
    est._store_fitted()
    for k, v in est.module_.state_dict().items():
        assert torch.equal(v, before[k]), k
    np.testing.assert_array_equal(est.m_, est.module_.m.detach().numpy())


def test_fit_leaves_canonical_loadings_and_drops_their_optimiser_state(teacher):
    est = LowRankRNNRegressor(rank=2, max_iter=3, random_state=0).fit(teacher.X, teacher.y)
    m_c, n_c = canonical_loadings(est.m_, est.n_)
    np.testing.assert_allclose(est.m_, m_c, atol=1e-5)
    np.testing.assert_allclose(est.n_, n_c, atol=1e-5)
    state = est._optimizer.state
    assert est.module_.m not in state and est.module_.n not in state  # the moments referred to the old basis
    assert est.module_.input_weights in state  # the others are kept for a warm start
    est.set_params(warm_start=True, max_iter=2).fit(teacher.X, teacher.y)
    assert len(est.loss_curve_) == 5 and np.isfinite(est.loss_curve_).all()


def test_constructors_set_the_same_attributes_as_fit(teacher):
    fitted = LowRankRNNRegressor(rank=1, n_units=12, readout="linear", max_iter=2, random_state=0)
    fitted.fit(teacher.X, teacher.y[..., :1])
    means = np.zeros((2, 4))  # m, n, one input, one readout
    covs = np.stack([np.eye(4), 2 * np.eye(4)])
    mix = GaussianMixtureRNN.from_parameters(means, covs, rank=1, n_inputs=1, n_units=20, random_state=0)
    sampled = mix.sample_network(random_state=0)
    assert COMMON <= _fitted_attributes(sampled)
    assert _fitted_attributes(fitted) == _fitted_attributes(sampled)
    assert COMMON <= _fitted_attributes(mix)
    assert (sampled.n_units_, sampled.n_outputs_, sampled.n_features_in_) == (20, 1, 1)
    assert sampled.loss_curve_ == [] and sampled.n_iter_ == 0 and np.isnan(sampled.best_loss_)
    m_c, _ = canonical_loadings(sampled.m_, sampled.n_)
    np.testing.assert_allclose(sampled.m_, m_c, atol=1e-5)
