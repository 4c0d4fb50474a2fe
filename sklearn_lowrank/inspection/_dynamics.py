r"""Latent dynamics of low-rank networks under constant inputs: flow fields, fixed points, slow points.

For a network x_{t+1} = x_t + alpha (-x_t + m n^T phi(x_t) / N + W_in^T u) with a constant input u, write the
state as x = m kappa_s + W_in^T v + x_perp with x_perp outside span(m, W_in^T). Then v -> u and x_perp -> 0 at
the rate (1 - alpha) per step, and on the invariant set x = m kappa_s + W_in^T u the update is exactly

    kappa_s(t+1) = kappa_s(t) + alpha F(kappa_s),      F(kappa_s) = -kappa_s + n^T phi(m kappa_s + W_in^T u) / N

(the discrete map is the Euler step of dkappa/dt = F with dt / tau = alpha). The latents returned by
``LowRankRNNRegressor.transform`` are the projection kappa = m^+ x = kappa_s + m^+ W_in^T u: the same coordinates
shifted by a constant when m is not orthogonal to the input weights. Every result here is in the transform's
coordinates, so that flow fields and fixed points can be drawn over the trajectories of ``transform``.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy import optimize
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.validation import check_is_fitted

__all__ = ["latent_velocity", "latent_flow", "find_fixed_points", "find_slow_points", "find_fixed_points_full"]


# ---------------------------------------------------------------------------------------------------------------
# The reduced dynamics
# ---------------------------------------------------------------------------------------------------------------


class _Latent:
    """m, n, W_in, alpha of a fitted low-rank network (float64) and the input offset of the transform's kappa."""

    def __init__(self, estimator, inputs):
        check_is_fitted(estimator, "module_")
        if getattr(estimator, "rank", None) is None or not hasattr(estimator, "m_"):
            raise ValueError("estimator must be a fitted low-rank network (integer rank); for a full-rank network "
                             "use find_fixed_points_full, which works on the unit states.")
        self.m = np.asarray(estimator.m_, dtype=np.float64)
        self.n = np.asarray(estimator.n_, dtype=np.float64)
        self.w_in = np.asarray(estimator.input_weights_, dtype=np.float64)
        self.alpha = float(estimator.alpha)
        self.N, self.rank = self.m.shape
        self.u = _check_inputs(inputs, self.w_in.shape[0])
        self.drive = self.u @ self.w_in  # (N,)
        self.offset = np.linalg.pinv(self.m) @ self.drive  # transform's kappa minus kappa_s

    def velocity(self, kappa):
        """F at kappa (transform coordinates), shape (..., rank)."""
        x = (kappa - self.offset) @ self.m.T + self.drive
        return -(kappa - self.offset) + np.tanh(x) @ self.n / self.N

    def jacobian(self, kappa):
        """dF/dkappa, shape (..., rank, rank)."""
        x = (kappa - self.offset) @ self.m.T + self.drive
        gain = 1.0 - np.tanh(x) ** 2
        return -np.eye(self.rank) + np.einsum("ir,...i,is->...rs", self.n, gain, self.m) / self.N

    def box(self):
        """Every fixed point has |kappa_s,r| <= ||n_r||_1 / N (|phi| <= 1): bounds in transform coordinates."""
        half = np.abs(self.n).sum(axis=0) / self.N
        return self.offset - half, self.offset + half


def _check_inputs(inputs, n_inputs: int) -> np.ndarray:
    if inputs is None:
        return np.zeros(n_inputs)
    u = np.asarray(inputs, dtype=np.float64).ravel()
    if u.shape != (n_inputs,) or not np.all(np.isfinite(u)):
        raise ValueError(f"inputs must be a finite constant input of shape (n_inputs,) = ({n_inputs},); got "
                         f"shape {np.shape(inputs)}.")
    return u


def _stability(eigenvalues, alpha: float) -> np.ndarray:
    """Stable for the discrete map kappa + alpha F when every |1 + alpha lambda| < 1."""
    return np.all(np.abs(1.0 + alpha * eigenvalues) < 1.0, axis=-1)


def _dedupe(points, tol: float):
    """Indices of the first of each cluster of points closer than tol (max-norm)."""
    kept: list[int] = []
    for i, p in enumerate(points):
        if all(np.max(np.abs(p - points[j])) > tol for j in kept):
            kept.append(i)
    return kept


def _starts(lat: _Latent, n_starts: int, random_state, margin: float = 0.1) -> np.ndarray:
    lo, hi = lat.box()
    pad = margin * (hi - lo) + 1e-3
    lo, hi = lo - pad, hi + pad
    if lat.rank <= 2:
        axes = [np.linspace(lo[r], hi[r], n_starts) for r in range(lat.rank)]
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, lat.rank)
    rng = check_random_state(random_state)
    return rng.uniform(lo, hi, size=(n_starts**2, lat.rank))


