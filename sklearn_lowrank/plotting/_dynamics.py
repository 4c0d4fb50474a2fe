"""Figures of the latent dynamics: trajectories per condition and flow fields with fixed points."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from .._ragged import read_trials
from ._common import axes_or_new, check_trial_labels, condition_curves, group_legend

__all__ = ["plot_latent_trajectories", "plot_flow_field"]


def _check_stimulus(stimulus):
    if stimulus is None:
        return None
    start, stop = (float(v) for v in stimulus)
    if not start < stop:
        raise ValueError(f"stimulus must be (start, stop) with start < stop; got {stimulus!r}.")
    return start, stop


def plot_latent_trajectories(kappa, labels=None, ax=None, *, conditions=None, dims=(0, 1), time=None,
                             stimulus=None, cmap="coolwarm", legend=True, labels_title="condition"):
    """Latent trajectories averaged per condition: one latent against time, or two in a latent plane.

    Parameters
    ----------
    kappa : array-like of shape (n_trials, n_timesteps, rank), or list of (n_timesteps_i, rank) arrays
        Latents, e.g. ``est.transform(X)``; trials of different lengths are padded with NaN (left out of the
        condition means).
    labels : array-like of shape (n_trials,), optional
        Condition of each trial; trials of a condition are averaged and conditions coloured by value (numeric
        labels) or in order, with a legend (a colorbar for more than 12 numeric conditions). None: one curve per
        trial, without legend.
    ax : matplotlib Axes, optional
    conditions : array-like of shape (n_trials,), optional
        Condition of each trial when it differs from the colour label (e.g. conditions crossing a context with a
        stimulus strength, coloured by strength): trials of a condition are averaged, and each condition's curve
        takes the colour of its label. By default the labels are the conditions.
    dims : int or (int, int), default=(0, 1)
        A pair draws those latents against each other (rank >= 2); an int draws that latent against time. A
        rank-1 ``kappa`` is always drawn against time.
    time : array-like of shape (n_timesteps,), optional
        Time of each step (steps by default).
    stimulus : (float, float), optional
        Start and stop of the stimulus, in the units of ``time``: shaded against time; in a latent plane the
        points at its start (triangle) and stop (square) are marked on each curve.
    cmap : str, default="coolwarm"
    legend : bool, default=True
        Legend (or colorbar) of the conditions when ``labels`` is given.
    labels_title : str, default="condition"
        Title of the legend.

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
    >>> ax = plot_latent_trajectories(kappa, labels=[0, 0, 1, 1], stimulus=(2, 6))
    >>> len(ax.lines), [t.get_text() for t in ax.get_legend().get_texts()]
    (2, ['0', '1'])
    """
    kappa = np.asarray(read_trials(kappa, "kappa")[0], dtype=float)  # ragged (transform of a list): NaN-padded
    if kappa.ndim != 3:
        raise ValueError(f"kappa must have shape (n_trials, n_timesteps, rank); got {kappa.shape}.")
    labels = check_trial_labels(labels, kappa.shape[0], "labels")
    conditions = check_trial_labels(conditions, kappa.shape[0], "conditions")
    (curves,), colors, (groups, group_colors) = condition_curves([kappa], labels, conditions, cmap)
    ax = axes_or_new(ax)
    rank = kappa.shape[2]
    t = np.arange(kappa.shape[1], dtype=float) if time is None else np.asarray(time, dtype=float).ravel()
    if t.shape != (kappa.shape[1],):
        raise ValueError(f"time must have shape (n_timesteps,) = ({kappa.shape[1]},); got {t.shape}.")
    span = _check_stimulus(stimulus)
    against_time = rank == 1 or isinstance(dims, Integral)
    if against_time:
        r = 0 if rank == 1 else int(dims)
        if not 0 <= r < rank:
            raise ValueError(f"dims must index the {rank} latents; got {dims}.")
        if span is not None:
            ax.axvspan(*span, color="0.9", zorder=0, label="stimulus")
        for curve, color in zip(curves, colors):
            ax.plot(t, curve[:, r], color=color)
        ax.set_xlabel("time" if time is not None else "time step")
        ax.set_ylabel(rf"$\kappa_{r + 1}$")
    else:
        a, b = dims
        if not (0 <= a < rank and 0 <= b < rank):
            raise ValueError(f"dims must index the {rank} latents; got {dims}.")
        for curve, color in zip(curves, colors):
            ax.plot(curve[:, a], curve[:, b], color=color)
            ax.scatter(curve[-1, a], curve[-1, b], color=color, s=9, zorder=3)  # end of the trial
            if span is not None:
                for edge, marker in zip(span, ("^", "s")):
                    step = int(np.clip(np.searchsorted(t, edge), 0, len(t) - 1))
                    ax.scatter(curve[step, a], curve[step, b], color=color, marker=marker, s=22,
                               edgecolor="k", linewidth=0.5, zorder=4)
        ax.set_xlabel(rf"$\kappa_{a + 1}$")
        ax.set_ylabel(rf"$\kappa_{b + 1}$")
    if groups and legend:
        group_legend(ax, groups, group_colors, cmap, title=labels_title)
    return ax


def plot_flow_field(flow, fixed_points=None, ax=None, *, density=1.0, cmap="Greys", starts=None):
    """Flow field of the latent dynamics with its fixed points (filled: stable, open: unstable).

    Parameters
    ----------
    flow : Bunch
        From :func:`sklearn_lowrank.inspection.latent_flow` (a fitted network) or
        :func:`sklearn_lowrank.meanfield.mean_field_flow` (a mixture), rank 1 or 2: ``kappa1``, ``kappa2``
        and ``velocity`` of shape (n1, 1) or (n2, n1, 2).
    fixed_points : Bunch, optional
        From :func:`sklearn_lowrank.inspection.find_fixed_points`.
    ax : matplotlib Axes, optional
    density : float, default=1.0
        Streamline density (rank 2).
    cmap : str, default="Greys"
        Colour map of the speed log10(q) in the background (rank 2), with a colorbar.
    starts : array-like of shape (n_trials, rank), optional
        Latent initial states of trials, drawn as crosses (rank 2; on the axis for rank 1), e.g. the fitted
        per-trial states ``est.initial_states_ @ est.m_ / (est.m_ ** 2).sum(axis=0)`` or inferred ones.

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
    ax = axes_or_new(ax)
    velocity = np.asarray(flow.velocity, dtype=float)
    k1 = np.asarray(flow.kappa1, dtype=float)
    if velocity.ndim == 2 and velocity.shape[1] == 1:
        ax.plot(k1, velocity[:, 0], color="k")
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_ylabel(r"$d\kappa_1/dt$")
    elif velocity.ndim == 3 and velocity.shape[2] == 2:
        k2 = np.asarray(flow.kappa2, dtype=float)
        speed = 0.5 * np.sum(velocity**2, axis=-1)
        mesh = ax.pcolormesh(k1, k2, np.log10(speed + 1e-12), cmap=cmap, shading="auto", alpha=0.6)
        ax.figure.colorbar(mesh, ax=ax, label=r"speed $\log_{10} q$")
        ax.streamplot(k1, k2, velocity[..., 0], velocity[..., 1], color="k", density=density, linewidth=0.6,
                      arrowsize=0.8)
        ax.set_ylabel(r"$\kappa_2$")
        ax.set_xlim(k1.min(), k1.max())
        ax.set_ylim(k2.min(), k2.max())
    else:
        raise ValueError("flow.velocity must have shape (n1, 1) (rank 1) or (n2, n1, 2) (rank 2), as returned by "
                         f"latent_flow and mean_field_flow; got {velocity.shape}.")
    ax.set_xlabel(r"$\kappa_1$")
    if fixed_points is not None and len(fixed_points.kappa):
        fp = np.asarray(fixed_points.kappa, dtype=float)
        stable = np.asarray(fixed_points.stable, dtype=bool)
        y = np.zeros(len(fp)) if fp.shape[1] == 1 else fp[:, 1]
        ax.scatter(fp[stable, 0], y[stable], s=50, color="C3", edgecolor="k", zorder=4, label="stable")
        ax.scatter(fp[~stable, 0], y[~stable], s=50, facecolor="white", edgecolor="C3", linewidth=1.5, zorder=4,
                   label="unstable")
    if starts is not None:
        k0 = np.asarray(starts, dtype=float)
        if k0.ndim != 2 or k0.shape[1] not in (1, 2):
            raise ValueError(f"starts must have shape (n_trials, rank) with rank 1 or 2; got {k0.shape}.")
        ax.scatter(k0[:, 0], np.zeros(len(k0)) if k0.shape[1] == 1 else k0[:, 1], marker="x", s=25, color="C0",
                   zorder=5, label="trial starts")
    if (fixed_points is not None and len(fixed_points.kappa)) or starts is not None:
        ax.legend(frameon=False, fontsize="small", loc="lower right")
    return ax
