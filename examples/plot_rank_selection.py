"""
Choosing the rank by cross-validation
=====================================

How many latent dimensions does a recording need? Fit networks of increasing rank and score each on trials it
was not fitted to. The held-out :math:`R^2` rises while the rank is too small and then **plateaus** once it
suffices; with noisy recordings it can even dip as extra dimensions fit the noise. The
:func:`~sklearn_lowrank.one_standard_error_rule` picks the start of the plateau: the smallest rank whose mean
score is within one standard error of the best.

:class:`~sklearn_lowrank.LowRankRNNRegressor` is a scikit-learn estimator on trial tensors, so
:class:`~sklearn.model_selection.GridSearchCV` splits the trials (axis 0) into folds and does the rest.
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_lowrank import LowRankRNNRegressor, one_standard_error_rule
from sklearn_lowrank.datasets import make_low_rank_teacher

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# A noisy recording of a rank-3 circuit
# -------------------------------------
# 100 neurons of a rank-3 teacher, 120 trials, with independent observation noise on every sample (about a
# fifth of the signal's standard deviation), as in a recording of smoothed spike trains.
data = make_low_rank_teacher(n_units=100, rank=3, n_inputs=3, n_trials=120, n_timesteps=40, random_state=0)
rng = np.random.default_rng(0)
noise = 0.2 * data.y.std() * rng.standard_normal(data.y.shape).astype(np.float32)
X, y = data.X, data.y + noise

# %%
# Grid search over the rank
# -------------------------
# Five folds of trials, ranks 1 to 6. ``refit=one_standard_error_rule`` refits the chosen rank on all trials.
search = GridSearchCV(
    LowRankRNNRegressor(max_iter=100, random_state=0),
    {"rank": [1, 2, 3, 4, 5, 6]},
    cv=KFold(5, shuffle=True, random_state=0),
    refit=one_standard_error_rule,
    return_train_score=True,
)
start = time.perf_counter()
search.fit(X, y)
print(f"30 fits in {time.perf_counter() - start:.1f} s; chosen rank: {search.best_params_['rank']}")

# %%
# The rank curve
# --------------
res = search.cv_results_
ranks = np.asarray(res["param_rank"], dtype=int)
n_splits = search.n_splits_
mean, se = res["mean_test_score"], res["std_test_score"] / np.sqrt(n_splits)
best = int(np.argmax(mean))

fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
ax.errorbar(ranks, mean, yerr=se, marker="o", capsize=3, color="k", label="held-out (mean $\\pm$ s.e.)")
ax.plot(ranks, res["mean_train_score"], marker=".", ls=":", color="gray", label="training")
ax.axhspan(mean[best] - se[best], mean[best], color="C0", alpha=0.15, label="within 1 s.e. of the best")
ax.axvline(search.best_params_["rank"], color="C3", ls="--", label=f"chosen rank {search.best_params_['rank']}")
ax.set_xlabel("rank")
ax.set_ylabel("$R^2$")
ax.set_xticks(ranks)
ax.legend(frameon=False, fontsize=8, loc="lower right")

for r, m, s in zip(ranks, mean, se):
    print(f"rank {r}: {m:.4f} +/- {s:.4f}")

# %%
# The noise ceiling
# -----------------
# No model can predict the observation noise: the best possible :math:`R^2` on these data is that of the
# noise-free teacher activity, printed below. The chosen rank reaches it.
ceiling = 1 - noise.var() / y.var()
chosen = search.best_estimator_
print(f"noise ceiling R^2 = {ceiling:.4f}; chosen rank-{chosen.rank} model on all trials: {chosen.score(X, y):.4f}")

# %%
# In a pipeline
# -------------
# Inside a :class:`~sklearn.pipeline.Pipeline` the rank parameter is ``<step name>__rank``; the rule finds it
# when it is the only parameter named ``rank``, else pass it with
# ``functools.partial(one_standard_error_rule, param="lowrankrnnregressor__rank")``. The same search runs on a
# GPU with ``LowRankRNNRegressor(device="cuda")`` and on a cluster with joblib's dask backend (see
# :ref:`sphx_glr_auto_examples_plot_dask_search.py`).

plt.show()
