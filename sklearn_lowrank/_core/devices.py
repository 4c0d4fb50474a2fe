"""Devices: where a module's parameters live, and the check that data and module share it."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["check_same_device", "module_device"]


def module_device(module: nn.Module) -> torch.device:
    """The device of the module's parameters (CPU for a module without parameters)."""
    first = next(module.parameters(), None)
    return torch.device("cpu") if first is None else first.device


def check_same_device(module: nn.Module, *tensors: torch.Tensor | None) -> None:
    """Raise ValueError unless every given tensor lives on the module's device (None entries are skipped).

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core import LowRankRNN
    >>> from sklearn_lowrank._core.devices import check_same_device
    >>> net = LowRankRNN(4, 1, 4, 1, alpha=0.2)
    >>> check_same_device(net, torch.zeros(2, 3, 1))
    >>> check_same_device(net, torch.zeros(2, 3, 1, device="meta"))
    Traceback (most recent call last):
    ...
    ValueError: tensors on meta but the module's parameters on cpu; build the module on the data's device.
    """
    device = module_device(module)
    for tensor in tensors:
        if tensor is not None and tensor.device != device:
            raise ValueError(f"tensors on {tensor.device} but the module's parameters on {device}; build the "
                             "module on the data's device.")
