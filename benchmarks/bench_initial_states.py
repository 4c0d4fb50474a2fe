"""Initial states per trial: fits with ``initial_state="per_trial"`` against one shared state (issue #25).

Sections (all by default, or those named on the command line):

- ``rates``: :func:`make_trial_state_teacher` (60 units, rank 2, one input, 20 input patterns x 6 trials that
  differ by their latent start only, 50 steps, tanh rates, recurrent noise 0.02). Fitted on 90 trials, scored on
  30 held-out trials whose initial states are inferred from their first 10 steps: R^2 of the later steps, the
  noise-free ceiling (the teacher run without noise from the true starts), and the R^2 of the trial-to-trial
  differences (each trial minus its condition's mean), for the per-trial fit and the shared-state fit (with and
  without inferred starts). Also the inference restricted to the span of m and the input vectors against all
  directions, on the per-trial fit.
- ``span``: the same teacher, per-trial offsets restricted to the span of m and the input vectors (the package's
  design) against offsets in all N directions, in the fit and in the inference.
- ``counts``: the same teacher with Poisson counts (10-60 Hz, 20 ms bins, 120 neurons, no recurrent noise):
  R^2 of the predicted rates against the true rates on the later steps of held-out trials, and bits per spike,
  beside the smoothed condition PSTH of the training trials.
- ``rotation``: :func:`make_rotational_dynamics` (60 units, 8 conditions x 5 noisy trials, no inputs); each of
  4 conditions held out in turn. Per-trial fit on the other 7 with the held-out condition's starts inferred
  from its first 10 steps, against the one-hot pulse trick (one input channel per training condition, on for
  the first 5 steps; a new condition has no channel): R^2 of the later steps over the noise-free ceiling.
- ``single``: single-trial spiking (120 neurons, 4 conditions given by their input, 40 trials each, latent
  starts that differ per trial, 10-60 Hz, 20 ms bins). Bits per spike on held-out trials after the first 10
  steps: per-trial Poisson fit (starts inferred from those steps), shared-state Poisson fit, and the smoothed
  condition PSTH of the training trials (Gaussian, sigma 2 bins).
- ``rank``: rank chosen by ``LowRankRNNRegressorCV(scoring=make_initial_state_scorer(n_steps=10))`` with its
  defaults (ranks 1..5, 5 folds, paired rule, ``tol="auto"``) around ``initial_state="per_trial"`` fits, on 5
  teachers with per-trial starts (30 units, ranks 1, 2, 3, 2, 3, one input, 45 trials of 30 steps).
- ``rank-n-init`` (not run by default): the same with ``n_init=3`` starts of every fit (three times the cost).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_initial_states.py [rates] [span] [counts] [rotation] [single] [rank]
                                                               [rank-n-init]
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import LowRankRNNRegressor, LowRankRNNRegressorCV, make_initial_state_scorer
from sklearn_lowrank import split_observed_steps as split
from sklearn_lowrank._core.trial_states import infer_trial_states
from sklearn_lowrank.datasets import make_rotational_dynamics, make_trial_state_teacher
from sklearn_lowrank.metrics import bits_per_spike, r2_score_trials
from sklearn_lowrank.model_selection import one_standard_error_rule

K = 10  # observed steps used to infer each held-out trial's start


def _within(y, condition):
    """Each trial minus the mean of its condition's trials (the trial-to-trial differences)."""
    out = np.array(y, dtype=np.float64)
    for c in np.unique(condition):
        out[condition == c] -= out[condition == c].mean(axis=0)
    return out


def _held_out(est, X, y):
    """(prediction from starts inferred on the first K steps, prediction from the shared state)."""
    head, _ = split(y, K)
    return est.predict(X, initial_state=est.infer_initial_state(X, head)), est.predict(X)


def _row(name, *cells):
    print(f"{name:<44}" + "".join(f" {c:>15}" for c in cells))


