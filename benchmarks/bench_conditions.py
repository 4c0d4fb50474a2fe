"""How many conditions does rank selection need? The rank picked by cross-validation on the package's teachers.

A rank-2 teacher (:func:`sklearn_lowrank.datasets.make_low_rank_teacher`, 100 units, 50 steps) is simulated on
``K`` conditions (one input pattern each, as condition-averaged activity gives one trial per condition); ranks 1-4
are cross-validated with 5 shuffled folds over the conditions and the one-standard-error rule chooses the rank.
Each row counts the rank picked over 5 teacher seeds, with the mean cross-validated R^2 of ranks 2 and 3, for
two levels of recurrent noise in the teacher.

Usage (the figures in the user guide were produced with one thread)::

    OMP_NUM_THREADS=1 python benchmarks/bench_conditions.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter

import numpy as np
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_lowrank import LowRankRNNRegressor, one_standard_error_rule
from sklearn_lowrank.datasets import make_low_rank_teacher

CONDITIONS = (8, 12, 24, 48, 96)
NOISE = (0.02, 0.2)
RANKS = [1, 2, 3, 4]


def _pick(n_conditions: int, noise_std: float, seed: int):
    X, y = make_low_rank_teacher(n_units=100, rank=2, n_inputs=2, n_trials=n_conditions, n_timesteps=50,
                                 noise_std=noise_std, random_state=seed, return_X_y=True)
    search = GridSearchCV(LowRankRNNRegressor(random_state=seed), {"rank": RANKS},
                          cv=KFold(5, shuffle=True, random_state=seed), refit=one_standard_error_rule)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits of the small folds may stop at max_iter
        search.fit(X, y)
    return search.best_params_["rank"], np.asarray(search.cv_results_["mean_test_score"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    w = sys.stdout.write
    w(f"rank-2 teacher, 100 units, 50 steps, ranks {RANKS}, 5-fold CV over conditions, one-SE rule, "
      f"{args.seeds} seeds\n")
    w(f"{'noise':>6}{'conditions':>12}   {'rank picked (count over seeds)':<32}{'R2 rank 2':>10}{'R2 rank 3':>10}"
      f"{'time (s)':>10}\n")
    for noise in NOISE:
        for k in CONDITIONS:
            start = time.perf_counter()
            picks, scores = [], []
            for seed in range(args.seeds):
                rank, mean = _pick(k, noise, seed)
                picks.append(rank)
                scores.append(mean)
            counts = Counter(picks)
            text = ", ".join(f"{r}: {counts[r]}" for r in RANKS if counts[r])
            s = np.mean(scores, axis=0)
            w(f"{noise:>6}{k:>12}   {text:<32}{s[1]:>10.3f}{s[2]:>10.3f}{time.perf_counter() - start:>10.1f}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
