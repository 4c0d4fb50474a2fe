"""Shared helpers of the plotting functions: lazy matplotlib import and Axes handling."""

from __future__ import annotations

import numpy as np

#: Most groups listed in a legend; more (numeric) groups get a colorbar instead.
MAX_LEGEND_ENTRIES = 12


def pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sklearn_lowrank.plotting needs matplotlib: pip install 'sklearn-lowrank[plot]' (or pip install "
            "matplotlib)."
        ) from exc
    return plt


def axes_or_new(ax):
    """The given Axes, or one on a new figure (as scikit-learn's displays: never drawn over an older plot)."""
    return pyplot().subplots()[1] if ax is None else ax


def grid_axes(axes, n_rows, n_cols, size=2.2):
    """A (n_rows, n_cols) array of Axes: the given ones (checked) or a new figure."""
    if axes is None:
        _, axes = pyplot().subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False)
        return axes
    axes = np.asarray(axes, dtype=object).reshape(-1)
    if axes.size != n_rows * n_cols:
        raise ValueError(f"axes must hold {n_rows * n_cols} Axes ({n_rows} x {n_cols}); got {axes.size}.")
    return axes.reshape(n_rows, n_cols)


def label_text(value) -> str:
    """A group label as text: 2.0 -> '2', 1/3 -> '0.333', strings unchanged."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.3g}"
    return str(value)


def group_colors(groups, cmap):
    """One colour per group, spread over ``cmap``; numeric groups are placed by value."""
    plt = pyplot()
    cm = plt.get_cmap(cmap)
    values = np.asarray(groups)
    if values.dtype.kind in "biuf" and len(values) > 1 and np.ptp(values.astype(float)) > 0:
        v = values.astype(float)
        return cm((v - v.min()) / np.ptp(v))
    return cm(np.linspace(0, 1, max(len(groups), 2)))[: len(groups)]


def group_legend(ax, groups, colors, cmap, *, title=None):
    """A legend of the groups, or a colorbar when there are too many numeric groups for a legend."""
    values = np.asarray(groups)
    if len(groups) > MAX_LEGEND_ENTRIES and values.dtype.kind in "biuf":
        import matplotlib as mpl

        norm = mpl.colors.Normalize(vmin=float(values.min()), vmax=float(values.max()))
        ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=title)
        return
    handles = [mpl_line(color) for color in colors]
    ax.legend(handles, [label_text(g) for g in groups], title=title, frameon=False, fontsize="small",
              title_fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0),
              ncol=1 + len(groups) // (MAX_LEGEND_ENTRIES + 1))


def mpl_line(color):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, lw=2)


def check_trial_labels(values, n_trials: int, name: str):
    if values is None:
        return None
    values = np.asarray(values).ravel()
    if values.shape != (n_trials,):
        raise ValueError(f"{name} must have shape (n_trials,) = ({n_trials},); got {values.shape}.")
    return values


def condition_curves(arrays, labels, conditions, cmap):
    """Average each array over the trials of a condition; colour each condition by its label.

    ``conditions`` (the averaging) defaults to ``labels``; with both, a condition's colour is that of its first
    trial's label. Returns the averaged arrays (one list per input array, one curve per condition), the colour of
    each curve, and the legend entries (unique labels and their colours). Without labels nor conditions each
    trial is a curve, coloured in order, and the legend is empty.
    """
    import warnings

    n_trials = len(arrays[0])
    keys = conditions if conditions is not None else labels
    if keys is None:
        colors = group_colors(list(range(n_trials)), cmap)
        return [list(a) for a in arrays], list(colors), ([], [])
    members = [keys == k for k in np.unique(keys)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a neuron never recorded in a condition: NaN there
        means = [[np.nanmean(a[sel], axis=0) for sel in members] for a in arrays]
    colour_keys = keys if labels is None else labels
    legend_values = list(np.unique(colour_keys))
    legend_colors = group_colors(legend_values, cmap)
    index = {v: i for i, v in enumerate(legend_values)}
    colors = [legend_colors[index[colour_keys[np.flatnonzero(sel)[0]]]] for sel in members]
    return means, colors, (legend_values, list(legend_colors))
