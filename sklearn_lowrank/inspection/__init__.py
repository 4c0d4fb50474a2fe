"""Opening the black box: inactivations, latent dynamics (flow fields, fixed points) and connectivity geometry.

- Inactivation: :func:`silenced_weights`, :func:`predict_silenced`, :func:`population_labels`,
  :func:`inactivation_effects`.
- Latent dynamics under constant inputs: :func:`latent_velocity`, :func:`latent_flow`, :func:`find_fixed_points`,
  :func:`find_slow_points`, and :func:`find_fixed_points_full` for full-rank networks or rank > 2.
- Geometry: :func:`effective_connectivity`, :func:`connectivity_vectors`, :func:`overlap_matrix`,
  :func:`regression_axes`.
- Spike models: :func:`co_smoothing` (held-out neurons from the latents, in bits per spike),
  :func:`latent_coordinates`.
"""

from .._populations import population_labels
from ._cosmoothing import co_smoothing, latent_coordinates
from ._dynamics import find_fixed_points, find_fixed_points_full, find_slow_points, latent_flow, latent_velocity
from ._geometry import connectivity_vectors, effective_connectivity, overlap_matrix, regression_axes
from ._inactivation import inactivation_effects, predict_silenced, silenced_weights

__all__ = [
    "silenced_weights",
    "predict_silenced",
    "population_labels",
    "inactivation_effects",
    "latent_velocity",
    "latent_flow",
    "find_fixed_points",
    "find_slow_points",
    "find_fixed_points_full",
    "effective_connectivity",
    "connectivity_vectors",
    "overlap_matrix",
    "regression_axes",
    "co_smoothing",
    "latent_coordinates",
]
