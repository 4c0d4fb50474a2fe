"""The rank search: LowRankRNNRegressorCV's paired rule, table and callback; the rule below the estimators; n_init."""

import ast
import functools
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold

from sklearn_lowrank import LowRankRNNRegressor, LowRankRNNRegressorCV, one_standard_error_rule
from sklearn_lowrank.datasets import make_low_rank_teacher

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_lowrank"


class _Scripted(BaseEstimator):
    """A stand-in estimator whose held-out score is ``gain[rank] + difficulty of the held-out trials``.

    The trials' difficulty is X[:, 0, 0]: folds that hold harder trials score lower at every rank, as folds of
    harder conditions do.
    """

    def __init__(self, rank=1, gains=None):
        self.rank = rank
        self.gains = gains

    def fit(self, X, y):
        self.n_features_in_ = X.shape[-1]
        return self

    def score(self, X, y):
        return self.gains[self.rank] + float(np.mean(X[:, 0, 0]))


def _scripted_data(fold_spread, n_trials=12):
    X = np.zeros((n_trials, 2, 1), np.float32)
    X[:, 0, 0] = np.repeat(np.linspace(0.0, fold_spread, 4), n_trials // 4)  # 4 groups of growing difficulty
    return X, np.zeros((n_trials, 2, 1), np.float32), np.repeat(np.arange(4), n_trials // 4)


# ---------------------------------------------------------------------------------------------------------------
# The rule and its place in the layers
# ---------------------------------------------------------------------------------------------------------------


def _package_imports(path):
    """The package modules a file imports by relative imports ("" for the package itself)."""
    tree = ast.parse(path.read_text())
    return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level > 0}


def test_the_rule_sits_below_the_estimators():
    assert _package_imports(PACKAGE / "_lowrank_cv.py") >= {"_rank_rule", "_lowrank"}
    assert "model_selection" not in _package_imports(PACKAGE / "_lowrank_cv.py")
    assert _package_imports(PACKAGE / "_rank_rule.py") == set()  # arithmetic on tables: nothing of the package
    assert "_rank_rule" in _package_imports(PACKAGE / "model_selection.py")
    # the command line reaches the search through its module, not through the package
    assert {"_lowrank_cv", "_lowrank"} <= _package_imports(PACKAGE / "_cli.py")


def test_tol_auto_is_a_fraction_of_the_best_score():
    # ranks 1-3 of single-trial Poisson D^2: rank 2 gains 9e-4 over rank 1 in every fold; rank 3 ties with 2
    folds = np.array([[0.0129, 0.0138, 0.01382], [0.0109, 0.0118, 0.01178], [0.0207, 0.0216, 0.02163]])
    results = {"param_rank": np.array([1, 2, 3]), "mean_test_score": folds.mean(axis=0),
               "std_test_score": folds.std(axis=0), **{f"split{k}_test_score": folds[k] for k in range(3)}}
    assert one_standard_error_rule(results, tol="auto", paired=True) == 1  # 1e-3 x 0.0157 = 1.6e-5: rank 2
    assert one_standard_error_rule(results, tol=1e-3, paired=True) == 0  # the R^2 tolerance ties ranks 1 and 2
    with pytest.raises(ValueError, match="tol must be a float >= 0 or 'auto'"):
        one_standard_error_rule(results, tol="big")


# ---------------------------------------------------------------------------------------------------------------
# LowRankRNNRegressorCV's choice, table and callback (scripted scores)
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("paired, chosen", [(True, 2), (False, 1)])
def test_paired_rule_is_not_fooled_by_the_spread_folds_share(paired, chosen):
    """Rank 2 beats rank 1 by 0.01 in every fold; the folds differ by 0.3: only the paired rule sees rank 2."""
    X, y, groups = _scripted_data(fold_spread=0.3)
    calls = []
    search = LowRankRNNRegressorCV([1, 2, 3], estimator=_Scripted(gains={1: 0.5, 2: 0.51, 3: 0.51}),
                                   cv=GroupKFold(4), paired=paired, tol=0.0,
                                   callback=lambda *args: calls.append(args)).fit(X, y, groups=groups)
    assert search.rank_ == chosen and search.best_index_ == chosen - 1
    results = search.cv_results_
    folds = np.stack([results[f"split{k}_test_score"] for k in range(4)], axis=1)
    np.testing.assert_allclose(results["mean_test_score"], folds.mean(axis=1))
    assert np.ptp(folds[0]) == pytest.approx(0.3)  # GroupKFold with the groups: one difficulty per fold
    assert [c[:2] for c in calls] == [(r, k) for r in (1, 2, 3) for k in range(4)]
    np.testing.assert_allclose([c[2] for c in calls], folds.ravel())
    best = int(np.argmax(results["mean_test_score"]))
    se = results["rule_se_test_score"]
    if paired:
        assert se[best] == 0.0 and se[0] == pytest.approx(0.0, abs=1e-9)  # the same gain in every fold
    else:
        np.testing.assert_allclose(se, results["std_test_score"][best] / 2.0)
    assert search.tol_ == 0.0 and [p["rank"] for p in results["params"]] == [1, 2, 3]


def test_tol_auto_in_the_search_and_groups_are_required_by_group_folds():
    X, y, groups = _scripted_data(fold_spread=0.0)
    # rank 2 gains 5e-4 over rank 1 at a score of 0.5: below 1e-3 x 0.5, a tie
    search = LowRankRNNRegressorCV([1, 2], estimator=_Scripted(gains={1: 0.5, 2: 0.5005}), cv=GroupKFold(4))
    assert search.fit(X, y, groups=groups).rank_ == 1 and search.tol_ == pytest.approx(5.005e-4)
    assert search.set_params(tol=1e-4).fit(X, y, groups=groups).rank_ == 2
    with pytest.raises(ValueError, match="groups"):
        search.fit(X, y)


def test_same_choice_as_gridsearchcv_with_the_rule():
    """The class is GridSearchCV(refit=paired one-standard-error rule) with its tol: same folds, same table."""
    X, y = make_low_rank_teacher(n_units=10, rank=1, n_trials=12, n_timesteps=6, random_state=0, return_X_y=True)
    est, cv = LowRankRNNRegressor(max_iter=2, random_state=0), KFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = LowRankRNNRegressorCV([1, 2], estimator=est, cv=cv).fit(X, y)
        grid = GridSearchCV(est, {"rank": [1, 2]}, cv=cv,
                            refit=functools.partial(one_standard_error_rule, tol=search.tol_, paired=True)).fit(X, y)
    for key in ("split0_test_score", "split2_test_score", "mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_allclose(search.cv_results_[key], grid.cv_results_[key], rtol=1e-6, err_msg=key)
    assert search.best_index_ == grid.best_index_


# ---------------------------------------------------------------------------------------------------------------
# n_init: several starts, the lowest final loss kept
# ---------------------------------------------------------------------------------------------------------------


def test_n_init_keeps_the_best_start(monkeypatch):
    X, y = make_low_rank_teacher(n_units=12, rank=2, n_trials=10, n_timesteps=8, random_state=1, return_X_y=True)
    starts = []
    original = LowRankRNNRegressor._fit_start

    def recorded(self, *args):
        fit = original(self, *args)
        starts.append(fit[1].best_loss)
        return fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        default = LowRankRNNRegressor(2, max_iter=3, init="random", random_state=0).fit(X, y)
        one = LowRankRNNRegressor(2, max_iter=3, init="random", n_init=1, random_state=0).fit(X, y)
        monkeypatch.setattr(LowRankRNNRegressor, "_fit_start", recorded)
        three = LowRankRNNRegressor(2, max_iter=3, init="random", n_init=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(default.m_, one.m_)  # n_init=1 is the fit it always was
    assert len(starts) == 3 and len(set(starts)) == 3  # three different starts ...
    assert three.best_loss_ == min(starts) and starts[0] == one.best_loss_  # ... the best kept; the first is n_init=1's
    with pytest.raises(ValueError, match="n_init"):
        LowRankRNNRegressor(n_init=0).fit(X, y)


def test_rank_curve_draws_the_standard_error_the_rule_compared():
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_lowrank.plotting import plot_rank_selection

    X, y, groups = _scripted_data(fold_spread=0.3)
    gains = {1: 0.5, 2: 0.51, 3: 0.512}
    search = LowRankRNNRegressorCV([1, 2, 3], estimator=_Scripted(gains=gains), cv=GroupKFold(4)).fit(X, y, groups)
    for paired, expected in (("auto", search.cv_results_["rule_se_test_score"]),
                             (False, search.cv_results_["std_test_score"] / 2.0)):
        ax = plot_rank_selection(search, paired=paired)
        bars = ax.containers[0].lines[2][0].get_segments()
        np.testing.assert_allclose([seg[1, 1] - seg[0, 1] for seg in bars], 2 * expected, atol=1e-12)
    assert np.ptp(search.cv_results_["rule_se_test_score"]) < 1e-9 < search.cv_results_["std_test_score"][0]


# ---------------------------------------------------------------------------------------------------------------
# scoring: the scorer of every fold and of score()
# ---------------------------------------------------------------------------------------------------------------


class _Spy:
    """A scorer that records each call and scores ``3 - gain[rank]``: it prefers the rank the estimator's own
    score ranks last."""

    def __init__(self):
        self.calls = []

    def __call__(self, estimator, X, y):
        self.calls.append((estimator.rank, X[:, 0, 0].copy()))
        return 3.0 - estimator.gains[estimator.rank] + float(np.mean(X[:, 0, 0]))


def test_scoring_scores_every_fold_and_score():
    X, y, groups = _scripted_data(fold_spread=0.3)
    spy, calls = _Spy(), []
    search = LowRankRNNRegressorCV([1, 2, 3], estimator=_Scripted(gains={1: 0.5, 2: 1.0, 3: 2.0}),
                                   cv=GroupKFold(4), scoring=spy, tol=0.0,
                                   callback=lambda *args: calls.append(args)).fit(X, y, groups=groups)
    assert [c[0] for c in spy.calls] == [r for r in (1, 2, 3) for _ in range(4)]  # each rank's fold fits
    for rank_calls in (spy.calls[:4], spy.calls[4:8]):  # every fold's held-out trials: each group once
        held_out = np.concatenate([x for _, x in rank_calls])
        assert sorted(held_out.tolist()) == sorted(X[:, 0, 0].tolist()) and all(x.size == 3 for _, x in rank_calls)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], [2.65, 2.15, 1.15])
    gains = {1: 0.5, 2: 1.0, 3: 2.0}
    np.testing.assert_allclose([c[2] for c in calls], [3.0 - gains[r] + x.mean() for r, x in spy.calls])
    assert search.rank_ == 1 and search.scorer_ is spy  # the scorer's choice; the own score would choose 3
    assert len(spy.calls) == 12  # the refit is not scored
    assert search.score(X[:3], y[:3]) == pytest.approx(2.5)  # score() is the scorer's, on the refitted rank 1
    assert len(spy.calls) == 13 and spy.calls[-1][0] == 1


def test_scoring_none_is_the_estimators_score():
    X, y = make_low_rank_teacher(n_units=10, rank=1, n_trials=12, n_timesteps=6, random_state=0, return_X_y=True)
    est = LowRankRNNRegressor(max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        default = LowRankRNNRegressorCV([1, 2], estimator=est, cv=3).fit(X, y)
        explicit = LowRankRNNRegressorCV([1, 2], estimator=est, cv=3,
                                         scoring=lambda e, X_, y_: e.score(X_, y_)).fit(X, y)
    assert default.scoring is None and default.scorer_ is None
    for k in range(3):
        np.testing.assert_array_equal(default.cv_results_[f"split{k}_test_score"],
                                      explicit.cv_results_[f"split{k}_test_score"])
    assert default.score(X, y) == default.best_estimator_.score(X, y) == explicit.score(X, y)
    with pytest.raises(ValueError, match="named scorers read 2D targets"):
        LowRankRNNRegressorCV([1], estimator=est, cv=3, scoring="r2").fit(X, y)
    with pytest.raises(ValueError, match="scoring"):
        LowRankRNNRegressorCV([1], estimator=est, cv=3, scoring=3).fit(X, y)
