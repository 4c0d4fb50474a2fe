"""
Preprocessing a recording in the format of Mante et al. (2013)
==============================================================

The prefrontal recordings of Mante, Sussillo et al. (2013) come as one MATLAB file per unit: spike counts of every
trial in 1 ms bins and the task variables of each trial (motion and colour coherence, context, choice,
correct). :func:`~sklearn_lowrank.datasets.load_mante_2013` turns a folder of such files into condition-averaged,
smoothed, binned firing rates ``y`` (conditions x time x units) and the pseudo-inputs ``X`` used in the LINT fits
of these data (motion, colour, and the two context cues). Units were recorded in different sessions, so a unit
can lack a condition: that is NaN in ``y``, left out of the fit and of the score.

The real data are a free download from the Institute of Neuroinformatics (Zurich). To keep this example
self-contained we write **synthetic stand-in files** of the same layout, with
:func:`scipy.io.savemat`, from a known rank-2 circuit, then walk through the preprocessing transformers of
:mod:`sklearn_lowrank.preprocessing` and fit a low-rank network.
"""

# %%
import shutil
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.io import savemat
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline

from sklearn_lowrank import LowRankRNNRegressor, one_standard_error_rule
from sklearn_lowrank.datasets import load_mante_2013, make_low_rank_teacher, simulate_rnn
from sklearn_lowrank.metrics import r2_per_feature, r2_score_trials
from sklearn_lowrank.plotting import plot_latent_trajectories, plot_rank_selection
from sklearn_lowrank.preprocessing import GaussianSmoother, PCADenoiser, TimeBinner, TrialStandardScaler

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# Synthetic unit files
# --------------------
# 36 units from 3 sessions of 12 units. Each session has its own coherence levels (as in the experiment, where
# they were adjusted to the monkey's performance), 12 trials per condition (context x 4 motion x 4 colour levels),
# and some error trials. Session 2 has no trial of its strongest colour coherence in the colour context, so its
# units will miss those conditions. Rates are ``30 + 15 x`` spikes/s (clipped at 0) of a rank-2 network x driven by
# the task inputs, simulated at 10 ms; spikes are Poisson in 1 ms bins from 100 ms before to 850 ms after the onset
# of the dots.
rng = np.random.default_rng(0)
n_sessions, units_per_session, n_units = 3, 12, 36
circuit = make_low_rank_teacher(n_units=n_units, rank=2, n_inputs=4, random_state=0)
input_weights = rng.standard_normal((4, n_units))  # weaker inputs than the teacher's own: rates stay in range
dt, t_start, t_stop = 10, -350, 850  # ms; the context cue is on from -350 ms
sim_time = np.arange(t_start, t_stop, dt)
folder = Path(tempfile.mkdtemp(prefix="mante_"))

for session in range(n_sessions):
    levels = np.array([0.05, 0.15, 0.5]) * (1 + 0.3 * session)  # coherence levels of this session
    levels = np.concatenate([-levels[::-1], levels])[[0, 2, 3, 5]]  # 4 signed levels
    grid = np.array([(ctx, m, c) for ctx in (1, -1) for m in levels for c in levels])
    trials = np.repeat(grid, 12, axis=0)
    if session == 2:  # no trial with the strongest colour coherence in the colour context
        trials = trials[~((trials[:, 0] == -1) & (trials[:, 2] == levels[-1]))]
    context, motion, colour = trials.T
    inputs = np.zeros((len(trials), sim_time.size, 4))
    on = (sim_time >= 0) & (sim_time < 750)
    inputs[:, on, 0], inputs[:, on, 1] = motion[:, None], colour[:, None]
    inputs[context == 1, :, 2], inputs[context == -1, :, 3] = 0.5, 0.5
    states = simulate_rnn(circuit.J, input_weights, inputs, alpha=0.1, noise_std=0.05, random_state=session)
    rates = np.clip(30 + 15 * states, 0, None)  # spikes/s at 10 ms
    rates_ms = np.repeat(rates, dt, axis=1)[:, -(t_stop + 100):]  # 1 ms bins from -100 ms
    choice = np.sign(np.where(context == 1, motion, colour))
    correct = (rng.random(len(trials)) > 0.1 * (np.abs(np.where(context == 1, motion, colour)) < 0.2)).astype(float)
    for u in range(session * units_per_session, (session + 1) * units_per_session):
        spikes = rng.poisson(rates_ms[:, :, u] / 1000.0).astype(np.uint8)
        task_variable = {"stim_dir": motion, "stim_col2dir": colour, "context": context,
                         "targ_dir": np.where(correct == 1, choice, -choice), "correct": correct}
        savemat(folder / f"session{session}_unit{u:02d}.mat",
                {"unit": {"response": spikes, "time": np.arange(-100, t_stop) / 1000.0,
                          "task_variable": task_variable}})