def _check_count(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


# ---------------------------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------------------------


def latent_velocity(estimator, kappa, inputs=None):
    """Latent velocity F(kappa) = dkappa/dt (per time constant) of a low-rank network under a constant input.

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted, with an integer rank.
    kappa : array-like of shape (..., rank)
        Points in the coordinates of ``estimator.transform``.
    inputs : array-like of shape (n_inputs,), optional
        Constant input u (zeros by default).

    Returns
    -------
    velocity : ndarray of shape (..., rank), float64
        ``-kappa_s + n^T tanh(m kappa_s + W_in^T u) / N`` with ``kappa_s = kappa - m^+ W_in^T u``; one step of
        the network moves kappa by ``alpha * velocity`` (see the module notes).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> from sklearn_lowrank.inspection import latent_velocity
    >>> X, y = make_low_rank_teacher(n_units=20, rank=1, n_inputs=1, n_trials=8, n_timesteps=10,
    ...                              random_state=0, return_X_y=True)
    >>> est = LowRankRNNRegressor(rank=1, max_iter=0, random_state=0).fit(X, y)
    >>> latent_velocity(est, np.zeros((5, 1))).shape
    (5, 1)
    """
    lat = _Latent(estimator, inputs)
    kappa = np.asarray(kappa, dtype=np.float64)
    if kappa.ndim == 0 or kappa.shape[-1] != lat.rank:
        raise ValueError(f"kappa must have shape (..., rank) = (..., {lat.rank}); got {kappa.shape}.")
    return lat.velocity(kappa)


def latent_flow(estimator, kappa1, kappa2=None, *, inputs=None):
    """The flow field of a rank-1 or rank-2 network on a grid of latents, under a constant input.

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted, rank 1 or 2.
    kappa1 : array-like of shape (n1,)
        Grid of the first latent (transform coordinates).
    kappa2 : array-like of shape (n2,), optional
        Grid of the second latent; required for rank 2.
    inputs : array-like of shape (n_inputs,), optional
        Constant input (zeros by default).

    Returns
    -------
    flow : Bunch
        ``kappa1`` (n1,), ``kappa2`` (n2,) or None, ``velocity`` of shape (n1, 1) for rank 1 or (n2, n1, 2)
        for rank 2 (rows follow kappa2, as ``np.meshgrid`` and ``matplotlib.quiver`` expect), ``speed`` the
        kinetic energy q = |F|^2 / 2 of shape (n1,) or (n2, n1), ``inputs``. The layout of
        :func:`sklearn_lowrank.meanfield.mean_field_flow`; :func:`sklearn_lowrank.plotting.plot_flow_field`
        draws either. Choose the grids over the range of ``estimator.transform(X)``: the canonical loadings set
        the scale of kappa (see the user guide, "From your recording").

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.datasets import make_low_rank_teacher
    >>> from sklearn_lowrank.inspection import latent_flow
    >>> X, y = make_low_rank_teacher(n_units=20, rank=2, n_inputs=1, n_trials=8, n_timesteps=10,
    ...                              random_state=0, return_X_y=True)
    >>> est = LowRankRNNRegressor(rank=2, max_iter=0, random_state=0).fit(X, y)
    >>> flow = latent_flow(est, np.linspace(-1, 1, 5), np.linspace(-1, 1, 4))
    >>> flow.velocity.shape, flow.speed.shape
    ((4, 5, 2), (4, 5))
    """
    lat = _Latent(estimator, inputs)
    k1 = np.asarray(kappa1, dtype=np.float64).ravel()
    if lat.rank == 1:
        if kappa2 is not None:
            raise ValueError("kappa2 must be None for a rank-1 network.")
        velocity = lat.velocity(k1[:, None])
        k2 = None
    elif lat.rank == 2:
        if kappa2 is None:
            raise ValueError("kappa2 is required for a rank-2 network: pass the grid of the second latent.")
        k2 = np.asarray(kappa2, dtype=np.float64).ravel()
        grid = np.stack(np.meshgrid(k1, k2), axis=-1)
        velocity = lat.velocity(grid)
    else:
        raise ValueError(f"latent_flow draws rank 1 or 2; the network has rank {lat.rank}. Use latent_velocity "
                         "on chosen points, or find_fixed_points.")
    speed = 0.5 * np.sum(velocity**2, axis=-1)
    return Bunch(kappa1=k1, kappa2=k2, velocity=velocity, speed=speed, inputs=lat.u)


def find_fixed_points(estimator, inputs=None, *, n_starts=21, tol=1e-8, dedup_tol=1e-4, random_state=None):
    """Fixed points of the latent dynamics F(kappa) = 0 and their stability, from a grid of starts.

    ``scipy.optimize.root`` (hybrid Powell, with the analytic Jacobian) is started from a grid of ``n_starts``
    points per latent dimension (rank <= 2) or ``n_starts ** 2`` uniform draws (rank > 2) covering the box
    |kappa_s,r| <= ||n_r||_1 / N that contains every fixed point; converged roots are deduplicated.

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted, with an integer rank.
    inputs : array-like of shape (n_inputs,), optional
        Constant input (zeros by default).
    n_starts : int, default=21
    tol : float, default=1e-8
        Largest |F| accepted at a root.
    dedup_tol : float, default=1e-4
        Roots closer than this (max-norm) are one fixed point.
    random_state : int, RandomState instance or None, default=None
        Draws the starts for rank > 2.

    Returns
    -------
    result : Bunch
        ``kappa`` ndarray of shape (n_fixed_points, rank) sorted by the first latent (transform coordinates),
        ``eigenvalues`` complex ndarray of shape (n_fixed_points, rank) of dF/dkappa (per time constant),
        ``stable`` bool ndarray of shape (n_fixed_points,) (every |1 + alpha lambda| < 1, i.e. attracting for
        the network's discrete-time update), ``inputs``.

    Examples
    --------
    A rank-1 network with n = 3 m is bistable: two stable fixed points around an unstable one at 0.

    >>> import numpy as np
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.inspection import find_fixed_points
    >>> rng = np.random.default_rng(0)
    >>> X = np.zeros((4, 5, 1), np.float32); y = rng.normal(size=(4, 5, 50)).astype(np.float32)
    >>> est = LowRankRNNRegressor(rank=1, max_iter=0, random_state=0).fit(X, y)
    >>> est.m_ = rng.normal(size=(50, 1)); est.n_ = 3 * est.m_
    >>> fp = find_fixed_points(est)
    >>> fp.kappa.shape, fp.stable.tolist()
    ((3, 1), [True, False, True])
    """
    n_starts = _check_count(n_starts, "n_starts", 2)
    lat = _Latent(estimator, inputs)
    roots = []
    for start in _starts(lat, n_starts, random_state):
        sol = optimize.root(lat.velocity, start, jac=lat.jacobian, method="hybr")
        if np.all(np.isfinite(sol.x)) and np.max(np.abs(lat.velocity(sol.x))) <= tol:
            roots.append(sol.x)
    roots = np.array(roots).reshape(-1, lat.rank)
    roots = roots[_dedupe(roots, dedup_tol)] if len(roots) else roots
    roots = roots[np.argsort(roots[:, 0], kind="stable")] if len(roots) else roots
    eig = np.array([np.linalg.eigvals(lat.jacobian(k)) for k in roots]).reshape(-1, lat.rank)
    return Bunch(kappa=roots, eigenvalues=eig, stable=_stability(eig, lat.alpha), inputs=lat.u)


def find_slow_points(estimator, inputs=None, *, n_starts=21, max_speed=1e-2, dedup_tol=1e-3, random_state=None):
    """Local minima of the speed q(kappa) = |F(kappa)|^2 / 2: fixed points (q = 0) and slow points (q > 0).

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted, with an integer rank.
    inputs : array-like of shape (n_inputs,), optional
    n_starts : int, default=21
        Starts per latent dimension (as in :func:`find_fixed_points`).
    max_speed : float, default=1e-2
        Minima with q above this are dropped.
    dedup_tol : float, default=1e-3
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    result : Bunch
        ``kappa`` ndarray of shape (n_points, rank) and ``speed`` ndarray of shape (n_points,), sorted by
        speed; ``inputs``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.inspection import find_slow_points
    >>> rng = np.random.default_rng(0)
    >>> X = np.zeros((4, 5, 1), np.float32); y = rng.normal(size=(4, 5, 50)).astype(np.float32)
    >>> est = LowRankRNNRegressor(rank=1, max_iter=0, random_state=0).fit(X, y)
    >>> est.m_ = rng.normal(size=(50, 1)); est.n_ = 1.02 * est.m_ / np.mean(est.m_ ** 2)
    >>> slow = find_slow_points(est)
    >>> bool(slow.speed.min() < 1e-8)
    True
    """
    n_starts = _check_count(n_starts, "n_starts", 2)
    if not isinstance(max_speed, Real) or max_speed < 0:
        raise ValueError(f"max_speed must be a number >= 0; got {max_speed!r}.")
    lat = _Latent(estimator, inputs)

    def q_and_grad(k):
        f = lat.velocity(k)
        return 0.5 * f @ f, lat.jacobian(k).T @ f

    found, speeds = [], []
    for start in _starts(lat, n_starts, random_state):
        sol = optimize.minimize(q_and_grad, start, jac=True, method="BFGS", options={"gtol": 1e-10})
        if np.all(np.isfinite(sol.x)) and sol.fun <= max_speed:
            found.append(sol.x)
            speeds.append(float(sol.fun))
    found = np.array(found).reshape(-1, lat.rank)
    speeds = np.array(speeds)
    order = np.argsort(speeds, kind="stable")
    found, speeds = found[order], speeds[order]
    keep = _dedupe(found, dedup_tol) if len(found) else []
    return Bunch(kappa=found[keep], speed=speeds[keep], inputs=lat.u)


def find_fixed_points_full(estimator, initial_states, inputs=None, *, tol=1e-6, dedup_tol=1e-3):
    """Fixed points of the full N-dimensional dynamics, for any network (full rank, or rank > 2).

    Solves -x + J tanh(x) + W_in^T u = 0 with ``scipy.optimize.root`` from each given state (e.g. states along
    trajectories from ``predict_states``), deduplicates, and projects the fixed points on the latents of a
    low-rank network (``m^+ x``, the coordinates of ``transform``).

    Parameters
    ----------
    estimator : LowRankRNNRegressor
        Fitted, low or full rank.
    initial_states : array-like of shape (n_starts, n_units)
        Starting states.
    inputs : array-like of shape (n_inputs,), optional
        Constant input (zeros by default).
    tol : float, default=1e-6
        Largest |F| accepted at a root.
    dedup_tol : float, default=1e-3
        Roots closer than this (max-norm over units) are one fixed point.

    Returns
    -------
    result : Bunch
        ``states`` ndarray of shape (n_fixed_points, n_units); ``kappa`` ndarray of shape (n_fixed_points, rank)
        (None for full rank); ``eigenvalues`` complex ndarray of shape (n_fixed_points, n_units) of the Jacobian
        -I + J diag(tanh'(x)), sorted by decreasing real part; ``stable`` bool ndarray of shape (n_fixed_points,).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import LowRankRNNRegressor
    >>> from sklearn_lowrank.inspection import find_fixed_points_full
    >>> rng = np.random.default_rng(0)
    >>> X = np.zeros((4, 5, 1), np.float32); y = rng.normal(size=(4, 5, 30)).astype(np.float32)
    >>> est = LowRankRNNRegressor(rank=None, init="random", max_iter=0, random_state=0).fit(X, y)
    >>> fp = find_fixed_points_full(est, rng.normal(size=(3, 30)))
    >>> fp.states.shape, bool(np.abs(fp.states).max() < 1e-6), fp.stable.tolist()
    ((1, 30), True, [True])
    """
    check_is_fitted(estimator, "module_")
    J = np.asarray(estimator.connectivity_, dtype=np.float64)
    N = J.shape[0]
    w_in = np.asarray(estimator.input_weights_, dtype=np.float64)
    drive = _check_inputs(inputs, w_in.shape[0]) @ w_in
    starts = np.asarray(initial_states, dtype=np.float64)
    if starts.ndim == 1:
        starts = starts[None]
    if starts.ndim != 2 or starts.shape[1] != N:
        raise ValueError(f"initial_states must have shape (n_starts, n_units) = (n_starts, {N}); got "
                         f"{np.shape(initial_states)}.")

    def F(x):
        return -x + J @ np.tanh(x) + drive

    def jac(x):
        return -np.eye(N) + J * (1.0 - np.tanh(x) ** 2)[None, :]

    roots = []
    for start in starts:
        sol = optimize.root(F, start, jac=jac, method="hybr")
        if np.all(np.isfinite(sol.x)) and np.max(np.abs(F(sol.x))) <= tol:
            roots.append(sol.x)
    roots = np.array(roots).reshape(-1, N)
    roots = roots[_dedupe(roots, dedup_tol)] if len(roots) else roots
    eig = np.array([np.linalg.eigvals(jac(x)) for x in roots]).reshape(-1, N)
    eig = -np.sort(-eig, axis=1) if eig.size else eig.astype(complex)
    kappa = None
    if getattr(estimator, "rank", None) is not None:
        kappa = roots @ np.linalg.pinv(np.asarray(estimator.m_, dtype=np.float64)).T
    return Bunch(states=roots, kappa=kappa, eigenvalues=eig, stable=_stability(eig, float(estimator.alpha)))
