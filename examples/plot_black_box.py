"""
Opening the black box of a full-rank network
============================================

A recurrent network with a free, full-rank connectivity (128 x 128 weights) learns the context-dependent decision
task of Mante et al. (2013): two noisy sensory inputs, a context cue saying which one to report. How does it
solve it? We follow the poster's recipe:

1. fit low-rank networks of rank 1 to 4 to the full-rank network's activity, unit by unit, and see that rank 1
   already captures it (the held-out R^2 plateaus);
2. look at the rank-1 connectivity: its latent dynamics, and two populations of units in its loadings;
3. silence each population in the rank-1 model: a **prediction** of which context loses its behaviour;
4. silence the same units in the original full-rank network: the **check**.

Silencing sets a unit's connectivity, input and readout weights to zero with the number of units N unchanged
(:func:`~sklearn_lowrank.inspection.silenced_weights`), so that J = m n^T / N of the remaining units is untouched.
Runs in about a minute on a laptop CPU.
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np

from sklearn_lowrank import LowRankRNNRegressor
from sklearn_lowrank.datasets import make_context_dependent_task
from sklearn_lowrank.inspection import (
    connectivity_vectors,
    find_fixed_points,
    inactivation_effects,
    latent_flow,
    overlap_matrix,
    population_labels,
    predict_silenced,
    regression_axes,
)
from sklearn_lowrank.metrics import decision_accuracy, psychometric_matrix, r2_score_trials
from sklearn_lowrank.plotting import (
    plot_flow_field,
    plot_inactivation,
    plot_latent_trajectories,
    plot_loadings,
    plot_loss_curve,
    plot_psychometric,
    plot_rank_selection,
)

warnings.simplefilter("ignore")  # short trainings stop at max_iter by design

# %%
# A full-rank network learns the task
# -----------------------------------
# Time steps of 50 ms with tau = 100 ms (alpha = 0.5). The sensory inputs are stronger than in the paper
# (coherence scale 0.3 instead of 0.1; the context cue is the published networks' 0.5): with weak inputs the
# random initial connectivity of the full-rank network (gain 0.5) drives a larger share of its activity and a
# rank-1 description becomes poorer.
TASK = {"dt": 50.0, "coherence_scale": 0.3, "context_scale": 0.5}
X, y, cond = make_context_dependent_task(n_trials=128, random_state=0, **TASK)
X_test, y_test, cond_test = make_context_dependent_task(n_trials=400, random_state=1, **TASK)

start = time.perf_counter()
network = LowRankRNNRegressor(rank=None, n_units=128, readout="linear", alpha=0.5, noise_std=0.05,
                              learning_rate_init=1e-3, max_iter=150, random_state=0).fit(X, y)
accuracy = decision_accuracy(y_test, network.predict(X_test))
print(f"full-rank network: accuracy {accuracy:.2f} on held-out trials ({time.perf_counter() - start:.1f} s)")

X_grid, y_grid, cond_grid = make_context_dependent_task(n_trials="grid", n_repeats=4, random_state=2, **TASK)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
plot_loss_curve(network, ax=axes[0])
axes[0].set_title("training")
matrix, c1, c2, contexts = psychometric_matrix(y_grid, network.predict(X_grid), cond_grid)
plot_psychometric(matrix, c1, c2, contexts, axes=axes[1:])
fig.suptitle("full-rank network: it reports coherence 1 in context 1, coherence 2 in context 2")

# %%
# Rank 1 suffices
# ---------------
# Low-rank networks with one unit per full-rank unit are fitted to its rates tanh(x), then scored on held-out
# trials.
rates, rates_test = np.tanh(network.predict_states(X)), np.tanh(network.predict_states(X_test))
models, r2 = {}, {}
for rank in (1, 2, 3, 4):
    models[rank] = LowRankRNNRegressor(rank=rank, output_activation="tanh", alpha=0.5, max_iter=100,
                                       random_state=0).fit(X, rates)
    r2[rank] = r2_score_trials(rates_test, models[rank].predict(X_test))
    print(f"rank {rank}: held-out R^2 {r2[rank]:.3f}")
model = models[1]

results = {"param_rank": list(r2), "mean_test_score": list(r2.values()), "std_test_score": [0.0] * len(r2)}
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
plot_rank_selection(results, ax=axes[0])
axes[0].set_ylabel("held-out $R^2$")
kappa = model.transform(X_grid)
conditions = np.where(cond_grid["context"] == 1, cond_grid["coherence_1"], cond_grid["coherence_2"])
plot_latent_trajectories(kappa, conditions, ax=axes[1], time=np.arange(kappa.shape[1]) * TASK["dt"])
axes[1].set_xlabel("time (ms)")
axes[1].set_title("rank-1 latent, by relevant coherence")
fig.tight_layout()

# %%
# Latent dynamics of the rank-1 model
# -----------------------------------
# Under the constant input of each context cue, the latent kappa follows dkappa/dt = F(kappa). The flow and its
# fixed points (filled: stable) show how the cue shapes the dynamics the sensory inputs then push along.
grid = np.linspace(-1.5 * np.abs(kappa).max(), 1.5 * np.abs(kappa).max(), 101)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
for ax, ctx in zip(axes, (1, 2)):
    cue = np.zeros(4)
    cue[1 + ctx] = TASK["context_scale"]
    plot_flow_field(latent_flow(model, grid, inputs=cue), find_fixed_points(model, cue), ax=ax)
    ax.set_title(f"context {ctx} cue")
fig.tight_layout()

# %%
# Two populations in the rank-1 loadings
# --------------------------------------
# Each unit carries a loading vector (m, n, the four input weights and the full-rank network's readout weight).
# Flipping the sign of all of a unit's loadings leaves a tanh network unchanged, so populations are sought as
# zero-mean Gaussian components of the sign-symmetrised loadings (Dubreuil, Valente et al. 2022): they differ by
# which loadings go together.
labels, loadings = population_labels(model, 2, readout_weights=network.readout_weights_, random_state=0)
print("population sizes:", np.bincount(labels).tolist())
V, names = connectivity_vectors(model, readout_weights=network.readout_weights_)
selection = [names.index(k) for k in ("n1", "I1", "I2", "I3", "I4")]
axes = plot_loadings(V[:, selection], labels, names=["n", "I sens. 1", "I sens. 2", "I cue 1", "I cue 2"])
axes[0, 0].figure.suptitle("rank-1 loadings, coloured by population")

# %%
# Geometry: overlaps of the connectivity vectors with the task's regression axes (targeted dimensionality
# reduction of the full-rank network's rates on choice, the two coherences and the context).
axes_tdr = regression_axes(rates_test, {"choice": cond_test["choice"], "coh. 1": cond_test["coherence_1"],
                                        "coh. 2": cond_test["coherence_2"], "context": cond_test["context"]})
overlaps = overlap_matrix(V, axes_tdr.axes, names=names, other_names=axes_tdr.names)
fig, ax = plt.subplots(figsize=(4.5, 4))
image = ax.imshow(overlaps.matrix, cmap="RdBu_r", vmin=-1, vmax=1)
ax.set_xticks(range(len(overlaps.col_names)), overlaps.col_names)
ax.set_yticks(range(len(overlaps.row_names)), overlaps.row_names)
fig.colorbar(image, ax=ax, label="cosine")
ax.set_title("connectivity vs. regression axes")

# %%
# Prediction and check
# --------------------
# The rank-1 model reproduces rates; the full-rank network's readout turns them into choices. Silencing a
# population in the model predicts the behaviour per context; the same units are then silenced in the
# full-rank network.
predicted = inactivation_effects(model, X_test, y_test, labels, conditions=cond_test,
                                 readout=(network.readout_weights_, network.readout_bias_))
observed = inactivation_effects(network, X_test, y_test, labels, conditions=cond_test)
for name, res in (("rank-1 model (prediction)", predicted), ("full-rank network (check)", observed)):
    columns = [f"context {g}" if g != "all" else "all" for g in res.groups]
    for pop, row in zip(res.populations, res.scores):
        print(f"{name:27s} {str(pop):>6s}: " + ", ".join(f"{c} {s:.2f}" for c, s in zip(columns, row)))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
plot_inactivation(predicted, ax=axes[0])
axes[0].set_title("prediction: rank-1 model")
plot_inactivation(observed, ax=axes[1])
axes[1].set_title("check: full-rank network")
fig.tight_layout()

# %%
# Psychometric matrices of the full-rank network with each population silenced: in the impaired context the
# network now reports the other context's coherence.
fig, axes = plt.subplots(2, 2, figsize=(7, 6.4))
for row, pop in zip(axes, (0, 1)):
    output = predict_silenced(network, X_grid, labels == pop)
    matrix, c1, c2, contexts = psychometric_matrix(y_grid, output, cond_grid)
    plot_psychometric(matrix, c1, c2, contexts, axes=row)
    row[0].set_title(f"population {pop} silenced, context 1", fontsize="small")
    row[1].set_title(f"population {pop} silenced, context 2", fontsize="small")
plt.show()
