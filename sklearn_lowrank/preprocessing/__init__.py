"""Transformers for trial tensors of shape (n_trials, n_timesteps, n_features), NaN-aware.

They work on the inputs X in a :class:`~sklearn.pipeline.Pipeline` and on the activity y inside
:class:`~sklearn.compose.TransformedTargetRegressor` (which passes y unchanged when it is 3D and as (n_samples, 1)
when it is 1D). A 2D array (n_samples, n_features) is read as trials of a single time step, the convention of the
estimators. NaN marks a missing observation: it is ignored by the statistics learnt in ``fit`` and stays NaN in the
output; inf is an error. Outputs are float32, the dtype of the estimators.

Two limits of ``TransformedTargetRegressor`` (scikit-learn's, not ours): it rejects NaN in y before any
transformer sees it, so transform activity with missing entries yourself and fit the estimator on the result; and
its ``score`` uses ``sklearn.metrics.r2_score``, which refuses 3D y, so score it with
``make_scorer(sklearn_lowrank.metrics.r2_score_trials)`` (e.g. ``scoring=`` in ``GridSearchCV``). The
transformers without an inverse (smoothing, PCA projection) have an identity ``inverse_transform``: pass
``check_inverse=False``.

Examples
--------
>>> from sklearn.compose import TransformedTargetRegressor
>>> from sklearn_lowrank import LowRankRNNRegressor
>>> from sklearn_lowrank.datasets import make_low_rank_teacher
>>> from sklearn_lowrank.preprocessing import TrialStandardScaler
>>> X, y = make_low_rank_teacher(n_units=10, rank=1, n_inputs=1, n_trials=20, n_timesteps=10, random_state=0,
...                              return_X_y=True)
>>> model = TransformedTargetRegressor(regressor=LowRankRNNRegressor(max_iter=5, random_state=0),
...                                    transformer=TrialStandardScaler(), check_inverse=False)
>>> model.fit(X, 10 * y + 5).predict(X).shape
(20, 10, 10)
"""

from ._population import ConditionMeanRemover, PCADenoiser
from ._scaling import TrialStandardScaler
from ._temporal import GaussianSmoother, TimeBinner

__all__ = ["TrialStandardScaler", "GaussianSmoother", "TimeBinner", "ConditionMeanRemover", "PCADenoiser"]
