"""GaussianMixtureRNN: networks whose connectivity loadings are drawn from a mixture of Gaussians.

Also the ways between a fitted :class:`LowRankRNNRegressor` and a mixture: ``from_network`` fits a mixture to a
network's loadings, ``sample_network`` draws a network from the mixture (built by :func:`fitted_network`). Choosing
the number of populations (BIC, the resampling test, bootstrap stability) lives in
:mod:`sklearn_lowrank.model_selection`; the loadings and the mixtures fitted to them in ``_populations``.
"""

from __future__ import annotations

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import BaseRNNEstimator, _assign_parameters
from ._core.canonical import canonicalize_
from ._core.mixture import MixtureLowRankRNN, loading_names
from ._core.network import LowRankRNN
from ._lowrank import LowRankRNNRegressor
from ._populations import (
    check_mixture_weights,
    check_population_count,
    cholesky_safe,
    fit_loadings_mixture,
    network_loadings,
)
from ._utils import _seed_from

__all__ = ["GaussianMixtureRNN"]


# ------------------------------------------------------------------------------------------------------------
# Networks drawn from the mixture
# ------------------------------------------------------------------------------------------------------------


def fitted_network(weights, *, rank, alpha, output_activation, noise_std, observation=None) -> LowRankRNNRegressor:
    """A fitted LowRankRNNRegressor (linear readout) holding the given weights (e.g. loadings drawn from a mixture),
    with m, n in canonical form and x0 = 0; ``observation`` (a Poisson readout, copied) makes it predict counts."""
    n_units = weights.m.shape[0]
    n_inputs = weights.input_weights.shape[0]
    n_outputs = weights.readout_weights.shape[1]
    est = LowRankRNNRegressor(rank, n_units=n_units, readout="linear", output_activation=output_activation,
                              alpha=alpha, noise_std=noise_std, init="random",
                              loss="squared_error" if observation is None else "poisson")
    module = LowRankRNN(n_units, n_inputs, n_outputs, rank, generator=torch.Generator().manual_seed(0),
                        alpha=alpha, readout="linear", output_activation=output_activation)
    with torch.no_grad():
        module.m.copy_(weights.m)
        module.n.copy_(weights.n)
        module.input_weights.copy_(weights.input_weights)
        module.initial_state.zero_()
        module.readout_weights.copy_(weights.readout_weights)
        module.readout_bias.copy_(weights.readout_bias)
    if observation is not None:
        module.observation = copy.deepcopy(observation).cpu()
    canonicalize_(module)
    est._adopt_module(module)
    return est


# ------------------------------------------------------------------------------------------------------------
# Estimator
# ------------------------------------------------------------------------------------------------------------


