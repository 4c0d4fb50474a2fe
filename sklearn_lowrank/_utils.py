"""Small helpers shared by the estimators and the analysis modules."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["_seed_from", "_to_numpy"]


def _seed_from(random_state) -> int:
    """A torch seed drawn from a numpy RandomState: an int random_state gives the same seed every time."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A detached CPU numpy copy of a tensor (fitted attributes never share memory with the module)."""
    return tensor.detach().cpu().numpy().copy()
