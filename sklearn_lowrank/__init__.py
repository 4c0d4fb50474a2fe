"""sklearn_lowrank: low-rank and Gaussian-mixture recurrent networks fitted to neural activity.

The estimators take trial tensors: inputs X of shape (n_trials, n_timesteps, n_inputs) and activity y of shape
(n_trials, n_timesteps, n_neurons).
"""

from . import inspection, meanfield, plotting
from ._lowrank import LowRankRNNRegressor, canonical_loadings
from ._lowrank_cv import LowRankRNNRegressorCV
from ._mixture import GaussianMixtureRNN
from ._scoring import make_initial_state_scorer, split_observed_steps
from ._version import __version__
from .model_selection import (
    bootstrap_stability,
    one_standard_error_rule,
    resampling_scores,
    select_n_components_bic,
)

__all__ = [
    "LowRankRNNRegressor",
    "LowRankRNNRegressorCV",
    "canonical_loadings",
    "one_standard_error_rule",
    "make_initial_state_scorer",
    "split_observed_steps",
    "GaussianMixtureRNN",
    "select_n_components_bic",
    "resampling_scores",
    "bootstrap_stability",
    "meanfield",
    "inspection",
    "plotting",
    "__version__",
]
