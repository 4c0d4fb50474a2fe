"""Recordings as labs keep them: long-format tables, ragged lists of trials, NaN-padded tensors and DataArrays.

Each of the six problems of issue #23 has a test here (marked "Why N"), and the formats go through ``fit``, the
metrics and the command line with the same answer or one clear message.
"""

import json
import warnings

import numpy as np
import pytest

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.__main__ import main
from sklearn_lowrank._ragged import observed_lengths, pad_trials, read_trials
from sklearn_lowrank.metrics import bits_per_spike, d2_poisson_score_trials, r2_per_feature, r2_score_trials

pd = pytest.importorskip("pandas")

N_NEURONS, ONSET, OFFSET = 6, 5, 10
FAST = ["--ranks", "1", "--cv", "2", "--max-iter", "2", "--progress", "off"]


def _recording(n_trials=12, seed=0, lengths=None):
    """Poisson counts of ragged trials (14-20 bins): a context input on throughout, a pulse in [ONSET, OFFSET)."""
    rng = np.random.default_rng(seed)
    if lengths is None:
        lengths = rng.integers(14, 21, size=n_trials)
        lengths[0] = 20  # the longest trial sets the padded length
    X, y = [], []
    for i, n in enumerate(lengths):
        x = np.zeros((n, 2))
        x[:, 0] = 1.0 if i % 2 else -1.0
        x[ONSET:OFFSET, 1] = 0.5
        rate = 0.5 + 0.4 * np.sin(np.arange(n)[:, None] / 3.0 + np.arange(N_NEURONS))
        X.append(x)
        y.append(rng.poisson(rate).astype(float))
    return X, y, lengths


def _long_table(X, y, *, shuffle=True):
    frames = [pd.DataFrame({"trial": f"t{i:02d}", "time": np.arange(len(yi)), "condition": i % 4,
                            **{f"u{k}": xi[:, k] for k in range(xi.shape[1])},
                            **{f"n{j}": yi[:, j] for j in range(yi.shape[1])}})
              for i, (xi, yi) in enumerate(zip(X, y))]
    df = pd.concat(frames, ignore_index=True)
    return df.sample(frac=1.0, random_state=0) if shuffle else df


# ---------------------------------------------------------------------------------------------------------------
# Why 1: a long-format table passed to fit; the way in from tables
# ---------------------------------------------------------------------------------------------------------------


def test_fit_refuses_a_long_table_and_names_the_helper():
    """Why 1: the table was read as one-step trials; now the message names trials_from_dataframe."""
    X, y, _ = _recording()
    df = _long_table(X, y)
    neurons = [f"n{j}" for j in range(N_NEURONS)]
    est = LowRankRNNRegressor(rank=1, loss="poisson", max_iter=1)
    for X_in, y_in in ((df[["u0", "u1"]], df[neurons]), (df[["u0", "u1"]], df[neurons].to_numpy()),
                       (df[["u0", "u1"]].to_numpy(), df[neurons])):
        with pytest.raises(ValueError, match=r"trials_from_dataframe.*trial=.*time="):
            est.fit(X_in, y_in)


def test_trials_from_dataframe_reads_each_trial_in_order():
    from sklearn_lowrank.datasets import trials_from_dataframe

    X, y, lengths = _recording()
    data = trials_from_dataframe(_long_table(X, y), trial="trial", time="time", inputs=["u0", "u1"],
                                 per_trial="condition")
    assert data.neurons == [f"n{j}" for j in range(N_NEURONS)]  # every other numeric column
    assert list(data.trials) == [f"t{i:02d}" for i in range(len(y))]  # sorted, whatever the order of rows
    np.testing.assert_array_equal(data.lengths, lengths)
    for a, b in zip(data.y, y):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(data.X, X):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(data.per_trial["condition"], np.arange(len(y)) % 4)
    Xp, yp = trials_from_dataframe(_long_table(X, y), trial="trial", time="time", inputs=["u0", "u1"],
                                   neurons=data.neurons, padded=True, return_X_y=True)
    np.testing.assert_array_equal(yp, pad_trials(y, "y", np.nan))
    np.testing.assert_array_equal(Xp, pad_trials(X, "X", 0.0))
    np.testing.assert_array_equal(observed_lengths(yp), lengths)


@pytest.mark.parametrize("change, match", [
    (lambda df: pd.concat([df, df.iloc[:1]]), "more than one row at time="),
    (lambda df: df[df["time"] != 3], r"advances by 1 per bin, but some trials skip bins \(steps of 2\)"),
    (lambda df: df.assign(n0=df["n0"].astype(str)), r"neurons: column\(s\) \['n0'\] are not numeric"),
    (lambda df: df.assign(condition=np.arange(len(df))), "constant within each trial"),
    (lambda df: df.rename(columns={"time": "t"}), "time='time': no such column"),
    (lambda df: df.assign(time=df["time"].astype(str)), "text such as '10' sorts before '2'"),
])
def test_trials_from_dataframe_messages(change, match):
    from sklearn_lowrank.datasets import trials_from_dataframe

    X, y, _ = _recording(n_trials=4)
    with pytest.raises((TypeError, ValueError), match=match):
        trials_from_dataframe(change(_long_table(X, y)), trial="trial", time="time", inputs=["u0", "u1"],
                              per_trial="condition")


