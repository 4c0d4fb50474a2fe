"""Headless tests of sklearn_lowrank.plotting: every figure is drawn to a PNG of the expected size."""

import sys
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.utils import Bunch  # noqa: E402

from sklearn_lowrank import LowRankRNNRegressor, plotting  # noqa: E402
from sklearn_lowrank.datasets import make_context_dependent_task, make_low_rank_teacher  # noqa: E402
from sklearn_lowrank.inspection import find_fixed_points, inactivation_effects, latent_flow  # noqa: E402
from sklearn_lowrank.metrics import psychometric_matrix  # noqa: E402

SIZE, DPI = (4.0, 3.0), 50


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _check_png(fig, path):
    """Saved at the figure's size, not blank."""
    fig.savefig(path, dpi=DPI)
    image = mpimg.imread(path)
    width, height = fig.get_size_inches()
    assert image.shape[:2] == (round(height * DPI), round(width * DPI))
    assert path.stat().st_size > 0 and np.ptp(image[..., :3]) > 0


def _ax():
    fig, ax = plt.subplots(figsize=SIZE)
    return fig, ax


@pytest.fixture(scope="module")
def small_fit():
    X, y = make_low_rank_teacher(n_units=20, rank=2, n_inputs=1, n_trials=24, n_timesteps=15, random_state=0,
                                 return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = LowRankRNNRegressor(rank=2, max_iter=5, early_stopping=True, random_state=0).fit(X, y)
    return est, X, y


def test_loss_curve(small_fit, tmp_path):
    est, _, _ = small_fit
    fig, ax = _ax()
    assert plotting.plot_loss_curve(est, ax=ax) is ax
    assert len(ax.lines) == 2  # training and validation
    _check_png(fig, tmp_path / "loss.png")
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_loss_curve([], ax=ax)


def test_rank_selection_from_grid_search(small_fit, tmp_path):
    _, X, y = small_fit
    search = GridSearchCV(LowRankRNNRegressor(max_iter=3, random_state=0), {"rank": [1, 2, None]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X, y)
    fig, ax = _ax()
    assert plotting.plot_rank_selection(search, ax=ax) is ax
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "full"]
    _check_png(fig, tmp_path / "ranks.png")
    with pytest.raises(ValueError, match="param"):
        plotting.plot_rank_selection(search, param="n_units")


def test_latent_trajectories(small_fit, tmp_path):
    est, X, _ = small_fit
    kappa = est.transform(X)
    labels = np.sign(X[:, :, 0].sum(axis=1))
    fig, ax = _ax()
    assert plotting.plot_latent_trajectories(kappa, labels, ax=ax) is ax
    assert len(ax.lines) == len(np.unique(labels))
    _check_png(fig, tmp_path / "latents.png")
    fig, ax = _ax()
    plotting.plot_latent_trajectories(kappa[..., :1], ax=ax)
    assert len(ax.lines) == len(X)
    _check_png(fig, tmp_path / "latents1.png")
    with pytest.raises(ValueError, match="labels"):
        plotting.plot_latent_trajectories(kappa, labels[:3])


def test_flow_field_rank_one_and_two(small_fit, tmp_path):
    est, _, _ = small_fit
    flow = latent_flow(est, np.linspace(-2, 2, 15), np.linspace(-2, 2, 13))
    fig, ax = _ax()
    assert plotting.plot_flow_field(flow, find_fixed_points(est, n_starts=7), ax=ax) is ax
    _check_png(fig, tmp_path / "flow2.png")
    k = np.linspace(-2, 2, 21)
    flow1 = Bunch(kappa1=k, kappa2=None, velocity=(3 * np.tanh(k) - k)[:, None])
    fixed = Bunch(kappa=np.array([[-1.0], [0.0], [1.0]]), stable=np.array([True, False, True]))
    fig, ax = _ax()
    plotting.plot_flow_field(flow1, fixed, ax=ax)
    assert len(ax.collections) == 2  # stable and unstable markers
    _check_png(fig, tmp_path / "flow1.png")
    with pytest.raises(ValueError, match="velocity"):
        plotting.plot_flow_field(Bunch(kappa1=k, velocity=np.zeros((3, 3, 3))))


def test_loadings_pair_plot(small_fit, tmp_path):
    est, _, _ = small_fit
    axes = plotting.plot_loadings(est, labels=np.arange(20) % 2)
    assert axes.shape == (5, 5) and not axes[0, 1].get_visible()
    assert axes[-1, 0].get_xlabel() == "m1"
    _check_png(axes[0, 0].figure, tmp_path / "loadings.png")
    with pytest.raises(ValueError, match="max_vectors"):
        plotting.plot_loadings(np.zeros((5, 9)))


def test_inactivation_and_psychometric(tmp_path):
    X, y, cond = make_context_dependent_task(n_trials="grid", random_state=0, dt=100.0)
    est = LowRankRNNRegressor(rank=1, n_units=16, readout="linear", max_iter=0, random_state=0).fit(X, y)
    res = inactivation_effects(est, X, y, np.arange(16) % 2, conditions=cond)
    fig, ax = _ax()
    assert plotting.plot_inactivation(res, ax=ax) is ax
    assert len(ax.patches) == 3 * 3
    _check_png(fig, tmp_path / "inactivation.png")

    matrix, c1, c2, ctx = psychometric_matrix(y, np.nan_to_num(y), cond)
    fig, axes = plt.subplots(1, 2, figsize=(6.0, 3.0))
    out = plotting.plot_psychometric(matrix, c1, c2, ctx, axes=axes)
    assert out.shape == (2,) and out[0].get_title() == "context 1"
    _check_png(fig, tmp_path / "psychometric.png")
    with pytest.raises(ValueError, match="axes"):
        plotting.plot_psychometric(matrix, axes=[axes[0]])


def test_missing_matplotlib_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install"):
        plotting.plot_loss_curve([1.0, 0.5])


# ---------------------------------------------------------------------------------------------------------------
# Issue 16: what the figures say (points 11, 12, 13)
# ---------------------------------------------------------------------------------------------------------------


def test_rank_selection_draws_standard_errors_and_marks_the_rule_choice():
    from sklearn_lowrank import one_standard_error_rule

    folds = np.array([[0.50, 0.52, 0.48], [0.92, 0.94, 0.90], [0.925, 0.945, 0.905]])  # rank 3 best by mean
    results = {"param_rank": np.array([1, 2, 3]), "mean_test_score": folds.mean(axis=1),
               "std_test_score": folds.std(axis=1)}
    results.update({f"split{k}_test_score": folds[:, k] for k in range(3)})
    ax = plotting.plot_rank_selection(results)
    bars = ax.containers[0]
    low, high = (segment[:, 1] for segment in np.transpose(bars[2][0].get_segments(), (1, 0, 2)))
    np.testing.assert_allclose((high - low) / 2, folds.std(axis=1) / np.sqrt(3))  # SE, not SD
    star = [line for line in ax.lines if line.get_marker() == "*"][0]
    assert star.get_xdata()[0] == 2 == results["param_rank"][one_standard_error_rule(results)]
    assert "mean ± SE over 3 folds" in [t.get_text() for t in ax.get_legend().get_texts()]
    ax = plotting.plot_rank_selection(results, chosen=2)
    assert [line for line in ax.lines if line.get_marker() == "*"][0].get_xdata()[0] == 3
    assert not [line for line in plotting.plot_rank_selection(results, chosen=None).lines
                if line.get_marker() == "*"]


def test_legends_where_labels_are_passed(small_fit):
    est, X, _ = small_fit
    kappa = est.transform(X)
    labels = np.repeat(["left", "right", "up"], 8)
    ax = plotting.plot_latent_trajectories(kappa, labels, stimulus=(3, 9))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["left", "right", "up"]
    ax = plotting.plot_latent_trajectories(kappa, labels, dims=1, stimulus=(3, 9))
    assert ax.get_ylabel() == r"$\kappa_2$" and len(ax.patches) == 1  # the shaded stimulus
    many = np.arange(24) % 20  # 20 numeric conditions: a colorbar instead of a 20-line legend
    ax = plotting.plot_latent_trajectories(kappa, many)
    assert ax.get_legend() is None and len(ax.figure.axes) == 2
    axes = plotting.plot_loadings(est, labels=np.arange(20) % 2)
    legend = axes[0, -1].get_legend()  # in the empty corner of the pair plot
    assert legend.get_title().get_text() == "population" and len(legend.get_texts()) == 2


def test_psychometric_missing_cells_differ_from_one_half():
    M = np.full((1, 2, 2), 0.5)
    M[0, 1, 1] = np.nan
    ax = plotting.plot_psychometric(M)[0]
    image = ax.images[0]
    rgba = image.cmap(image.norm(image.get_array()))
    assert not np.allclose(rgba[1, 1], rgba[0, 0])  # grey for missing, white for 0.5
    assert [t.get_text() for t in ax.texts] == ["x"]


def test_flow_field_of_a_network_and_of_a_mixture_alike():
    from sklearn_lowrank import GaussianMixtureRNN
    from sklearn_lowrank.meanfield import mean_field_flow

    cov = np.eye(5)
    cov[0, 2] = cov[2, 0] = cov[1, 3] = cov[3, 1] = 0.9  # rank 2, one input: (m1, m2, n1, n2, I)
    mix = GaussianMixtureRNN.from_parameters(np.zeros((1, 5)), 2.0 * cov[None], rank=2, n_inputs=1)
    net = mix.sample_network(n_units=4000, random_state=0)
    k1, k2 = np.linspace(-1, 1, 9), np.linspace(-0.5, 0.5, 5)
    mean_field, sampled = mean_field_flow(mix, k1, k2), latent_flow(net, k1, k2)
    assert type(mean_field) is type(sampled)
    assert mean_field.velocity.shape == sampled.velocity.shape == (5, 9, 2)
    # same orientation: the finite network's flow approaches the mean field
    assert np.corrcoef(mean_field.velocity.ravel(), sampled.velocity.ravel())[0, 1] > 0.9
    for flow in (mean_field, sampled):
        ax = plotting.plot_flow_field(flow)
        assert ax.get_xlim() == (-1.0, 1.0) and ax.get_ylim() == (-0.5, 0.5)


def test_inactivation_figure_says_what_is_scored(small_fit, tmp_path):
    """Issue 16, point 2: R^2 on the neurons left active, intact baseline on the same neurons, legend outside."""
    est, X, y = small_fit
    res = inactivation_effects(est, X, y, np.arange(20) % 2)
    fig, ax = _ax()
    plotting.plot_inactivation(res, ax=ax)
    assert ax.get_ylabel() == "$R^2$ of the activity\n(neurons left active)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["intact", "pop. 0 off\n(10 units)",
                                                            "pop. 1 off\n(10 units)"]
    legend = ax.get_legend()
    assert sorted(t.get_text() for t in legend.get_texts()) == ["all trials", "intact, same neurons"]
    fig.canvas.draw()
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1 - 1  # beside the bars, not over them
    ticks = ax.collections[0].get_segments()
    np.testing.assert_allclose([seg[0, 1] for seg in ticks], res.baseline[1:, 0])
    res_all = inactivation_effects(est, X, y, np.arange(20) % 2, score_on="all")
    fig, ax = _ax()
    plotting.plot_inactivation(res_all, ax=ax)
    assert ax.get_ylabel().endswith("(all neurons)") and not ax.collections
    _check_png(fig, tmp_path / "inactivation_r2.png")