def section_rates():
    d = make_trial_state_teacher(n_units=60, rank=2, n_inputs=1, n_conditions=20, n_trials_per_condition=6,
                                 n_timesteps=50, output="rates", noise_std=0.02, random_state=0)
    test = np.arange(d.y.shape[0]) % 6 >= 4  # 2 trials of each condition held out
    X, y, Xt, yt, ct = d.X[~test], d.y[~test], d.X[test], d.y[test], d.condition[test]
    _, tail = split(yt, K)
    ceiling = r2_score_trials(tail, np.tanh(d.clean_states[test]))
    print("\n[rates] held-out trials, starts inferred from the first 10 steps; R^2 of the later steps")
    _row("fit", "R^2 later", "ceiling", "gap", "R^2 within-c", "fit s")
    fits = {}
    for mode in ("per_trial", "learned"):
        t0 = time.perf_counter()
        est = LowRankRNNRegressor(rank=2, output_activation="tanh", initial_state=mode, random_state=0).fit(X, y)
        seconds = time.perf_counter() - t0
        fits[mode] = est
        inferred, shared = _held_out(est, Xt, yt)
        for label, pred in ((f"{mode}, inferred starts", inferred), (f"{mode}, shared state", shared)):
            r2 = r2_score_trials(tail, pred)
            within = r2_score_trials(_within(np.where(np.isnan(tail), np.nan, yt), ct), _within(pred, ct))
            _row(label, f"{r2:.4f}", f"{ceiling:.4f}", f"{ceiling - r2:.4f}", f"{within:.4f}", f"{seconds:.1f}")
    est = fits["per_trial"]
    head, _ = split(yt, K)
    mask = torch.from_numpy(~np.isnan(head))
    targets = torch.from_numpy(np.nan_to_num(head))
    for subspace in (True, False):
        t0 = time.perf_counter()
        x0 = infer_trial_states(est.module_, torch.from_numpy(Xt), targets, mask, subspace=subspace).numpy()
        seconds = time.perf_counter() - t0
        r2 = r2_score_trials(tail, est.predict(Xt, initial_state=x0))
        label = "per_trial, inferred in span(m, W_in)" if subspace else "per_trial, inferred in all directions"
        _row(label, f"{r2:.4f}", f"{ceiling:.4f}", f"{ceiling - r2:.4f}", "", f"{seconds:.2f}")


class _AllDirections(LowRankRNNRegressor):
    """Per-trial offsets in all N directions instead of the span of m and the input vectors."""

    _per_trial_subspace = False


def section_span():
    d = make_trial_state_teacher(n_units=60, rank=2, n_inputs=1, n_conditions=20, n_trials_per_condition=6,
                                 n_timesteps=50, output="rates", noise_std=0.02, random_state=0)
    test = np.arange(d.y.shape[0]) % 6 >= 4
    X, y, Xt, yt = d.X[~test], d.y[~test], d.X[test], d.y[test]
    head, tail = split(yt, K)
    ceiling = r2_score_trials(tail, np.tanh(d.clean_states[test]))
    print("\n[span] per-trial offsets (fit and inference) in span(m, W_in) or in all directions; rates teacher")
    _row("offsets", "epochs", "train R^2 own", "held-out R^2", "ceiling", "fit s")
    for label, cls, subspace in (("in span(m, W_in)", LowRankRNNRegressor, True),
                                 ("in all directions", _AllDirections, False)):
        t0 = time.perf_counter()
        est = cls(rank=2, output_activation="tanh", initial_state="per_trial", random_state=0).fit(X, y)
        seconds = time.perf_counter() - t0
        own = r2_score_trials(y, est.predict(X, initial_state=est.initial_states_))
        x0 = infer_trial_states(est.module_, torch.from_numpy(Xt), torch.from_numpy(np.nan_to_num(head)),
                                torch.from_numpy(~np.isnan(head)), subspace=subspace).numpy()
        r2 = r2_score_trials(tail, est.predict(Xt, initial_state=x0))
        _row(label, f"{est.n_iter_}", f"{own:.4f}", f"{r2:.4f}", f"{ceiling:.4f}", f"{seconds:.1f}")


