"""The torch core: networks, simulation, the training loop and initialisation. Imports no scikit-learn."""

from .init import regression_init
from .network import FullRankRNN, LowRankRNN, NetworkWeights, RNNBase, simulate
from .training import Reporter, TrainingConfig, TrainingResult, masked_mse, train

__all__ = [
    "FullRankRNN",
    "LowRankRNN",
    "NetworkWeights",
    "RNNBase",
    "Reporter",
    "TrainingConfig",
    "TrainingResult",
    "masked_mse",
    "regression_init",
    "simulate",
    "train",
]
