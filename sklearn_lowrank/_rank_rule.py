"""The one-standard-error rule: the smallest rank whose cross-validated score ties with the best.

Arithmetic on a table of fold scores (``GridSearchCV.cv_results_`` or ``LowRankRNNRegressorCV.cv_results_``), below
the estimators: :class:`~sklearn_lowrank.LowRankRNNRegressorCV` chooses with it,
:func:`~sklearn_lowrank.one_standard_error_rule` (``model_selection``) is its public form for
``GridSearchCV(refit=...)``, and the report and the rank-curve figure read from it the standard error the rule
compared.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

__all__ = ["choose", "rank_param", "rule_margins", "rule_standard_errors", "search_is_paired"]

#: ``tol="auto"``: gains below this fraction of the best mean score are ties. It gives 1e-3 for R^2 near 1 (folds of
#: clean rates agree so closely that an extra rank fitting a little noise would otherwise win) and about 1e-5 for
#: single-trial Poisson D^2 of a few percent (where ranks differ by about 1e-3 and the paired standard error decides).
AUTO_TOL = 1e-3


def _resolve_tol(tol, best_mean: float) -> float:
    """The tolerance in units of the score: ``tol`` itself, or for "auto" AUTO_TOL x |best mean score|."""
    if isinstance(tol, str):
        if tol != "auto":
            raise ValueError(f"tol must be a float >= 0 or 'auto'; got {tol!r}.")
        return AUTO_TOL * abs(float(best_mean))
    if not isinstance(tol, Real) or not tol >= 0:
        raise ValueError(f"tol must be a float >= 0 or 'auto'; got {tol!r}.")
    return float(tol)


def rank_param(cv_results: dict, param: str | None) -> str:
    if param is not None:
        key = param if param.startswith("param_") else f"param_{param}"
        if key not in cv_results:
            available = sorted(k for k in cv_results if k.startswith("param_"))
            raise ValueError(f"cv_results has no column {key!r}; available: {available}.")
        return key
    keys = [k for k in cv_results if k == "param_rank" or k.endswith("__rank")]
    if len(keys) != 1:
        raise ValueError(
            f"Cannot tell which parameter is the rank among {sorted(k for k in cv_results if k.startswith('param_'))}; "
            "use functools.partial(one_standard_error_rule, param=...)."
        )
    return keys[0]


def _standard_error(cv_results: dict) -> tuple[np.ndarray, int]:
    """Standard error of the mean test score over folds (the fold SD / sqrt(n_splits)) and n_splits.

    ``std_test_score`` is the standard deviation of the fold scores; the rule, the command line's report and
    :func:`sklearn_lowrank.plotting.plot_rank_selection` use the standard error derived here. n_splits is 0 when
    ``cv_results`` holds no ``split*_test_score`` columns (then the standard error is unknown: NaN).
    """
    std = np.asarray(cv_results["std_test_score"], dtype=np.float64)
    n_splits = sum(1 for k in cv_results if k.startswith("split") and k.endswith("_test_score"))
    if n_splits == 0:
        return np.full_like(std, np.nan), 0
    return std / np.sqrt(n_splits), n_splits


def _paired_standard_error(cv_results: dict, reference: int, n_splits: int) -> np.ndarray:
    """Standard error, over folds, of each candidate's score minus candidate ``reference``'s in the same fold."""
    splits = np.array([np.asarray(cv_results[f"split{k}_test_score"], dtype=np.float64) for k in range(n_splits)])
    return (splits[:, reference:reference + 1] - splits).std(axis=0) / np.sqrt(n_splits)  # ddof=0, as sklearn's


def search_is_paired(search) -> bool:
    """Whether a fitted search's rule compared paired fold differences: its ``paired`` parameter
    (:class:`~sklearn_lowrank.LowRankRNNRegressorCV`) or its ``refit``'s (a ``functools.partial`` of
    :func:`~sklearn_lowrank.one_standard_error_rule`); False for anything else (a ``cv_results_`` dict included)."""
    paired = getattr(search, "paired", None)
    if paired is None:
        paired = getattr(getattr(search, "refit", None), "keywords", {}).get("paired", False)
    return bool(paired)


def rule_standard_errors(cv_results: dict, paired: bool) -> tuple[int, np.ndarray]:
    """The best mean candidate and, per candidate, the standard error the rule compares with the gap to it.

    Unpaired: the standard error of the best's mean (the same for every candidate; the fold SD over folds when the
    table has no fold columns). Paired: the standard error of each candidate's fold-by-fold difference to the best.
    """
    mean = np.asarray(cv_results["mean_test_score"], dtype=np.float64)
    finite = np.isfinite(mean)
    if not finite.any():
        raise ValueError("Every candidate has a non-finite mean test score; nothing to choose from.")
    best = int(np.nanargmax(np.where(finite, mean, -np.inf)))
    se, n_splits = _standard_error(cv_results)
    if paired:
        if n_splits < 2:
            raise ValueError("paired=True compares fold scores: cv_results needs split*_test_score columns of at "
                             "least 2 folds.")
        return best, _paired_standard_error(cv_results, best, n_splits)
    if n_splits == 0:  # no fold columns, as in a hand-made table: the spread given is taken as the error
        se = np.asarray(cv_results["std_test_score"], dtype=np.float64)
    return best, np.full(mean.shape, se[best])


def rule_margins(cv_results: dict, tol=1e-3, paired: bool = False) -> tuple[int, np.ndarray]:
    """The best mean candidate and each candidate's margin: ``max(standard error, tol)`` (tol resolved)."""
    best, se = rule_standard_errors(cv_results, paired)
    tol = _resolve_tol(tol, np.asarray(cv_results["mean_test_score"], dtype=np.float64)[best])
    return best, np.maximum(np.nan_to_num(se, nan=0.0), tol)


def choose(cv_results: dict, key: str, tol=1e-3, paired: bool = False) -> int:
    """Row of ``cv_results`` that the one-standard-error rule picks, the rank being column ``key``.

    The smallest rank whose mean score is within its margin (:func:`rule_margins`) of the best mean; among rows of
    that rank (other parameters in a grid), the best mean. ``None`` (full rank) counts as the largest rank.
    """
    mean = np.asarray(cv_results["mean_test_score"], dtype=np.float64)
    best, margin = rule_margins(cv_results, tol=tol, paired=paired)
    ranks = [np.inf if r is None or (isinstance(r, float) and np.isnan(r)) else float(r)
             for r in np.asarray(cv_results[key], dtype=object)]
    ok = [i for i in range(len(mean)) if np.isfinite(mean[i]) and mean[i] >= mean[best] - margin[i]]
    smallest = min(ranks[i] for i in ok)
    return max((i for i in ok if ranks[i] == smallest), key=lambda i: mean[i])
