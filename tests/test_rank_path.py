"""The rank path of LowRankRNNRegressorCV: rank r + 1 started from rank r's fit plus the leading new direction."""

import warnings

import numpy as np
import pytest
import torch
from joblib import parallel_config
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold

from sklearn_lowrank import LowRankRNNRegressor, LowRankRNNRegressorCV
from sklearn_lowrank._core import LowRankRNN
from sklearn_lowrank._core.start import _new_direction, extend_rank_start
from sklearn_lowrank._core.training import evaluate_loss
from sklearn_lowrank.datasets import make_low_rank_teacher

# ---------------------------------------------------------------------------------------------------------------
# The start: the lower-rank fit plus the leading direction of the own start outside its span
# ---------------------------------------------------------------------------------------------------------------


def test_new_direction_is_the_leading_singular_pair_outside_the_lower_span():
    gen = torch.Generator().manual_seed(0)
    m, n, lower_m = (torch.randn(15, k, generator=gen, dtype=torch.float64) for k in (3, 3, 2))
    m_new, n_new = _new_direction(m, n, lower_m)
    q, _ = torch.linalg.qr(lower_m)
    outside = (torch.eye(15, dtype=torch.float64) - q @ q.T) @ m @ n.T
    u, s, vt = torch.linalg.svd(outside)
    torch.testing.assert_close(torch.outer(m_new, n_new), s[0] * torch.outer(u[:, 0], vt[0]))
    assert float((q.T @ m_new).abs().max()) < 1e-10  # a direction the lower-rank network does not have
    assert float(m_new.norm()) == pytest.approx(float(n_new.norm())) == pytest.approx(float(s[0].sqrt()))


def _teacher_data(rank=2):
    teacher = LowRankRNN(20, 1, 20, rank, alpha=0.2, generator=torch.Generator().manual_seed(0))
    u = torch.randn(16, 12, 1, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return teacher, u, teacher(u)


def test_extend_rank_start_holds_the_lower_fit_plus_a_new_column_when_better():
    teacher, u, y = _teacher_data()
    lower = LowRankRNN(20, 1, 20, 1, alpha=0.2)  # the teacher's first column: a good rank-1 network
    with torch.no_grad():
        for name in ("m", "n"):
            getattr(lower, name).copy_(getattr(teacher, name)[:, :1])
        lower.input_weights.copy_(teacher.input_weights)
    net = LowRankRNN(20, 1, 20, 2, alpha=0.2, generator=torch.Generator().manual_seed(3))
    own = evaluate_loss(net, u, y, None)
    assert extend_rank_start(net, lower, u, y, None) == "path"
    assert evaluate_loss(net, u, y, None) <= own
    torch.testing.assert_close(net.m[:, :1], lower.m)
    torch.testing.assert_close(net.n[:, :1], lower.n)
    torch.testing.assert_close(net.input_weights, lower.input_weights)


def test_extend_rank_start_keeps_the_own_start_when_it_is_better():
    _, u, y = _teacher_data()
    lower = LowRankRNN(20, 1, 20, 1, alpha=0.2, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        lower.m.mul_(30.0)  # a wildly unstable network: its extension predicts far worse than a random start
    net = LowRankRNN(20, 1, 20, 2, alpha=0.2, generator=torch.Generator().manual_seed(3))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert extend_rank_start(net, lower, u, y, None) == "own"
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    with pytest.raises(ValueError, match="rank <= 2"):
        extend_rank_start(LowRankRNN(20, 1, 20, 2, alpha=0.2), LowRankRNN(20, 1, 20, 3, alpha=0.2), u, y, None)


# ---------------------------------------------------------------------------------------------------------------
# The search along the path: the definition, determinism, the callback
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    X, y = make_low_rank_teacher(n_units=8, rank=2, n_trials=8, n_timesteps=6, random_state=0, return_X_y=True)
    return X, y, LowRankRNNRegressor(max_iter=2, random_state=0), KFold(2, shuffle=True, random_state=0)


def _search(small, **params):
    X, y, est, cv = small
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = LowRankRNNRegressorCV([1, 2, 3], estimator=est, cv=cv, callback=lambda *a: calls.append(a),
                                       **params).fit(X, y)
    return search, calls


@pytest.fixture(scope="module")
def path_search(small):
    return _search(small, rank_path=True)


def test_path_scores_are_the_definition(small, path_search):
    """Rank 1 is the independent fit; rank r + 1 is the fit extending the same fold's rank-r fit."""
    X, y, est, cv = small
    path, calls = path_search
    independent, _ = _search(small)  # the default: independent fits
    train, test = next(iter(cv.split(X)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lower = clone(est).set_params(rank=1).fit(X[train], y[train])
        second = clone(est).set_params(rank=2)._fit_extending(X[train], y[train], lower.module_)
        plain = clone(est).set_params(rank=2).fit(X[train], y[train])
    scores, plain_scores = path.cv_results_["split0_test_score"], independent.cv_results_["split0_test_score"]
    assert scores[0] == plain_scores[0] == lower.score(X[test], y[test])
    assert scores[1] == second.score(X[test], y[test])
    assert plain_scores[1] == plain.score(X[test], y[test])
    assert not hasattr(second, "_lower_rank_start")  # the hook leaves nothing behind
    assert [c[:2] for c in calls] == [(r, k) for k in range(2) for r in (1, 2, 3)]  # fold by fold, ranks rising
    np.testing.assert_array_equal([c[2] for c in calls],
                                  np.stack([path.cv_results_[f"split{k}_test_score"] for k in range(2)]).ravel())
    assert path.cv_results_["mean_fit_time"].shape == (3,) and np.all(path.cv_results_["mean_fit_time"] > 0)


def test_path_is_deterministic_and_independent_of_n_jobs(small, path_search):
    first, _ = path_search
    with parallel_config(backend="threading"):  # folds fitted concurrently (processes: test_reliability.py)
        parallel, calls = _search(small, rank_path=True, n_jobs=2)
    for key in ("split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(first.cv_results_[key], parallel.cv_results_[key])
    assert len(calls) == 6 and first.rank_ == parallel.rank_
    np.testing.assert_array_equal(first.best_estimator_.m_, parallel.best_estimator_.m_)
