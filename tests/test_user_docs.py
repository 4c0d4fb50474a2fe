"""What the user-facing documentation promises: no internal files cited, and the recipes it gives work."""

import importlib
import inspect
import pkgutil
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import make_pipeline

import sklearn_lowrank
from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import make_low_rank_teacher
from sklearn_lowrank.preprocessing import TrialStandardScaler


def _public_modules():
    for info in pkgutil.walk_packages(sklearn_lowrank.__path__, "sklearn_lowrank."):
        if "._core" in info.name or info.name.endswith("__main__"):
            continue  # the torch core is private; __main__ runs the command line when imported as a script
        yield importlib.import_module(info.name)


def test_no_internal_files_in_user_docstrings():
    """Issue 16, point 16: docstrings users read (modules and the public names) cite no DESIGN.md."""
    cited = []
    for module in _public_modules():
        objects = [module] + [getattr(module, name) for name in getattr(module, "__all__", [])]
        for obj in objects:
            doc = inspect.getdoc(obj) or ""
            if "DESIGN.md" in doc or "STYLE.md" in doc:
                cited.append(f"{module.__name__}.{getattr(obj, '__name__', '')}")
    assert not cited, cited


def test_pipeline_scales_inputs_not_activity():
    """Issue 16, point 17: the trap the guide describes, and the recipe it gives instead."""
    X, y = make_low_rank_teacher(n_units=10, rank=1, n_inputs=2, n_trials=16, n_timesteps=10, random_state=0,
                                 return_X_y=True)
    y_hz = 20.0 + 10.0 * y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few epochs; raw rates may warn
        trap = make_pipeline(TrialStandardScaler(), LowRankRNNRegressor(max_iter=3, random_state=0)).fit(X, y_hz)
        recipe = TransformedTargetRegressor(regressor=LowRankRNNRegressor(max_iter=3, random_state=0),
                                            transformer=TrialStandardScaler(), check_inverse=False).fit(X, y_hz)
    # the Pipeline's scaler learnt the 2 inputs, and its network was fitted to rates around 20 spikes/s
    assert trap[0].n_features_in_ == X.shape[-1]
    np.testing.assert_allclose(trap[0].mean_, X.mean(axis=(0, 1)), rtol=1e-5, atol=1e-6)
    # the recipe's scaler learnt the 10 neurons; its network sees z-scores, its predictions are back in spikes/s
    assert recipe.transformer_.n_features_in_ == y.shape[-1]
    z_pred = recipe.regressor_.predict(X)
    assert abs(np.mean(z_pred)) < 1.0
    np.testing.assert_allclose(recipe.predict(X), recipe.transformer_.inverse_transform(z_pred), rtol=1e-5)
    assert abs(np.mean(recipe.predict(X)) - 20.0) < 5.0
