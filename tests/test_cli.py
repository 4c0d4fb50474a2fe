"""The command line end to end: ``demo``, ``fit`` on .npz and .nwb files, the report, and every error path."""

import json
import subprocess
import sys

import joblib
import numpy as np
import pytest

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.__main__ import main, parse_ranks
from sklearn_lowrank.datasets import make_low_rank_teacher

FAST = ["--max-iter", "15", "--progress", "off"]


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
                 "latents.png"):
        assert (out_dir / name).is_file(), name
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["ranks"] == [1, 2] and summary["cv"] == 2
    assert summary["chosen_rank"] in (1, 2) and len(summary["mean_test_score"]) == 2
    assert (summary["n_trials"], summary["n_timesteps"], summary["n_neurons"]) == (24, 12, 12)
    est = joblib.load(out_dir / "model.joblib")
    assert isinstance(est, LowRankRNNRegressor) and est.rank == summary["chosen_rank"]
    rows = (out_dir / "r2_per_neuron.csv").read_text().splitlines()
    assert rows[0] == "neuron,r2_cv,r2_fit" and len(rows) == 1 + 12
    latents = np.load(out_dir / "latents.npy")
    assert latents.shape == (24, 12, est.rank)


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
    assert "cross-validating ranks" in err and "2/2" in err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["ranks"] == [1, 3] and 0 < summary["fraction_missing"] < 1


def test_fit_nwb(tmp_path, capsys):
    pynwb = pytest.importorskip("pynwb")
    import datetime

    nwb = pynwb.NWBFile(session_description="cli", identifier="cli",
                        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    nwb.add_trial_column(name="coherence", description="signed coherence")
    rng = np.random.default_rng(0)
    for i in range(8):
        nwb.add_trial(start_time=float(i), stop_time=i + 0.5, coherence=float(rng.choice([-1.0, 1.0])))
    for _ in range(4):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, 8, 200)))
    path = tmp_path / "rec.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
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
    ((10, 5), (10, 5, 3), "must be 3D"),
    ((10, 5, 1), (10, 15), "must be 3D"),
    ((10, 5, 1), (9, 5, 3), "same number of trials and time steps"),
    ((10, 5, 1), (10, 6, 3), "same number of trials and time steps"),
    ((1, 5, 1), (1, 5, 3), "at least 2 trials"),
])
def test_wrong_shapes(tmp_path, capsys, X_shape, y_shape, message):
    path = tmp_path / "shapes.npz"
    np.savez(path, X=np.zeros(X_shape), y=np.ones(y_shape))
    assert main(["fit", str(path), "--out", str(tmp_path / "r")]) == 2
    assert message in _error_line(capsys)


@pytest.mark.parametrize("change, message", [
    (lambda X, y: X.__setitem__((0, 0, 0), np.nan), "X holds NaN or inf"),
    (lambda X, y: y.__setitem__((0, 0, 0), np.inf), "y holds inf"),
    (lambda X, y: y.fill(np.nan), "no observation"),
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
