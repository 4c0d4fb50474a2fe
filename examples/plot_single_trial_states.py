"""
Single-trial variability from per-trial initial states
======================================================

A deterministic network fitted to single trials with one shared initial state predicts each condition's mean
rates: trials of a condition that differ for reasons no input explains (a different starting point, attention)
all get the same prediction. Single-trial models such as LFADS infer an initial condition per trial instead.

Here the spiking teacher's trials of one condition differ only by their latent start. A Poisson fit with
``initial_state="per_trial"`` learns each training trial's start; on held-out trials, the start is inferred from
the first 10 bins and the later bins are predicted, against the shared-state fit and the smoothed PSTH of each
condition, the simplest baseline of a lab.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import LowRankRNNRegressor, split_observed_steps
from sklearn_lowrank.datasets import make_trial_state_teacher
from sklearn_lowrank.metrics import bits_per_spike, r2_score_trials

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# Single trials that differ by their start
# ----------------------------------------
# 80 neurons, 4 conditions (input patterns) x 25 trials, 10-60 Hz in 20 ms bins; 5 trials of each condition are
# held out.
data = make_trial_state_teacher(n_units=80, rank=2, n_inputs=1, n_conditions=4, n_trials_per_condition=25,
                                n_timesteps=50, output="counts", noise_std=0.0, rate_range=(10.0, 60.0),
                                bin_size=20.0, random_state=1)
test = np.arange(data.y.shape[0]) % 25 >= 20
X_train, y_train, X_test, y_test = data.X[~test], data.y[~test], data.X[test], data.y[test]
head, tail = split_observed_steps(y_test, 10)

# %%
# Fits and baseline
# -----------------
per_trial = LowRankRNNRegressor(rank=2, loss="poisson", initial_state="per_trial", random_state=0)
per_trial.fit(X_train, y_train)
shared = LowRankRNNRegressor(rank=2, loss="poisson", random_state=0).fit(X_train, y_train)
pred = per_trial.predict(X_test, initial_state=per_trial.infer_initial_state(X_test, head))
pred_shared = shared.predict(X_test)
psth = np.zeros_like(y_test)
for c in range(4):
    mean = y_train[data.condition[~test] == c].mean(axis=0)
    psth[data.condition[test] == c] = np.maximum(gaussian_filter1d(mean, 2.0, axis=0), 1e-3)
true = data.rates[test]
for name, rates in (("per-trial states", pred), ("shared state", pred_shared), ("smoothed PSTH", psth)):
    print(f"{name:>17}: {bits_per_spike(tail[:, 10:], rates[:, 10:]):.3f} bits/spike, "
          f"R^2 of the true rates {r2_score_trials(true[:, 10:], rates[:, 10:]):.3f}")

# %%
# One neuron on two trials of the same condition
# ----------------------------------------------
# The shared-state fit and the PSTH give both trials the same rates; the per-trial fit follows each trial.
same = np.flatnonzero(data.condition[test] == 0)[:2]
neuron = int(np.argmax(true[same].std(axis=0).mean(axis=0)))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for ax, trial in zip(axes, same):
    ax.plot(true[trial, :, neuron], color="k", label="true rate")
    ax.plot(pred[trial, :, neuron], color="C3", label="per-trial states")
    ax.plot(pred_shared[trial, :, neuron], color="C0", linestyle="--", label="shared state")
    ax.plot(psth[trial, :, neuron], color="0.6", linestyle=":", label="PSTH")
    ax.axvspan(-0.5, 9.5, color="0.9", label="bins its start is inferred from")
    ax.set_title(f"held-out trial {trial}, neuron {neuron} (condition 0)", fontsize="medium")
    ax.set_xlabel("bin (20 ms)")
axes[0].set_ylabel("expected spikes per bin")
axes[0].legend(frameon=False, fontsize="small")
fig.tight_layout()
