"""Reliability: divergence, interruption, persistence, reproducibility and batched prediction, for every model.

Training faults are injected by wrapping the torch module the estimator builds (``_build_module``), so that the
fault happens at a known batch of a known epoch; the estimator must then equal the fit that stopped just before.
"""

import ast
import inspect
import pickle
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold

import sklearn_lowrank
from sklearn_lowrank._base import BaseRNNEstimator

N_TRIALS, BATCH = 10, 5  # the shared data set and estimators of conftest.py: two batches per epoch


def _params(est):
    return {k: v.detach().clone() for k, v in est.module_.state_dict().items()}


def _assert_all_finite(est):
    for name, value in est.module_.state_dict().items():
        assert torch.isfinite(value.float()).all(), f"non-finite {name}"
    fitted = ["m_", "n_", "input_weights_", "initial_state_"] if hasattr(est, "m_") else ["means_", "covariances_"]
    for attr in fitted:
        assert np.isfinite(getattr(est, attr)).all(), attr


# ---------------------------------------------------------------------------------------------------------------
# Fault injection
# ---------------------------------------------------------------------------------------------------------------


def _inject(monkeypatch, est, fault, at_call):
    """Make the ``at_call``-th training forward (1-based; batches with autograd on) fail with ``fault``.

    fault: "nan_loss" (predictions become NaN), "nan_grad" (finite loss, NaN gradients, so the step makes the
    parameters NaN) or "interrupt" (KeyboardInterrupt, as Ctrl-C in a notebook).
    """
    build = est._build_module
    calls = {"n": 0}

    def build_and_wrap(*args, **kwargs):
        module = build(*args, **kwargs)
        forward = module.forward

        def faulty_forward(*f_args, **f_kwargs):
            if torch.is_grad_enabled():
                calls["n"] += 1
                if calls["n"] == at_call:
                    if fault == "interrupt":
                        raise KeyboardInterrupt
                    out = forward(*f_args, **f_kwargs)
                    if fault == "nan_loss":
                        return out * float("nan")
                    out.register_hook(lambda grad: grad * float("nan"))
                    return out
            return forward(*f_args, **f_kwargs)

        module.forward = faulty_forward
        return module

    monkeypatch.setattr(est, "_build_module", build_and_wrap)
    return calls


def _remove_injection(est, monkeypatch):
    """Back to the plain estimator and module (closures cannot be pickled)."""
    monkeypatch.undo()
    vars(est.module_).pop("forward", None)


# ---------------------------------------------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------------------------------------------


def test_huge_learning_rate_stops_restores_finite_parameters_and_warns(estimator, make_trials):
    X, y = make_trials()
    est = clone(estimator).set_params(learning_rate_init=1e20, max_iter=20)
    with pytest.warns(ConvergenceWarning, match=r"the loss became NaN/inf; training stopped and the best finite "
                                                r"parameters were restored\. Lower learning_rate_init"):
        est.fit(X, y)
    assert est.n_iter_ < 20
    _assert_all_finite(est)
    pred = est.predict(X)
    assert np.isfinite(pred).all() and np.isfinite(est.score(X, y))
    assert all(np.isfinite(est.loss_curve_))