def _poisson_fits(X, y, Xt, yt):
    """Poisson fits with per-trial and with one shared initial state, each predicting the held-out trials (Xt, yt)
    from inferred starts and from the shared state: a list of (label, prediction, seconds of its fit)."""
    rows = []
    for mode in ("per_trial", "learned"):
        t0 = time.perf_counter()
        est = LowRankRNNRegressor(rank=2, loss="poisson", initial_state=mode, random_state=0).fit(X, y)
        seconds = time.perf_counter() - t0
        inferred, shared = _held_out(est, Xt, yt)
        rows += [(f"{mode}, inferred starts", inferred, seconds), (f"{mode}, shared state", shared, seconds)]
    return rows


def section_counts():
    d = make_trial_state_teacher(n_units=120, rank=2, n_inputs=1, n_conditions=20, n_trials_per_condition=6,
                                 n_timesteps=50, output="counts", noise_std=0.0, rate_range=(10.0, 60.0),
                                 bin_size=20.0, random_state=0)
    test = np.arange(d.y.shape[0]) % 6 >= 4
    X, y, Xt, yt = d.X[~test], d.y[~test], d.X[test], d.y[test]
    true = d.rates[test][:, K:]
    print("\n[counts] held-out trials, starts inferred from the first 10 bins; R^2 of predicted vs true rates")
    _row("fit", "R^2 rates", "bits/spike", "fit s", "")
    for label, pred, seconds in _poisson_fits(X, y, Xt, yt):
        _row(label, f"{r2_score_trials(true, pred[:, K:]):.4f}", f"{bits_per_spike(yt[:, K:], pred[:, K:]):.4f}",
             f"{seconds:.1f}", "")
    psth = _psth(d.y, d.condition, ~test)[test][:, K:]
    _row("smoothed condition PSTH (baseline)", f"{r2_score_trials(true, psth):.4f}",
         f"{bits_per_spike(yt[:, K:], psth):.4f}", "", "")
    _row("true rates", "1.0000", f"{bits_per_spike(yt[:, K:], true):.4f}", "", "")


def _pulses(condition, n_conditions, n_timesteps, width=5):
    X = np.zeros((condition.size, n_timesteps, n_conditions), dtype=np.float32)
    for i, c in enumerate(condition):
        if c < n_conditions:
            X[i, :width, c] = 1.0
    return X


def section_rotation():
    d = make_rotational_dynamics(n_units=60, n_conditions=8, n_trials_per_condition=5, n_timesteps=60,
                                 noise_std=0.02, random_state=0)
    print("\n[rotation] one condition held out; R^2 of its later steps (starts inferred from the first 10)")
    _row("held-out condition", "per-trial", "pulse trick", "ceiling", "per-trial/ceil", "pulse/ceil")
    ratios = []
    for held in (0, 2, 4, 6):
        test = d.condition == held
        _, tail = split(d.y[test], K)
        ceiling = r2_score_trials(tail, d.clean_states[test])
        per_trial = LowRankRNNRegressor(rank=2, initial_state="per_trial", random_state=0).fit(d.X[~test],
                                                                                                d.y[~test])
        pred = _held_out(per_trial, d.X[test], d.y[test])[0]
        r2 = r2_score_trials(tail, pred)
        # The pulse trick: training conditions renumbered 0..6, the held-out one gets no channel (all zeros).
        train_c = np.unique(d.condition[~test])
        code = np.searchsorted(train_c, d.condition)
        code[test] = len(train_c)
        Xp = _pulses(code, len(train_c), d.y.shape[1])
        pulse = LowRankRNNRegressor(rank=2, random_state=0).fit(Xp[~test], d.y[~test])
        r2_pulse = r2_score_trials(tail, pulse.predict(Xp[test]))
        ratios.append(r2 / ceiling)
        _row(f"condition {held}", f"{r2:.4f}", f"{r2_pulse:.4f}", f"{ceiling:.4f}", f"{r2 / ceiling:.4f}",
             f"{r2_pulse / ceiling:.4f}")
    _row("min per-trial/ceiling", f"{min(ratios):.4f}")


