"""
Recovering the connectivity of low-rank teachers
================================================

The first check of any latent-variable model: generate data from a model whose parameters we know, fit, and
compare. Here the "teachers" are random low-rank recurrent networks of 200 units driven by input pulses
(:func:`~sklearn_lowrank.datasets.make_low_rank_teacher`). We record every unit on 200 training trials, fit a
:class:`~sklearn_lowrank.LowRankRNNRegressor` of the teacher's rank neuron by neuron, and ask two questions:

* does the fitted network predict the activity of **held-out trials** (R^2)?
* is the fitted connectivity :math:`J = m n^T / N` the teacher's (entry-by-entry scatter, R^2 and cosine)?
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import make_low_rank_teacher
from sklearn_lowrank.inspection import effective_connectivity
from sklearn_lowrank.metrics import connectivity_cosine, r2_score_trials

N_UNITS, N_TRAIN, N_TEST = 200, 200, 50

# %%
# Teachers of rank 1, 2 and 3
# ---------------------------
# Each teacher has a prescribed overlap between its connectivity vectors, so that its latent variables
# :math:`\kappa_r` persist after each pulse and rotate into one another (rank >= 2). The teacher has a little
# recurrent noise; the fitted network is noise-free.
teachers, models = {}, {}
for rank in (1, 2, 3):
    data = make_low_rank_teacher(n_units=N_UNITS, rank=rank, n_inputs=2, n_trials=N_TRAIN + N_TEST,
                                 n_timesteps=50, random_state=rank)
    start = time.perf_counter()
    est = LowRankRNNRegressor(rank=rank, random_state=0).fit(data.X[:N_TRAIN], data.y[:N_TRAIN])
    teachers[rank], models[rank] = data, est
    print(f"rank {rank}: fitted in {time.perf_counter() - start:.1f} s ({est.n_iter_} epochs), "
          f"held-out R^2 = {est.score(data.X[N_TRAIN:], data.y[N_TRAIN:]):.4f}")

# %%
# Held-out trials
# ---------------
# The rank-2 network, simulated from the inputs of trials it has never seen, against the recorded activity of
# four neurons.
data, est = teachers[2], models[2]
X_test, y_test = data.X[N_TRAIN:], data.y[N_TRAIN:]
y_pred = est.predict(X_test)
fig, axes = plt.subplots(1, 4, figsize=(11, 2.6), sharex=True, layout="constrained")
for ax, neuron in zip(axes, (0, 1, 2, 3)):
    for trial, color in zip((0, 1, 2), ("C0", "C1", "C2")):
        ax.plot(y_test[trial, :, neuron], color=color, lw=2, alpha=0.4)
        ax.plot(y_pred[trial, :, neuron], color=color, lw=1, ls="--")
    ax.set_title(f"neuron {neuron}")
    ax.set_xlabel("time step")
axes[0].set_ylabel("activity $x_i$")
axes[0].plot([], [], color="gray", lw=2, alpha=0.4, label="teacher")
axes[0].plot([], [], color="gray", lw=1, ls="--", label="fitted rank 2")
axes[0].legend(frameon=False, fontsize=8)
print(f"held-out R^2 of the rank-2 model: {r2_score_trials(y_test, y_pred):.4f}")

# %%
# Fitted against true connectivity
# --------------------------------
# Each point is one entry :math:`J_{ij}` (a random sample of 4000 of the 40 000). The loadings m and n are only
# defined up to an invertible R x R mixing (:math:`m n^T = (m A)(n A^{-T})^T`), but J is not: it is directly
# comparable with the teacher's.


def r2_entries(J_fit, J_true):
    """R^2 of the fitted entries as a prediction of the true ones."""
    return 1.0 - ((J_fit - J_true) ** 2).sum() / ((J_true - J_true.mean()) ** 2).sum()


rng = np.random.default_rng(0)
sample = rng.choice(N_UNITS * N_UNITS, size=4000, replace=False)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
for ax, rank in zip(axes, (1, 2, 3)):
    J_true, J_fit = teachers[rank].J.ravel()[sample], models[rank].connectivity_.ravel()[sample]
    lim = np.abs(J_true).max() * 1.1
    ax.plot([-lim, lim], [-lim, lim], color="k", lw=0.8)
    ax.scatter(J_true, J_fit, s=3, alpha=0.4)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="true $J_{ij}$", title=f"rank {rank}")
    r2 = r2_entries(models[rank].connectivity_, teachers[rank].J)
    cos = connectivity_cosine(models[rank].connectivity_, teachers[rank].J)
    ax.text(0.04, 0.96, f"$R^2$ = {r2:.3f}\ncosine = {cos:.3f}", transform=ax.transAxes, va="top")
axes[0].set_ylabel("fitted $J_{ij}$")

# %%
# What is identified, and what is not
# -----------------------------------
# The activity of a low-rank network lives in the span of the columns of m and of the input weights, so only the
# projection of each :math:`n_r` on that span acts on the dynamics: the rest of n, and with it part of J, cannot
# be recovered from any recording. The *effective* connectivity :math:`J_{eff} = m (P n)^T / N`
# (:func:`~sklearn_lowrank.inspection.effective_connectivity`, P the projection) is what the data determine, and it
# is recovered almost exactly.
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
rows = []
for ax, rank in zip(axes, (1, 2, 3)):
    data, est = teachers[rank], models[rank]
    eff_fit = effective_connectivity(est.m_, est.n_, est.input_weights_)
    eff_true = effective_connectivity(data.m, data.n, data.input_weights)
    lim = np.abs(eff_true).max() * 1.1
    ax.plot([-lim, lim], [-lim, lim], color="k", lw=0.8)
    ax.scatter(eff_true.ravel()[sample], eff_fit.ravel()[sample], s=3, alpha=0.4, color="C2")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel=r"true $J^{eff}_{ij}$", title=f"rank {rank}")
    ax.text(0.04, 0.96, f"$R^2$ = {r2_entries(eff_fit, eff_true):.4f}", transform=ax.transAxes, va="top")
    rows.append((rank, est.score(data.X[N_TRAIN:], data.y[N_TRAIN:]), r2_entries(est.connectivity_, data.J),
                 connectivity_cosine(est.connectivity_, data.J), connectivity_cosine(eff_fit, eff_true)))
axes[0].set_ylabel(r"fitted $J^{eff}_{ij}$")

print(f"{'rank':>4}  {'R^2 held-out':>12}  {'R^2 of J':>9}  {'cos(J)':>7}  {'cos(J_eff)':>10}")
for rank, score, r2, cos, cos_eff in rows:
    print(f"{rank:>4}  {score:>12.4f}  {r2:>9.3f}  {cos:>7.3f}  {cos_eff:>10.4f}")

plt.show()
