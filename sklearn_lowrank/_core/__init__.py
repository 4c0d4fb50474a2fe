"""The torch core: networks, simulation, the training loop and initialisation. Imports no scikit-learn."""

from .losses import masked_mse
from .network import FullRankRNN, LowRankRNN, NetworkWeights, RNNBase, simulate
from .progress import Reporter
from .regression import regression_init
from .training import TrainingConfig, TrainingResult, train

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
