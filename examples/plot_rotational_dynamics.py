"""
Rotational dynamics from a preparatory state
============================================

In motor cortex during reaching, conditions differ by where the population sits before the movement, and
rotational dynamics carry it from there (Churchland et al., Nature 2012): no input tells the conditions apart
once the movement starts. A network with one shared initial state cannot fit such data; the usual trick, a one-hot
pulse input per condition in the first steps, fits the training conditions but has no way to predict a new one.

With ``initial_state="per_trial"`` each training trial gets its own learned start, and
:meth:`~sklearn_lowrank.LowRankRNNRegressor.infer_initial_state` finds the start of a new condition from its first
steps, so the fitted network predicts the rest of it.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import LowRankRNNRegressor, split_observed_steps
from sklearn_lowrank.datasets import make_rotational_dynamics
from sklearn_lowrank.inspection import latent_flow
from sklearn_lowrank.metrics import r2_score_trials
from sklearn_lowrank.plotting import plot_flow_field

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# Autonomous rotations
# --------------------
# A rank-2 teacher of 60 units with 8 conditions (5 noisy trials each) whose latent starts lie around a circle; X
# has no input channel at all. Condition 3 is held out.
data = make_rotational_dynamics(n_units=60, n_conditions=8, n_trials_per_condition=5, n_timesteps=60,
                                random_state=0)
test = data.condition == 3
X_train, y_train, X_test, y_test = data.X[~test], data.y[~test], data.X[test], data.y[test]
print("inputs:", X_train.shape, "activity:", y_train.shape)

# %%
# Per-trial initial states
# ------------------------
# Each training trial starts from its own learned state. For the held-out condition, the start is inferred from
# the first 10 observed steps and the later steps are predicted.
est = LowRankRNNRegressor(rank=2, initial_state="per_trial", random_state=0).fit(X_train, y_train)
head, tail = split_observed_steps(y_test, 10)
x0 = est.infer_initial_state(X_test, head)
pred = est.predict(X_test, initial_state=x0)
ceiling = r2_score_trials(tail, data.clean_states[test])
print(f"held-out condition, later steps: R^2 = {r2_score_trials(tail, pred):.3f} "
      f"(noise-free ceiling {ceiling:.3f})")

# %%
# The one-hot pulse trick
# -----------------------
# One input channel per training condition, on for the first 5 steps. It fits the training conditions, but the
# held-out condition has no channel of its own: the network predicts the shared trajectory.
codes = np.searchsorted(np.unique(data.condition[~test]), data.condition)
pulses = np.zeros(data.X.shape[:2] + (7,), dtype=np.float32)
for i, c in enumerate(codes):
    if not test[i]:
        pulses[i, :5, c] = 1.0
trick = LowRankRNNRegressor(rank=2, random_state=0).fit(pulses[~test], y_train)
print(f"pulse trick, training conditions: R^2 = {trick.score(pulses[~test], y_train):.3f}; "
      f"held-out condition: R^2 = {r2_score_trials(tail, trick.predict(pulses[test])):.3f}")

# %%
# Latents and flow
# ----------------
# The fitted flow field with the learned starts of the training trials (crosses) and the inferred start of the
# held-out condition (red), and the latent trajectories of the held-out trials from their inferred starts.
norms = (est.m_**2).sum(axis=0)
flow = latent_flow(est, np.linspace(-3, 3, 25), np.linspace(-3, 3, 25))
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
plot_flow_field(flow, ax=axes[0], starts=est.initial_states_ @ est.m_ / norms)
axes[0].scatter(*(x0 @ est.m_ / norms).T, color="C3", s=25, zorder=6)
axes[0].set_title("flow and trial starts")
kappa = est.transform(X_test, initial_state=x0)
true = y_test.mean(axis=0)
axes[1].plot(true[:, :3], color="0.6", linewidth=2)
axes[1].plot(pred.mean(axis=0)[:, :3], color="C3", linestyle="--")
axes[1].axvline(9.5, color="k", linewidth=0.8)
axes[1].set_xlabel("step")
axes[1].set_title("held-out condition: 3 units (grey data, red prediction)")
fig.tight_layout()
print("latents of the held-out trials:", kappa.shape)
