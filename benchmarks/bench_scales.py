"""Fit time, memory and accuracy against the size of the recording; and R^2 against the scale of X and y.

Sections (all by default, or those named on the command line):

- ``sizes``: the size table. A spiking teacher of rank 3 (:func:`spiking_recording`: ``make_spiking_teacher``
  with rates 1-60 Hz, one gain for all neurons, 10 ms bins, 100 bins per trial, conditions of 4 trials each with
  recurrent noise 0.05 so that single trials differ), ``n_neurons`` x ``n_trials``; the first 80 % of the
  conditions train, the rest are held out. Two fits per size, each in its own subprocess (so that its peak RSS
  is its own; the recording is generated in another one, saved and loaded):
  ``LowRankRNNRegressor(rank=3, loss="poisson", random_state=0)`` on the counts, and
  ``LowRankRNNRegressor(rank=3, random_state=0)`` (squared error) on the counts smoothed (Gaussian, sigma 3
  bins) and z-scored per neuron. Columns: fit time (wall, s), CPU time of the fit (s: on a shared machine the
  wall time depends on the load), epochs (Adam + L-BFGS), time per epoch, peak RSS
  of the process (MB, data included; ``data``: the peak before the fit, with the interpreter and the loaded
  recording), held-out R^2 of the predicted against the true rates, and whether a
  ConvergenceWarning was raised. ``--grid`` picks the sizes (``NxT`` pairs), ``--losses`` the losses.
- ``scale``: held-out R^2 against the scale of X and of y, the evidence behind the scale warnings of the data
  checks (a rank-1 teacher of 30 units, ``max_iter=50``, X or y multiplied by each factor).

Where the time and the memory went (profile of the default Poisson fit, 500 neurons x 100 trials x 100 bins,
80 trials to train, before issue #21; torch.profiler and ``/usr/bin/time -v``, 2-core machine):

- The fit took 83 s (load about 1.3), 221 epochs: 21 Adam epochs, then 200 L-BFGS steps that ended at max_iter
  with a ConvergenceWarning. L-BFGS stopped only when a step gained less than float32 round-off of the loss,
  which a Poisson loss (mostly spiking noise, falling by ~1e-5 per step) never does: about 90 % of the time was
  L-BFGS steps that improved the held-out rates little (R^2 0.962 after 5 of them, 0.987 after 200).
- Per epoch (``torch.profiler``, 3 Adam epochs and 3 L-BFGS steps): the element-wise operations of the Poisson
  loss and the softplus readout (``xlogy`` twice, ``sub``, ``mul``, ``add``, ``softplus``, ``where``,
  ``clamp_min``, ``div``, ``neg``) took about half the CPU time, the recurrence (``mm``, ``sigmoid``, the
  hand-written backward) about a quarter. Autograd kept the loss's temporaries, each the size of the predictions.
- Memory: peak RSS 1167 MB for 16 MB of counts, of which 342 MB is the interpreter with torch and scikit-learn
  imported and 180 MB the generator's float64 states and rates. The L-BFGS gradient was summed over chunks of
  256 trials whatever their size: at 2000 neurons x 320 training trials x 100 bins one chunk is 205 MB per
  float32 tensor, and each evaluation allocated a dozen such tensors and freed them (glibc maps and unmaps
  allocations above 32 MB at every step: the 377 million page faults of the issue), 3.7 GB at peak.

What changed (issue #21): the L-BFGS objective's chunks are bounded in entries (``CHUNK_ENTRIES``: 16 MB per
tensor, under the mmap threshold); the Poisson loss is one autograd node that keeps only the predictions; the
null model's loss (the unit of ``tol`` for counts) is computed in chunks on the recording itself; L-BFGS stops when
its last ``2 * n_iter_no_change`` steps together gained less than ``tol`` of the deviance explained. The 2000 x
400 Poisson fit then took 22 epochs, 83 s of CPU (123 s wall at load 4-5), 1.34 GB peak RSS, 4.5 million page
faults, held-out R^2 0.986, no ConvergenceWarning; the table is in docs/user_guide/performance.rst.

Growth to 4000 x 800 (December 2026): the time per epoch grew faster than the entries from 2000 x 400 to 4000 x
800 (6.2 times for 4 times the entries). One Adam epoch timed alone (``resource.getrusage`` around
``adam_epoch``, one thread for the recurrence, load about 3) gave the cause: at 4000 units a mini-batch of 32
trials x 100 steps makes 51 MB tensors, above glibc's largest mmap threshold (32 MB), so every one was mapped and
unmapped at each step: Poisson 6.0 s user + 7.0 s system and 4.0 million page faults per epoch (2000 units: 1.7 s
+ 0.4 s, 0.2 million), squared error 2.6 + 3.6 s and 2.0 million. Mini-batches above ``CHUNK_ENTRIES`` (now 2
million entries, 8 MB per float32 tensor) are simulated in parts with their gradients summed: Poisson 6.4 s + 0.0 s,
2 thousand faults per epoch at 4000 units (2000 units: 1.7 + 0.0 s, none), squared error 2.5 + 0.0 s, none. With
parts of 4 million entries (16 MB) 0.3 million faults and 0.6 s of system time remained. The peak RSS of the 2000
x 400 Poisson fit was 1.95 GB on this machine's torch build (2.13.0+cpu, December 2026): the peak came in the
data-driven start, where a 1-channel ``conv1d`` smoothing the group means unfolded its input (entries x kernel
width, about 1 GB); the smoothing is now a product with a banded (T, T) matrix, and the peak 1.23 GB.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_scales.py [sizes] [scale] [--grid 500x100 2000x400] \
        [--losses poisson squared_error]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

FACTORS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e6)
GRID = ("250x50", "500x100", "1000x200", "2000x400", "4000x800")
TRIALS_PER_CONDITION = 4
SMOOTHING = 3.0  # bins


def spiking_recording(n_neurons, n_trials, n_timesteps=100, random_state=0):
    """The rank-3 spiking recording of the size table, with ``train`` / ``test`` trial masks (80 % / 20 %)."""
    from sklearn_lowrank.datasets import make_spiking_teacher

    n_conditions = max(5, n_trials // TRIALS_PER_CONDITION)
    d = make_spiking_teacher(n_neurons=n_neurons, rank=3, n_conditions=n_conditions,
                             n_trials_per_condition=TRIALS_PER_CONDITION, n_timesteps=n_timesteps, bin_size=10.0,
                             rate_range=(1.0, 60.0), shared_gain=True, noise_std=0.05, random_state=random_state)
    d.train = d.condition < int(round(0.8 * n_conditions))
    d.test = ~d.train
    return d


def save_recording(n_neurons, n_trials, path):
    """Generate the recording (its generator holds float64 states and rates) and save what a fit needs."""
    from sklearn_lowrank.preprocessing import GaussianSmoother

    d = spiking_recording(n_neurons, n_trials)
    y = d.y[d.train]
    # The squared-error fit's targets, prepared here so that the fit's peak RSS is not the smoother's.
    smooth = GaussianSmoother(sigma=SMOOTHING).fit_transform(y)
    mean, std = smooth.mean(axis=(0, 1)), smooth.std(axis=(0, 1)) + 1e-9
    np.savez(path, X=d.X[d.train], y=y, X_test=d.X[d.test], rates_test=d.rates[d.test].astype(np.float32),
             y_smooth=((smooth - mean) / std).astype(np.float32), mean=mean, std=std)


def fit_one(path, loss):
    """Fit one saved recording in this process; a dict of the table's columns (peak RSS: data and fit only)."""
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_lowrank import LowRankRNNRegressor
    from sklearn_lowrank.metrics import r2_score_trials

    with np.load(path) as data:
        X, X_test, truth = data["X"], data["X_test"], data["rates_test"]
        if loss == "squared_error":
            y, mean, std = data["y_smooth"], data["mean"], data["std"]
        else:
            y = data["y"]
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    est = LowRankRNNRegressor(rank=3, loss=loss, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start, cpu = time.perf_counter(), time.process_time()
        est.fit(X, y)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    pred = est.predict(X_test)
    if loss == "squared_error":
        pred = np.maximum(pred * std + mean, 0.0)
    return {"time": elapsed, "cpu": cpu, "epochs": est.n_iter_, "per_epoch": elapsed / max(est.n_iter_, 1),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "rss_data_mb": rss_data,
            "r2": r2_score_trials(truth, pred),
            "warning": any(issubclass(w.category, ConvergenceWarning) for w in caught)}


def section_sizes(grid, losses, tmp):
    print(f"{'neurons':>8}{'trials':>7}{'loss':>15}{'time (s)':>9}{'CPU (s)':>8}{'epochs':>7}{'s/epoch':>8}"
          f"{'RSS (MB)':>9}{'data':>6}{'R2 rates':>9}{'warn':>5}", flush=True)
    for size in grid:
        n_neurons, n_trials = (int(v) for v in size.split("x"))
        path = os.path.join(tmp, f"recording_{size}.npz")
        # Generated in a subprocess too: Linux counts the RSS a process had when it forked into its child's peak.
        subprocess.run([sys.executable, __file__, "--save", size, path], check=True)
        for loss in losses:
            out = subprocess.run([sys.executable, __file__, "--worker", path, loss], capture_output=True,
                                 text=True, check=False)
            if out.returncode != 0:
                print(f"{n_neurons:>8}{n_trials:>7}{loss:>15}  failed: {out.stderr.strip()[-300:]}", flush=True)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{n_neurons:>8}{n_trials:>7}{loss:>15}{r['time']:>9.1f}{r['cpu']:>8.1f}{r['epochs']:>7}"
                  f"{r['per_epoch']:>8.2f}{r['rss_mb']:>9.0f}{r['rss_data_mb']:>6.0f}{r['r2']:>9.3f}"
                  f"{'yes' if r['warning'] else 'no':>5}", flush=True)


