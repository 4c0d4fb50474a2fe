"""Accuracy figures: recovery of a rank-2 teacher, the censored initialisation, the full-rank -> rank-1 pipeline.

Prints three small tables (the figures quoted in the issues' closing notes):

1. Recovery of the foundation issue's teacher (200 units, rank 2, 2 inputs, 200 train / 50 held-out trials x 50
   steps): the true network's own noise-free ceiling, held-out R^2, cosine of the effective and of the plain
   connectivity, time of one default fit.
2. The initialisation alone on the 512-unit reference workload of ``bench_fit.py`` (about 0.4% saturated rates):
   cosine of J with saturated rates censored (ours), clipped (naive), and on exact rates.
3. The poster's pipeline: a full-rank network trained on the context-dependent task, then a rank-1 network fitted
   to its rates.

Usage::

    python benchmarks/bench_recovery.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank._core.regression import regression_init
from sklearn_lowrank.datasets import make_context_dependent_task, make_low_rank_teacher, simulate_rnn
from sklearn_lowrank.inspection import effective_connectivity
from sklearn_lowrank.metrics import connectivity_cosine, decision_accuracy, r2_score_trials

sys.path.insert(0, str(Path(__file__).parent))
from bench_fit import make_workload  # noqa: E402


def recovery(w):
    w("Recovery of a rank-2 teacher (200 units)\n")
    w(f"{'target':<10}{'ceiling':>9}{'R2':>8}{'cos Jeff':>10}{'cos J':>8}{'fit (s)':>9}{'epochs':>8}\n")
    for output, act in (("states", "identity"), ("rates", "tanh")):
        d = make_low_rank_teacher(n_units=200, rank=2, n_inputs=2, n_trials=250, n_timesteps=50, output=output,
                                  random_state=0)
        X_te, y_te = d.X[200:], d.y[200:]
        clean = simulate_rnn(d.J, d.input_weights, X_te, alpha=d.alpha)
        ceiling = r2_score_trials(y_te, clean if output == "states" else np.tanh(clean))
        start = time.perf_counter()
        est = LowRankRNNRegressor(rank=2, output_activation=act, random_state=0).fit(d.X[:200], d.y[:200])
        elapsed = time.perf_counter() - start
        cos_eff = connectivity_cosine(effective_connectivity(est.m_, est.n_, est.input_weights_),
                                      effective_connectivity(d.m, d.n, d.input_weights))
        w(f"{output:<10}{ceiling:>9.4f}{est.score(X_te, y_te):>8.4f}{cos_eff:>10.4f}"
          f"{connectivity_cosine(est.connectivity_, d.J):>8.4f}{elapsed:>9.2f}{est.n_iter_:>8}\n")


def censoring(w):
    X, y, _, _, truth = make_workload()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    w(f"\nInitialisation alone, reference workload ({100 * (np.abs(y) > 0.999).mean():.2f}% of rates > 0.999)\n")

    def cos(targets, saturation):
        est = regression_init(Xt, targets, None, alpha=0.2, rank=1, n_units=512, output_activation="tanh",
                              saturation=saturation)
        return connectivity_cosine((est["m"] @ est["n"].T).numpy(), truth["J"])

    w(f"  censored saturated rates (ours):      cos J = {cos(yt, 0.999):.3f}\n")
    w(f"  arctanh of rates clipped at 0.999:    cos J = {cos(yt.clamp(-0.999, 0.999), 1.0):.3f}\n")
    w(f"  no censoring (exact float32 rates):   cos J = {cos(yt, 1 - 1e-7):.3f}\n")


def pipeline(w):
    task = {"dt": 50.0, "coherence_scale": 0.3, "context_scale": 0.5}
    X, y, _ = make_context_dependent_task(n_trials=128, random_state=0, **task)
    X_te, y_te, _ = make_context_dependent_task(n_trials=200, random_state=1, **task)
    start = time.perf_counter()
    net = LowRankRNNRegressor(rank=None, n_units=128, readout="linear", alpha=0.5, noise_std=0.05,
                              learning_rate_init=1e-3, max_iter=150, random_state=0).fit(X, y)
    t_net = time.perf_counter() - start
    rates, rates_te = np.tanh(net.predict_states(X)), np.tanh(net.predict_states(X_te))
    start = time.perf_counter()
    student = LowRankRNNRegressor(rank=1, output_activation="tanh", alpha=0.5, max_iter=100,
                                  random_state=0).fit(X, rates)
    t_student = time.perf_counter() - start
    pred = student.predict(X_te)
    via_readout = pred @ net.readout_weights_ / net.n_units_ + net.readout_bias_
    w("\nFull-rank network on the context-dependent task -> rank-1 model of its rates (128 units)\n")
    w(f"  full-rank task accuracy {decision_accuracy(y_te, net.predict(X_te)):.3f} ({net.n_iter_} epochs, "
      f"{t_net:.1f} s)\n")
    w(f"  rank-1 held-out R^2 {r2_score_trials(rates_te, pred):.3f} ({student.n_iter_} epochs, {t_student:.1f} s); "
      f"teacher readout on its rates: accuracy {decision_accuracy(y_te, via_readout):.3f}\n")


def main():
    w = sys.stdout.write
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recovery(w)
        censoring(w)
        pipeline(w)


if __name__ == "__main__":
    main()
