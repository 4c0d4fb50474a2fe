"""Figures for fitted networks and their inspection (matplotlib, the optional ``plot`` extra).

Every function draws on the Axes it is given (``ax=None``: a new figure) and returns it, so
figures compose: ``fig, axes = plt.subplots(1, 3)`` then one call per panel. matplotlib is imported on first
use only; without it the functions raise an ImportError that says how to install it. Where groups are passed
(conditions, populations, contexts) the figure names them in a legend, or a colorbar for many numeric values.

- Fit: :func:`plot_loss_curve`, :func:`plot_rank_selection`, :func:`plot_predicted_vs_recorded`,
  :func:`plot_r2_per_neuron`.
- Latent dynamics: :func:`plot_latent_trajectories`, :func:`plot_flow_field`.
- Populations and inactivations: :func:`plot_loadings`, :func:`plot_inactivation`, :func:`plot_psychometric`.

The report of the command line, built from these figures, is :func:`sklearn_lowrank.report.write_report`.
"""

from ._dynamics import plot_flow_field, plot_latent_trajectories
from ._fit import plot_loss_curve, plot_predicted_vs_recorded, plot_r2_per_neuron, plot_rank_selection
from ._populations import plot_inactivation, plot_loadings, plot_psychometric

__all__ = [
    "plot_loss_curve",
    "plot_rank_selection",
    "plot_predicted_vs_recorded",
    "plot_r2_per_neuron",
    "plot_latent_trajectories",
    "plot_flow_field",
    "plot_loadings",
    "plot_inactivation",
    "plot_psychometric",
]
