"""The command line end to end: ``demo``, ``fit`` on .npz and .nwb files, the report, and every error path."""

import json
import subprocess
import sys

import joblib
import numpy as np
import pytest

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.__main__ import main, parse_ranks
from sklearn_lowrank.datasets import make_low_rank_teacher, simulate_rnn

FAST = ["--max-iter", "15", "--progress", "off"]


def make_recording(n_neurons=40, n_conditions=8, n_timesteps=30, *, n_pre=5, missing_fraction=0.4, random_state=0):
    """A recording as a lab would save it: condition-averaged rates in spikes/s of a rank-2 circuit.

    Conditions cross two contexts (a constant cue) with signed stimulus strengths (a pulse after a pre-stimulus
    period of ``n_pre`` steps). Rates are 0.2 + 55 sigmoid(x) spikes/s; the pre-stimulus period is NaN (not
    aligned), and ``missing_fraction`` of the neurons were not recorded in context 1. Returns an npz-ready dict:
    X (n_conditions, n_timesteps, 3), y, and per-trial ``condition``, ``context``, ``strength``.
    """
    rng = np.random.default_rng(random_state)
    teacher = make_low_rank_teacher(n_units=n_neurons, rank=2, n_inputs=3, n_trials=1, n_timesteps=2,
                                    random_state=random_state)
    context = np.arange(n_conditions) % 2
    strength = np.repeat(np.linspace(-1.0, 1.0, n_conditions // 2), 2)[:n_conditions]
    X = np.zeros((n_conditions, n_timesteps, 3))
    X[:, :, 2] = np.where(context == 0, -0.5, 0.5)[:, None]
    stop = n_pre + (n_timesteps - n_pre) // 2
    X[np.arange(n_conditions), n_pre:stop, context] = strength[:, None]  # context k relays stimulus channel k
    states = simulate_rnn(teacher.J, teacher.input_weights, X, noise_std=0.05, random_state=random_state)
    y = 0.2 + 55.0 / (1.0 + np.exp(-1.5 * states))
    y[:, :n_pre] = np.nan
    missing = rng.permutation(n_neurons)[: int(missing_fraction * n_neurons)]
    y[np.ix_(context == 1, np.arange(n_timesteps), missing)] = np.nan
    return {"X": X.astype(np.float32), "y": y.astype(np.float32), "condition": np.arange(n_conditions),
            "context": context, "strength": strength}


@pytest.fixture(scope="module")
def recording_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("recording") / "recording.npz"
    np.savez(path, **make_recording())
    return path


@pytest.fixture(scope="module")
def npz_path(tmp_path_factory):
    X, y = make_low_rank_teacher(n_units=12, rank=1, n_inputs=1, n_trials=24, n_timesteps=12, random_state=0,
                                 return_X_y=True)
    path = tmp_path_factory.mktemp("data") / "rec.npz"
    np.savez(path, X=X, y=y)
    return path


def _error_line(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("sklearn-lowrank: error: ")
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
# Subcommands end to end
# ---------------------------------------------------------------------------------------------------------------


def test_demo(capsys):
    assert main(["demo", "--n-units", "30", "--rank", "1"]) == 0
    out = capsys.readouterr().out
    assert "held-out R^2" in out and "cosine(J fitted, J true)" in out


def test_fit_writes_the_report(npz_path, tmp_path, capsys):
    out_dir = tmp_path / "report"
    assert main(["fit", str(npz_path), "--ranks", "1-2", "--cv", "2", "--out", str(out_dir), *FAST]) == 0
    stdout = capsys.readouterr().out
    assert "Chosen rank" in stdout
    for name in ("model.joblib", "summary.json", "r2_per_neuron.csv", "latents.npy", "rank_curve.png",
                 "latents.png", "predictions.png", "r2_per_neuron.png"):
        assert (out_dir / name).is_file(), name
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["ranks"] == [1, 2] and summary["cv"] == 2
    assert summary["chosen_rank"] in (1, 2) and len(summary["mean_test_score"]) == 2
    # squared error keeps its R^2 names; the rule (paired, tol="auto": 1e-3 of the best mean score) is recorded
    assert summary["score_name"] == "r2" and summary["loss"] == "squared_error" and summary["selection_paired"]
    assert summary["selection_tol"] == pytest.approx(1e-3 * abs(max(summary["mean_test_score"])))
    assert {"r2_cv", "r2_fit", "median_r2_per_neuron_cv"} <= set(summary) and "d2_cv" not in summary
    assert (summary["n_trials"], summary["n_timesteps"], summary["n_neurons"]) == (24, 12, 12)
    est = joblib.load(out_dir / "model.joblib")
    assert isinstance(est, LowRankRNNRegressor) and est.rank == summary["chosen_rank"]
    rows = (out_dir / "r2_per_neuron.csv").read_text().splitlines()
    assert rows[0] == "neuron,r2_cv,r2_fit" and len(rows) == 1 + 12
    latents = np.load(out_dir / "latents.npy")
    assert latents.shape == (24, 12, est.rank)


def test_realistic_recording_gives_a_report(recording_path, tmp_path, capsys):
    """Issue 16, points 5, 10, 11: rates in spikes/s with --zscore and --smooth, conditions as groups."""
    out_dir = tmp_path / "report"
    args = ["fit", str(recording_path), "--ranks", "1,2", "--cv", "4", "--out", str(out_dir), "--zscore",
            "--smooth", "1", "--groups", "condition", "--labels", "strength", "--max-iter", "5",
            "--progress", "off"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "raw rates" not in captured.err  # --zscore given: no scale warning
    assert "TrialStandardScaler() on y" in captured.out and "GroupKFold, groups 'condition'" in captured.out
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["folds"] == "GroupKFold" and summary["n_splits"] == 4
    assert summary["preprocessing"] == ["GaussianSmoother(sigma=1) on y", "TrialStandardScaler() on y"]
    # SD and SE named apart, and the printout's +/- is the SE
    sd, se = np.array(summary["sd_test_score"]), np.array(summary["se_test_score"])
    np.testing.assert_allclose(se, sd / 2.0)
    chosen = summary["ranks"].index(summary["chosen_rank"])
    line = next(x for x in captured.out.splitlines() if x.endswith("<- chosen"))
    assert line.startswith(f"  rank {summary['chosen_rank']}: {summary['mean_test_score'][chosen]:.4f} +/- "
                           f"{se[chosen]:.4f}   (")  # then the paired difference to the best, which the rule compares
    assert summary["stimulus"] == [5.0, 17.0]  # the pulse, found from X; the constant context cue ignored
    for name in ("rank_curve.png", "latents.png", "predictions.png", "r2_per_neuron.png"):
        assert (out_dir / name).stat().st_size > 10_000, name
    rows = (out_dir / "r2_per_neuron.csv").read_text().splitlines()
    assert len(rows) == 41


def test_raw_rates_warn_with_the_fix(recording_path, tmp_path, capsys):
    """Issue 16, point 5: spikes/s without --zscore: the fit runs, with a warning that names the option."""
    assert main(["fit", str(recording_path), "--ranks", "1", "--cv", "2", "--out", str(tmp_path / "r"),
                 "--max-iter", "2", "--progress", "off"]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "raw rates" in line]
    assert len(warning) == 1 and "--zscore" in warning[0] and warning[0].startswith("sklearn-lowrank: warning:")


def test_warnings_are_shown_once_each(npz_path, tmp_path, capsys):
    """Issue 16, point 9: the command line shows ConvergenceWarning (once, with the number of fits)."""
    assert main(["fit", str(npz_path), "--ranks", "1", "--cv", "2", "--out", str(tmp_path / "r"),
                 "--max-iter", "1", "--progress", "off"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "ConvergenceWarning" in line]
    assert len(lines) == 1 and "fits)" in lines[0]


def test_preprocessing_options_change_the_data(recording_path, tmp_path, capsys):
    args = ["fit", str(recording_path), "--ranks", "1", "--cv", "2", "--out", str(tmp_path / "r"), "--zscore",
            "--window", "5", "25", "--bin", "2", "--stimulus", "0", "6", "--max-iter", "2", "--progress", "off"]
    assert main(args) == 0
    capsys.readouterr()
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["n_timesteps"] == 10 and summary["stimulus"] == [0.0, 6.0]
    assert summary["preprocessing"][0] == "TimeBinner(2) on X and y"


@pytest.mark.parametrize("extra, message", [
    (["--groups", "session"], "--groups 'session': no such per-trial array"),
    (["--groups", "context", "--cv", "3"], "number of groups in --groups 'context' (2)"),
    (["--window", "10", "5"], "--window 10 5"),
    (["--bin", "99"], "--bin 99 is longer"),
    (["--output-activation", "tanh"], "tanh(x) in (-1, 1) but y ranges from"),
    (["--device", "gpu"], "--device: device='gpu' is not a valid device"),
])
def test_option_errors(recording_path, tmp_path, capsys, extra, message):
    """Issue 16, points 4 and 7 (command line): one line on stderr, exit status 2, no traceback."""
    assert main(["fit", str(recording_path), "--out", str(tmp_path / "r"), *FAST, *extra]) == 2
    assert message in _error_line(capsys)


def test_demo_device_gpu_is_one_line(capsys):
    assert main(["demo", "--device", "gpu"]) == 2
    assert "device='gpu' is not a valid device" in _error_line(capsys)


def test_write_report_from_python(tmp_path):
    """The report is a Python function: any fitted rank search, figures included."""
    from sklearn.model_selection import GridSearchCV, cross_val_predict

    from sklearn_lowrank import one_standard_error_rule
    from sklearn_lowrank.report import write_report

    data = make_recording(n_neurons=12, n_conditions=6, n_timesteps=16)
    X, y = data["X"], (data["y"] - 25.0) / 20.0
    search = GridSearchCV(LowRankRNNRegressor(max_iter=3, random_state=0), {"rank": [1, 2]}, cv=2,
                          refit=one_standard_error_rule)
    with pytest.warns(Warning):
        search.fit(X, y)
        y_cv = cross_val_predict(search.best_estimator_, X, y, cv=2)
    report = write_report(search, X, y, tmp_path / "r", y_cv=y_cv, labels=data["strength"], stimulus=(5, 10),
                          extra={"note": "test"})
    assert {"rank_curve", "latents_figure", "predictions_figure", "r2_figure"} <= set(report.files)
    assert report.summary["note"] == "test" and report.summary["chosen_rank"] == search.best_params_["rank"]
    with pytest.raises(ValueError, match="y_cv"):
        write_report(search, X, y, tmp_path / "r", y_cv=y_cv[:2], figures=False)
    with pytest.raises(ValueError, match="LowRankRNNRegressorCV or GridSearchCV over 'rank'"):
        write_report(LowRankRNNRegressor(), X, y, tmp_path / "r", figures=False)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_fit_and_the_class_choose_the_same_rank(loss, tmp_path, capsys):
    """The command line runs LowRankRNNRegressorCV: same data, folds and estimator give the same fold scores."""
    from sklearn.model_selection import GroupKFold

    from sklearn_lowrank import LowRankRNNRegressorCV

    X, y = make_low_rank_teacher(n_units=12, rank=2, n_inputs=2, n_trials=24, n_timesteps=10, random_state=3,
                                 return_X_y=True)
    if loss == "poisson":
        y = np.random.default_rng(0).poisson(np.exp(0.5 * y)).astype(np.float32)
    condition = np.arange(24) % 6
    np.savez(tmp_path / "rec.npz", X=X, y=y, condition=condition)
    assert main(["fit", str(tmp_path / "rec.npz"), "--ranks", "1-3", "--cv", "3", "--groups", "condition",
                 "--loss", loss, "--out", str(tmp_path / "r"), "--max-iter", "4", "--progress", "off"]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    with pytest.warns(Warning):
        search = LowRankRNNRegressorCV([1, 2, 3], cv=GroupKFold(3, shuffle=True, random_state=0),
                                       estimator=LowRankRNNRegressor(max_iter=4, loss=loss, random_state=0))
        search.fit(X, y, groups=condition)
    np.testing.assert_allclose(summary["mean_test_score"], search.cv_results_["mean_test_score"], rtol=1e-6)
    assert summary["chosen_rank"] == search.rank_ and summary["selection_tol"] == pytest.approx(search.tol_)


def test_fit_progress_bar_and_missing_values(tmp_path, capsys):
    X, y = make_low_rank_teacher(n_units=8, rank=2, n_inputs=2, n_trials=12, n_timesteps=10, random_state=1,
                                 return_X_y=True)
    y[:4, :, 0] = np.nan  # neuron 0 not recorded in 4 trials
    path = tmp_path / "nan.npz"
    np.savez(path, X=X, y=y)
    args = ["fit", str(path), "--ranks", "1,3", "--cv", "3", "--out", str(tmp_path / "r"), "--max-iter", "5",
            "--progress", "on", "--device", "cpu"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "cross-validating ranks" in err and "6/6" in err  # 2 ranks x 3 folds
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["ranks"] == [1, 3] and 0 < summary["fraction_missing"] < 1


def test_fit_nwb(tmp_path, coherence_nwb):
    path = coherence_nwb
    args = ["fit", str(path), "--ranks", "1", "--cv", "2", "--out", str(tmp_path / "r"), *FAST,
            "--input-columns", "coherence", "--window", "0", "500", "--bin-size", "50"]
    assert main(args) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert (summary["n_trials"], summary["n_timesteps"], summary["n_inputs"], summary["n_neurons"]) == (8, 10, 1, 4)


def test_help_in_a_subprocess():
    result = subprocess.run([sys.executable, "-m", "sklearn_lowrank", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    assert "demo" in result.stdout and "fit" in result.stdout


# ---------------------------------------------------------------------------------------------------------------
# Error paths: one line on stderr, exit status 2
# ---------------------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "r")]) == 2
    assert "no such file" in _error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_not_an_npz_file(tmp_path, capsys):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a zip archive")
    assert main(["fit", str(path), "--out", str(tmp_path / "r")]) == 2
    line = _error_line(capsys)
    assert "is not an .npz archive" in line and "np.savez" in line


def test_text_file_named_npz_gets_no_pickle_advice(tmp_path, capsys):
    """Issue 16, point 8: numpy's message would point at unsafe unpickling of a file that is no pickle."""
    path = tmp_path / "table.npz"
    path.write_text("trial,time,neuron,rate\n0,0,0,12.5\n")
    assert main(["fit", str(path), "--out", str(tmp_path / "r")]) == 2
    line = _error_line(capsys)
    assert "not an .npz archive" in line and "pickle" not in line


@pytest.mark.parametrize("arrays, message", [
    ({"X": np.zeros((4, 5, 1))}, "no array(s) y"),
    ({"inputs": np.zeros((4, 5, 1)), "rates": np.zeros((4, 5, 3))}, "no array(s) X, y"),
])
def test_npz_without_X_or_y(tmp_path, capsys, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    assert main(["fit", str(path), "--out", str(tmp_path / "r")]) == 2
    assert message in _error_line(capsys)


def test_single_npy_array(tmp_path, capsys):
    path = tmp_path / "one.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((2, 3)))
    assert main(["fit", str(path), "--out", str(tmp_path / "r")]) == 2
    assert "single array" in _error_line(capsys)


@pytest.mark.parametrize("X_shape, y_shape, message", [
    ((10, 5), (10, 5, 3), "X must be a 3D array"),
    ((10, 5, 1), (10, 15), "y must be 3D"),
    ((10, 5, 1), (9, 5, 3), "different numbers of trials"),
    ((10, 5, 1), (10, 6, 3), "different numbers of time steps"),
    ((1, 5, 1), (1, 5, 3), "at least 2 trials"),
])
def test_wrong_shapes(tmp_path, capsys, X_shape, y_shape, message):
    path = tmp_path / "shapes.npz"
    np.savez(path, X=np.zeros(X_shape), y=np.ones(y_shape))
    assert main(["fit", str(path), "--out", str(tmp_path / "r")]) == 2
    assert message in _error_line(capsys)


@pytest.mark.parametrize("change, message", [
    (lambda X, y: X.__setitem__((0, 0, 0), np.nan), "X contains NaN"),
    (lambda X, y: y.__setitem__((0, 0, 0), np.inf), "y contains infinity"),
    (lambda X, y: y.fill(np.nan), "y is NaN everywhere"),
])
def test_bad_values(tmp_path, capsys, change, message):
    X, y = np.zeros((6, 5, 1)), np.ones((6, 5, 3))
    change(X, y)
    path = tmp_path / "values.npz"
    np.savez(path, X=X, y=y)
    assert main(["fit", str(path), "--out", str(tmp_path / "r")]) == 2
    assert message in _error_line(capsys)


def test_non_numeric_arrays(tmp_path, capsys):
    path = tmp_path / "strings.npz"
    np.savez(path, X=np.full((4, 5, 1), "a"), y=np.ones((4, 5, 2)))
    assert main(["fit", str(path), "--out", str(tmp_path / "r")]) == 2
    assert "numeric" in _error_line(capsys)


@pytest.mark.parametrize("spec", ["", "a", "0-2", "3-1", "1-", "1,,2", "-2", "1.5"])
def test_bad_ranks_spec(npz_path, tmp_path, capsys, spec):
    assert main(["fit", str(npz_path), "--ranks", spec, "--out", str(tmp_path / "r")]) == 2
    assert "bad --ranks" in _error_line(capsys)


def test_ranks_above_the_number_of_neurons(npz_path, tmp_path, capsys):
    assert main(["fit", str(npz_path), "--ranks", "1-13", "--out", str(tmp_path / "r")]) == 2
    assert "above the 12 neurons" in _error_line(capsys)


@pytest.mark.parametrize("cv", ["1", "25"])
def test_bad_cv(npz_path, tmp_path, capsys, cv):
    assert main(["fit", str(npz_path), "--cv", cv, "--out", str(tmp_path / "r")]) == 2
    assert "--cv" in _error_line(capsys)


def test_unwritable_out(npz_path, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the report folder should go")
    assert main(["fit", str(npz_path), "--ranks", "1", "--out", str(blocker / "r")]) == 2
    assert "cannot create --out" in _error_line(capsys)


def test_unreadable_nwb(tmp_path, capsys):
    pytest.importorskip("pynwb")
    path = tmp_path / "bad.nwb"
    path.write_bytes(b"not hdf5")
    assert main(["fit", str(path), "--out", str(tmp_path / "r")]) == 2
    _error_line(capsys)


def test_usage_errors_return_2(capsys):
    assert main([]) == 2
    assert main(["fit"]) == 2  # DATA and --out are required
    assert main(["fit", "x.npz", "--out", "r", "--cv", "five"]) == 2
    capsys.readouterr()


def test_parse_ranks():
    assert parse_ranks("1-5") == [1, 2, 3, 4, 5]
    assert parse_ranks("3,1-2,2") == [1, 2, 3]
    assert parse_ranks(" 2 - 4 ") == [2, 3, 4]
    with pytest.raises(ValueError, match="bad --ranks"):
        parse_ranks("1;2")
