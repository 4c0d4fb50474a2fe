"""Spike counts on single trials: the Poisson observation model against squared error on smoothed spikes.

Sections (all by default, or those named on the command line):

- ``fit``: a spiking teacher of rank 2 (300 neurons, 5-20 Hz, 10 ms bins, 20 training conditions x 30 single
  trials, 5 held-out conditions). ``loss="poisson"`` on the single-trial counts against ``loss="squared_error"``
  on the same trials smoothed (Gaussian, sigma 3 bins) and z-scored per neuron: R^2 of the predicted against the
  true rates on the held-out conditions, bits per spike on their trials, cosine of the effective connectivity.
  The Poisson fit uses the estimator's defaults (``solver="auto"``: Adam, then L-BFGS on all trials), and Adam
  alone for comparison. Twice: with one gain and offset for all neurons
  (the teacher of the other sections), where the connectivity is identifiable, and with a gain per neuron,
  where the spikes leave each unit's scale free (the connectivity can then only be recovered up to a rescaling
  of each unit).
- ``rank``: the rank chosen by cross-validated Poisson score (GridSearchCV over rank 1..4, GroupKFold over
  conditions), by the best mean score and by ``one_standard_error_rule``.
- ``cosmooth``: co-smoothing, 75 of the 300 neurons held out: bits per spike on the held-out neurons of the
  held-out conditions, from the fitted network's latents (``inspection.co_smoothing``) and from the NLB
  smoothing baseline (Poisson GLMs on the held-in neurons' smoothed spikes).
- ``links``: the Poisson readout's link (softplus, the package's, or exp) on smaller teachers generated with
  either link.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_spikes.py [fit] [rank] [cosmooth] [links]
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import PoissonRegressor
from sklearn.model_selection import GridSearchCV, GroupKFold

import sklearn_lowrank._base as base
from sklearn_lowrank import LowRankRNNRegressor, one_standard_error_rule
from sklearn_lowrank.datasets import make_spiking_teacher
from sklearn_lowrank.inspection import co_smoothing, effective_connectivity
from sklearn_lowrank.metrics import bits_per_spike, connectivity_cosine, r2_score_trials
from sklearn_lowrank.preprocessing import GaussianSmoother

#: Poisson fits: the estimator's defaults (tol relative to the deviance explained; Adam, then L-BFGS).
POISSON = {"loss": "poisson", "random_state": 0}
SMOOTHING = 3.0  # bins


def fit_poisson(X, y, **params):
    """``loss="poisson"`` with the defaults (``params`` override them)."""
    return LowRankRNNRegressor(rank=2, **{**POISSON, **params}).fit(X, y)


def teacher(n_neurons=300, n_conditions=25, shared_gain=True, **kwargs):
    d = make_spiking_teacher(n_neurons=n_neurons, rank=2, n_conditions=n_conditions, n_trials_per_condition=30,
                             n_timesteps=50, bin_size=10.0, rate_range=(5.0, 20.0), shared_gain=shared_gain,
                             random_state=0, **kwargs)
    d.train = d.condition < 20
    d.test = ~d.train
    return d


def cos_eff(est, d):
    return connectivity_cosine(effective_connectivity(est.m_, est.n_, est.input_weights_),
                               effective_connectivity(d.m, d.n, d.input_weights))


def fit_squared_error(X, counts, **params):
    """Squared error on z-scored smoothed single trials; returns a predict function in counts per bin."""
    smooth = GaussianSmoother(sigma=SMOOTHING).fit_transform(counts).astype(np.float64)
    mean, std = smooth.mean(axis=(0, 1)), smooth.std(axis=(0, 1)) + 1e-9
    est = LowRankRNNRegressor(rank=2, random_state=0, **params).fit(X, (smooth - mean) / std)
    return est, lambda X_new: np.maximum(est.predict(X_new) * std + mean, 1e-6)


def section_fit(w):
    for shared in (True, False):
        _fit_table(w, shared)


def _fit_table(w, shared_gain):
    d = teacher(shared_gain=shared_gain)
    gains = "one gain for all neurons" if shared_gain else "a gain per neuron"
    w(f"Single-trial fits of a rank-2 spiking teacher (300 neurons, 20 x 30 trials, 50 bins of 10 ms; {gains})\n")
    w(f"{'fit':<36}{'R2 rates':>9}{'bits/spk':>9}{'cos Jeff':>9}{'time (s)':>9}{'epochs':>7}\n")
    truth_bps = bits_per_spike(d.y[d.test], d.rates[d.test])
    w(f"{'true rates':<36}{1.0:>9.3f}{truth_bps:>9.3f}{1.0:>9.3f}{'':>9}{'':>7}\n")
    for name, params in (("poisson, single trials", {}), ("poisson, Adam only (solver='adam')", {"solver": "adam"})):
        start = time.perf_counter()
        est = fit_poisson(d.X[d.train], d.y[d.train], **params)
        elapsed = time.perf_counter() - start
        pred = est.predict(d.X[d.test])
        w(f"{name:<36}{r2_score_trials(d.rates[d.test], pred):>9.3f}"
          f"{bits_per_spike(d.y[d.test], pred):>9.3f}{cos_eff(est, d):>9.3f}{elapsed:>9.1f}{est.n_iter_:>7}\n")
    start = time.perf_counter()
    se, predict = fit_squared_error(d.X[d.train], d.y[d.train])
    elapsed = time.perf_counter() - start
    pred = predict(d.X[d.test])
    w(f"{'squared error, smoothed trials':<36}{r2_score_trials(d.rates[d.test], pred):>9.3f}"
      f"{bits_per_spike(d.y[d.test], pred):>9.3f}{cos_eff(se, d):>9.3f}{elapsed:>9.1f}{se.n_iter_:>7}\n\n")


def section_rank(w):
    d = teacher()
    X, y, groups = d.X[d.train], d.y[d.train], d.condition[d.train]
    params = dict(POISSON)
    start = time.perf_counter()
    search = GridSearchCV(LowRankRNNRegressor(**params), {"rank": [1, 2, 3, 4]}, cv=GroupKFold(n_splits=3),
                          refit=False).fit(X, y, groups=groups)
    elapsed = time.perf_counter() - start
    res = search.cv_results_
    w("Rank by 3-fold cross-validated Poisson D^2 (GroupKFold over the 20 training conditions)\n")
    w(f"{'rank':>5}{'mean D2':>10}{'std':>9}\n")
    for r, m, s in zip(res["param_rank"], res["mean_test_score"], res["std_test_score"]):
        w(f"{r:>5}{m:>10.5f}{s:>9.5f}\n")
    best = res["param_rank"][int(np.argmax(res["mean_test_score"]))]
    # D^2 of single-trial counts is small (mostly Poisson noise): the rule's default absolute tol (1e-3, made for
    # R^2 of rates) would be as large as the differences between ranks, so the textbook rule (tol=0) is used.
    chosen = res["param_rank"][one_standard_error_rule(res, tol=0.0)]
    paired = res["param_rank"][one_standard_error_rule(res, tol=0.0, paired=True)]
    w(f"best mean score: rank {best}; one-standard-error rule (tol=0): rank {chosen}; on paired fold differences "
      f"(the command line's rule for counts): rank {paired}  (true rank 2; {elapsed:.0f} s)\n\n")


def _smoothed_glm_baseline(d, held_in, held_out, alpha=1e-4):
    """NLB's smoothing baseline: Poisson GLMs from the held-in neurons' smoothed spikes to each held-out neuron."""
    smoother = GaussianSmoother(sigma=SMOOTHING)
    feats = [smoother.fit_transform(d.y[idx][..., held_in]).reshape(-1, held_in.size).astype(np.float64)
             for idx in (d.train, d.test)]
    mean, std = feats[0].mean(axis=0), feats[0].std(axis=0) + 1e-9
    feats = [(f - mean) / std for f in feats]
    counts = d.y[d.train][..., held_out].reshape(-1, held_out.size)
    rates = np.empty((feats[1].shape[0], held_out.size))
    for j in range(held_out.size):
        rates[:, j] = PoissonRegressor(alpha=alpha, max_iter=300).fit(feats[0], counts[:, j]).predict(feats[1])
    return bits_per_spike(d.y[d.test][..., held_out], rates.reshape(d.y[d.test].shape[:2] + (held_out.size,)))


def section_cosmooth(w):
    d = teacher()
    held_out = np.arange(225, 300)
    held_in = np.arange(225)
    start = time.perf_counter()
    res = co_smoothing(LowRankRNNRegressor(rank=2, **POISSON), d.X[d.train], d.y[d.train], d.X[d.test],
                       d.y[d.test], held_out)
    elapsed = time.perf_counter() - start
    baseline = _smoothed_glm_baseline(d, held_in, held_out)
    truth = bits_per_spike(d.y[d.test][..., held_out], d.rates[d.test][..., held_out])
    w("Co-smoothing: 75 held-out neurons of the 5 held-out conditions (bits per spike)\n")
    w(f"true rates {truth:.4f}; low-rank latents + GLM {res.bits_per_spike:.4f} ({elapsed:.0f} s); "
      f"smoothed held-in spikes + GLM (sigma {SMOOTHING:g} bins) {baseline:.4f}\n\n")


def section_links(w):
    w("Poisson readout link (100 neurons, 10 x 30 training trials; held-out R^2 of rates / bits per spike)\n")
    w(f"{'teacher link':<14}{'fit softplus':>16}{'fit exp':>16}\n")
    default = base.POISSON_LINK
    try:
        for teacher_link in ("softplus", "exp"):
            d = make_spiking_teacher(n_neurons=100, rank=2, n_conditions=15, n_trials_per_condition=30,
                                     n_timesteps=50, link=teacher_link, random_state=1)
            train, test = d.condition < 10, d.condition >= 10
            cells = []
            for link in ("softplus", "exp"):
                base.POISSON_LINK = link
                est = LowRankRNNRegressor(rank=2, **POISSON).fit(d.X[train], d.y[train])
                pred = est.predict(d.X[test])
                cells.append(f"{r2_score_trials(d.rates[test], pred):.3f} / {bits_per_spike(d.y[test], pred):.3f}")
            w(f"{teacher_link:<14}{cells[0]:>16}{cells[1]:>16}\n")
    finally:
        base.POISSON_LINK = default
    w("\n")


SECTIONS = {"fit": section_fit, "rank": section_rank, "cosmooth": section_cosmooth, "links": section_links}


def main(argv):
    names = argv or list(SECTIONS)
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"unknown section(s) {unknown}; choose from {sorted(SECTIONS)}")

    def w(text):
        sys.stdout.write(text)
        sys.stdout.flush()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in names:
            SECTIONS[name](w)


if __name__ == "__main__":
    main(sys.argv[1:])
