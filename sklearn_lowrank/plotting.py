"""Figures for fitted networks and their inspection (matplotlib, the optional ``plot`` extra).

Every function draws on the Axes it is given (``ax=None``: a new figure) and returns it, so
figures compose: ``fig, axes = plt.subplots(1, 3)`` then one call per panel. matplotlib is imported on first
use only; without it the functions raise an ImportError that says how to install it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "plot_loss_curve",
    "plot_rank_selection",
    "plot_latent_trajectories",
    "plot_flow_field",
    "plot_loadings",
    "plot_inactivation",
    "plot_psychometric",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sklearn_lowrank.plotting needs matplotlib: pip install 'sklearn-lowrank[plot]' (or pip install "
            "matplotlib)."
        ) from exc
    return plt


def _axes(ax):
    """The given Axes, or one on a new figure (as scikit-learn's displays: never drawn over an older plot)."""
    return _pyplot().subplots()[1] if ax is None else ax


def _grid_axes(axes, n_rows, n_cols, size=2.2):
    """A (n_rows, n_cols) array of Axes: the given ones (checked) or a new figure."""
    if axes is None:
        _, axes = _pyplot().subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False)
        return axes
    axes = np.asarray(axes, dtype=object).reshape(-1)
    if axes.size != n_rows * n_cols:
        raise ValueError(f"axes must hold {n_rows * n_cols} Axes ({n_rows} x {n_cols}); got {axes.size}.")
    return axes.reshape(n_rows, n_cols)


# ---------------------------------------------------------------------------------------------------------------
# Training and model selection
# ---------------------------------------------------------------------------------------------------------------