def section_scale():
    from sklearn_lowrank import LowRankRNNRegressor
    from sklearn_lowrank.datasets import make_low_rank_teacher

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", help="sizes and/or scale (default: both)")
    parser.add_argument("--grid", nargs="+", default=list(GRID), help="sizes as NEURONSxTRIALS")
    parser.add_argument("--losses", nargs="+", default=["poisson", "squared_error"],
                        choices=["poisson", "squared_error"])
    parser.add_argument("--worker", nargs=2, metavar=("PATH", "LOSS"), help=argparse.SUPPRESS)
    parser.add_argument("--save", nargs=2, metavar=("SIZE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sections = args.sections or ["sizes", "scale"]
    if set(sections) - {"sizes", "scale"}:
        parser.error(f"unknown sections {sorted(set(sections) - {'sizes', 'scale'})}; choose sizes and/or scale")
    if args.save:
        n_neurons, n_trials = (int(v) for v in args.save[0].split("x"))
        save_recording(n_neurons, n_trials, args.save[1])
        return
    if args.worker:
        print(json.dumps(fit_one(*args.worker)))
        return
    if "sizes" in sections:
        with tempfile.TemporaryDirectory() as tmp:
            section_sizes(args.grid, args.losses, tmp)
    if "scale" in sections:
        section_scale()


if __name__ == "__main__":
    main()
