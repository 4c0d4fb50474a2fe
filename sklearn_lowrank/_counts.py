"""Checks of spike-count targets for the Poisson observation model (``loss="poisson"``)."""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["check_counts"]


def check_counts(y: np.ndarray, mask: np.ndarray | None) -> None:
    """Counts must be >= 0 (non-integers accepted, as scikit-learn's ``PoissonRegressor`` does); warn on silent neurons.

    A neuron with no observation at all (NaN everywhere: not recorded in these trials) is not silent: the
    validator reports it once, as unrecorded, and it is left out here.

    Parameters
    ----------
    y : ndarray of shape (n_trials, n_timesteps, n_outputs)
        Validated targets, zero (or NaN) where ``mask`` is False.
    mask : bool ndarray like ``y`` or None
        True where observed; None: where ``y`` is not NaN.

    Raises
    ------
    ValueError
        If an observed entry of y is negative.

    Warns
    -----
    UserWarning
        Naming the recorded neurons (features of y) that never fire: their expected counts are driven towards 0,
        where the link's offset diverges; drop them or keep them knowingly.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank._counts import check_counts
    >>> check_counts(np.array([[[0.0, 2.5], [1.0, 0.0]]]), None)   # non-integer counts are fine
    """
    observed = ~np.isnan(y) if mask is None else mask
    negative = (y < 0) & observed
    if negative.any():
        features = np.flatnonzero(negative.any(axis=(0, 1)))
        raise ValueError(
            f"y has {int(negative.sum())} negative entries (in features {features[:10].tolist()}); "
            "loss='poisson' models y as spike counts per bin, which are >= 0. Pass counts (not centred or "
            "standardised activity), or use loss='squared_error'."
        )
    recorded = observed.any(axis=(0, 1))
    silent = np.flatnonzero(recorded & ~((y > 0) & observed).any(axis=(0, 1)))
    if silent.size:
        warnings.warn(
            f"Neuron(s) {silent[:20].tolist()}{' ...' if silent.size > 20 else ''} of y never fire (all counts are "
            "0): with loss='poisson' their expected counts are pushed towards 0 without bound. Drop them from y.",
            UserWarning, stacklevel=4,
        )