print(f"wrote {len(list(folder.glob('*.mat')))} unit files to {folder}")

# %%
# Loading: condition averages, smoothing and binning
# --------------------------------------------------
# Correct trials are averaged per condition at 1 ms, smoothed with a 40 ms Gaussian and binned at 10 ms; the
# coherence levels of the sessions are matched by signed rank. 250 ms of context cue before the recorded window
# are prepended with NaN targets, so the network receives the cue for 350 ms before the dots as the monkeys did.
X, y, conditions, info = load_mante_2013(folder, bin_size=10, smoothing_sigma=40, stimulus_duration=750,
                                         context_only_duration=350, return_info=True)
print(f"X {X.shape} (conditions, time steps, inputs), y {y.shape} (conditions, time steps, units)")
print(f"{np.isnan(y[:, -1]).sum()} (condition, unit) pairs missing; periods: {info['periods']}")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), layout="constrained")
unit = 0
for c in np.flatnonzero(conditions["context"] == 1):
    if conditions["color_level"][c] == 1:
        axes[0].plot(info["time"], y[c, :, unit], color=plt.cm.coolwarm(0.5 + conditions["motion_coherence"][c]))
axes[0].set(xlabel="time from dots onset (ms)", ylabel="rate (spikes/s)", title=f"unit {unit}, motion context")
shown = int(np.flatnonzero(conditions["context"] == 1)[-1])  # a motion-context condition
for k, label in enumerate(("motion", "colour", "motion context", "colour context")):
    axes[1].plot(info["time"], X[shown, :, k], label=label)
axes[1].set(xlabel="time (ms)", title=f"pseudo-inputs of condition {shown}")
axes[1].legend(frameon=False, fontsize=8)
axes[2].imshow(np.isnan(y[:, -1]).T, aspect="auto", cmap="Greys", interpolation="nearest")
axes[2].set(xlabel="condition", ylabel="unit", title="missing (black)")

# %%
# Scaling: TrialStandardScaler
# ----------------------------
# Firing rates differ by unit, and their means (tens of spikes/s) would dominate a fit of the states, which are of
# order 1; z-scoring gives each unit the same weight in the loss. The statistics ignore NaN and NaN stays NaN:
# the missing conditions and the cue period before the recorded window stay unobserved, never zeros.
scaler = TrialStandardScaler()
y_z = scaler.fit_transform(y)
print(f"mean {np.nanmean(y_z):.2e}, std {np.nanstd(y_z):.3f}")

# %%
# How many dimensions? PCADenoiser
# --------------------------------
# The explained variance of the principal components of the z-scored rates hints at the rank to try (choose it
# by cross-validation, :ref:`sphx_glr_auto_examples_plot_rank_selection.py`). ``PCADenoiser`` also projects the
# data on the leading components and back, to fit a model to denoised activity.
pca = PCADenoiser(n_components=6).fit(y_z)
print("explained variance ratio:", np.round(pca.explained_variance_ratio_, 3))

# %%
# Choosing the rank and fitting it
# --------------------------------
# One unit of the network per recorded unit; the network's time constant is 100 ms (``alpha = 10 / 100``).
# Conditions are the trials of this data set: 4-fold cross-validation over conditions estimates the held-out R^2
# of each rank, with the missing entries (and the NaN targets of the cue period) left out of the loss and of the
# score. The one-standard-error rule chooses the rank, and the search refits that rank on every condition: the
# model drawn below is the chosen one.
cv = KFold(4, shuffle=True, random_state=0)
search = GridSearchCV(LowRankRNNRegressor(alpha=0.1, max_iter=100, random_state=0), {"rank": [1, 2, 3]}, cv=cv,
                      refit=one_standard_error_rule).fit(X, y_z)
