"""
Fitting spike counts on single trials
=====================================

Recordings are spike trains, trial by trial. The usual route to a rate model bins and smooths the spikes of each
trial and fits the smoothed rates by squared error. With ``loss="poisson"``,
:class:`~sklearn_lowrank.LowRankRNNRegressor` fits the binned counts of single trials directly, by their Poisson
likelihood, and predicts expected counts.

Here both routes fit the same single trials of a spiking teacher, a rank-2 network whose rates (5-20 Hz, 10 ms
bins) drive Poisson spike counts; both are judged on conditions held out from the fits, against the teacher's true
rates.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import make_spiking_teacher
from sklearn_lowrank.metrics import bits_per_spike, r2_score_trials
from sklearn_lowrank.preprocessing import GaussianSmoother

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# A spiking teacher
# -----------------
# 100 neurons of a rank-2 network, 12 conditions (input pulses of different amplitudes and timings) with 20
# single trials each; the first 10 conditions are fitted, the last 2 held out.
data = make_spiking_teacher(n_neurons=100, rank=2, n_conditions=12, n_trials_per_condition=20, n_timesteps=50,
                            bin_size=10.0, rate_range=(5.0, 20.0), random_state=0)
train, test = data.condition < 10, data.condition >= 10
X_train, y_train = data.X[train], data.y[train]
print(f"{int(y_train.sum())} spikes in {y_train.shape[0]} training trials of {y_train.shape[1]} bins")

# %%
# Two fits of the same single trials
# ----------------------------------
# The Poisson fit takes the counts as they are. The squared-error fit takes each trial smoothed (Gaussian,
# sigma 3 bins) and z-scored per neuron; its predictions are scaled back to counts per bin.
poisson = LowRankRNNRegressor(rank=2, loss="poisson", random_state=0).fit(X_train, y_train)

smooth = GaussianSmoother(sigma=3.0).fit_transform(y_train)
mean, std = smooth.mean(axis=(0, 1)), smooth.std(axis=(0, 1)) + 1e-9
squared = LowRankRNNRegressor(rank=2, random_state=0).fit(X_train, (smooth - mean) / std)

rates_poisson = poisson.predict(data.X[test])
rates_squared = np.maximum(squared.predict(data.X[test]) * std + mean, 1e-6)
for name, rates in (("poisson, single trials", rates_poisson), ("squared error, smoothed", rates_squared)):
    print(f"{name:<26} R^2 of rates {r2_score_trials(data.rates[test], rates):.3f}   "
          f"bits/spike {bits_per_spike(data.y[test], rates):.3f}")
print(f"{'true rates':<26} R^2 of rates 1.000   bits/spike {bits_per_spike(data.y[test], data.rates[test]):.3f}")

# %%
# Rasters and predicted rates
# ---------------------------
# Three neurons in a held-out condition: the spikes of its 20 trials (top) and the rates (bottom). The Poisson
# fit follows the true rate; the squared-error fit on smoothed spikes is blurred by the smoothing and biased
# by fitting noise with squared error.
trials = np.flatnonzero(data.condition == 10)
neurons = np.argsort(data.rates[trials[0]].std(axis=0))[-3:]
time_ms = np.arange(data.X.shape[1]) * data.bin_size
fig, axes = plt.subplots(2, 3, figsize=(10, 5), sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
first = np.flatnonzero(test)[0]
for col, k in enumerate(neurons):
    for row, trial in enumerate(trials):
        spikes = time_ms[data.y[trial, :, k] > 0]
        axes[0, col].vlines(spikes, row, row + 0.8, color="k", lw=1)
    axes[0, col].set_title(f"neuron {k}")
    axes[0, col].set_yticks([])
    hz = 1000.0 / data.bin_size
    axes[1, col].plot(time_ms, data.rates[trials[0], :, k] * hz, "k", lw=2, label="true")
    axes[1, col].plot(time_ms, rates_poisson[trials[0] - first, :, k] * hz, "C0", label="poisson")
    axes[1, col].plot(time_ms, rates_squared[trials[0] - first, :, k] * hz, "C1", label="squared error")
    axes[1, col].set_xlabel("time (ms)")
axes[0, 0].set_ylabel("trial")
axes[1, 0].set_ylabel("rate (Hz)")
axes[1, 0].legend(frameon=False, fontsize=8)
fig.tight_layout()
plt.show()

# %%
# The fitted Poisson readout
# --------------------------
# Each neuron's expected count is ``softplus(rate_gain_ * x + rate_offset_)``: the offsets carry the neurons'
# baseline rates, the gain (one value shared by all units) the scale of the units' states.
print("rate_offset_ range:", poisson.rate_offset_.min().round(2), poisson.rate_offset_.max().round(2),
      " rate_gain_:", poisson.rate_gain_[0].round(3))
