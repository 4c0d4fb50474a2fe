"""Small helpers shared by the estimators and the analysis modules."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["_seed_from", "_to_numpy", "check_device"]

_DEVICE_HELP = ("'cpu', 'cuda', 'cuda:N' (the N-th GPU), 'mps' (Apple GPU) or a torch.device; device types are "
                "lower case")


def check_device(device) -> torch.device:
    """The torch device named by the ``device`` parameter; a ValueError naming it if invalid or unavailable.

    Examples
    --------
    >>> from sklearn_lowrank._utils import check_device
    >>> check_device("cpu")
    device(type='cpu')
    >>> check_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device='gpu' is not a valid device; use 'cpu', 'cuda', ...
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device={device!r} is not a valid device; use {_DEVICE_HELP}.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available on this machine; use device='cpu'.")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} but MPS is not available on this machine; use device='cpu'.")
    return dev


def _seed_from(random_state) -> int:
    """A torch seed drawn from a numpy RandomState: an int random_state gives the same seed every time."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A detached CPU numpy copy of a tensor (fitted attributes never share memory with the module)."""
    return tensor.detach().cpu().numpy().copy()
