"""Device discipline, checked on a CPU-only machine with torch's meta device.

A meta tensor has a shape and a device but no data: every operation up to the first synchronisation (``.item()``,
``float()``, a copy to the CPU) runs, so a fit on ``device="meta"`` shows whether the module, the start and the
training loop all work on the data's device. The real accelerator run is in test_gpu.py.
"""

import pytest
import torch

import sklearn_lowrank._core.start as start
from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank._core import LowRankRNN
from sklearn_lowrank._core.devices import check_same_device
from sklearn_lowrank._core.start import data_driven_start
from sklearn_lowrank._core.training import train
from sklearn_lowrank.datasets import make_low_rank_teacher


def _meta_module():
    return LowRankRNN(6, 1, 6, 1, alpha=0.2, generator=torch.Generator().manual_seed(0)).to("meta")


def test_core_refuses_data_on_another_device(training_config):
    module = _meta_module()
    X, y = torch.zeros(4, 5, 1), torch.zeros(4, 5, 6)
    with pytest.raises(ValueError, match="tensors on cpu but the module's parameters on meta"):
        check_same_device(module, X, y)
    with pytest.raises(ValueError, match="on meta"):
        data_driven_start(module, X, y, None)
    config = training_config(max_iter=1, batch_size=2)
    with pytest.raises(ValueError, match="on meta"):
        train(module, X, y, None, config, torch.Generator().manual_seed(0))


def test_fit_builds_and_starts_the_module_on_the_data_device(monkeypatch):
    """The regression start and its comparison with the random start run on the fit's device.

    The regression is replaced by an estimate of the right shapes on the data's device (the real one needs data
    to solve); the fit must then reach the first synchronisation with module and data together on ``meta``:
    torch's own 'meta' error, not a device mismatch.
    """
    data = make_low_rank_teacher(n_units=6, rank=1, n_inputs=1, n_trials=4, n_timesteps=5, random_state=0)
    seen = {}

    def fake_regression(inputs, targets, mask, *, rank, n_units, **kwargs):
        seen["device"] = inputs.device
        n_obs, n_in = targets.shape[-1], inputs.shape[-1]
        zeros = {"device": inputs.device}
        return {"m": torch.zeros(n_obs, rank, **zeros), "n": torch.zeros(n_obs, rank, **zeros),
                "input_weights": torch.zeros(n_in, n_obs, **zeros), "initial_state": torch.zeros(n_obs, **zeros)}

    monkeypatch.setattr(start, "regression_init", fake_regression)
    with pytest.raises((RuntimeError, NotImplementedError), match="meta") as err:
        LowRankRNNRegressor(rank=1, device="meta", max_iter=1).fit(data.X, data.y)
    assert "device" not in str(err.value).lower().replace("meta", "")
    assert seen["device"] == torch.device("meta")
