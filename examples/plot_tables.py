"""
From a long-format table of spike counts to the report
======================================================

Labs often keep binned recordings as a table: one row per trial and time bin, a column per neuron, plus columns
for the trial, the time and the inputs. Trials rarely have the same length (a reaction time ends each one), and
neurons are often not recorded from the first bin.

This example starts from such a table, with ragged single trials of Poisson spike counts, reads it with
:func:`~sklearn_lowrank.datasets.trials_from_dataframe`, fits the ranks by cross-validation over conditions and
writes the report of :func:`~sklearn_lowrank.report.write_report`, whose figures it shows. The same table saved
as a CSV file goes through the command line::

    sklearn-lowrank fit recording.csv --loss poisson --trial-column trial --time-column time \\
        --input-columns stim_0 stim_1 --groups condition --out report/
"""

# %%
import tempfile
import warnings

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_predict

from sklearn_lowrank import LowRankRNNRegressor, one_standard_error_rule
from sklearn_lowrank.datasets import make_spiking_teacher, trials_from_dataframe
from sklearn_lowrank.metrics import bits_per_spike
from sklearn_lowrank.report import write_report

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# A recording kept as a table
# ---------------------------
# A rank-2 spiking teacher: 40 neurons, 16 conditions of 6 single trials. Each trial is cut at its own length
# (40 to 60 bins of 10 ms) and the first 5 bins are not recorded (NaN). The table's rows come in any order.
teacher = make_spiking_teacher(n_neurons=40, rank=2, n_inputs=2, n_conditions=16, n_trials_per_condition=6,
                               n_timesteps=60, random_state=0)
rng = np.random.default_rng(0)
lengths = rng.integers(40, 61, size=len(teacher.y))
rows = []
for i, n in enumerate(lengths):
    counts = teacher.y[i, :n].copy()
    counts[:5] = np.nan
    rows.append(pd.DataFrame({"trial": i, "time": np.arange(n) * 10.0, "condition": teacher.condition[i],
                              **{f"stim_{k}": teacher.X[i, :n, k] for k in range(2)},
                              **{f"neuron_{j}": counts[:, j] for j in range(counts.shape[1])}}))
table = pd.concat(rows).sample(frac=1.0, random_state=0)
print(table.shape)
print(table.iloc[:3, :7])

# %%
# Trials from the table
# ---------------------
# Each trial's rows, sorted by time, become one trial: a list of (n_bins_i, n_neurons) arrays, which the
# estimators and the metrics take as they are. ``padded=True`` returns tensors instead, the inputs padded with
# zeros and the counts with NaN after each trial's end. Columns not named as inputs or per-trial labels are
# the neurons.
data = trials_from_dataframe(table, trial="trial", time="time", inputs=["stim_0", "stim_1"],
                             per_trial="condition", padded=True)
X, y, condition = data.X, data.y, data.per_trial["condition"]
print(f"{len(data.neurons)} neurons, {X.shape[0]} trials of {data.lengths.min()} to {data.lengths.max()} bins")

# %%
# Passing the table itself to ``fit`` would read each row as a trial of one time step; the estimators refuse it
# and name the helper above.
try:
    LowRankRNNRegressor(loss="poisson").fit(table[["stim_0", "stim_1"]], table[data.neurons])
except ValueError as exc:
    print(str(exc)[:160], "...")

# %%
# The rank by cross-validation over conditions
# --------------------------------------------
# Folds hold out whole conditions; each rank is scored by the held-out Poisson deviance explained. Then the
# held-out predictions of the chosen rank go into the report.
cv = GroupKFold(n_splits=2)
search = GridSearchCV(LowRankRNNRegressor(loss="poisson", max_iter=40, random_state=0), {"rank": [1, 2]}, cv=cv,
                      refit=one_standard_error_rule)
search.fit(X, y, groups=condition)
y_cv = cross_val_predict(search.best_estimator_, X, y, groups=condition, cv=cv)
print(f"chosen rank {search.best_params_['rank']}; held-out bits per spike {bits_per_spike(y, y_cv):.3f}")

# %%
# The teacher has rank 2, but six noisy single trials per condition and 40 epochs per fit leave little to tell
# the ranks apart: the rule may keep rank 1 here (see the spike-count guide for the data that rank selection on
# counts needs). This example is about the way in, not the rank.

# %%
# The report
# ----------
# ``latents.npy`` holds NaN after each trial's end. The figures draw the steps that most trials reach (the trial
# count per step is drawn under the predictions) and, of 16 conditions, six evenly spaced ones.
out = tempfile.mkdtemp()
report = write_report(search, X, y, out, y_cv=y_cv, conditions=condition, activity_label="spike count per bin")
latents = np.load(f"{out}/latents.npy")
print(f"latents {latents.shape}, NaN after each trial's end: {np.isnan(latents[0, data.lengths[0]:]).all()}")

for name in ("predictions_figure", "latents_figure"):
    image = mpimg.imread(f"{out}/{report.files[name]}")
    fig = plt.figure(figsize=(image.shape[1] / 120, image.shape[0] / 120))
    ax = fig.add_axes((0, 0, 1, 1))  # the report's figure as it is, without margins
    ax.imshow(image)
    ax.set_axis_off()
plt.show()
