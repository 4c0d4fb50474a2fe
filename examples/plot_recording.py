"""
A recording that starts after the cue: fitting through an unobserved period
===========================================================================

In many experiments the network receives an input before the recording starts: a context cue shown for a few
hundred milliseconds, say, with the rates kept only from the stimulus on. The state at the first recorded step
then depends on what the cue did during the unobserved period. Mark that period with NaN in ``y``, pass the
inputs of the whole trial in ``X``, and the network is trained through it.
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import LowRankRNNRegressor, LowRankRNNRegressorCV
from sklearn_lowrank.datasets import make_low_rank_teacher
from sklearn_lowrank.plotting import plot_rank_selection

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# A recording-like teacher
# ------------------------
# A rank-2 network of 100 units with two pulse inputs and two context cues (one of them on throughout each
# trial). The first 70 steps carry only the cue and are not recorded (NaN in ``y``); 50 steps follow.
data = make_low_rank_teacher(n_units=100, rank=2, n_trials=120, n_timesteps=120, n_contexts=2, n_unobserved=70,
                             random_state=0)
X, y = data.X, data.y
X_train, y_train, X_test, y_test = X[:100], y[:100], X[100:], y[100:]
print("inputs", X.shape, "activity", y.shape, "unobserved steps:", int(np.isnan(y[0, :, 0]).sum()))

# %%
# Fit with the defaults
# ---------------------
# The data-driven start regresses on the observed window only, and the adaptive learning rate lowers the step
# size when the loss oscillates instead of stopping there.
start = time.perf_counter()
est = LowRankRNNRegressor(rank=2, random_state=0).fit(X_train, y_train)
print(f"rank 2: held-out R^2 = {est.score(X_test, y_test):.4f} after {est.n_iter_} epochs "
      f"({time.perf_counter() - start:.1f} s)")

# %%
# The network runs through the unobserved period: its prediction there can be compared with the teacher's true
# states, which the fit never saw.
pred = est.predict(X_test)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
for ax, trial in zip(axes, (0, 1)):
    for unit, color in zip((0, 1, 2), ("C0", "C1", "C2")):
        ax.plot(data.states[100 + trial, :, unit], color=color, lw=4, alpha=0.35,
                label=f"unit {unit}, teacher" if trial == 0 else None)
        ax.plot(pred[trial, :, unit], color=color, ls="--", label=f"unit {unit}, fit" if trial == 0 else None)
    ax.axvspan(0, 70, color="0.9", zorder=-1)
    ax.set_title(f"held-out trial {trial} (context {int(X_test[trial, 0, 3])})")
    ax.set_xlabel("time step")
axes[0].set_ylabel("state x (3 of the 100 units)")
axes[0].legend(fontsize=7, ncol=3, loc="lower left")
axes[0].text(3, axes[0].get_ylim()[1] * 0.85, "not recorded", fontsize=8)
fig.suptitle("teacher (thick) and fitted network (dashed); the shaded steps were NaN in y")
fig.tight_layout()

# %%
# Choosing the rank
# -----------------
# :class:`~sklearn_lowrank.LowRankRNNRegressorCV` scores each rank on held-out trials and keeps the smallest rank
# within one standard error of the best (the standard error of its fold-by-fold differences to the best rank),
# then refits it on every trial.
search = LowRankRNNRegressorCV(ranks=[1, 2, 3], cv=3, estimator=LowRankRNNRegressor(random_state=0))
search.fit(X_train, y_train)
print("mean held-out R^2 per rank:", np.round(search.cv_results_["mean_test_score"], 4))
print("chosen rank:", search.rank_, " held-out R^2 of the refit:", round(search.score(X_test, y_test), 4))

fig, ax = plt.subplots(figsize=(4.5, 3.2))
plot_rank_selection(search, ax=ax)  # mean +- the paired SE the rule compared, chosen rank starred
ax.set_ylabel("held-out $R^2$ (3-fold CV)")
fig.tight_layout()
plt.show()
