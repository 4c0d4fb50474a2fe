"""Figures of populations and inactivations: loadings pair plots, inactivation bars, psychometric matrices."""

from __future__ import annotations

import numpy as np

from ._common import axes_or_new, grid_axes, label_text

__all__ = ["plot_loadings", "plot_inactivation", "plot_psychometric"]

#: What each score of ``inactivation_effects`` measures, for the axis label.
_SCORE_LABELS = {"r2": "$R^2$ of the activity", "accuracy": "decision accuracy"}


def plot_loadings(loadings, labels=None, *, names=None, axes=None, max_vectors=8):
    """Pair plot of the per-unit loadings, units coloured by population.

    Parameters
    ----------
    loadings : array-like of shape (n_units, n_vectors) or fitted LowRankRNNRegressor
        Loading vectors as columns (an estimator gives its connectivity vectors m, n, I, w).
    labels : array-like of shape (n_units,), optional
        Population of each unit; with more than one population a legend in the empty upper-right corner names
        them.
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
        from ..inspection import connectivity_vectors

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
    axes = grid_axes(axes, k, k)
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
    if len(pops) > 1:
        from matplotlib.patches import Patch

        handles = [Patch(color=f"C{c}", alpha=0.7) for c in range(len(pops))]
        host = axes[0, -1]  # the empty upper-right corner of the pair plot (the only panel when k == 1)
        if k > 1:
            host.set_visible(True)
            host.axis("off")
        host.legend(handles, [label_text(p) for p in pops], title="population", frameon=False,
                    loc="upper right", fontsize="small", title_fontsize="small")
    return axes


def plot_inactivation(result, ax=None, *, chance=None):
    """Grouped bar chart of the scores after silencing each population (and intact), per context.

    Bars are the scores (one colour per context); with ``score_on="active"`` results a black tick on each bar
    marks the intact network's score on the same neurons, the comparison that measures the silencing. The y
    label says what the score is and on which neurons; the legend sits outside the bars.

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
    >>> res = Bunch(populations=["intact", 0, 1], groups=[1, 2, "all"],
    ...             scores=np.array([[1, 1, 1], [0.5, 1, 0.75], [1, 0.5, 0.75]]), scoring="accuracy")
    >>> ax = plot_inactivation(res)
    >>> len(ax.patches), ax.get_ylabel()
    (9, 'decision accuracy')
    """
    scores = np.asarray(result.scores, dtype=float)
    populations, groups = list(result.populations), list(result.groups)
    if scores.shape != (len(populations), len(groups)):
        raise ValueError(f"result.scores must have shape (n_populations, n_groups) = ({len(populations)}, "
                         f"{len(groups)}); got {scores.shape}.")
    baseline = getattr(result, "baseline", None)
    score_on = getattr(result, "score_on", None)
    scoring = getattr(result, "scoring", "score")
    ax = axes_or_new(ax)
    width = 0.8 / len(groups)
    x = np.arange(len(populations))
    sizes = getattr(result, "sizes", {}) or {}
    for j, g in enumerate(groups):
        label = "all trials" if g == "all" else f"context {label_text(g)}"
        offset = x + (j - (len(groups) - 1) / 2) * width
        ax.bar(offset, scores[:, j], width, label=label, color=f"C{j}")
        if baseline is not None and score_on == "active" and scoring == "r2":
            ax.hlines(np.asarray(baseline, dtype=float)[1:, j], offset[1:] - width / 2, offset[1:] + width / 2,
                      color="k", linewidth=1.5, label="intact, same neurons" if j == 0 else None)
    ax.set_xticks(x)
    ax.set_xticklabels(["intact" if p == "intact" else
                        f"pop. {label_text(p)} off" + (f"\n({sizes[p]} units)" if p in sizes else "")
                        for p in populations])
    ylabel = _SCORE_LABELS.get(scoring, str(scoring))
    if scoring == "r2" and score_on is not None:
        ylabel += "\n(neurons left active)" if score_on == "active" else "\n(all neurons)"
    ax.set_ylabel(ylabel)
    if chance is None and scoring == "accuracy":
        chance = 0.5
    if chance is not None:
        ax.axhline(chance, color="0.4", linestyle="--", linewidth=0.8, label="chance")
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_psychometric(matrix, levels_first=None, levels_second=None, contexts=None, *, axes=None,
                      cmap="RdBu_r"):
    """Psychometric matrices: fraction of positive choices per (coherence 1, coherence 2), one panel per context.

    Parameters
    ----------
    matrix : array-like of shape (n_contexts, n_levels_first, n_levels_second)
        From :func:`sklearn_lowrank.metrics.psychometric_matrix` (its first output). NaN (a cell without trials)
        is drawn grey with an "x", apart from 0.5 (white in the default colour map).
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
    axes = grid_axes(axes, 1, M.shape[0], size=2.6)[0]
    cm = _missing_visible(cmap)
    contexts = np.arange(1, M.shape[0] + 1) if contexts is None else np.asarray(contexts)
    for k, ax in enumerate(axes):
        # rows of M follow coherence 1: drawn on the vertical axis, largest at the top
        image = ax.imshow(np.ma.masked_invalid(M[k]), origin="lower", cmap=cm, vmin=0.0, vmax=1.0, aspect="equal")
        for i, j in zip(*np.nonzero(~np.isfinite(M[k]))):
            ax.text(j, i, "x", ha="center", va="center", color="0.3", fontsize="small")
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
    label = "fraction positive choices" + ("\n(grey x: no trial)" if not np.isfinite(M).all() else "")
    ax.figure.colorbar(image, ax=list(axes), shrink=0.8, label=label)
    return axes


def _missing_visible(cmap):
    """The colour map with NaN (a cell without trials) in grey, distinct from the white of 0.5 in RdBu."""
    import matplotlib

    cm = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    return cm.with_extremes(bad="0.75")