def _psth(y, condition, train, sigma=2.0):
    rates = np.zeros_like(y, dtype=np.float64)
    for c in np.unique(condition):
        mean = y[train & (condition == c)].mean(axis=0)
        rates[condition == c] = np.maximum(gaussian_filter1d(mean, sigma, axis=0), 1e-3)
    return rates


def section_single():
    d = make_trial_state_teacher(n_units=120, rank=2, n_inputs=1, n_conditions=4, n_trials_per_condition=40,
                                 n_timesteps=50, output="counts", noise_std=0.0, rate_range=(10.0, 60.0),
                                 bin_size=20.0, random_state=1)
    test = np.arange(d.y.shape[0]) % 40 >= 30  # 10 trials of each condition held out
    X, y, Xt, yt = d.X[~test], d.y[~test], d.X[test], d.y[test]
    print("\n[single] single-trial counts; bits/spike on held-out trials after the first 10 bins")
    _row("model", "bits/spike", "R^2 rates", "fit s", "")
    psth = _psth(d.y, d.condition, ~test)[test]
    true = d.rates[test][:, K:]
    for label, pred, seconds in _poisson_fits(X, y, Xt, yt):
        _row(label, f"{bits_per_spike(yt[:, K:], pred[:, K:]):.4f}", f"{r2_score_trials(true, pred[:, K:]):.4f}",
             f"{seconds:.1f}", "")
    _row("smoothed condition PSTH (baseline)", f"{bits_per_spike(yt[:, K:], psth[:, K:]):.4f}",
         f"{r2_score_trials(true, psth[:, K:]):.4f}", "", "")
    _row("true rates", f"{bits_per_spike(yt[:, K:], true):.4f}", "1.0000", "", "")


def section_rank(n_init=1):
    print("\n[rank] LowRankRNNRegressorCV(scoring=make_initial_state_scorer(10)), its defaults (ranks 1..5, "
          f"5 folds, paired rule, tol='auto'), initial_state='per_trial', n_init={n_init}")
    print("(the same fold scores with the unpaired rule and tol=1e-3, GridSearchCV's refit=one_standard_error_rule)")
    _row("teacher (true rank)", "chosen (rule)", "unpaired 1e-3", "chosen (best)", "mean scores (ranks 1..5)")
    hits = 0
    for seed, rank in enumerate((1, 2, 3, 2, 3)):
        d = make_trial_state_teacher(n_units=30, rank=rank, n_inputs=1, n_conditions=45, n_timesteps=30,
                                     output="states", noise_std=0.02, random_state=seed)
        est = LowRankRNNRegressor(initial_state="per_trial", n_init=n_init, random_state=0)
        search = LowRankRNNRegressorCV(estimator=est, scoring=make_initial_state_scorer(n_steps=K)).fit(d.X, d.y)
        means = search.cv_results_["mean_test_score"]
        best = search.cv_results_["param_rank"][int(np.argmax(means))]
        hits += int(search.rank_ == rank)
        unpaired = search.cv_results_["param_rank"][one_standard_error_rule(search.cv_results_)]
        _row(f"seed {seed} (rank {rank})", f"{search.rank_}", f"{unpaired}", f"{best}",
             "   " + " ".join(f"{s:.4f}" for s in means))
    _row("recovered", f"{hits}/5")


SECTIONS = {"rates": section_rates, "span": section_span, "counts": section_counts, "rotation": section_rotation,
            "single": section_single, "rank": section_rank, "rank-n-init": lambda: section_rank(n_init=3)}


def main(argv):
    warnings.simplefilter("ignore", ConvergenceWarning)
    names = argv or [name for name in SECTIONS if name != "rank-n-init"]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown sections {unknown}; choose from {list(SECTIONS)}")
    print(f"torch threads: {torch.get_num_threads()}")
    for name in names:
        t0 = time.perf_counter()
        SECTIONS[name]()
        print(f"({name}: {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
