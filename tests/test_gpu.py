"""The whole fit on a GPU (skipped without CUDA)."""

import pickle

import numpy as np
import pytest
import torch

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import make_low_rank_teacher

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


@cuda
def test_fit_on_cuda_matches_cpu_and_loads_on_cpu():
    """The same fit (same seed, same data) on the GPU and on the CPU: the same network up to float32 rounding."""
    data = make_low_rank_teacher(n_units=40, rank=1, n_inputs=1, n_trials=40, n_timesteps=20, random_state=0)
    params = {"rank": 1, "max_iter": 10, "random_state": 0}
    gpu = LowRankRNNRegressor(device="cuda", **params).fit(data.X, data.y)
    cpu = LowRankRNNRegressor(device="cpu", **params).fit(data.X, data.y)
    assert next(gpu.module_.parameters()).device.type == "cuda"
    assert next(cpu.module_.parameters()).device.type == "cpu"
    assert gpu.n_iter_ == cpu.n_iter_
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-3)
    np.testing.assert_allclose(gpu.connectivity_, cpu.connectivity_, atol=1e-3 * np.abs(cpu.connectivity_).max())
    np.testing.assert_allclose(gpu.predict(data.X), cpu.predict(data.X), atol=1e-3)
    assert gpu.score(data.X, data.y) == pytest.approx(cpu.score(data.X, data.y), abs=1e-3)
    assert gpu.score(data.X, data.y) > 0.9
    restored = pickle.loads(pickle.dumps(gpu))
    assert next(restored.module_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(restored.predict(data.X), gpu.predict(data.X), rtol=1e-4, atol=1e-4)


def test_cuda_unavailable_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    data = make_low_rank_teacher(n_units=10, rank=1, n_inputs=1, n_trials=5, n_timesteps=5, random_state=0)
    with pytest.raises(ValueError, match="CUDA is not available"):
        LowRankRNNRegressor(device="cuda").fit(data.X, data.y)
