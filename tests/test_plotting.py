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