se = search.cv_results_["std_test_score"] / np.sqrt(cv.get_n_splits())
for rank, mean, err in zip([1, 2, 3], search.cv_results_["mean_test_score"], se):
    print(f"rank {rank}: held-out R^2 {mean:.3f} +/- {err:.3f} (SE over 4 folds)")
est = search.best_estimator_
rank = search.best_params_["rank"]
y_fit = est.predict(X)  # z-scored, as the data it was fitted to
print(f"chosen rank {rank} (one-standard-error rule); on all conditions: R^2 {r2_score_trials(y_z, y_fit):.3f}, "
      f"median per-unit R^2 {np.nanmedian(r2_per_feature(y_z, y_fit)):.3f}")
# Back in spikes/s a prediction can fall below zero, which no neuron does: the model works on z-scored rates and
# is drawn in them below.
rates_fit = scaler.inverse_transform(y_fit)
print(f"{np.mean(rates_fit < 0):.1%} of the predicted rates in spikes/s are negative")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), layout="constrained")
plot_rank_selection(search, ax=axes[0])
axes[0].set_ylabel("held-out $R^2$")
for c in np.flatnonzero((conditions["context"] == 1) & (conditions["color_level"] == 1)):
    color = plt.cm.coolwarm(0.5 + conditions["motion_coherence"][c])
    axes[1].plot(info["time"], y_z[c, :, unit], color=color, lw=2, alpha=0.4)
    axes[1].plot(info["time"], y_fit[c, :, unit], color=color, lw=1, ls="--")
axes[1].axvspan(0, 750, color="0.93", zorder=0)
axes[1].set(xlabel="time from dots onset (ms)", ylabel="z-scored rate",
            title=f"unit {unit}: data (thick), rank {rank} (dashed)")
kappa = est.transform(X)
motion_context = conditions["context"] == 1
plot_latent_trajectories(kappa[motion_context], conditions["motion_coherence"][motion_context], ax=axes[2],
                         dims=0, time=info["time"], stimulus=(0, 750), labels_title="motion coherence")
axes[2].set(xlabel="time from dots onset (ms)", title="latent 1, motion context (shaded: dots)")

# %%
# Preprocessing y, not X
# ----------------------
# ``make_pipeline(TrialStandardScaler(), LowRankRNNRegressor())`` is a trap: a Pipeline transforms the inputs X
# only, so it would z-score the pseudo-inputs and fit the network to rates in spikes/s. The activity is the
# target: transform it yourself (as above, and as the command line's ``--zscore`` and ``--smooth`` do) or with
# :class:`~sklearn.compose.TransformedTargetRegressor`, which maps the predictions back but refuses NaN in y, so
# it works only on complete data (no missing units and no NaN cue period).
#
# :class:`~sklearn_lowrank.preprocessing.TimeBinner` changes the time axis, so it cannot sit inside the model
# (X and y must keep the same steps): re-bin both beforehand, here from 10 ms to 20 ms steps, then smooth and
# z-score y. (The scaler's statistics are then computed on every condition, held-out ones included; they are per
# unit means and SDs, a small leak next to the network's parameters.)
X_20, y_20 = TimeBinner(bin_size=2).fit_transform(X), TimeBinner(bin_size=2).fit_transform(y)
y_20 = make_pipeline(GaussianSmoother(sigma=1.0), TrialStandardScaler()).fit_transform(y_20)
est_20 = LowRankRNNRegressor(rank=rank, alpha=0.2, max_iter=100, random_state=0)
scores = cross_val_score(est_20, X_20, y_20, cv=cv)
print(f"rank {rank} at 20 ms steps: held-out R^2 {scores.mean():.3f} +/- "
      f"{scores.std() / np.sqrt(len(scores)):.3f} (SE)")

# %%
# The held-out R^2 stays below 1 mostly because of the Poisson noise left in the condition averages of 12 trials.
shutil.rmtree(folder)

plt.show()
