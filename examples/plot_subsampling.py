r"""
Fitting a subset of the neurons
===============================

Recordings see a few hundred neurons of circuits of millions. Does a low-rank fit still capture the dynamics when
only a fraction of the network is observed? We follow the poster's experiment on a known circuit:

1. a **full-rank** network of 256 units (:math:`O(N^2)` connections) is trained on the context-dependent
   decision task of Mante et al. (2013) (:func:`~sklearn_lowrank.datasets.make_context_dependent_task`);
2. its rates on 128 trials are "recorded" from a random fraction of the units;
3. a rank-1 network and a full-rank network are fitted neuron by neuron to the recorded units only, and scored
   on the same units in 100 held-out trials.

The fitted networks have one unit per recorded neuron and no hidden units: a low-rank latent variable
:math:`\kappa = n^T \phi(x) / N` is a population average, which a random subset of the neurons estimates well,
and hidden units would add parameters (and fitting time) that the data cannot pin down.
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import make_context_dependent_task
from sklearn_lowrank.metrics import decision_accuracy

# Short fits stop at max_iter; they are good enough for the comparison and we silence the reminder.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

N_UNITS = 256
ALPHA = 0.5  # dt / tau with dt = 50 ms, tau = 100 ms
TASK = {"dt": 50.0, "coherence_scale": 0.3, "context_scale": 0.5}

# %%
# The full-rank teacher
# ---------------------
# A network with a free 256 x 256 connectivity and a linear readout learns the task by backpropagation.
start = time.perf_counter()
X_train, y_train, _ = make_context_dependent_task(n_trials=128, random_state=0, **TASK)
X_test, y_test, cond_test = make_context_dependent_task(n_trials=100, random_state=1, **TASK)
teacher = LowRankRNNRegressor(rank=None, n_units=N_UNITS, readout="linear", alpha=ALPHA, noise_std=0.05,
                              learning_rate_init=1e-3, max_iter=150, random_state=0).fit(X_train, y_train)
print(f"teacher trained in {time.perf_counter() - start:.1f} s, "
      f"held-out accuracy {decision_accuracy(y_test, teacher.predict(X_test)):.2f}")

# the "recordings": the teacher's firing rates tanh(x)
rates_train = np.tanh(teacher.predict_states(X_train))
rates_test = np.tanh(teacher.predict_states(X_test))

# %%
# Held-out R^2 against the fraction of neurons observed
# -----------------------------------------------------
# Three random subsets at each fraction. Both students compare their rates tanh(x) with the recorded rates
# (``output_activation="tanh"``) and share the teacher's time constant.
fractions = [0.05, 0.1, 0.25, 0.5, 1.0]
models = {"rank 1": 1, "full rank": None}
n_draws = 3
rng = np.random.default_rng(0)
scores = {name: np.zeros((len(fractions), n_draws)) for name in models}
subsets = {}
start = time.perf_counter()
for i, fraction in enumerate(fractions):
    n_observed = max(2, round(fraction * N_UNITS))
    for d in range(n_draws):
        observed = np.sort(rng.choice(N_UNITS, size=n_observed, replace=False))
        subsets[fraction, d] = observed
        for name, rank in models.items():
            student = LowRankRNNRegressor(rank=rank, output_activation="tanh", alpha=ALPHA, max_iter=100,
                                          random_state=d)
            student.fit(X_train, rates_train[..., observed])
            scores[name][i, d] = student.score(X_test, rates_test[..., observed])
            if name == "rank 1" and d == 0:
                subsets[fraction, "model"] = student
print(f"{2 * len(fractions) * n_draws} students fitted in {time.perf_counter() - start:.1f} s")

fig, ax = plt.subplots(figsize=(4.8, 3.4), layout="constrained")
for (name, s), marker in zip(scores.items(), ("o", "s")):
    ax.errorbar(np.array(fractions) * 100, s.mean(axis=1), yerr=s.std(axis=1), marker=marker, capsize=3,
                label=name)
ax.set_xscale("log")
ax.set_xticks([5, 10, 25, 50, 100], labels=["5", "10", "25", "50", "100"])
ax.set_xlabel("neurons observed (% of 256)")
ax.set_ylabel("held-out $R^2$ (observed neurons)")
ax.set_ylim(0.9, 1.0)
ax.legend(frameon=False)
for name, s in scores.items():
    print(f"{name:>9}: " + "  ".join(f"{f:>4.0%}: {m:.3f}" for f, m in zip(fractions, s.mean(axis=1))))

# %%
# The rank-1 fit is barely affected by subsampling: 13 neurons (5 %) give about the held-out R^2 of all 256. The
# full-rank student fits the full-rank teacher's activity a little better, at the price of :math:`n^2`
# parameters instead of :math:`2n` and without a low-dimensional description.
#
# The same latent dynamics from 5 % and from 100 % of the neurons
# ---------------------------------------------------------------
# The latent variable :math:`\kappa(t)` of the rank-1 fits, on held-out trials of each context. Each fit's
# canonical sign is set by its own neurons, so the latents are aligned by the sign of their correlation.
kappa_all = subsets[1.0, "model"].transform(X_test)[..., 0]
kappa_few = subsets[0.05, "model"].transform(X_test)[..., 0]
kappa_few *= np.sign(np.corrcoef(kappa_all.ravel(), kappa_few.ravel())[0, 1])
print(f"correlation of the latents: {np.corrcoef(kappa_all.ravel(), kappa_few.ravel())[0, 1]:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True, layout="constrained")
for ax, context in zip(axes, (1, 2)):
    trials = np.flatnonzero(cond_test["context"] == context)[:12]
    for t in trials:
        color = "C0" if cond_test["choice"][t] > 0 else "C3"
        ax.plot(kappa_all[t], color=color, lw=2, alpha=0.35)
        ax.plot(kappa_few[t], color=color, lw=1, ls="--")
    ax.set_title(f"context {context}")
    ax.set_xlabel("time step")
axes[0].set_ylabel(r"latent $\kappa$")
axes[0].plot([], [], color="gray", lw=2, alpha=0.35, label="fit to 100 %")
axes[0].plot([], [], color="gray", lw=1, ls="--", label="fit to 5 %")
axes[0].legend(frameon=False, fontsize=8)

plt.show()
