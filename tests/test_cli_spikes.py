"""Spike counts on the command line (``--loss poisson``) and in the report: scores named D^2 and bits per spike."""

import argparse
import json

import joblib
import numpy as np
import pytest

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.__main__ import main
from sklearn_lowrank._cli_data import preprocess
from sklearn_lowrank.datasets import make_spiking_teacher
from sklearn_lowrank.metrics import bits_per_spike, d2_poisson_per_feature, d2_poisson_score_trials

FAST = ["--max-iter", "5", "--progress", "off"]


@pytest.fixture(scope="module")
def teacher():
    return make_spiking_teacher(n_neurons=12, rank=2, n_inputs=2, n_conditions=4, n_trials_per_condition=4,
                                n_timesteps=16, random_state=0)


@pytest.fixture(scope="module")
def counts_path(teacher, tmp_path_factory):
    path = tmp_path_factory.mktemp("spikes") / "spikes.npz"
    np.savez(path, X=teacher.X, y=teacher.y, condition=teacher.condition)
    return path


def _error_line(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("sklearn-lowrank: error: ")
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------------------------


def test_fit_counts_writes_a_report_named_by_its_scores(counts_path, tmp_path, capsys):
    out_dir = tmp_path / "report"
    args = ["fit", str(counts_path), "--loss", "poisson", "--ranks", "1-2", "--cv", "2", "--groups", "condition",
            "--out", str(out_dir), *FAST]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    assert "Cross-validated Poisson D^2 per rank" in stdout and "held-out bits per spike" in stdout
    assert "R^2" not in stdout
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["score_name"] == "poisson_d2" and summary["loss"] == "poisson"
    assert not [key for key in summary if key.startswith("r2") or "_r2" in key]
    for key in ("d2_cv", "median_d2_per_neuron_cv", "bits_per_spike_cv", "median_bits_per_spike_per_neuron_cv",
                "d2_fit", "bits_per_spike_fit"):
        assert isinstance(summary[key], float), key
    chosen = summary["ranks"].index(summary["chosen_rank"])
    assert summary["d2_cv"] == summary["mean_test_score"][chosen]
    # tol="auto" is 1e-3 of the best mean D^2 (a few percent): the paired standard error decides; the summary says so
    assert summary["selection_tol"] == pytest.approx(1e-3 * abs(max(summary["mean_test_score"])))
    assert "Poisson D^2" in summary["selection"]
    assert summary["selection_paired"] is True and "paired" in summary["selection"]
    assert f"tol={summary['selection_tol']:g}" in stdout and "on paired fold differences" in stdout
    # the spread the paired rule compares, per rank: zero for the best, and printed beside each mean
    best = summary["ranks"].index(summary["best_mean_rank"])
    assert summary["se_paired_to_best"][best] == 0.0 and len(summary["se_paired_to_best"]) == 2
    assert "fold-by-fold differences" in stdout
    est = joblib.load(out_dir / "model.joblib")
    assert isinstance(est, LowRankRNNRegressor) and est.loss == "poisson" and est.rank == summary["chosen_rank"]
    assert not (out_dir / "r2_per_neuron.csv").exists() and not (out_dir / "r2_per_neuron.png").exists()
    rows = (out_dir / "d2_per_neuron.csv").read_text().splitlines()
    assert rows[0] == "neuron,d2_cv,d2_fit,bits_per_spike_cv,bits_per_spike_fit" and len(rows) == 1 + 12
    table = np.loadtxt(out_dir / "d2_per_neuron.csv", delimiter=",", skiprows=1)
    X, y = np.load(counts_path)["X"], np.load(counts_path)["y"]
    np.testing.assert_allclose(table[:, 2], d2_poisson_per_feature(y, est.predict(X)), rtol=1e-4, atol=1e-6)
    for name in ("rank_curve.png", "latents.png", "predictions.png", "d2_per_neuron.png"):
        assert (out_dir / name).stat().st_size > 10_000, name


@pytest.mark.parametrize("extra, message", [
    (["--zscore"], "--zscore with --loss poisson: z-scored counts are negative"),
    (["--smooth", "1"], "--smooth 1 with --loss poisson: smoothed counts are correlated"),
])
def test_count_destroying_preprocessing_is_refused(counts_path, tmp_path, capsys, extra, message):
    assert main(["fit", str(counts_path), "--loss", "poisson", "--out", str(tmp_path / "r"), *FAST, *extra]) == 2
    line = _error_line(capsys)
    assert message in line and "--loss squared_error" in line
    assert not (tmp_path / "r").exists()


def test_negative_counts_are_an_error_naming_y(teacher, tmp_path, capsys):
    path = tmp_path / "centred.npz"
    np.savez(path, X=teacher.X, y=teacher.y - teacher.y.mean())
    assert main(["fit", str(path), "--loss", "poisson", "--out", str(tmp_path / "r"), *FAST]) == 2
    line = _error_line(capsys)
    assert "--loss poisson: y has" in line and "negative entries" in line


def test_counts_are_not_warned_about_as_raw_rates(teacher, tmp_path, capsys):
    """Counts of tens per bin are fitted as they are: no advice to z-score them."""
    path = tmp_path / "dense.npz"
    np.savez(path, X=teacher.X, y=teacher.y * 10)
    assert main(["fit", str(path), "--loss", "poisson", "--ranks", "1", "--cv", "2", "--out", str(tmp_path / "r"),
                 "--max-iter", "2", "--progress", "off"]) == 0
    assert "raw rates" not in capsys.readouterr().err


def _prep_args(**kw):
    defaults = {"bin": 1, "smooth": 0.0, "zscore": False, "loss": "squared_error"}
    return argparse.Namespace(**{**defaults, **kw})


def test_bin_sums_counts_over_whole_bins():
    X = np.arange(7, dtype=np.float32).reshape(1, 7, 1)
    y = np.array([1, 0, 2, 1, 3, 0, 5], dtype=np.float32).reshape(1, 7, 1)
    y_nan = y.copy()
    y_nan[0, 4, 0] = np.nan
    Xb, yb, steps = preprocess(X, np.concatenate([y, y_nan], axis=-1), _prep_args(bin=3, loss="poisson"))
    # sums over whole bins; the 7th step (an incomplete bin) dropped; a bin with a missing step is missing
    np.testing.assert_array_equal(yb[0], [[3.0, 3.0], [4.0, np.nan]])
    np.testing.assert_array_equal(Xb[0, :, 0], [1.0, 4.0])  # inputs are averaged
    assert steps == ["TimeBinner(3) on X, TimeBinner(3, statistic='sum') on the counts y (1 last steps dropped: "
                     "an incomplete bin)"]
    # activity (rates) is still averaged, the incomplete bin kept
    _, y_rates, _ = preprocess(X, y, _prep_args(bin=3))
    np.testing.assert_allclose(y_rates[0, :, 0], [1.0, 4.0 / 3.0, 5.0])


def test_bin_on_the_command_line_sums_counts(counts_path, tmp_path, capsys):
    out_dir = tmp_path / "r"
    assert main(["fit", str(counts_path), "--loss", "poisson", "--bin", "3", "--ranks", "1", "--cv", "2",
                 "--out", str(out_dir), *FAST]) == 0
    capsys.readouterr()
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["n_timesteps"] == 5 and "statistic='sum'" in summary["preprocessing"][0]
    # the model was fitted to sums of 3 bins: its expected counts are ~3 times the recording's mean per step
    X, y = np.load(counts_path)["X"], np.load(counts_path)["y"]
    est = joblib.load(out_dir / "model.joblib")
    binned_mean = y[:, :15].reshape(16, 5, 3, 12).sum(axis=2).mean()
    assert est.predict(X[:, :15].reshape(16, 5, 3, 2).mean(axis=2)).mean() == pytest.approx(binned_mean, rel=0.3)


def test_fit_nwb_reads_counts_with_poisson(tmp_path, capsys, coherence_nwb):
    path = coherence_nwb  # 25 spikes/s: 1.25 per 50 ms bin
    out_dir = tmp_path / "r"
    assert main(["fit", str(path), "--loss", "poisson", "--ranks", "1", "--cv", "2", "--out", str(out_dir),
                 *FAST, "--input-columns", "coherence", "--window", "0", "500", "--bin-size", "50"]) == 0
    capsys.readouterr()
    est = joblib.load(out_dir / "model.joblib")
    # expected counts per bin, not rates in spikes/s
    assert 0.5 < est.predict(np.zeros((1, 10, 1), dtype=np.float32)).mean() < 2.5


# ---------------------------------------------------------------------------------------------------------------
# The report from Python, and the per-neuron D^2
# ---------------------------------------------------------------------------------------------------------------


def test_write_report_poisson_scores_and_figure_labels(teacher, tmp_path, monkeypatch):
    from matplotlib.figure import Figure
    from sklearn.model_selection import GridSearchCV, cross_val_predict

    from sklearn_lowrank import one_standard_error_rule
    from sklearn_lowrank.report import write_report

    saved = {}
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kw: saved.__setitem__(path.name, fig))
    X, y = teacher.X, teacher.y
    search = GridSearchCV(LowRankRNNRegressor(loss="poisson", max_iter=3, random_state=0), {"rank": [1, 2]},
                          cv=2, refit=one_standard_error_rule)
    with pytest.warns(Warning):
        search.fit(X, y)
        y_cv = cross_val_predict(search.best_estimator_, X, y, cv=2)
    report = write_report(search, X, y, tmp_path / "r", y_cv=y_cv, conditions=teacher.condition,
                          activity_label="spike count per bin")
    summary = report.summary
    assert summary["score_name"] == "poisson_d2" and not any("r2" in key for key in summary)
    assert summary["bits_per_spike_cv"] == pytest.approx(bits_per_spike(y, y_cv), rel=1e-5)
    assert summary["d2_fit"] == pytest.approx(search.best_estimator_.score(X, y))
    assert summary["median_d2_per_neuron_cv"] == pytest.approx(np.median(d2_poisson_per_feature(y, y_cv)),
                                                               rel=1e-5)
    assert report.files["d2_per_neuron"] == "d2_per_neuron.csv" and report.files["d2_figure"] == "d2_per_neuron.png"
    table = np.loadtxt(tmp_path / "r" / "d2_per_neuron.csv", delimiter=",", skiprows=1)
    per_neuron_bits = [bits_per_spike(y[..., i:i + 1], y_cv[..., i:i + 1]) for i in range(y.shape[2])]
    np.testing.assert_allclose(table[:, 3], per_neuron_bits, rtol=1e-4, atol=1e-6)
    # every figure names its score by the loss
    assert saved["rank_curve.png"].axes[0].get_ylabel() == "cross-validated Poisson $D^2$"
    assert "fold-by-fold" not in saved["rank_curve.png"].axes[0].get_title()  # refit by the unpaired rule
    predictions = saved["predictions.png"].axes
    assert predictions[0].get_ylabel() == "spike count per bin"
    assert all("Poisson $D^2$ =" in ax.get_title() for ax in predictions)
    assert "smoothed over 2 steps for display" in saved["predictions.png"].get_suptitle()
    assert [ax.get_xlabel() for ax in saved["d2_per_neuron.png"].axes] == [
        "cross-validated Poisson $D^2$ per neuron", "cross-validated bits per spike per neuron"]
    assert not any("R^2" in text for fig in saved.values() for ax in fig.axes
                   for text in (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()))


