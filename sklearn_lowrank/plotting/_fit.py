"""Figures of a fit: training loss, rank selection, predicted against recorded activity, R^2 per neuron."""

from __future__ import annotations

import numpy as np

from .._ragged import read_trial_pair
from .._rank_rule import _standard_error, rule_standard_errors, search_is_paired
from ..metrics import r2_per_feature
from ..model_selection import one_standard_error_rule
from ._common import axes_or_new, check_trial_labels, condition_curves, grid_axes, group_legend

__all__ = ["plot_loss_curve", "plot_rank_selection", "plot_predicted_vs_recorded", "plot_r2_per_neuron"]


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
    ax = axes_or_new(ax)
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


def _chosen_index(search, results, param, chosen):
    if chosen is None:
        return None
    if chosen == "auto":
        if hasattr(search, "best_index_"):
            return int(search.best_index_)
        return int(one_standard_error_rule(results, param=param))
    index = int(chosen)
    if not 0 <= index < len(results["mean_test_score"]):
        raise ValueError(f"chosen must index a candidate (0 .. {len(results['mean_test_score']) - 1}); got "
                         f"{chosen!r}.")
    return index


def plot_rank_selection(search, ax=None, *, param="rank", chosen="auto", paired="auto"):
    """Cross-validated score against rank, mean +/- the standard error the rule compared, the chosen rank marked.

    Unpaired, the error bars are the standard error of each mean fold score, ``std_test_score / sqrt(n_splits)``;
    paired (the default of :class:`~sklearn_lowrank.LowRankRNNRegressorCV`), the standard error over folds of each
    rank's fold-by-fold difference to the best mean rank, which the paired one-standard-error rule compares (zero
    at the best rank itself). A table without ``split*_test_score`` columns has no known standard error: the means
    are drawn without bars.

    Parameters
    ----------
    search : fitted GridSearchCV or dict
        A search over ``param`` (e.g. ``GridSearchCV(LowRankRNNRegressor(), {"rank": [1, 2, 3]},
        refit=one_standard_error_rule)``) or its ``cv_results_``. A full-rank candidate (``rank=None``) is drawn
        apart, at the right, as "full".
    ax : matplotlib Axes, optional
    param : str, default="rank"
        Name of the searched parameter (``"rank"``, or e.g. ``"regressor__rank"`` in a Pipeline).
    chosen : "auto", int or None, default="auto"
        Candidate marked as chosen: "auto" takes the search's ``best_index_`` (the candidate its ``refit``
        chose, e.g. by :func:`~sklearn_lowrank.one_standard_error_rule`) or, for a ``cv_results_`` dict, the
        candidate the one-standard-error rule picks; an int is a row of the results; None marks nothing.
    paired : "auto" or bool, default="auto"
        Draw the paired standard errors; "auto": those of the search's rule (its ``paired`` parameter or its
        ``refit``'s), unpaired for a ``cv_results_`` dict.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_lowrank.plotting import plot_rank_selection
    >>> results = {"param_rank": [1, 2, 3], "mean_test_score": [0.5, 0.9, 0.91],
    ...            "std_test_score": [0.05, 0.02, 0.02], "split0_test_score": [0.45, 0.88, 0.89],
    ...            "split1_test_score": [0.55, 0.92, 0.93]}
    >>> ax = plot_rank_selection(results)
    >>> sorted(t.get_text() for t in ax.get_legend().get_texts())
    ['chosen: rank 2', 'mean ± SE over 2 folds']
    """
    results = getattr(search, "cv_results_", search)
    key = f"param_{param}"
    if not isinstance(results, dict) or key not in results:
        raise ValueError(f"search must be a fitted GridSearchCV (or its cv_results_) over {param!r}; no {key!r} "
                         "in the results. Pass param=<the searched parameter name>.")
    ranks = list(np.asarray(results[key], dtype=object))
    mean = np.asarray(results["mean_test_score"], dtype=float)
    se, n_splits = _standard_error(results)
    paired = search_is_paired(search) if paired == "auto" else bool(paired)
    if paired and n_splits >= 2:
        se = rule_standard_errors(results, paired=True)[1]
    finite = [r for r in ranks if r is not None and r is not np.ma.masked]
    full_x = (max(finite) + 1) if finite else 1
    x = np.array([full_x if (r is None or r is np.ma.masked) else r for r in ranks], dtype=float)
    order = np.argsort(x, kind="stable")
    ax = axes_or_new(ax)
    label = ("mean score" if not n_splits else f"mean ± SE over {n_splits} folds" if not paired else
             f"mean ± SE of the difference to\nthe best over {n_splits} folds (paired)")
    ax.errorbar(x[order], mean[order], yerr=se[order] if n_splits else None, marker="o", capsize=3, color="C0",
                label=label)
    index = _chosen_index(search, results, param, chosen)
    if index is not None:
        name = "full" if x[index] == full_x and len(finite) < len(ranks) else f"{int(x[index])}"
        ax.plot(x[index], mean[index], marker="*", markersize=15, color="C3", linestyle="none",
                label=f"chosen: rank {name}")
    ticks = np.unique(x)
    ax.set_xticks(ticks)
    ax.set_xticklabels(["full" if t == full_x and len(finite) < len(ranks) else f"{int(t)}" for t in ticks])
    ax.set_xlabel("rank")
    ax.set_ylabel("cross-validated score")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_predicted_vs_recorded(y, y_pred, labels=None, *, conditions=None, neurons="auto", time=None, axes=None,
                               cmap="viridis", ylabel="activity", labels_title="condition", scores=None,
                               score_label="$R^2$"):
    """Recorded (solid) and predicted (dashed) activity of a few neurons, averaged per condition.

    Both are averaged over the recorded entries of y only (NaN in y hides the prediction there too), so that a
    condition's two curves stand for the same trials and time steps.

    Parameters
    ----------
    y : array-like of shape (n_trials, n_timesteps, n_neurons), or list of (n_timesteps_i, n_neurons) arrays
        Recorded activity; NaN marks an entry not recorded (and the padding of a shorter trial).
    y_pred : array-like of shape (n_trials, n_timesteps, n_neurons)
        Predicted activity, e.g. held-out predictions from ``cross_val_predict``.
    labels : array-like of shape (n_trials,), optional
        Condition of each trial: trials of a condition are averaged and coloured by it, with a legend. None: every
        trial is its own condition.
    conditions : array-like of shape (n_trials,), optional
        Condition of each trial when it differs from the colour label: trials of a condition are averaged, and its
        curve takes the colour of its label.
    neurons : "auto" or sequence of int, default="auto"
        Neurons drawn, one panel each; "auto": the best, median and worst by their score.
    time : array-like of shape (n_timesteps,), optional
        Time axis (steps by default).
    axes : sequence of matplotlib Axes, one per neuron, optional
    cmap : str, default="viridis"
    ylabel : str, default="activity"
        Label of the activity axis (say its unit, e.g. "rate (spikes/s)" or "z-scored rate").
    labels_title : str, default="condition"
        Title of the legend.
    scores : array-like of shape (n_neurons,), optional
        Score of each neuron, shown in the panel titles and ranking the neurons for ``neurons="auto"`` (e.g.
        :func:`~sklearn_lowrank.metrics.d2_poisson_per_feature` for spike counts); default: the R^2 of each
        neuron between ``y`` and ``y_pred``.
    score_label : str, default="$R^2$"
        Name of the score in the panel titles.

    Returns
    -------
    axes : ndarray of matplotlib Axes of shape (n_drawn,)

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_lowrank.plotting import plot_predicted_vs_recorded
    >>> y = np.random.default_rng(0).normal(size=(6, 10, 4))
    >>> axes = plot_predicted_vs_recorded(y, 0.8 * y, labels=[0, 0, 1, 1, 2, 2])
    >>> axes.shape, axes[0].get_title()[:6]
    ((3,), 'best: ')
    """
    y, y_pred = read_trial_pair(y, y_pred, ("y", "y_pred"))  # ragged lists: padded with NaN, left out
    if y.ndim != 3 or y_pred.shape != y.shape:
        raise ValueError(f"y and y_pred must have the same shape (n_trials, n_timesteps, n_neurons); got {y.shape} "
                         f"and {y_pred.shape}.")
    labels = check_trial_labels(labels, len(y), "labels")
    conditions = check_trial_labels(conditions, len(y), "conditions")
    r2 = r2_per_feature(y, y_pred) if scores is None else np.asarray(scores, dtype=float).ravel()
    if r2.shape != (y.shape[2],):
        raise ValueError(f"scores must hold one value per neuron ({y.shape[2]}); got shape {r2.shape}.")
    if isinstance(neurons, str) and neurons == "auto":
        ranked = [i for i in np.argsort(-np.nan_to_num(r2, nan=-np.inf), kind="stable") if np.isfinite(r2[i])]
        if not ranked:
            raise ValueError(f"no neuron has a finite score ({score_label}); with the default R^2 each needs "
                             "recorded entries with some variance.")
        picks = [("best", ranked[0]), ("median", ranked[len(ranked) // 2]), ("worst", ranked[-1])]
    else:
        picks = [("neuron", int(i)) for i in np.asarray(neurons, dtype=int).ravel()]
        if any(not 0 <= i < y.shape[2] for _, i in picks):
            raise ValueError(f"neurons must index the {y.shape[2]} neurons of y; got {neurons!r}.")
    axes = grid_axes(axes, 1, len(picks), size=3.2)[0]
    t = np.arange(y.shape[1]) if time is None else np.asarray(time, dtype=float)
    # averaged over the recorded entries only, so that both curves of a condition stand for the same trials
    (rec, pred), colors, (groups, group_colors) = condition_curves(
        [y, np.where(np.isnan(y), np.nan, y_pred)], labels, conditions, cmap)
    for ax, (kind, i) in zip(axes, picks):
        for rec_g, pred_g, color in zip(rec, pred, colors):
            ax.plot(t, rec_g[:, i], color=color, lw=1.2)
            ax.plot(t, pred_g[:, i], color=color, lw=1.2, linestyle="--")
        ax.set_title(f"{kind}: neuron {i}, {score_label} = {r2[i]:.3g}", fontsize="medium")
        ax.set_xlabel("time" if time is not None else "time step")
    axes[0].set_ylabel(ylabel)
    from matplotlib.lines import Line2D

    style = [Line2D([], [], color="k", lw=1.2), Line2D([], [], color="k", lw=1.2, linestyle="--")]
    axes[0].legend(style, ["recorded", "predicted"], frameon=False, fontsize="small", loc="best")
    if len(groups) > 1:
        group_legend(axes[-1], groups, group_colors, cmap, title=labels_title)
    return axes


def plot_r2_per_neuron(r2, ax=None, *, bins=30, clip=-1.0, label="cross-validated $R^2$ per neuron", xmax=1.0):
    """Histogram of the R^2 (or another score) of each neuron, with the median marked.

    Parameters
    ----------
    r2 : array-like of shape (n_neurons,)
        E.g. :func:`sklearn_lowrank.metrics.r2_per_feature` of held-out predictions, or another per-neuron score
        (:func:`~sklearn_lowrank.metrics.d2_poisson_per_feature`); NaN (a neuron without variance or
        observations) is counted apart.
    ax : matplotlib Axes, optional
    bins : int, default=30
    clip : float, default=-1.0
        Values below it are gathered in the first bin (R^2 is unbounded below).
    label : str, default="cross-validated $R^2$ per neuron"
        Label of the horizontal axis.
    xmax : float or None, default=1.0
        Right end of the bins, or the largest value when that is larger; None: the largest value (for scores far
        below their maximum, such as the Poisson D^2 of single trials).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_lowrank.plotting import plot_r2_per_neuron
    >>> ax = plot_r2_per_neuron([0.9, 0.8, 0.5, -3.0, float("nan")])
    >>> ax.get_ylabel()
    'neurons'
    """
    r2 = np.asarray(r2, dtype=float).ravel()
    finite = r2[np.isfinite(r2)]
    if finite.size == 0:
        raise ValueError("r2 holds no finite value.")
    ax = axes_or_new(ax)
    low = max(clip, float(finite.min()))
    high = float(finite.max()) if xmax is None else max(float(xmax), float(finite.max()))
    ax.hist(np.clip(finite, clip, None), bins=bins, range=(low, high) if high > low else None, color="0.55")
    median = float(np.median(finite))
    ax.axvline(median, color="C3", linestyle="--", label=f"median {median:.3g}")
    notes = [f"{finite.size} neurons"]
    if (finite < clip).any():
        notes.append(f"{int((finite < clip).sum())} below {clip:g} drawn at {clip:g}")
    if finite.size < r2.size:
        notes.append(f"{r2.size - finite.size} without a score")
    ax.set_xlabel(label)
    ax.set_ylabel("neurons")
    ax.legend(frameon=False, fontsize="small", title="; ".join(notes), title_fontsize="small", loc="upper left")
    return ax

