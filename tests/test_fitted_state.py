"""One way into fitted state: fit and the constructors from parameters set the same attributes the same way, and a
refit leaves nothing of an earlier fit."""


import numpy as np
import pytest
import torch

from sklearn_lowrank import GaussianMixtureRNN, LowRankRNNRegressor, canonical_loadings
from sklearn_lowrank._core.network import LowRankRNN
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


# -- refits start from a clean slate ----------------------------------------------------------------------------

#: A sequence of refits of one estimator that changes readout, rank and loss (and back), each with its targets.
REFITS = [
    ({"readout": "linear", "rank": 2}, "task"),
    ({"readout": "identity", "rank": 1}, "activity"),
    ({"readout": "identity", "rank": None}, "activity"),
    ({"readout": "linear", "rank": None, "loss": "poisson"}, "counts"),
    ({"readout": "identity", "rank": 2, "loss": "poisson"}, "counts"),
    ({"readout": "linear", "rank": 1, "loss": "squared_error"}, "task"),
]


def _targets(teacher, kind):
    if kind == "task":
        return teacher.y[..., :2]
    if kind == "activity":
        return teacher.y
    return np.random.default_rng(0).poisson(1.0, size=teacher.y.shape).astype(np.float32)


def _fitted_state(est):
    """Every fitted attribute, public and private, as plain values."""
    names = _fitted_attributes(est) | ({"_optimizer", "_y_ndim"} & set(vars(est)))
    return {k: getattr(est, k) for k in names if k not in ("module_", "_optimizer")}


def _assert_same_state(state, expected):
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_equal(state[key], value, err_msg=key)


def _assert_shapes_agree(est, X):
    N, n_in, n_out = est.n_units_, est.n_features_in_, est.n_outputs_
    assert est.input_weights_.shape == (n_in, N) and est.initial_state_.shape == (N,)
    assert est.connectivity_.shape == (N, N) and est.predict(X).shape == X.shape[:2] + (n_out,)
    low_rank = isinstance(est.module_, LowRankRNN)
    assert hasattr(est, "m_") == low_rank == hasattr(est, "n_")
    if low_rank:
        R = est.module_.rank
        assert est.m_.shape == est.n_.shape == (N, R) and est.transform(X).shape == X.shape[:2] + (R,)
        np.testing.assert_allclose(est.connectivity_, est.m_ @ est.n_.T / N, rtol=1e-6)
    else:
        assert est.transform(X).shape == X.shape[:2] + (N,)
    linear = est.module_.readout == "linear"
    assert hasattr(est, "readout_weights_") == linear == hasattr(est, "readout_bias_")
    if linear:
        assert est.readout_weights_.shape == (N, n_out) and est.readout_bias_.shape == (n_out,)
    poisson = getattr(est.module_, "observation", None) is not None
    assert hasattr(est, "rate_gain_") == poisson == hasattr(est, "rate_offset_")
    if poisson:
        assert est.rate_gain_.shape == est.rate_offset_.shape == (n_out,)


def test_refits_across_readouts_ranks_and_losses_keep_nothing_of_an_earlier_fit(teacher, quiet_fit):
    est = LowRankRNNRegressor(n_units=12, max_iter=2, random_state=0)
    for params, kind in REFITS:
        y = _targets(teacher, kind)
        quiet_fit(est.set_params(**params), teacher.X, y)
        fresh = quiet_fit(LowRankRNNRegressor(**est.get_params()), teacher.X, y)
        _assert_same_state(_fitted_state(est), _fitted_state(fresh))
        _assert_shapes_agree(est, teacher.X)


def test_fitted_properties_read_the_fit_not_the_parameters(teacher, quiet_fit):
    est = quiet_fit(LowRankRNNRegressor(rank=2, max_iter=2, random_state=0), teacher.X, teacher.y)
    J, kappa = est.connectivity_, est.transform(teacher.X)
    est.set_params(rank=None, readout="linear")  # not refitted: the fitted network is still the rank-2 one
    np.testing.assert_array_equal(est.connectivity_, J)
    np.testing.assert_array_equal(est.transform(teacher.X), kappa)


def test_mixture_refit_with_another_loss_drops_the_poisson_readout(teacher, quiet_fit):
    mix = GaussianMixtureRNN(2, rank=1, n_units=12, max_iter=2, random_state=0)
    quiet_fit(mix.set_params(loss="poisson"), teacher.X, _targets(teacher, "counts"))
    assert mix.rate_gain_.shape == (12,)
    quiet_fit(mix.set_params(loss="squared_error"), teacher.X, teacher.y)
    fresh = quiet_fit(GaussianMixtureRNN(**mix.get_params()), teacher.X, teacher.y)
    _assert_same_state(_fitted_state(mix), _fitted_state(fresh))
    assert not hasattr(mix, "rate_gain_")


@pytest.mark.parametrize("change, message", [({"n_components": 3}, "n_components changed"),
                                             ({"rank": 2}, "rank changed"),
                                             ({"loss": "poisson"}, "loss='poisson' differs")])
def test_one_warm_start_check_names_what_changed(teacher, change, message, quiet_fit):
    mix = quiet_fit(GaussianMixtureRNN(2, rank=1, n_units=12, max_iter=2, random_state=0), teacher.X, teacher.y)
    mix.set_params(warm_start=True, **change)
    with pytest.raises(ValueError, match=message):
        mix.fit(teacher.X, _targets(teacher, "counts" if "loss" in change else "activity"))
    est = quiet_fit(LowRankRNNRegressor(rank=1, max_iter=2, random_state=0), teacher.X, teacher.y)
    est.set_params(warm_start=True)
    with pytest.raises(ValueError, match="the inputs of X changed"):
        est.fit(np.concatenate([teacher.X, teacher.X], axis=-1), teacher.y)
    with pytest.raises(ValueError, match="y has 2 outputs where the fitted model has 12"):
        est.set_params(readout="linear").fit(teacher.X, teacher.y[..., :2])