def test_write_report_squared_error_keeps_its_names(teacher, tmp_path):
    from sklearn.model_selection import GridSearchCV

    from sklearn_lowrank import one_standard_error_rule
    from sklearn_lowrank.report import write_report

    X, y = teacher.X, teacher.y
    search = GridSearchCV(LowRankRNNRegressor(max_iter=2, random_state=0), {"rank": [1]}, cv=2,
                          refit=one_standard_error_rule)
    with pytest.warns(Warning):
        search.fit(X, y)
    report = write_report(search, X, y, tmp_path / "r", figures=False)
    assert report.summary["score_name"] == "r2" and {"r2_cv", "r2_fit", "median_r2_per_neuron_cv"} <= set(
        report.summary)
    assert not any(key.startswith(("d2", "bits")) for key in report.summary)
    assert (tmp_path / "r" / "r2_per_neuron.csv").read_text().splitlines()[0] == "neuron,r2_cv,r2_fit"


def test_d2_poisson_per_feature():
    rng = np.random.default_rng(0)
    rates = rng.uniform(0.1, 2.0, size=(6, 8, 4))
    y = rng.poisson(rates).astype(float)
    y[0, :3, 1] = np.nan
    y[:, :, 3] = 2.0  # a neuron that fires alike in every bin: no deviance to explain
    w = rng.uniform(0.5, 2.0, size=6)
    per_neuron = d2_poisson_per_feature(y, rates, sample_weight=w)
    one_by_one = [d2_poisson_score_trials(y[..., i:i + 1], rates[..., i:i + 1], sample_weight=w) for i in range(3)]
    np.testing.assert_allclose(per_neuron[:3], one_by_one)
    assert np.isnan(per_neuron[3])
    np.testing.assert_array_equal(d2_poisson_per_feature(y[..., :3], y[..., :3]), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="negative"):
        d2_poisson_per_feature(-y, rates)


def test_plots_take_the_score_they_show():
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_lowrank.plotting import plot_predicted_vs_recorded, plot_r2_per_neuron

    y = np.random.default_rng(0).poisson(1.0, size=(4, 6, 3)).astype(float)
    scores = np.array([0.01, 0.03, np.nan])
    axes = plot_predicted_vs_recorded(y, np.ones_like(y), scores=scores, score_label="$D^2$")
    assert [ax.get_title() for ax in axes] == ["best: neuron 1, $D^2$ = 0.03", "median: neuron 0, $D^2$ = 0.01",
                                               "worst: neuron 0, $D^2$ = 0.01"]
    with pytest.raises(ValueError, match="one value per neuron"):
        plot_predicted_vs_recorded(y, y, scores=scores[:2])
    ax = plot_r2_per_neuron([0.01, 0.02, 0.04], xmax=None)
    assert ax.get_xlim()[1] < 0.1  # the bins span the scores, not [.., 1]
    assert plot_r2_per_neuron([0.01, 0.02, 0.04]).get_xlim()[1] >= 1.0
