r"""
How many populations does a computation need? The resampling test
==================================================================

A rank-1 network trained on the context-dependent decision task of Mante et al. (2013) performs it perfectly,
but is it "one population" of units, whose loadings :math:`(m_i, n_i, I_i, w_i)` are one Gaussian cloud, or does
it rely on structure in that cloud? Dubreuil, Valente et al. (2022) answered with a **resampling test**: fit a
mixture of P Gaussians to the per-unit loadings, draw brand-new networks from it, and score them on the task.
If one Gaussian suffices, the resampled networks perform like the trained one; on this task they do not, and two
populations are needed (published accuracies: about 0.72-0.78 for one population, 0.90-0.97 for two).

This example runs that test with :func:`~sklearn_lowrank.resampling_scores` and
:meth:`~sklearn_lowrank.GaussianMixtureRNN.from_network`, and checks with the mean-field reduction
(:mod:`sklearn_lowrank.meanfield`, infinitely many units) that the gap is the Gaussian description itself, not
the finite size of the resampled networks.
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import GaussianMixtureRNN, LowRankRNNRegressor, resampling_scores
from sklearn_lowrank.datasets import make_context_dependent_task
from sklearn_lowrank.inspection import connectivity_vectors
from sklearn_lowrank.meanfield import mean_field_trajectories
from sklearn_lowrank.metrics import decision_accuracy
from sklearn_lowrank.plotting import plot_loadings

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# A rank-1 network learns the task
# --------------------------------
# Inputs: two noisy sensory channels and two context cues (amplitude 0.5, as for the published networks); the
# target is the sign of the cued channel's coherence at the end of the trial. The network has a linear readout
# (its weights are loadings too) and starts every trial from x = 0, like the networks drawn from a mixture.
X, y, _ = make_context_dependent_task(n_trials=256, random_state=0)
X_test, y_test, _ = make_context_dependent_task(n_trials=400, random_state=1)
start = time.perf_counter()
net = LowRankRNNRegressor(rank=1, n_units=512, readout="linear", output_activation="tanh", noise_std=0.05,
                          initial_state="zero", max_iter=100, learning_rate_init=0.03,
                          n_iter_no_change=1000, random_state=0).fit(X, y)
trained_accuracy = decision_accuracy(y_test, net.predict(X_test))
print(f"trained in {time.perf_counter() - start:.0f} s; held-out accuracy {trained_accuracy:.3f}")

# %%
# Resampling from P = 1, 2, 3 populations
# ---------------------------------------
# For each P, a mixture is fitted to the 512 loading vectors and five networks of 2048 units are drawn from it
# and scored on the held-out trials. The mean-field outputs of each mixture give the accuracy of an infinitely
# large resampled network.
candidates = [1, 2, 3]
res = resampling_scores(net, X_test, y_test, candidates, n_networks=5, n_units=2048, scoring="accuracy",
                        n_init=5, random_state=0)
fits = {p: GaussianMixtureRNN.from_network(net, n_components=p, n_init=5, random_state=0) for p in candidates}
mean_field = [decision_accuracy(y_test, mean_field_trajectories(fits[p][0], X_test, return_outputs=True)[1])
              for p in candidates]
for p, m, s, mf in zip(candidates, res.mean, res.std, mean_field):
    print(f"P = {p}: resampled networks {m:.3f} +- {s:.3f}, mean field {mf:.3f}")

fig, ax = plt.subplots(figsize=(5, 3.4), layout="constrained")
ax.axhspan(0.72, 0.78, color="C0", alpha=0.12, label="published, 1 population")
ax.axhspan(0.90, 0.97, color="C1", alpha=0.12, label="published, 2 populations")
for i, p in enumerate(candidates):
    ax.scatter(np.full(res.scores.shape[1], p) + np.linspace(-0.12, 0.12, res.scores.shape[1]), res.scores[i],
               color="k", s=12, zorder=3)
ax.bar(candidates, res.mean, width=0.5, color="0.8", label="resampled, N = 2048")
ax.plot(candidates, mean_field, "D", color="C3", label="mean field, N = inf")
ax.axhline(trained_accuracy, color="k", ls="--", lw=1, label="trained network")
ax.set(xticks=candidates, xlabel="populations P", ylabel="decision accuracy", ylim=(0.5, 1.02))
ax.legend(frameon=False, fontsize=7, loc="lower right")

# %%
# One Gaussian is not enough: its networks answer correctly on about three trials in four, whatever their size.
# Two populations bring the accuracy back above 0.9, and a third adds a little more.
#
# What the two populations are
# ----------------------------
# The loadings coloured by the population each unit belongs to in the 2-component mixture. The populations are
# told apart by the weights of the two context cues (I3, I4): one population receives the cue of context 1 and
# (almost) not that of context 2, the other the reverse. That is the gating mechanism of the paper: a strong cue
# saturates the units that receive it and lowers their gain, which removes their sensory input from the latent
# dynamics in that context (the Gaussian-mixture example shows it in the mean field). Within each population the
# loadings are one Gaussian cloud, so two components suffice; a single Gaussian cannot represent "large I3 or
# large I4, never both".
_, labels = fits[2]  # the 2-component mixture fitted above
vectors, names = connectivity_vectors(net)
keep = [names.index(name) for name in ("m1", "n1", "I1", "I3", "I4")]
axes = plot_loadings(vectors[:, keep], labels, names=[names[k] for k in keep])
axes[0, 0].figure.suptitle("rank-1 loadings, coloured by population (P = 2)")
print("population sizes:", np.bincount(labels).tolist())

plt.show()
