"""Held-out R^2 against the scale of X and of y: the evidence behind the scale warnings of the data checks.

A rank-1 teacher of 30 units (states, largest |X| = 1, largest |y| about 5), 40 training and 20 held-out trials of
20 steps; ``LowRankRNNRegressor(rank=1, max_iter=50)`` is fitted with X (or y) multiplied by each factor and scored
on the held-out trials scaled alike. The warnings of ``sklearn_lowrank._validation.PLAUSIBLE_SCALE`` are silenced
here.

Usage::

    python benchmarks/bench_scales.py
"""

from __future__ import annotations

import warnings

import numpy as np

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import make_low_rank_teacher

FACTORS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e6)


def main() -> None:
    data = make_low_rank_teacher(n_units=30, rank=1, n_inputs=1, n_trials=60, n_timesteps=20, random_state=1)
    X, y = data.X, data.y
    print(f"largest |X| = {np.abs(X).max():.3g}, largest |y| = {np.abs(y).max():.3g}")
    print(f"{'factor':>8} {'R2 (X scaled)':>14} {'R2 (y scaled)':>14}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in FACTORS:
            on_x = LowRankRNNRegressor(1, max_iter=50, random_state=0).fit(X[:40] * s, y[:40])
            on_y = LowRankRNNRegressor(1, max_iter=50, random_state=0).fit(X[:40], y[:40] * s)
            print(f"{s:>8g} {on_x.score(X[40:] * s, y[40:]):>14.3f} {on_y.score(X[40:], y[40:] * s):>14.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