class GaussianMixtureRNN(BaseRNNEstimator):
    r"""Low-rank RNN whose per-unit connectivity loadings follow a mixture of P Gaussians.

    Unit i carries the loading vector :math:`v_i = (m_i^{1..R}, n_i^{1..R}, I_i^{1..K}, w_i^{1..O})` drawn
    from population p(i), :math:`v_i \sim \mathcal{N}(\mu_p, \Sigma_p)`; the network is the low-rank RNN

    .. math::

        x_{t+1} = x_t + \alpha(-x_t + m n^T \phi(x_t) / N + I u_t) + \sigma \xi_t, \qquad
        \hat y_t = g(x_{t+1}) w / N + b

    started from x_0 = 0. Only the means, the covariances and the readout bias b are trained (O(1) parameters
    in N), by backpropagation through networks of ``n_units`` units sampled afresh at every step
    (reparametrisation :math:`v_i = \mu_p + L_p z_i`, :math:`z_i \sim \mathcal{N}(0, I)`).

    Parameters
    ----------
    n_components : int, default=1
        Number of populations P.
    rank : int, default=1
        Rank R of the connectivity.
    n_units : int, default=512
        Size N of the networks sampled during training and for :meth:`predict`.
    covariance_type : {"full", "diag"}, default="full"
        "full": :math:`\Sigma_p = L_p L_p^T` with a lower-triangular L_p whose diagonal is kept positive by a
        softplus; "diag": independent loadings within each population.
    weights : array-like of shape (n_components,) or None, default=None
        Mixture proportions pi_p, fixed during training (which unit belongs to which population is discrete
        and carries no gradient). None: uniform. Population p gets round(pi_p N) units, corrected so that
        every unit belongs to exactly one population.
    alpha : float in (0, 1], default=0.2
        Time step over time constant, dt / tau.
    noise_std : float >= 0, default=0.0
        Recurrent noise during training (not scaled by sqrt(alpha)); never used at predict time.
    output_activation : {"identity", "tanh"}, default="tanh"
        g in the readout: "tanh" reads out rates phi(x), as in Dubreuil et al. [1]_.
    init_scale : float > 0, default=1.0
        Initial standard deviation of every loading; initial means are N(0, 0.1^2) (breaking the symmetry
        between populations).
    max_iter, batch_size, learning_rate_init, tol, n_iter_no_change
        As in :class:`LowRankRNNRegressor` (the same training loop).
    early_stopping, validation_fraction, clip_grad_norm, device, n_threads, verbose, warm_start
        As in :class:`LowRankRNNRegressor`.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the draws during training and the network used by :meth:`predict`; an int
        gives bit-identical CPU fits.
    loss : {"squared_error", "poisson"}, default="squared_error"
        "poisson": y holds spike counts per bin; each output's expected count is
        ``softplus(rate_gain_ * y_hat + rate_offset_)``, trained by the Poisson negative log-likelihood;
        ``predict`` returns expected counts, ``score`` the deviance explained (D^2). See
        :class:`LowRankRNNRegressor`.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixture proportions pi.
    means_ : ndarray of shape (n_components, n_loadings)
        Means mu_p of the loadings, in the order of ``loading_names_``.
    covariances_ : ndarray of shape (n_components, n_loadings, n_loadings)
        Covariances Sigma_p = L_p L_p^T.
    loading_names_ : ndarray of shape (n_loadings,)
        "m1".."mR", "n1".."nR", "I1".."IK", "w1".."wO"; n_loadings = 2R + K + O.
    readout_bias_ : ndarray of shape (n_outputs_,)
    rate_gain_, rate_offset_ : ndarray of shape (n_outputs_,)
        Gain and offset of the Poisson readout; only with ``loss="poisson"``.
    n_units_ : int
    n_outputs_ : int
    n_features_in_ : int
        Number of inputs K.
    loss_curve_ : list of float
    best_loss_ : float
    n_iter_ : int
    module_ : torch.nn.Module
        The fitted :class:`~sklearn_lowrank._core.mixture.MixtureLowRankRNN`.

    See Also
    --------
    LowRankRNNRegressor : one low-rank network with free per-unit loadings.
    sklearn_lowrank.meanfield : the analytic latent dynamics of the mixture.

    Notes
    -----
    ``predict`` and ``score`` simulate one network of ``n_units`` units drawn with a seed fixed at fit (so
    they are deterministic); :meth:`sample_network` draws others, of any size. As N grows the latent dynamics
    of sampled networks approach the mean-field equations of :mod:`sklearn_lowrank.meanfield`.

    References
    ----------
    .. [1] Dubreuil, Valente, Beiran, Mastrogiuseppe & Ostojic, "The role of population structure in
       computations through neural dynamics", Nature Neuroscience 2022.
    .. [2] Beiran, Dubreuil, Valente, Mastrogiuseppe & Ostojic, "Shaping dynamics with multiple populations in
       low-rank recurrent networks", Neural Computation 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lowrank import GaussianMixtureRNN
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(32, 10, 1)).astype(np.float32)
    >>> y = 0.5 * np.tanh(np.cumsum(X, axis=1) / 3)
    >>> est = GaussianMixtureRNN(n_components=2, n_units=64, max_iter=5, random_state=0).fit(X, y)
    >>> est.means_.shape, est.covariances_.shape, list(est.loading_names_)
    ((2, 4), (2, 4, 4), ['m1', 'n1', 'I1', 'w1'])
    >>> est.predict(X).shape
    (32, 10, 1)
    """

    _warm_start_fixed = ("rank", "n_components")

    _parameter_constraints: dict = {
        **BaseRNNEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "rank": [Interval(Integral, 1, None, closed="left")],
        "n_units": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "diag"})],
        "weights": ["array-like", None],
        "init_scale": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        rank=1,
        n_units=512,
        covariance_type="full",
        weights=None,
        alpha=0.2,
        noise_std=0.0,
        output_activation="tanh",
        init_scale=1.0,
        max_iter=200,
        batch_size="auto",
        learning_rate_init=1e-2,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        clip_grad_norm=1.0,
        device="cpu",
        n_threads=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        loss="squared_error",
    ):
        _assign_parameters(self, locals())

    # -- hooks -----------------------------------------------------------------------------------------------
    def _resolve_sizes(self, n_inputs: int, n_outputs: int) -> int:
        # The proportions are checked where the module is built from them (_build_module), once.
        check_population_count(self.n_components, self.n_units)
        if self.rank > self.n_units:
            raise ValueError(f"rank={self.rank} exceeds n_units={self.n_units}; choose rank <= n_units (J = m n^T / N "
                             "has rank at most N).")
        return self.n_units

    def _build_module(self, X, y, mask, n_units, generator, device):
        sample_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        module = MixtureLowRankRNN(
            n_units, X.shape[-1], y.shape[-1], self.rank, self.n_components,
            weights=torch.from_numpy(check_mixture_weights(self.weights, self.n_components)),
            covariance_type=self.covariance_type, init_scale=self.init_scale, generator=generator,
            sample_seed=sample_seed, alpha=self.alpha, output_activation=self.output_activation,
        )
        module = module.to(device)
        count_start = self._count_start(X, y, mask)
        if count_start is not None:
            # Gain 1 (the trained readout loadings set the scale); offsets at each neuron's mean log-rate.
            module.observation = count_start[0]
            with torch.no_grad():
                module.observation.gain.fill_(1.0)
        return module

    def _store_fitted(self) -> None:
        module = self.module_
        with torch.no_grad():
            L = module.cholesky_factors().detach().double().cpu()
            self.weights_ = module.mixture_weights.detach().cpu().numpy().astype(np.float64)
            self.means_ = module.means.detach().double().cpu().numpy()
            self.covariances_ = (L @ L.transpose(-1, -2)).numpy()
            self.readout_bias_ = module.readout_bias.detach().cpu().numpy().copy()
        self.loading_names_ = np.asarray(loading_names(module.rank, module.n_inputs, module.n_outputs),
                                         dtype=object)

    # -- public API ------------------------------------------------------------------------------------------
    def sample_network(self, n_units=None, random_state=None, *, return_labels=False):
        """Draw one network from the fitted mixture, as a fitted :class:`LowRankRNNRegressor`.

        Parameters
        ----------
        n_units : int or None, default=None
            Size of the network; ``n_units_`` by default.
        random_state : int, RandomState instance or None, default=None
            Seed of the draw; None gives a fresh network each call.
        return_labels : bool, default=False
            Also return the population of each unit.

        Returns
        -------
        network : LowRankRNNRegressor
            Fitted, with ``readout="linear"``: ``predict``, ``transform`` and the inspection tools apply. Its
            ``m_``, ``n_`` are in canonical form (the same J as the sampled loadings); the unit order is kept.
        labels : ndarray of shape (n_units,)
            Only if ``return_labels``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_lowrank import GaussianMixtureRNN
        >>> X = np.random.default_rng(0).normal(size=(8, 5, 2)).astype(np.float32)
        >>> y = np.tanh(X[..., :1])
        >>> mix = GaussianMixtureRNN(2, n_units=32, max_iter=2, random_state=0).fit(X, y)
        >>> net, labels = mix.sample_network(n_units=100, random_state=1, return_labels=True)
        >>> net.m_.shape, net.predict(X).shape, np.bincount(labels).tolist()
        ((100, 1), (8, 5, 1), [50, 50])
        """
        check_is_fitted(self, "module_")
        n = self.n_units_ if n_units is None else n_units
        if not isinstance(n, Integral) or n < self.module_.n_components:
            raise ValueError(f"n_units must be an integer >= n_components={self.module_.n_components}; "
                             f"got {n!r}.")
        generator = torch.Generator(device=self.module_.means.device).manual_seed(_seed_from(random_state))
        with torch.no_grad():
            loadings, labels = self.module_.sample_loadings(generator, n_units=int(n))
            weights = self.module_.split_loadings(loadings.cpu())
            weights.readout_bias = weights.readout_bias.cpu()
        net = fitted_network(weights, rank=self.module_.rank, alpha=self.module_.alpha,
                             output_activation=self.module_.output_activation, noise_std=self.noise_std,
                             observation=self.module_.observation)
        return (net, labels.cpu().numpy()) if return_labels else net

    @classmethod
    def from_parameters(cls, means, covariances, weights=None, *, rank=1, n_inputs=0, readout_bias=None,
                        **params):
        """A fitted GaussianMixtureRNN with given mixture parameters (no training).

        Parameters
        ----------
        means : array-like of shape (n_components, n_loadings)
            mu_p, loadings ordered m1..mR, n1..nR, I1..IK, w1..wO (n_loadings = 2R + K + O).
        covariances : array-like of shape (n_components, n_loadings, n_loadings)
            Sigma_p, symmetric positive semi-definite; factorised safely (a singular or slightly indefinite
            matrix from rounding gets its eigenvalues floored, never NaN). Diagonal with
            ``covariance_type="diag"``.
        weights : array-like of shape (n_components,) or None, default=None
            Mixture proportions (uniform by default).
        rank : int, default=1
        n_inputs : int, default=0
            K; the number of outputs is n_loadings - 2R - K.
        readout_bias : array-like of shape (n_outputs,), optional
            Zero by default.
        **params
            Other parameters of the estimator (``n_units``, ``alpha``, ``output_activation``,
            ``covariance_type``, ``random_state`` ...).

        Returns
        -------
        mixture : GaussianMixtureRNN
            Fitted: ``predict``, ``sample_network`` and :mod:`sklearn_lowrank.meanfield` apply.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_lowrank import GaussianMixtureRNN
        >>> means = np.array([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, -1.0, 0.0]])   # (m1, n1, I1, w1)
        >>> covs = np.stack([np.eye(4), 2 * np.eye(4)])
        >>> mix = GaussianMixtureRNN.from_parameters(means, covs, [0.25, 0.75], rank=1, n_inputs=1,
        ...                                          n_units=100, random_state=0)
        >>> mix.weights_.tolist(), np.bincount(mix.sample_network(return_labels=True)[1]).tolist()
        ([0.25, 0.75], [25, 75])
        """
        means = np.asarray(means, dtype=np.float64)
        covs = np.asarray(covariances, dtype=np.float64)
        if means.ndim != 2:
            raise ValueError(f"means must have shape (n_components, n_loadings); got {means.shape}.")
        P, d = means.shape
        if covs.shape != (P, d, d):
            raise ValueError(f"covariances must have shape (n_components, n_loadings, n_loadings) = ({P}, {d}, "
                             f"{d}); got {covs.shape}.")
        if not (np.all(np.isfinite(means)) and np.all(np.isfinite(covs))):
            raise ValueError("means and covariances must be finite.")
        if not isinstance(rank, Integral) or rank < 1:
            raise ValueError(f"rank must be a positive integer; got {rank!r}.")
        if not isinstance(n_inputs, Integral) or n_inputs < 0:
            raise ValueError(f"n_inputs must be a non-negative integer; got {n_inputs!r}.")
        n_outputs = d - 2 * rank - n_inputs
        if n_outputs < 0:
            raise ValueError(f"means has {d} loadings, fewer than 2 * rank + n_inputs = {2 * rank + n_inputs}.")
        mix = cls(P, rank=rank, weights=None if weights is None else np.asarray(weights, float).copy(), **params)
        mix._validate_params()
        if mix.covariance_type == "diag" and np.any(covs * (1 - np.eye(d)) != 0):
            raise ValueError("covariance_type='diag' but covariances has off-diagonal entries; pass diagonal "
                             "matrices or covariance_type='full'.")
        pi = check_mixture_weights(mix.weights, P)
        check_population_count(P, mix.n_units)
        bias = np.zeros(n_outputs) if readout_bias is None else np.asarray(readout_bias, float).ravel()
        if bias.shape != (n_outputs,):
            raise ValueError(f"readout_bias must have shape ({n_outputs},); got {bias.shape}.")
        module = MixtureLowRankRNN(
            mix.n_units, n_inputs, n_outputs, rank, P, weights=torch.from_numpy(pi),
            covariance_type=mix.covariance_type, sample_seed=_seed_from(mix.random_state), alpha=mix.alpha,
            output_activation=mix.output_activation,
        )
        module.set_distribution(torch.from_numpy(means), torch.from_numpy(cholesky_safe(covs, 0.0)))
        with torch.no_grad():
            module.readout_bias.copy_(torch.from_numpy(bias))
        mix._adopt_module(module)
        return mix

    @classmethod
    def from_network(cls, estimator, n_components=1, *, covariance_type="full", reg_covar=1e-6, n_init=1,
                     random_state=None, **params):
        """Fit a mixture of Gaussians to the per-unit loadings of a fitted low-rank network.

        scikit-learn's :class:`~sklearn.mixture.GaussianMixture` is fitted to the rows (m_i, n_i, I_i, w_i) of
        the network's loadings (canonical m, n), keeping the means and
        factorising the covariances safely (``reg_covar`` on the diagonal, eigenvalues clipped should rounding
        make one negative: never NaN).

        Parameters
        ----------
        estimator : LowRankRNNRegressor
            Fitted, with an integer rank and ``readout="linear"``.
        n_components : int, default=1
            Number of populations P.
        covariance_type : {"full", "diag"}, default="full"
        reg_covar : float >= 0, default=1e-6
            Added to the diagonal of each covariance.
        n_init : int, default=1
            Restarts of the EM algorithm.
        random_state : int, RandomState instance or None, default=None
            Seeds the EM initialisation and the network used by ``predict``.
        **params
            Other parameters of the returned GaussianMixtureRNN (e.g. ``n_units``); ``rank``, ``alpha``,
            ``output_activation`` and ``noise_std`` default to the estimator's.

        Returns
        -------
        mixture : GaussianMixtureRNN
            Fitted (``predict``, ``sample_network`` work); its ``weights`` parameter holds the fitted
            proportions so that refitting it keeps them.
        labels : ndarray of shape (estimator.n_units_,)
            Population of each unit of ``estimator``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_lowrank import GaussianMixtureRNN, LowRankRNNRegressor
        >>> X = np.random.default_rng(0).normal(size=(16, 5, 2)).astype(np.float32)
        >>> y = np.tanh(X[..., :1])
        >>> net = LowRankRNNRegressor(1, n_units=50, readout="linear", max_iter=2, random_state=0).fit(X, y)
        >>> mix, labels = GaussianMixtureRNN.from_network(net, n_components=2, random_state=0)
        >>> mix.means_.shape, labels.shape
        ((2, 5), (50,))
        """
        if covariance_type not in ("full", "diag"):
            raise ValueError(f"covariance_type must be 'full' or 'diag'; got {covariance_type!r}.")
        if not isinstance(reg_covar, Real) or reg_covar < 0:
            raise ValueError(f"reg_covar must be a float >= 0; got {reg_covar!r}.")
        V = network_loadings(estimator)
        if not isinstance(n_components, Integral) or not 1 <= n_components <= V.shape[0]:
            raise ValueError(f"n_components must be an integer in [1, {V.shape[0]}] (the number of units); "
                             f"got {n_components!r}.")
        x0 = float(np.abs(estimator.initial_state_).max())
        if x0 > 1e-6:
            warnings.warn(
                f"The network's trained initial state (max |x0| = {x0:.3g}) is not part of the mixture: networks "
                "drawn from it start from x0 = 0. If the task relies on x0, resampled networks will not perform "
                "like the original; fit the network with a zero initial state.", UserWarning, stacklevel=2)
        gmm = fit_loadings_mixture(V, n_components, covariance_type, reg_covar, n_init, random_state)
        labels = gmm.predict(V)
        covs = gmm.covariances_
        if covariance_type == "diag":
            covs = np.stack([np.diag(c) for c in covs])
        kwargs = {"rank": estimator.rank, "n_units": estimator.n_units_, "alpha": estimator.alpha,
                  "output_activation": estimator.output_activation, "noise_std": estimator.noise_std,
                  "random_state": random_state, "covariance_type": covariance_type}
        kwargs.update(params)
        mix = cls.from_parameters(gmm.means_, covs, gmm.weights_ / gmm.weights_.sum(),
                                  n_inputs=estimator.n_features_in_, readout_bias=estimator.readout_bias_,
                                  **kwargs)
        return mix, labels
