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
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import make_scorer
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import load_mante_2013, make_low_rank_teacher, simulate_rnn
from sklearn_lowrank.metrics import r2_per_feature, r2_score_trials
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
# Firing rates differ by unit; z-scoring gives each unit the same weight in the loss. The statistics ignore NaN
# and NaN stays NaN. (scikit-learn's :class:`~sklearn.compose.TransformedTargetRegressor` refuses NaN in y,
# so with missing conditions transform y yourself, as here.)
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
# Fitting a low-rank network to the preprocessed recording
# --------------------------------------------------------
# One unit of the network per recorded unit; the network's time constant is 100 ms (``alpha = 10 / 100``).
# Condition-averaged data have few trials (32 here): ``batch_size=4`` gives 8 optimiser steps per epoch instead
# of one.
# Conditions are the trials of this data set: 4-fold cross-validation over conditions estimates the held-out R^2,
# with the missing entries left out of the score.
cv = KFold(4, shuffle=True, random_state=0)
for rank in (1, 2, 3):
    est = LowRankRNNRegressor(rank=rank, alpha=0.1, batch_size=4, max_iter=100, random_state=0)
    scores = cross_val_score(est, X, y_z, cv=cv)
    print(f"rank {rank}: held-out R^2 {scores.mean():.3f} +/- {scores.std():.3f}")

est = LowRankRNNRegressor(rank=2, alpha=0.1, batch_size=4, max_iter=100, random_state=0).fit(X, y_z)
y_fit = scaler.inverse_transform(est.predict(X))  # back to spikes/s
print(f"rank 2 on all conditions: R^2 {r2_score_trials(y, y_fit):.3f}, median per-unit R^2 "
      f"{np.nanmedian(r2_per_feature(y, y_fit)):.3f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
for c in np.flatnonzero((conditions["context"] == 1) & (conditions["color_level"] == 1)):
    color = plt.cm.coolwarm(0.5 + conditions["motion_coherence"][c])
    axes[0].plot(info["time"], y[c, :, unit], color=color, lw=2, alpha=0.4)
    axes[0].plot(info["time"], y_fit[c, :, unit], color=color, lw=1, ls="--")
axes[0].set(xlabel="time (ms)", ylabel="rate (spikes/s)", title=f"unit {unit}: data (thick), rank 2 (dashed)")
kappa = est.transform(X)
for c in range(len(X)):
    ls = "-" if conditions["context"][c] == 1 else ":"
    axes[1].plot(kappa[c, :, 0], kappa[c, :, 1], ls=ls, lw=1,
                 color=plt.cm.coolwarm(0.5 + conditions["motion_coherence"][c]))
axes[1].set(xlabel=r"$\kappa_1$", ylabel=r"$\kappa_2$", title="latents (colour: motion; dotted: colour context)")

# %%
# Pipelines on complete data
# --------------------------
# With the units that have every condition (``missing="drop"``), the preprocessing can live inside the model:
# :class:`~sklearn.compose.TransformedTargetRegressor` transforms y before fitting and maps predictions back to
# spikes/s, and a :class:`~sklearn.pipeline.Pipeline` chains transformers. Its ``score`` uses scikit-learn's 2D
# ``r2_score``, so score 3D trials with ``make_scorer(r2_score_trials)``. Smoothing has no inverse (its
# ``inverse_transform`` is the identity): pass ``check_inverse=False``.
#
# :class:`~sklearn_lowrank.preprocessing.TimeBinner` changes the time axis, so it cannot sit inside the model
# (X and y must keep the same steps): re-bin both beforehand, here from 10 ms to 20 ms steps.
X_full, y_full, _ = load_mante_2013(folder, bin_size=10, smoothing_sigma=20, stimulus_duration=750,
                                    context_only_duration=350, missing="drop")
binner = TimeBinner(bin_size=2)
X_20, y_20 = binner.fit_transform(X_full), TimeBinner(bin_size=2).fit_transform(y_full)
model = TransformedTargetRegressor(
    regressor=LowRankRNNRegressor(rank=2, alpha=0.2, batch_size=4, max_iter=100, random_state=0),
    transformer=make_pipeline(GaussianSmoother(sigma=1.0), TrialStandardScaler()),
    check_inverse=False,
)
scores = cross_val_score(model, X_20, np.nan_to_num(y_20), cv=cv, scoring=make_scorer(r2_score_trials))
print(f"{y_full.shape[-1]} complete units, 20 ms steps: held-out R^2 {scores.mean():.3f} +/- {scores.std():.3f}")

# %%
# The held-out R^2 stays below 1 mostly because of the Poisson noise left in the condition averages of 12 trials.
shutil.rmtree(folder)

plt.show()