@pytest.mark.parametrize("fault", ["nan_loss", "nan_grad"])
@pytest.mark.parametrize("epoch_done, at_batch", [(2, 1), (2, 2)])
def test_divergence_restores_the_last_finite_best(fault, epoch_done, at_batch, monkeypatch, estimator, make_trials,
                                                  quiet):
    """A fault in epoch ``epoch_done + 1`` gives exactly the fit that ran ``epoch_done`` epochs."""
    X, y = make_trials()
    reference = quiet(lambda: clone(estimator).set_params(max_iter=epoch_done).fit(X, y))
    est = clone(estimator)
    _inject(monkeypatch, est, fault, at_call=epoch_done * (N_TRIALS // BATCH) + at_batch)
    with pytest.warns(ConvergenceWarning, match="the loss became NaN/inf"):
        est.fit(X, y)
    _assert_all_finite(est)
    assert est.n_iter_ == epoch_done
    assert est.loss_curve_ == reference.loss_curve_
    assert est.best_loss_ == reference.best_loss_
    for key, value in _params(reference).items():
        torch.testing.assert_close(est.module_.state_dict()[key], value, rtol=0, atol=0)
    np.testing.assert_array_equal(est.predict(X), reference.predict(X))


def test_warm_start_after_divergence_follows_the_advice_of_the_warning(estimator, make_trials):
    """"Lower learning_rate_init": a warm start then trains from the restored parameters at the new rate."""
    X, y = make_trials()
    est = clone(estimator).set_params(learning_rate_init=1e20, warm_start=True)
    with pytest.warns(ConvergenceWarning, match="the loss became NaN/inf"):
        est.fit(X, y)
    restored = _params(est)
    est.set_params(learning_rate_init=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*reached max_iter")
        est.fit(X, y)
    assert est.n_iter_ == est.max_iter and all(np.isfinite(est.loss_curve_))
    assert all(group["lr"] == 1e-3 for group in est._optimizer.param_groups)
    _assert_all_finite(est)
    assert any(not torch.equal(value, est.module_.state_dict()[key]) for key, value in restored.items())


# ---------------------------------------------------------------------------------------------------------------
# Interruption
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("at_batch", [1, 2])
def test_keyboard_interrupt_keeps_the_best_parameters_so_far(at_batch, monkeypatch, estimator, make_trials, quiet):
    X, y = make_trials()
    reference = quiet(lambda: clone(estimator).set_params(max_iter=2).fit(X, y))
    est = clone(estimator)
    calls = _inject(monkeypatch, est, "interrupt", at_call=2 * (N_TRIALS // BATCH) + at_batch)
    with pytest.warns(UserWarning, match=r"training interrupted \(KeyboardInterrupt\); the best parameters so far "
                                         r"were kept"):
        est.fit(X, y)
    assert calls["n"] == 2 * (N_TRIALS // BATCH) + at_batch  # the interrupt did stop the loop
    assert est.n_iter_ == 2
    np.testing.assert_array_equal(est.predict(X), reference.predict(X))
    # Usable: fitted attributes, score, pickling, refitting.
    _assert_all_finite(est)
    assert np.isfinite(est.score(X, y))
    _remove_injection(est, monkeypatch)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X), reference.predict(X))
    quiet(lambda: est.set_params(max_iter=1).fit(X, y))


def test_keyboard_interrupt_in_the_first_batch_leaves_the_initial_network(monkeypatch, estimator, make_trials):
    X, y = make_trials()
    est = clone(estimator)
    _inject(monkeypatch, est, "interrupt", at_call=1)
    with pytest.warns(UserWarning, match="training interrupted"):
        est.fit(X, y)
    assert est.n_iter_ == 0 and est.loss_curve_ == []
    _assert_all_finite(est)
    assert np.isfinite(est.predict(X)).all()


# ---------------------------------------------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------------------------------------------


def _round_trip(obj, how, tmp_path):
    """``obj`` saved and loaded again by pickle or joblib."""
    if how == "pickle":
        return pickle.loads(pickle.dumps(obj))
    joblib.dump(obj, tmp_path / "saved.joblib")
    return joblib.load(tmp_path / "saved.joblib")


@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_estimator_round_trip_gives_identical_predictions(how, fitted, tmp_path, make_trials):
    X, y = make_trials()
    est = fitted
    restored = _round_trip(est, how, tmp_path)
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))
    assert restored.score(X, y) == est.score(X, y)
    assert restored.get_params() == est.get_params()


@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_transformer_round_trip_gives_identical_output(transformer, how, tmp_path, make_trials):
    X, _ = make_trials()
    t = clone(transformer).fit(X)
    restored = _round_trip(t, how, tmp_path)
    np.testing.assert_array_equal(restored.transform(X), t.transform(X))
    np.testing.assert_array_equal(restored.inverse_transform(t.transform(X)), t.inverse_transform(t.transform(X)))


def test_pickled_state_holds_cpu_tensors_and_versions(fitted):
    est = fitted
    state = est.__getstate__()
    assert "_optimizer" not in state  # optimiser moments would pin the device
    tensors = list(state["module_"].parameters()) + list(state["module_"].buffers())
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert state["_versions"] == {"sklearn_lowrank": sklearn_lowrank.__version__,
                                  "torch": torch.__version__.split("+")[0]}
    # Pickling does not touch the live estimator.
    assert next(est.module_.parameters()).device.type == "cpu" and hasattr(est, "_optimizer")


def test_pickling_leaves_the_live_estimator_untouched(monkeypatch, estimator, make_trials, quiet):
    """Simulated GPU model: _cpu_copy returns a new module (as for a module on a GPU); the live one is kept."""
    import copy

    import sklearn_lowrank._base as base

    copies = []

    def cpu_copy_as_for_a_gpu_module(module):
        copies.append(copy.deepcopy(module))
        return copies[-1]

    monkeypatch.setattr(base, "_cpu_copy", cpu_copy_as_for_a_gpu_module)
    X, y = make_trials()
    est = quiet(lambda: clone(estimator).fit(X, y))
    module, optimizer = est.module_, est._optimizer
    state = est.__getstate__()
    assert state["module_"] is copies[0] and "_optimizer" not in state and "_versions" in state
    assert est.module_ is module and est._optimizer is optimizer and "_versions" not in vars(est)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_gpu_fitted_model_pickles_to_cpu(estimator, make_trials, quiet):
    X, y = make_trials()
    gpu = quiet(lambda: clone(estimator).set_params(device="cuda").fit(X, y))
    state = gpu.__getstate__()
    assert all(p.device.type == "cpu" for p in state["module_"].parameters())
    assert next(gpu.module_.parameters()).device.type == "cuda"  # the live model stays on the GPU
    restored = pickle.loads(pickle.dumps(gpu))
    assert next(restored.module_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(restored.predict(X), gpu.predict(X), rtol=1e-4, atol=1e-5)


def test_loading_under_other_versions_warns(fitted, monkeypatch, estimator_name, make_trials):
    X, _ = make_trials()
    payload = pickle.dumps(fitted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same versions: silent
        pickle.loads(payload)
    saved = re.escape(sklearn_lowrank.__version__), re.escape(torch.__version__.split("+")[0])
    monkeypatch.setattr(sklearn_lowrank._base, "__version__", "99.0")  # the version _base records and compares
    monkeypatch.setattr(torch, "__version__", "1.0.0+cpu")
    with pytest.warns(UserWarning, match=rf"Loading a {estimator_name} saved under other versions: sklearn_lowrank "
                                         rf"{saved[0]} \(saved\) vs 99\.0 \(here\), torch {saved[1]} \(saved\) vs "
                                         r"1\.0\.0 \(here\)\. Predictions may differ; refit if in doubt"):
        restored = pickle.loads(payload)
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))


def _torch_load_calls(tree):
    """Calls of torch.load / torch.serialization.load / a bare ``load`` imported from torch."""
    from_torch = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                  and (node.module or "").startswith("torch") for alias in node.names if alias.name == "load"}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "load" and ast.unparse(func.value) in (
                "torch", "torch.serialization"):
            yield node
        elif isinstance(func, ast.Name) and func.id in from_torch:
            yield node


def test_source_never_loads_torch_files_without_weights_only():
    """torch.load unpickles arbitrary code unless weights_only=True: never on user files."""
    root = Path(sklearn_lowrank.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 10
    offending = []
    for path in files:
        source = path.read_text()
        assert "weights_only=False" not in source.replace(" ", ""), path
        for call in _torch_load_calls(ast.parse(source)):
            keywords = {k.arg: k.value for k in call.keywords}
            value = keywords.get("weights_only")
            if not (isinstance(value, ast.Constant) and value.value is True):
                offending.append(f"{path.relative_to(root)}:{call.lineno}")
    assert not offending, f"torch.load without weights_only=True at {offending}"


def test_torch_load_scanner_finds_unsafe_calls():
    """The scanner above is not vacuous."""
    unsafe = ast.parse("import torch\nfrom torch import load as tl\ntorch.load(f)\ntl(f, weights_only=False)\n"
                       "torch.load(f, weights_only=True)\n")
    calls = list(_torch_load_calls(unsafe))
    assert len(calls) == 3
    assert [any(k.arg == "weights_only" and k.value.value is True for k in c.keywords) for c in calls] == [
        False, False, True]


# ---------------------------------------------------------------------------------------------------------------
# Reproducibility
# ---------------------------------------------------------------------------------------------------------------

_HASH_SCRIPT = textwrap.dedent("""
    import hashlib, warnings
    import numpy as np, torch
    from sklearn.base import clone
    from sklearn_lowrank import GaussianMixtureRNN, LowRankRNNRegressor

    def fingerprint(n_threads):
        torch.set_num_threads(n_threads)
        rng = np.random.default_rng(0)
        X = rng.normal(size=(10, 8, 2)).astype(np.float32)
        y = (0.5 * np.tanh(np.cumsum(X[..., :1], axis=1) / 3 + rng.normal(size=(10, 8, 20)))).astype(np.float32)
        out = []
        for est in (LowRankRNNRegressor(1, n_units=20, max_iter=4, batch_size=5, random_state=7),
                    GaussianMixtureRNN(2, n_units=20, max_iter=4, batch_size=5, random_state=7)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(X, y)
            params = est.m_ if hasattr(est, "m_") else est.means_
            h = hashlib.sha256(np.ascontiguousarray(params).tobytes())
            h.update(np.ascontiguousarray(est.predict(X)).tobytes())
            out.append(h.hexdigest())
        return " ".join(out)
""")


def test_same_random_state_gives_identical_results_in_a_fresh_process():
    namespace = {}
    exec(_HASH_SCRIPT, namespace)
    n_threads = torch.get_num_threads()
    try:
        here = namespace["fingerprint"](n_threads)
    finally:
        torch.set_num_threads(n_threads)
    code = _HASH_SCRIPT + f"\nprint(fingerprint({n_threads}))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip().splitlines()[-1] == here
    assert len(set(here.split())) == 2


def test_grid_search_n_jobs_2_gives_the_scores_of_n_jobs_1(estimator, make_trials, quiet):
    X, y = make_trials(n_trials=12)
    grid = {"rank": [1, 2], "random_state": [0, 1]}
    cv = KFold(3)
    base = clone(estimator).set_params(max_iter=3)
    serial = quiet(lambda: GridSearchCV(base, grid, cv=cv, n_jobs=1).fit(X, y))
    parallel = quiet(lambda: GridSearchCV(base, grid, cv=cv, n_jobs=2).fit(X, y))
    for key in [f"split{k}_test_score" for k in range(3)] + ["mean_test_score"]:
        np.testing.assert_array_equal(parallel.cv_results_[key], serial.cv_results_[key])
    assert parallel.best_params_ == serial.best_params_
    np.testing.assert_array_equal(parallel.predict(X), serial.predict(X))


# ---------------------------------------------------------------------------------------------------------------
# Prediction memory: batches of trials, no autograd graph
# ---------------------------------------------------------------------------------------------------------------

PREDICT_BATCH = inspect.signature(BaseRNNEstimator._simulate).parameters["batch_size"].default


def _record_forward(est, monkeypatch):
    calls = []
    forward = est.module_.forward

    def recording_forward(inputs, *args, **kwargs):
        out = forward(inputs, *args, **kwargs)
        outputs = out[0] if isinstance(out, tuple) else out
        calls.append({"n_trials": inputs.shape[0], "dtype": inputs.dtype, "grad_enabled": torch.is_grad_enabled(),
                      "requires_grad": outputs.requires_grad})
        return out

    monkeypatch.setattr(est.module_, "forward", recording_forward)
    return calls


def test_predict_and_score_run_in_batches_without_autograd(fitted, monkeypatch, make_trials):
    est = pickle.loads(pickle.dumps(fitted))
    n_trials = 2 * PREDICT_BATCH + 17
    X, y = make_trials(n_trials=n_trials, n_steps=2)
    calls = _record_forward(est, monkeypatch)
    methods = {"predict": lambda: est.predict(X.astype(np.float64)), "score": lambda: est.score(X, y),
               "predict_states": lambda: est.predict_states(X)}
    if hasattr(est, "transform"):
        methods["transform"] = lambda: est.transform(X)
    for method, call in methods.items():
        calls.clear()
        result = call()
        assert [c["n_trials"] for c in calls] == [PREDICT_BATCH, PREDICT_BATCH, 17], method
        assert all(c["dtype"] == torch.float32 for c in calls), method  # no float64 copy reaches the network
        assert not any(c["grad_enabled"] or c["requires_grad"] for c in calls), method
        if method != "score":
            assert isinstance(result, np.ndarray) and result.dtype == np.float32 and result.shape[0] == n_trials
    assert all(p.grad is None for p in est.module_.parameters())


def test_predict_batches_never_exceed_the_batch_size(fitted_estimators, make_trials, monkeypatch):
    """Whatever the number of trials, no forward call at predict time sees more than PREDICT_BATCH trials."""
    est = pickle.loads(pickle.dumps(fitted_estimators["LowRankRNNRegressor"]))
    calls = _record_forward(est, monkeypatch)
    for n_trials in (1, PREDICT_BATCH - 1, PREDICT_BATCH, PREDICT_BATCH + 1):
        calls.clear()
        X, _ = make_trials(n_trials=n_trials, n_steps=1)
        est.predict(X)
        sizes = [c["n_trials"] for c in calls]
        assert sum(sizes) == n_trials and max(sizes) <= PREDICT_BATCH


# ---------------------------------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------------------------------


def _record_threads():
    """A global forward pre-hook recording torch's thread count at every forward of any module."""
    seen = []
    handle = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: seen.append(torch.get_num_threads()))
    return seen, handle


def test_n_threads_holds_during_fit_and_predict_and_is_restored(estimator, make_trials, quiet):
    X, y = make_trials()
    before = torch.get_num_threads()
    target = 2 if before == 1 else 1
    est = clone(estimator).set_params(n_threads=target)
    seen, handle = _record_threads()
    try:
        quiet(lambda: est.fit(X, y))
        n_fit = len(seen)
        assert torch.get_num_threads() == before
        est.predict(X)
        est.score(X, y)
        assert torch.get_num_threads() == before
        with pytest.raises(ValueError, match="different numbers of trials"):
            est.fit(X, y[:5])  # an error inside fit restores the setting too
        assert torch.get_num_threads() == before
        seen_default = len(seen)
        quiet(lambda: clone(estimator).fit(X, y))  # n_threads=None: torch's setting is left alone
    finally:
        handle.remove()
        torch.set_num_threads(before)
    assert 0 < n_fit < len(seen) and set(seen[:seen_default]) == {target}
    assert set(seen[seen_default:]) == {before}
