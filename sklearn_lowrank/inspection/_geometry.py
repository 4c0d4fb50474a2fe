"""Geometry: effective connectivity, overlaps between connectivity vectors, regression axes of task variables."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

__all__ = ["connectivity_vectors", "effective_connectivity", "overlap_matrix", "regression_axes"]


def effective_connectivity(m, n, input_weights=None) -> np.ndarray:
    """The part of J = m n^T / N that the dynamics can reveal: n projected on span(m, input weights).

    Activity of a low-rank network lives in the span of the columns of m and of the input weights, so only the
    projection of n onto that span affects the dynamics (Valente et al. 2022). ``J_eff = m (P n)^T / N``.

    Parameters
    ----------
    m, n : array-like of shape (n_units, rank)
    input_weights : array-like of shape (n_inputs, n_units), optional

    Returns
    -------
    J_eff : ndarray of shape (n_units, n_units)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.inspection import effective_connectivity
    >>> m = np.array([[1.0], [0.0], [0.0]]); n = np.array([[1.0], [1.0], [0.0]])
    >>> effective_connectivity(m, n)[0]
    array([0.33333333, 0.        , 0.        ])
    """
    m = np.asarray(m, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    basis = m if input_weights is None else np.concatenate([m, np.asarray(input_weights, np.float64).T], axis=1)
    q, _ = np.linalg.qr(basis)
    n_proj = q @ (q.T @ n)
    return m @ n_proj.T / m.shape[0]


def connectivity_vectors(estimator, *, readout_weights=None):
    """The per-unit connectivity vectors of a fitted network, as columns, with their names.

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted. A full-rank network has no m, n: only its input and readout weights are returned.
    readout_weights : array-like of shape (n_units, n_outputs), optional
        Readout vectors to add (e.g. those of the network a model of activity stands for).

    Returns
    -------
    vectors : ndarray of shape (n_units, n_vectors), float64
        Columns m_1..m_R, n_1..n_R, I_1..I_K (input weights), w_1..w_O (readout weights).
    names : list of str of length n_vectors

    Examples
    --------
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> from sklearn_lowrank.inspection import connectivity_vectors
    >>> X, y = make_low_rank_teacher(n_units=20, rank=1, n_inputs=2, n_trials=8, n_timesteps=10,
    ...                              random_state=0, return_X_y=True)
    >>> est = LowRankRNNRegressor(rank=1, max_iter=0, random_state=0).fit(X, y)
    >>> V, names = connectivity_vectors(est)
    >>> V.shape, names
    ((20, 4), ['m1', 'n1', 'I1', 'I2'])
    """
    check_is_fitted(estimator, "module_")
    columns, names = [], []
    if getattr(estimator, "rank", None) is not None:
        R = estimator.m_.shape[1]
        columns += [estimator.m_, estimator.n_]
        names += [f"m{r + 1}" for r in range(R)] + [f"n{r + 1}" for r in range(R)]
    w_in = estimator.input_weights_.T
    columns.append(w_in)
    names += [f"I{k + 1}" for k in range(w_in.shape[1])]
    readouts = [getattr(estimator, "readout_weights_", None), readout_weights]
    for w in (np.asarray(w, dtype=np.float64) for w in readouts if w is not None):
        w = w[:, None] if w.ndim == 1 else w
        if w.shape[0] != estimator.n_units_:
            raise ValueError(f"readout_weights must have {estimator.n_units_} rows (one per unit); got shape "
                             f"{w.shape}.")
        start = sum(name.startswith("w") for name in names)
        columns.append(w)
        names += [f"w{start + k + 1}" for k in range(w.shape[1])]
    return np.concatenate(columns, axis=1).astype(np.float64), names


def _as_vectors(vectors, names, label):
    if hasattr(vectors, "module_"):
        return connectivity_vectors(vectors)
    V = np.asarray(vectors, dtype=np.float64)
    V = V[:, None] if V.ndim == 1 else V
    if V.ndim != 2 or not np.all(np.isfinite(V)):
        raise ValueError(f"{label} must be a fitted estimator or a finite array of shape (n_units, n_vectors); got "
                         f"shape {np.shape(vectors)}.")
    names = [f"{label[0]}{k}" for k in range(V.shape[1])] if names is None else list(names)
    if len(names) != V.shape[1]:
        raise ValueError(f"{len(names)} names given for {V.shape[1]} vectors in {label}.")
    return V, names


def overlap_matrix(vectors, other=None, *, names=None, other_names=None, normalize=True):
    """Overlaps between connectivity vectors (and, optionally, other axes such as regression axes).

    Parameters
    ----------
    vectors : LowRankRNNRegressor or array-like of shape (n_units, k)
        A fitted network (its :func:`connectivity_vectors`) or vectors as columns.
    other : LowRankRNNRegressor or array-like of shape (n_units, l), optional
        Second set of vectors; ``vectors`` against themselves by default.
    names, other_names : list of str, optional
        Column names (taken from the estimator, else "v0".., "o0"..).
    normalize : bool, default=True
        True: cosine similarities in [-1, 1]; False: overlaps a . b / N (the sigma_ab of mean-field theory).

    Returns
    -------
    result : Bunch
        ``matrix`` ndarray of shape (k, l), ``row_names`` and ``col_names``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.inspection import overlap_matrix
    >>> V = np.array([[1.0, 1.0], [0.0, 1.0]])
    >>> overlap_matrix(V).matrix.round(3).tolist()
    [[1.0, 0.707], [0.707, 1.0]]
    """
    A, row_names = _as_vectors(vectors, names, "vectors")
    if other is None:
        B, col_names = A, row_names
    else:
        B, col_names = _as_vectors(other, other_names, "other")
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"vectors and other must have the same number of units (rows); got {A.shape[0]} and "
                         f"{B.shape[0]}.")
    if normalize:
        na = np.linalg.norm(A, axis=0)
        nb = np.linalg.norm(B, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            matrix = (A.T @ B) / np.outer(na, nb)
        matrix = np.where(np.outer(na, nb) > 0, matrix, 0.0)
    else:
        matrix = A.T @ B / A.shape[0]
    return Bunch(matrix=matrix, row_names=row_names, col_names=col_names)


def regression_axes(activity, variables, *, time_index=None, n_components=None, orthogonalize=True):
    """Regression axes of task variables, the targeted dimensionality reduction of Mante et al. (2013).

    The activity is averaged over the trials of each condition (each distinct combination of the task variables);
    at every time step, each unit's condition-averaged activity is regressed on the variables (with an
    intercept): r_i(t, c) = beta_i0(t) + sum_v beta_iv(t) F_v(c). The axis of variable v is the vector of
    coefficients beta_v(t_v) over units at the time t_v where its norm is largest (or ``time_index``),
    optionally denoised by projecting on the top principal components of the condition-averaged activity, and
    the axes are orthogonalised by QR in the order given.

    Parameters
    ----------
    activity : array-like of shape (n_trials, n_timesteps, n_units)
        Rates or states of every trial (e.g. ``np.tanh(est.predict_states(X))``).
    variables : dict of str to array-like of shape (n_trials,)
        Task variables per trial (e.g. choice, coherences, context).
    time_index : int, optional
        Time step of every axis; the step of largest norm per variable by default.
    n_components : int, optional
        Denoise the coefficients with this many principal components of the condition averages.
    orthogonalize : bool, default=True

    Returns
    -------
    result : Bunch
        ``axes`` ndarray of shape (n_units, n_variables) with unit-norm columns, ``names`` (list),
        ``coefficients`` ndarray of shape (n_timesteps, n_units, n_variables), ``time_index`` ndarray of
        shape (n_variables,), ``condition_means`` ndarray of shape (n_conditions, n_timesteps, n_units).

    References
    ----------
    .. [1] Mante, Sussillo, Shenoy & Newsome, "Context-dependent computation by recurrent dynamics in prefrontal
       cortex", Nature 2013.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank.inspection import regression_axes
    >>> rng = np.random.default_rng(0)
    >>> c = rng.choice([-1.0, 1.0], size=40)
    >>> direction = rng.normal(size=10)
    >>> activity = c[:, None, None] * direction + 0.01 * rng.normal(size=(40, 5, 10))
    >>> res = regression_axes(activity, {"choice": c})
    >>> res.axes.shape, bool(abs(res.axes[:, 0] @ direction) / np.linalg.norm(direction) > 0.99)
    ((10, 1), True)
    """
    act = np.asarray(activity, dtype=np.float64)
    if act.ndim != 3 or not np.all(np.isfinite(act)):
        raise ValueError(f"activity must be a finite array of shape (n_trials, n_timesteps, n_units); got "
                         f"shape {act.shape}.")
    if not isinstance(variables, dict) or not variables:
        raise ValueError("variables must be a non-empty dict of task variables, name -> array of shape (n_trials,).")
    names = list(variables)
    F = np.empty((act.shape[0], len(names)))
    for k, name in enumerate(names):
        v = np.asarray(variables[name], dtype=np.float64).ravel()
        if v.shape != (act.shape[0],):
            raise ValueError(f"variables[{name!r}] must have shape (n_trials,) = ({act.shape[0]},); got {v.shape}.")
        F[:, k] = v
    conds, inverse = np.unique(F, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    means = np.stack([act[inverse == c].mean(axis=0) for c in range(len(conds))])  # (C, T, N)
    design = np.c_[np.ones(len(conds)), conds]
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise ValueError("the task variables are collinear over the conditions (or too few conditions): each "
                         "variable needs its own variation; drop a redundant variable.")
    beta = np.linalg.lstsq(design, means.reshape(len(conds), -1), rcond=None)[0]  # (1 + V, T * N)
    coef = beta[1:].reshape(len(names), act.shape[1], act.shape[2]).transpose(1, 2, 0)  # (T, N, V)
    if n_components is not None:
        if not isinstance(n_components, Integral) or not 1 <= n_components <= act.shape[2]:
            raise ValueError(f"n_components must be an integer in [1, {act.shape[2]}]; got {n_components!r}.")
        flat = means.reshape(-1, act.shape[2])
        flat = flat - flat.mean(axis=0)
        pcs = np.linalg.svd(flat, full_matrices=False)[2][:n_components].T  # (N, n_components)
        coef = np.einsum("ij,tjv->tiv", pcs @ pcs.T, coef)
    norms = np.linalg.norm(coef, axis=1)  # (T, V)
    if time_index is None:
        t_idx = np.argmax(norms, axis=0)
    else:
        if not isinstance(time_index, Integral) or not -act.shape[1] <= time_index < act.shape[1]:
            raise ValueError(f"time_index must be an integer step in [0, {act.shape[1]}); got {time_index!r}.")
        t_idx = np.full(len(names), time_index % act.shape[1])
    axes = coef[t_idx, :, np.arange(len(names))].T  # (N, V)
    if orthogonalize:
        q, r = np.linalg.qr(axes)
        axes = q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))
    axes = axes / np.maximum(np.linalg.norm(axes, axis=0), np.finfo(float).tiny)
    return Bunch(axes=axes, names=names, coefficients=coef, time_index=t_idx, condition_means=means)