def plot_loss_curve(estimator, ax=None, *, log=True):
    """Training loss per epoch (and the validation loss with early stopping).

    Parameters
    ----------
    estimator : fitted estimator or array-like of shape (n_epochs,)
        Anything with ``loss_curve_`` (and optionally ``validation_loss_curve_``), or the curve itself.
    ax : matplotlib Axes, optional
    log : bool, default=True
        Logarithmic loss axis.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_lowrank.plotting import plot_loss_curve
    >>> ax = plot_loss_curve([1.0, 0.5, 0.3, 0.25])
    >>> ax.get_xlabel()
    'epoch'
    """
    ax = _axes(ax)
    curves = {"training": getattr(estimator, "loss_curve_", estimator)}
    if getattr(estimator, "validation_loss_curve_", None) is not None:
        curves["validation"] = estimator.validation_loss_curve_
    for label, curve in curves.items():
        curve = np.asarray(curve, dtype=float).ravel()
        if curve.size == 0:
            raise ValueError("the loss curve is empty: fit the estimator with max_iter >= 1 first.")
        ax.plot(np.arange(1, curve.size + 1), curve, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if len(curves) > 1:
        ax.legend(frameon=False)
    return ax


def plot_rank_selection(search, ax=None, *, param="rank", best=True):
    """Cross-validated score against rank (mean +/- standard deviation over folds), from a fitted search.

    Parameters
    ----------
    search : fitted GridSearchCV or dict
        A search over ``param`` (e.g. ``GridSearchCV(LowRankRNNRegressor(), {"rank": [1, 2, 3]})``) or its
        ``cv_results_``. A full-rank candidate (``rank=None``) is drawn apart, at the right, as "full".
    ax : matplotlib Axes, optional
    param : str, default="rank"
        Name of the searched parameter (``"rank"``, or e.g. ``"regressor__rank"`` in a Pipeline).
    best : bool, default=True
        Mark the best candidate.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_lowrank.plotting import plot_rank_selection
    >>> results = {"param_rank": [1, 2, 3], "mean_test_score": [0.5, 0.9, 0.91],
    ...            "std_test_score": [0.05, 0.02, 0.02], "rank_test_score": [3, 2, 1]}
    >>> ax = plot_rank_selection(results)
    >>> ax.get_xlabel()
    'rank'
    """
    results = getattr(search, "cv_results_", search)
    key = f"param_{param}"
    if not isinstance(results, dict) or key not in results:
        raise ValueError(f"search must be a fitted GridSearchCV (or its cv_results_) over {param!r}; no {key!r} "
                         "in the results. Pass param=<the searched parameter name>.")
    ranks = list(np.asarray(results[key], dtype=object))
    mean = np.asarray(results["mean_test_score"], dtype=float)
    std = np.asarray(results.get("std_test_score", np.zeros_like(mean)), dtype=float)
    finite = [r for r in ranks if r is not None and r is not np.ma.masked]
    full_x = (max(finite) + 1) if finite else 1
    x = np.array([full_x if (r is None or r is np.ma.masked) else r for r in ranks], dtype=float)
    order = np.argsort(x, kind="stable")
    ax = _axes(ax)
    ax.errorbar(x[order], mean[order], yerr=std[order], marker="o", capsize=3, color="C0")
    if best:
        i = int(np.argmax(mean))
        ax.plot(x[i], mean[i], marker="*", markersize=14, color="C3", linestyle="none", label="best")
    ticks = np.unique(x)
    ax.set_xticks(ticks)
    ax.set_xticklabels(["full" if t == full_x and len(finite) < len(ranks) else f"{int(t)}" for t in ticks])
    ax.set_xlabel("rank")
    ax.set_ylabel("cross-validated score")
    return ax


# ---------------------------------------------------------------------------------------------------------------
# Latent dynamics
# ---------------------------------------------------------------------------------------------------------------


def plot_latent_trajectories(kappa, labels=None, ax=None, *, dims=(0, 1), time=None, cmap="coolwarm"):
    """Latent trajectories averaged per condition: kappa against time (rank 1) or in a latent plane.

    Parameters
    ----------
    kappa : array-like of shape (n_trials, n_timesteps, rank)
        Latents, e.g. ``est.transform(X)``.
    labels : array-like of shape (n_trials,), optional
        Condition of each trial; trials of a condition are averaged and conditions coloured in order. None: one
        curve per trial.
    ax : matplotlib Axes, optional
    dims : tuple of int, default=(0, 1)
        Latents drawn against each other when rank >= 2.
    time : array-like of shape (n_timesteps,), optional
        Time axis for rank 1 (steps by default).
    cmap : str, default="coolwarm"

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_lowrank.plotting import plot_latent_trajectories
    >>> kappa = np.cumsum(np.ones((4, 10, 2)), axis=1) * np.array([1, -1, 2, -2])[:, None, None]
    >>> ax = plot_latent_trajectories(kappa, labels=[0, 0, 1, 1])
    >>> len(ax.lines)
    2
    """
    kappa = np.asarray(kappa, dtype=float)
    if kappa.ndim != 3:
        raise ValueError(f"kappa must have shape (n_trials, n_timesteps, rank); got {kappa.shape}.")
    if labels is None:
        groups, curves = list(range(kappa.shape[0])), list(kappa)
    else:
        labels = np.asarray(labels).ravel()
        if labels.shape != (kappa.shape[0],):
            raise ValueError(f"labels must have shape (n_trials,) = ({kappa.shape[0]},); got {labels.shape}.")
        groups = list(np.unique(labels))
        curves = [kappa[labels == g].mean(axis=0) for g in groups]
    colors = _pyplot().get_cmap(cmap)(np.linspace(0, 1, max(len(curves), 2)))
    ax = _axes(ax)
    rank = kappa.shape[2]
    if rank == 1:
        t = np.arange(kappa.shape[1]) if time is None else np.asarray(time, dtype=float)
        for g, curve, color in zip(groups, curves, colors):
            ax.plot(t, curve[:, 0], color=color, label=str(g))
        ax.set_xlabel("time")
        ax.set_ylabel(r"$\kappa_1$")
    else:
        a, b = dims
        if not (0 <= a < rank and 0 <= b < rank):
            raise ValueError(f"dims must index the {rank} latents; got {dims}.")
        for g, curve, color in zip(groups, curves, colors):
            ax.plot(curve[:, a], curve[:, b], color=color, label=str(g))
            ax.scatter(curve[-1, a], curve[-1, b], color=color, s=9, zorder=3)  # end of the trial
        ax.set_xlabel(rf"$\kappa_{a + 1}$")
        ax.set_ylabel(rf"$\kappa_{b + 1}$")
    return ax


def plot_flow_field(flow, fixed_points=None, ax=None, *, density=1.0, cmap="Greys"):
    """Flow field of the latent dynamics with its fixed points (filled: stable, open: unstable).

    Parameters
    ----------
    flow : Bunch
        From :func:`sklearn_lowrank.inspection.latent_flow` (rank 1 or 2).
    fixed_points : Bunch, optional
        From :func:`sklearn_lowrank.inspection.find_fixed_points`.
    ax : matplotlib Axes, optional
    density : float, default=1.0
        Streamline density (rank 2).
    cmap : str, default="Greys"
        Colour map of the speed log10(q) in the background (rank 2).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from sklearn_lowrank.plotting import plot_flow_field
    >>> k = np.linspace(-2, 2, 11)
    >>> flow = Bunch(kappa1=k, kappa2=None, velocity=(np.tanh(2 * k) - k)[:, None], speed=None)
    >>> ax = plot_flow_field(flow)
    >>> ax.get_xlabel()
    '$\\\\kappa_1$'
    """
    ax = _axes(ax)
    velocity = np.asarray(flow.velocity, dtype=float)
    k1 = np.asarray(flow.kappa1, dtype=float)
    if velocity.ndim == 2 and velocity.shape[1] == 1:
        ax.plot(k1, velocity[:, 0], color="k")
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_ylabel(r"$d\kappa_1/dt$")
    elif velocity.ndim == 3 and velocity.shape[2] == 2:
        k2 = np.asarray(flow.kappa2, dtype=float)
        speed = 0.5 * np.sum(velocity**2, axis=-1)
        ax.pcolormesh(k1, k2, np.log10(speed + 1e-12), cmap=cmap, shading="auto", alpha=0.6)
        ax.streamplot(k1, k2, velocity[..., 0], velocity[..., 1], color="k", density=density, linewidth=0.6,
                      arrowsize=0.8)
        ax.set_ylabel(r"$\kappa_2$")
        ax.set_xlim(k1.min(), k1.max())
        ax.set_ylim(k2.min(), k2.max())
    else:
        raise ValueError("flow.velocity must have shape (n1, 1) (rank 1) or (n2, n1, 2) (rank 2), as returned by "
                         f"latent_flow; got {velocity.shape}.")
    ax.set_xlabel(r"$\kappa_1$")
    if fixed_points is not None and len(fixed_points.kappa):
        fp = np.asarray(fixed_points.kappa, dtype=float)
        stable = np.asarray(fixed_points.stable, dtype=bool)
        y = np.zeros(len(fp)) if fp.shape[1] == 1 else fp[:, 1]
        ax.scatter(fp[stable, 0], y[stable], s=50, color="C3", edgecolor="k", zorder=4, label="stable")
        ax.scatter(fp[~stable, 0], y[~stable], s=50, facecolor="white", edgecolor="C3", linewidth=1.5, zorder=4,
                   label="unstable")
    return ax


# ---------------------------------------------------------------------------------------------------------------
# Populations and inactivations
# ---------------------------------------------------------------------------------------------------------------


def plot_loadings(loadings, labels=None, *, names=None, axes=None, max_vectors=8):
    """Pair plot of the per-unit loadings, units coloured by population.

    Parameters
    ----------
    loadings : array-like of shape (n_units, n_vectors) or fitted LowRankRNNRegressor
        Loading vectors as columns (an estimator gives its connectivity vectors m, n, I, w).
    labels : array-like of shape (n_units,), optional
        Population of each unit.
    names : list of str, optional
        Names of the columns.
    axes : array of matplotlib Axes of shape (n_vectors, n_vectors), optional
        A new figure by default.
    max_vectors : int, default=8
        Larger loadings are refused: a pair plot of more is unreadable; select columns first.

    Returns
    -------
    axes : ndarray of matplotlib Axes of shape (n_vectors, n_vectors)
        Histograms on the diagonal, scatter plots below it, the upper triangle hidden.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_lowrank.plotting import plot_loadings
    >>> V = np.random.default_rng(0).normal(size=(50, 3))
    >>> plot_loadings(V, labels=np.arange(50) % 2, names=["m", "n", "I"]).shape
    (3, 3)
    """
    if hasattr(loadings, "module_"):
        from .inspection import connectivity_vectors

        loadings, est_names = connectivity_vectors(loadings)
        names = est_names if names is None else names
    V = np.asarray(loadings, dtype=float)
    V = V[:, None] if V.ndim == 1 else V
    if V.ndim != 2:
        raise ValueError(f"loadings must have shape (n_units, n_vectors); got {V.shape}.")
    k = V.shape[1]
    if k > max_vectors:
        raise ValueError(f"loadings has {k} columns, more than max_vectors={max_vectors}; select the columns to "
                         "draw or raise max_vectors.")
    names = [f"v{j}" for j in range(k)] if names is None else list(names)
    if len(names) != k:
        raise ValueError(f"{len(names)} names given for {k} loading columns.")
    labels = np.zeros(V.shape[0], dtype=int) if labels is None else np.asarray(labels).ravel()
    if labels.shape != (V.shape[0],):
        raise ValueError(f"labels must have shape (n_units,) = ({V.shape[0]},); got {labels.shape}.")
    axes = _grid_axes(axes, k, k)
    pops = np.unique(labels)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            for c, p in enumerate(pops):
                sel = labels == p
                if i == j:
                    ax.hist(V[sel, i], bins=15, color=f"C{c}", alpha=0.6)
                else:
                    ax.scatter(V[sel, j], V[sel, i], s=6, color=f"C{c}", alpha=0.8, label=str(p))
            if i == k - 1:
                ax.set_xlabel(names[j])
            if j == 0 and i > 0:
                ax.set_ylabel(names[i])
    return axes


def plot_inactivation(result, ax=None, *, chance=None):
    """Grouped bar chart of the scores after silencing each population (and intact), per context.

    Parameters
    ----------
    result : Bunch
        From :func:`sklearn_lowrank.inspection.inactivation_effects`.
    ax : matplotlib Axes, optional
    chance : float, optional
        Draw a chance level (0.5 for two-choice accuracy; by default with ``scoring="accuracy"``).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from sklearn_lowrank.plotting import plot_inactivation
    >>> res = Bunch(populations=["intact", 0, 1], groups=[1, 2], scores=np.array([[1, 1], [0.5, 1], [1, 0.5]]),
    ...             scoring="accuracy")
    >>> len(plot_inactivation(res).patches)
    6
    """
    scores = np.asarray(result.scores, dtype=float)
    populations, groups = list(result.populations), list(result.groups)
    if scores.shape != (len(populations), len(groups)):
        raise ValueError(f"result.scores must have shape (n_populations, n_groups) = ({len(populations)}, "
                         f"{len(groups)}); got {scores.shape}.")
    ax = _axes(ax)
    width = 0.8 / len(groups)
    x = np.arange(len(populations))
    for j, g in enumerate(groups):
        label = f"context {g}" if not isinstance(g, str) else g
        ax.bar(x + (j - (len(groups) - 1) / 2) * width, scores[:, j], width, label=label, color=f"C{j}")
    ax.set_xticks(x)
    ax.set_xticklabels(["intact" if p == "intact" else f"pop. {p} off" for p in populations])
    scoring = getattr(result, "scoring", "score")
    ax.set_ylabel(scoring)
    if chance is None and scoring == "accuracy":
        chance = 0.5
    if chance is not None:
        ax.axhline(chance, color="0.4", linestyle="--", linewidth=0.8)
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_psychometric(matrix, levels_first=None, levels_second=None, contexts=None, *, axes=None,
                      cmap="RdBu_r"):
    """Psychometric matrices: fraction of positive choices per (coherence 1, coherence 2), one panel per context.

    Parameters
    ----------
    matrix : array-like of shape (n_contexts, n_levels_first, n_levels_second)
        From :func:`sklearn_lowrank.metrics.psychometric_matrix` (its first output).
    levels_first, levels_second : array-like, optional
        Coherence levels (tick labels).
    contexts : array-like of shape (n_contexts,), optional
        Panel titles.
    axes : sequence of matplotlib Axes of length n_contexts, optional
    cmap : str, default="RdBu_r"

    Returns
    -------
    axes : ndarray of matplotlib Axes of shape (n_contexts,)

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_lowrank.plotting import plot_psychometric
    >>> plot_psychometric(np.random.default_rng(0).uniform(size=(2, 6, 6))).shape
    (2,)
    """
    M = np.asarray(matrix, dtype=float)
    if M.ndim != 3:
        raise ValueError(f"matrix must have shape (n_contexts, n_levels_first, n_levels_second); got {M.shape}.")
    axes = _grid_axes(axes, 1, M.shape[0], size=2.6)[0]
    contexts = np.arange(1, M.shape[0] + 1) if contexts is None else np.asarray(contexts)
    for k, ax in enumerate(axes):
        # rows of M follow coherence 1: drawn on the vertical axis, largest at the top
        image = ax.imshow(M[k], origin="lower", cmap=cmap, vmin=0.0, vmax=1.0, aspect="equal")
        ax.set_title(f"context {contexts[k]}")
        if k == 0:
            ax.set_ylabel("coherence 1")
        ax.set_xlabel("coherence 2")
        if levels_first is not None:
            ax.set_yticks(range(len(levels_first)))
            ax.set_yticklabels([f"{v:g}" for v in levels_first])
        if levels_second is not None:
            ax.set_xticks(range(len(levels_second)))
            ax.set_xticklabels([f"{v:g}" for v in levels_second])
    ax.figure.colorbar(image, ax=list(axes), shrink=0.8, label="fraction positive choices")
    return axes
