"""Helpers for choosing the rank by cross-validation."""

from __future__ import annotations

import numpy as np

__all__ = ["one_standard_error_rule"]


def _rank_param(cv_results: dict, param: str | None) -> str:
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


def one_standard_error_rule(cv_results, param=None, tol=1e-3) -> int:
    """Index of the smallest rank whose mean CV score is within one standard error (or ``tol``) of the best.

    Held-out scores of low-rank fits plateau rather than peak once the rank suffices; this rule picks the start of
    the plateau. Pass it as ``GridSearchCV(..., refit=one_standard_error_rule)``. ``rank=None`` (full rank) counts
    as larger than every integer rank. Among candidates with the same rank (other parameters in the grid), the one
    with the best mean score is taken.

    Parameters
    ----------
    cv_results : dict
        ``GridSearchCV.cv_results_`` (with ``mean_test_score``, ``std_test_score`` and ``split*_test_score``).
        ``std_test_score`` is the standard deviation over folds; the standard error used here is it divided by
        the square root of the number of ``split*_test_score`` columns.
    param : str, optional
        Name of the rank parameter (e.g. ``"lowrankrnnregressor__rank"`` in a Pipeline); found automatically when
        there is a single ``rank`` parameter.
    tol : float, default=1e-3
        Candidates within ``max(standard error, tol)`` of the best count as ties. On clean data the folds agree so
        closely that the standard error falls below any difference that matters (R^2 of 0.9990 against 0.9992),
        and an extra rank that fits a little noise would win; ``tol=0`` gives the textbook rule. Use
        ``functools.partial(one_standard_error_rule, tol=...)`` to change it.

    Returns
    -------
    index : int
        Row of ``cv_results`` to refit.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import one_standard_error_rule
    >>> results = {"param_rank": np.array([1, 2, 3]), "mean_test_score": np.array([0.5, 0.90, 0.91]),
    ...            "std_test_score": np.array([0.02, 0.02, 0.02]),
    ...            "split0_test_score": np.array([0.5, 0.9, 0.91]), "split1_test_score": np.array([0.5, 0.9, 0.91])}
    >>> one_standard_error_rule(results)
    1
    """
    key = _rank_param(cv_results, param)
    mean = np.asarray(cv_results["mean_test_score"], dtype=np.float64)
    se, n_splits = _standard_error(cv_results)
    if n_splits == 0:  # no fold columns, as in a hand-made table: the spread given is taken as the error
        se = np.asarray(cv_results["std_test_score"], dtype=np.float64)
    finite = np.isfinite(mean)
    if not finite.any():
        raise ValueError("Every candidate has a non-finite mean test score; nothing to choose from.")
    best = int(np.nanargmax(np.where(finite, mean, -np.inf)))
    threshold = mean[best] - max(se[best], tol)
    ranks = [np.inf if r is None or (isinstance(r, float) and np.isnan(r)) else float(r)
             for r in np.asarray(cv_results[key], dtype=object)]
    ok = [i for i in range(len(mean)) if finite[i] and mean[i] >= threshold]
    smallest = min(ranks[i] for i in ok)
    return max((i for i in ok if ranks[i] == smallest), key=lambda i: mean[i])