# ---------------------------------------------------------------------------------------------------------------
# Why 2: the metrics take what the estimators take
# ---------------------------------------------------------------------------------------------------------------


def test_metrics_accept_ragged_lists_as_the_estimators_do(quiet_fit):
    """Why 2: numpy's "inhomogeneous shape" error before; now the padded tensor's score."""
    X, y, _ = _recording()
    est = quiet_fit(LowRankRNNRegressor(rank=1, loss="poisson", max_iter=3, random_state=0), X, y)
    pred = est.predict(X)
    assert isinstance(pred, list)
    y_pad, pred_pad = pad_trials(y, "y", np.nan), pad_trials(pred, "y_pred", np.nan)
    for metric in (bits_per_spike, d2_poisson_score_trials, r2_score_trials):
        assert metric(y, pred) == pytest.approx(metric(y_pad, pred_pad), rel=1e-12)
    np.testing.assert_allclose(r2_per_feature(y, pred), r2_per_feature(y_pad, pred_pad))
    assert est.score(X, y) == pytest.approx(d2_poisson_score_trials(y, pred), rel=1e-5)
    with pytest.raises(ValueError, match="y_counts and predicted_rates must hold the same trials"):
        bits_per_spike(y, pred[:-1] + [pred[-1][:-1]])


def test_dataarray_is_read_by_its_dims(quiet_fit):
    xr = pytest.importorskip("xarray")
    X, y, _ = _recording()
    X_pad, y_pad = pad_trials(X, "X", 0.0), pad_trials(y, "y", np.nan)
    X_da = xr.DataArray(X_pad, dims=("trial", "time", "input"))
    y_da = xr.DataArray(y_pad.transpose(2, 0, 1), dims=("neuron", "trial", "time"))  # any order of dims
    est = quiet_fit(LowRankRNNRegressor(rank=1, loss="poisson", max_iter=3, random_state=0), X_da, y_da)
    ref = quiet_fit(LowRankRNNRegressor(rank=1, loss="poisson", max_iter=3, random_state=0), X_pad, y_pad)
    np.testing.assert_array_equal(est.predict(X_da), ref.predict(X_pad))
    assert d2_poisson_score_trials(y_da, est.predict(X_da)) == pytest.approx(
        d2_poisson_score_trials(y_pad, ref.predict(X_pad)))
    with pytest.raises(ValueError, match=r"dims \('a', 'b', 'c'\); name its dims \('trial', 'time', 'neuron'\)"):
        est.fit(X_da, xr.DataArray(y_pad, dims=("a", "b", "c")))


# ---------------------------------------------------------------------------------------------------------------
# Why 3 and 4: the command line and the report with ragged trials
# ---------------------------------------------------------------------------------------------------------------


def test_cli_ragged_trials_stimulus_and_nan_latents(tmp_path, capsys):
    """Why 3: the padding read as an input change; latents.npy had values at padded steps."""
    X, y, lengths = _recording()
    path = tmp_path / "rec.npz"
    np.savez(path, X=pad_trials(X, "X", 0.0), y=pad_trials(y, "y", np.nan))
    out = tmp_path / "r"
    assert main(["fit", str(path), "--loss", "poisson", "--out", str(out), *FAST]) == 0
    capsys.readouterr()
    assert json.loads((out / "summary.json").read_text())["stimulus"] == [ONSET, OFFSET]
    latents = np.load(out / "latents.npy")
    padded = np.arange(latents.shape[1]) >= lengths[:, None]
    assert padded.any() and np.isnan(latents[padded]).all() and np.isfinite(latents[~padded]).all()


def test_cli_reads_a_long_table(tmp_path, capsys):
    X, y, lengths = _recording()
    path = tmp_path / "rec.csv"
    _long_table(X, y).rename(columns={"trial": "id", "time": "bin"}).to_csv(path, index=False)
    out = tmp_path / "r"
    assert main(["fit", str(path), "--loss", "poisson", "--trial-column", "id", "--time-column", "bin",
                 "--input-columns", "u0", "u1", "--groups", "condition", "--out", str(out), *FAST]) == 0
    capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["n_trials"], summary["n_timesteps"], summary["n_inputs"], summary["n_neurons"]) == (
        len(y), lengths.max(), 2, N_NEURONS)
    assert summary["folds"] == "GroupKFold" and summary["stimulus"] == [ONSET, OFFSET]
    assert summary["trial_lengths"] == [lengths.min(), lengths.max()]
    assert main(["fit", str(path), "--loss", "poisson", "--out", str(out), *FAST]) == 2
    assert "--trial-column" in capsys.readouterr().err


