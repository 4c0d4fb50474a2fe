r"""
Gaussian-mixture RNN and its mean-field dynamics
================================================

A :class:`~sklearn_lowrank.GaussianMixtureRNN` does not learn one network but a **distribution** of networks:
the loadings of each unit, :math:`(m_i, n_i, I_i, w_i)`, are drawn from a mixture of P Gaussians
("populations"), and only the means and covariances are trained, :math:`O(1)` parameters whatever the number of
units. Any network drawn from the trained mixture performs the task, and for large networks the latent dynamics
follow a low-dimensional ODE, the mean-field equations of :mod:`sklearn_lowrank.meanfield`:

.. math::

   \frac{d\kappa}{dt} = -\kappa + \tilde\sigma_{nm}\,\kappa + \sum_k \tilde\sigma_{n I_k} u_k, \qquad
   \tilde\sigma_{ab} = \sum_p \pi_p\, \sigma^p_{ab}\, \langle\phi'\rangle_p .

Here a rank-1, two-population mixture learns the context-dependent decision task of Mante et al. (2013), as in
Dubreuil, Valente et al. (2022), and we look at its mechanism through the mean field: the context cue changes
the gain :math:`\langle\phi'\rangle_p` of each population, and with it which stimulus drives the latent variable.
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_lowrank import GaussianMixtureRNN, meanfield
from sklearn_lowrank.datasets import make_context_dependent_task
from sklearn_lowrank.metrics import decision_accuracy

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# Training the mixture
# --------------------
# Networks of 512 units are resampled from the mixture at every step of training (60 epochs).
CUE = 0.5  # amplitude of the context cue (the task's default, as for the published networks)
X, y, _ = make_context_dependent_task(n_trials=256, context_scale=CUE, random_state=0)
X_test, y_test, cond = make_context_dependent_task(n_trials=200, context_scale=CUE, random_state=1)
start = time.perf_counter()
mix = GaussianMixtureRNN(n_components=2, rank=1, n_units=512, noise_std=0.05, max_iter=60, learning_rate_init=0.03,
                         n_iter_no_change=1000, random_state=0).fit(X, y)
print(f"trained in {time.perf_counter() - start:.1f} s; loadings {list(mix.loading_names_)}, "
      f"weights {mix.weights_}")
for n_units in (512, 2048):
    acc = [decision_accuracy(y_test, mix.sample_network(n_units, random_state=s).predict(X_test)) for s in range(3)]
    print(f"3 fresh networks of {n_units} units: accuracy " + ", ".join(f"{a:.2f}" for a in acc))

# %%
# Mean field against sampled networks
# -----------------------------------
# The sign of :math:`\kappa` is a convention: we orient it along the readout (``choice_sign``), so that
# :math:`\kappa > 0` reports the choice +1. Below, the latent variable of one sampled network of 4096 units (thin
# lines) and the mean-field prediction (dashed), for held-out trials of each context, coloured by the correct
# choice (blue +1, red -1).
names = list(mix.loading_names_)
cov_mw = np.sum(mix.weights_ * mix.covariances_[:, names.index("m1"), names.index("w1")])
choice_sign = np.sign(cov_mw)
kappa_mf = choice_sign * meanfield.mean_field_trajectories(mix, X_test)[..., 0]
kappa_net = choice_sign * meanfield.simulate_latents(mix, X_test, n_units=4096, random_state=0)[..., 0]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True, layout="constrained")
for ax, context in zip(axes, (1, 2)):
    for t in np.flatnonzero(cond["context"] == context)[:10]:
        color = "C0" if cond["choice"][t] > 0 else "C3"
        ax.plot(kappa_net[t], color=color, lw=1, alpha=0.6)
        ax.plot(kappa_mf[t], color=color, lw=1.5, ls="--")
    ax.set(title=f"context {context}", xlabel="time step")
axes[0].set_ylabel(r"$\kappa$")

# %%
# The sampled networks approach the mean field as N grows (finite-size fluctuations shrink as
# :math:`1/\sqrt{N}`):
sizes = [256, 1024, 4096, 16384]
X_few = X_test[:40]
mf_few = meanfield.mean_field_trajectories(mix, X_few)
errors = [[np.sqrt(np.mean((meanfield.simulate_latents(mix, X_few, n_units=n, random_state=s) - mf_few) ** 2))
           for s in range(8)] for n in sizes]
for n, e in zip(sizes, errors):
    print(f"N = {n:>5}: RMS distance to the mean field {np.mean(e):.3f}")

# %%
# How the context gates the inputs
# --------------------------------
# The effective couplings at :math:`\kappa = 0` under each context cue: the gain of each population and the
# coupling :math:`\tilde\sigma_{n I_k}` of each sensory input to the latent variable.
contexts = {"context 1": [0, 0, CUE, 0], "context 2": [0, 0, 0, CUE]}
couplings = {name: meanfield.effective_couplings(mix, kappa=[0.0], inputs=u) for name, u in contexts.items()}
for name, c in couplings.items():
    print(f"{name}: population gains {np.round(c.gain, 3)}, sigma_nI1 = {choice_sign * c.sigma_nI[0, 0]:.3f}, "
          f"sigma_nI2 = {choice_sign * c.sigma_nI[0, 1]:.3f}, sigma_nm = {c.sigma_nm[0, 0]:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
width = 0.35
for i, (name, c) in enumerate(couplings.items()):
    axes[0].bar(np.arange(2) + (i - 0.5) * width, choice_sign * c.sigma_nI[0, :2], width, label=name)
axes[0].set_xticks([0, 1], labels=[r"$\tilde\sigma_{nI_1}$ (stimulus 1)", r"$\tilde\sigma_{nI_2}$ (stimulus 2)"])
axes[0].axhline(0, color="k", lw=0.8)
axes[0].legend(frameon=False)
axes[0].set_title("effective input couplings")

# %%
# Near :math:`\kappa = 0` and without stimulus, the cue of context 1 saturates one population (its gain drops
# well below 1) and leaves the other near full gain: stimulus 1 drives the latent variable and stimulus 2 is all
# but disconnected. The cue of context 2 does the reverse. This is the gating mechanism of Dubreuil, Valente et
# al. (2022), here read off a trained mixture. (These couplings are linearisations at one state: with strong
# stimuli the gains change too, and :func:`~sklearn_lowrank.meanfield.mean_field_trajectories` integrates the full
# equations.)
#
# The flow of the latent variable
# -------------------------------
# The mean-field velocity :math:`d\kappa/dt` (oriented as above) with the context cue alone, as in the delay
# after the stimulus: zeros of the curves are the fixed points of the latent dynamics, stable where the slope is
# negative.
grid = np.linspace(-2, 2, 81)
for name, u in contexts.items():
    velocity = choice_sign * meanfield.mean_field_flow(mix, choice_sign * grid, inputs=u).velocity[:, 0]
    axes[1].plot(grid, velocity, label=name)
    crossings = grid[:-1][np.diff(np.sign(velocity)) != 0]
    print(f"{name}: fixed points near kappa = {np.round(crossings, 2)}")
axes[1].axhline(0, color="k", lw=0.8)
axes[1].set(xlabel=r"$\kappa$ (oriented)", ylabel=r"$d\kappa/dt$", title="flow with the context cue only")
axes[1].legend(frameon=False)

plt.show()