def test_conditions_averaged_apart_from_their_colour_label():
    """Conditions crossing a context with a strength: one curve per condition, one colour per strength."""
    rng = np.random.default_rng(0)
    kappa = rng.normal(size=(8, 6, 2))
    strength = np.array([-1, -1, 1, 1, -1, -1, 1, 1])
    condition = np.array([0, 0, 1, 1, 2, 2, 3, 3])  # contexts 0 and 1 x strengths -1 and 1
    ax = plotting.plot_latent_trajectories(kappa, strength, conditions=condition, dims=0)
    assert len(ax.lines) == 4 and [t.get_text() for t in ax.get_legend().get_texts()] == ["-1", "1"]
    np.testing.assert_allclose(ax.lines[2].get_ydata(), kappa[4:6, :, 0].mean(axis=0))
    colors = [tuple(line.get_color()) for line in ax.lines]
    assert colors[0] == colors[2] != colors[1] == colors[3]
    y = rng.normal(size=(8, 6, 3))
    axes = plotting.plot_predicted_vs_recorded(y, y + 0.1, strength, conditions=condition, neurons=[0])
    assert len(axes[0].lines) == 8  # recorded and predicted of 4 conditions
    with pytest.raises(ValueError, match="conditions"):
        plotting.plot_latent_trajectories(kappa, strength, conditions=condition[:3])