def test_report_predictions_readable_with_many_ragged_conditions(tmp_path, monkeypatch, quiet_fit):
    """Why 4: 16 conditions and long tails of few trials; now a subset, the shared steps and the trial counts."""
    from matplotlib.figure import Figure
    from sklearn.model_selection import GridSearchCV

    from sklearn_lowrank.report import MAX_CONDITIONS, write_report

    saved = {}
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kw: saved.__setitem__(path.name, fig))
    lengths = np.r_[[20] * 6, [14] * 26]  # a few long trials: a tail beyond what half of the trials reach
    X, y, _ = _recording(lengths=lengths)
    X_pad, y_pad = pad_trials(X, "X", 0.0), pad_trials(y, "y", np.nan)
    search = GridSearchCV(LowRankRNNRegressor(loss="poisson", max_iter=2, random_state=0), {"rank": [1]}, cv=2)
    quiet_fit(search, X_pad, y_pad)
    write_report(search, X_pad, y_pad, tmp_path, conditions=np.arange(32) % 16)
    fig = saved["predictions.png"]
    top, counts = fig.axes[:3], fig.axes[3:6]
    shared = 14
    for ax in top:
        assert len(ax.get_lines()) == 2 * MAX_CONDITIONS  # recorded and predicted of each condition shown
        assert all(len(line.get_xdata()) == shared for line in ax.get_lines())
    np.testing.assert_array_equal(counts[0].get_lines()[0].get_ydata(),
                                  (np.arange(20) < lengths[:, None]).sum(axis=0))
    assert f"{MAX_CONDITIONS} of 16 conditions" in fig.get_suptitle()


# ---------------------------------------------------------------------------------------------------------------
# Why 5 and 6: messages that name the real problem; warnings only where true
# ---------------------------------------------------------------------------------------------------------------


def test_differing_neuron_counts_are_named_as_such():
    """Why 5: equal-length trials with different neuron counts got a message about time steps."""
    X, y, _ = _recording()
    X = [x[:14] for x in X]
    y = [a[:14] for a in y]
    y[3] = y[3][:, :-1]
    est = LowRankRNNRegressor(rank=1, loss="poisson", max_iter=1)
    with pytest.raises(ValueError, match=r"different numbers of features.*y\[0\] has 6 and y\[3\] has 5") as info:
        est.fit(X, y)
    assert "time step" not in str(info.value)
    with pytest.raises(ValueError, match=r"different numbers of features.*y_true\[0\] has 6 and y_true\[3\]"):
        r2_score_trials(y, [a[:, :5] for a in y])


def test_unrecorded_neuron_is_reported_once_not_as_silent():
    """Why 6: an all-NaN neuron got a false "never fires" warning with loss="poisson"."""
    X, y, _ = _recording()
    for a in y:
        a[:, 2] = np.nan
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        LowRankRNNRegressor(rank=1, loss="poisson", max_iter=2, random_state=0).fit(X, y)
    messages = [str(w.message) for w in records]
    assert not any("never fire" in m for m in messages), messages
    assert sum("[2] of y have no observation" in m for m in messages) == 1, messages
    for a in y:
        a[:, 2] = 0.0
    with pytest.warns(UserWarning, match=r"Neuron\(s\) \[2\] of y never fire"):
        LowRankRNNRegressor(rank=1, loss="poisson", max_iter=1, random_state=0).fit(X, y)


def test_read_trials_formats_agree():
    """The one reader: a ragged list, its padded tensor and an equal-length list give the same tensor."""
    X, y, lengths = _recording()
    padded, read_lengths = read_trials(y, "y")
    np.testing.assert_array_equal(read_lengths, lengths)
    np.testing.assert_array_equal(read_trials(padded, "y")[0], padded)
    same = [a[:14] for a in y]
    stacked, none = read_trials(same, "y")
    assert none is None and stacked.shape == (len(y), 14, N_NEURONS)
    with pytest.raises(ValueError, match="different lengths"):
        read_trials(y, "X", ragged=False)


def test_cli_parquet_table_or_one_message(tmp_path, capsys):
    """A .parquet table is read like a CSV one; without a Parquet engine, one line that says what to install."""
    X, y, _ = _recording(n_trials=6)
    path = tmp_path / "rec.parquet"
    df = _long_table(X, y)
    try:
        df.to_parquet(path)
    except ImportError:
        path.write_bytes(b"PAR1")
        assert main(["fit", str(path), "--loss", "poisson", "--out", str(tmp_path / "r"), *FAST]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "pyarrow" in err[0]
        return
    assert main(["fit", str(path), "--loss", "poisson", "--input-columns", "u0", "u1", "--neuron-columns",
                 *[f"n{j}" for j in range(N_NEURONS)], "--out", str(tmp_path / "r"), *FAST]) == 0


def test_plots_take_ragged_trials():
    """The figures read trials as the estimators do: a ragged list (e.g. transform of a list) is NaN-padded."""
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_lowrank.plotting import plot_latent_trajectories, plot_predicted_vs_recorded

    X, y, lengths = _recording()
    kappa = [np.cumsum(x[:, :1], axis=0) for x in X]
    ax = plot_latent_trajectories(kappa, labels=np.arange(len(X)) % 2, dims=0)
    assert len(ax.lines) == 2 and all(len(line.get_xdata()) == lengths.max() for line in ax.lines)
    axes = plot_predicted_vs_recorded(y, [0.9 * a + 0.1 for a in y], labels=np.arange(len(y)) % 2)
    assert len(axes) == 3
