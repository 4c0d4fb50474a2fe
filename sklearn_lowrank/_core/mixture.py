"""The Gaussian-mixture low-rank network (torch only, no scikit-learn).

Each unit i carries a loading vector ``v_i = (m_i^1..R, n_i^1..R, I_i^1..K, w_i^1..O)`` drawn from one of P
Gaussian populations, ``v_i = mu_p(i) + L_p(i) z_i`` with standard-normal ``z_i``.  The trainable parameters
are the means ``mu_p`` and the Cholesky factors ``L_p`` (O(1) in the number of units); every call to
:meth:`weights` with a generator draws fresh ``z`` (the reparametrisation trick), so training learns a
distribution of networks.  Without a generator the network drawn from ``sample_seed`` is returned, the same
one at every call (prediction).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .network import NetworkWeights, RNNBase, inverse_softplus

__all__ = ["MixtureLowRankRNN", "population_sizes", "unit_populations", "loading_names"]

COVARIANCE_TYPES = ("full", "diag")


# ------------------------------------------------------------------------------------------------------------
# Populations and loadings
# ------------------------------------------------------------------------------------------------------------


def population_sizes(weights: torch.Tensor, n_units: int) -> torch.Tensor:
    """Number of units of each population: ``round(pi_p N)``, corrected so that the sizes add up to N.

    Largest-remainder rounding: every population gets ``floor(pi_p N)`` units, and the units left over go one
    each to the populations with the largest fractional parts (ties to the lower index).  Each size is
    therefore ``floor`` or ``ceil`` of ``pi_p N`` and the sizes always sum to ``n_units``: every unit belongs to
    exactly one population.

    Parameters
    ----------
    weights : Tensor of shape (n_components,)
        Mixture proportions, non-negative, summing to 1.
    n_units : int

    Returns
    -------
    sizes : LongTensor of shape (n_components,)

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.mixture import population_sizes
    >>> population_sizes(torch.tensor([1 / 3, 1 / 3, 1 / 3]), 100).tolist()   # floor would leave one unit out
    [34, 33, 33]
    """
    w = weights.detach().double().cpu()
    exact = w * n_units
    sizes = torch.floor(exact + 1e-9).long()
    left = n_units - int(sizes.sum())
    if left > 0:
        frac = exact - sizes.double()
        # stable descending sort: ties go to the lower index
        order = torch.sort(-frac, stable=True).indices
        sizes[order[:left]] += 1
    return sizes


def unit_populations(weights: torch.Tensor, n_units: int) -> torch.Tensor:
    """Population of each unit (contiguous blocks of :func:`population_sizes`), shape (n_units,).

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.mixture import unit_populations
    >>> unit_populations(torch.tensor([0.25, 0.75]), 6).tolist()
    [0, 0, 1, 1, 1, 1]
    """
    sizes = population_sizes(weights, n_units)
    return torch.repeat_interleave(torch.arange(sizes.numel()), sizes)


def loading_names(rank: int, n_inputs: int, n_outputs: int) -> list[str]:
    """Names of the d loadings in order: ``m1..mR, n1..nR, I1..IK, w1..wO``.

    Examples
    --------
    >>> from sklearn_lowrank._core.mixture import loading_names
    >>> loading_names(rank=1, n_inputs=2, n_outputs=1)
    ['m1', 'n1', 'I1', 'I2', 'w1']
    """
    return ([f"m{r + 1}" for r in range(rank)] + [f"n{r + 1}" for r in range(rank)]
            + [f"I{k + 1}" for k in range(n_inputs)] + [f"w{o + 1}" for o in range(n_outputs)])


# ------------------------------------------------------------------------------------------------------------
# Module
# ------------------------------------------------------------------------------------------------------------


class MixtureLowRankRNN(RNNBase):
    """Low-rank network whose per-unit loadings are sampled from a mixture of P Gaussians.

    Parameters
    ----------
    n_units, n_inputs, n_outputs, rank, n_components : int
    weights : Tensor of shape (n_components,), optional
        Mixture proportions pi (fixed, not trained); uniform by default.
    covariance_type : {"full", "diag"}, default="full"
        "full": ``Sigma_p = L_p L_p^T`` with L_p lower triangular, diagonal ``softplus(raw) > 0``; "diag": a
        diagonal L_p.
    init_scale : float, default=1.0
        Initial standard deviation of every loading.
    generator : torch.Generator, optional
        Source of the random initial means and off-diagonal factors (symmetry breaking between populations).
    sample_seed : int, default=0
        Seed of the network returned by ``weights(None)``.
    **kwargs
        ``alpha``, ``output_activation`` as in :class:`RNNBase` (the readout is always linear, with the w
        loadings).

    Notes
    -----
    The initial state is zero (a mixture has no per-unit initial state) and the readout bias is a single
    trainable vector of shape (n_outputs,).

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.mixture import MixtureLowRankRNN
    >>> net = MixtureLowRankRNN(100, 2, 1, 1, 2, alpha=0.2, generator=torch.Generator().manual_seed(0))
    >>> net(torch.zeros(3, 10, 2), generator=torch.Generator().manual_seed(1)).shape   # a fresh network
    torch.Size([3, 10, 1])
    >>> torch.equal(net.weights().m, net.weights().m)                                  # the sample_seed one
    True
    """

    def __init__(
        self,
        n_units: int,
        n_inputs: int,
        n_outputs: int,
        rank: int,
        n_components: int,
        *,
        weights: torch.Tensor | None = None,
        covariance_type: str = "full",
        init_scale: float = 1.0,
        generator: torch.Generator | None = None,
        sample_seed: int = 0,
        dtype: torch.dtype = torch.float32,
        **kwargs,
    ) -> None:
        kwargs["readout"] = "linear"
        super().__init__(n_units, n_inputs, n_outputs, **kwargs)
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}.")
        self.rank = rank
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.sample_seed = int(sample_seed)
        d = 2 * rank + n_inputs + n_outputs
        self.n_loadings = d
        if weights is None:
            weights = torch.full((n_components,), 1.0 / n_components, dtype=torch.float64)
        weights = torch.as_tensor(weights, dtype=torch.float64)
        self.register_buffer("mixture_weights", weights.clone())
        self.register_buffer("labels", unit_populations(weights, n_units))
        self.register_buffer("initial_state", torch.zeros(n_units, dtype=dtype))
        factory = {"dtype": dtype}
        self.means = nn.Parameter(0.1 * torch.randn(n_components, d, generator=generator, **factory))
        raw = float(inverse_softplus(torch.tensor(init_scale).double()))
        self.chol_diag = nn.Parameter(torch.full((n_components, d), raw, **factory))
        if covariance_type == "full":
            off = 0.1 * torch.randn(n_components, d, d, generator=generator, **factory)
            self.chol_lower = nn.Parameter(torch.tril(off, diagonal=-1))
        else:
            self.chol_lower = None
        self.readout_bias = nn.Parameter(torch.zeros(n_outputs, **factory))

    # -- distribution ----------------------------------------------------------------------------------------
    def cholesky_factors(self) -> torch.Tensor:
        """L_p of shape (n_components, d, d): lower triangular with a positive diagonal."""
        diag = torch.diag_embed(F.softplus(self.chol_diag))
        if self.chol_lower is None:
            return diag
        return diag + torch.tril(self.chol_lower, diagonal=-1)

    def covariances(self) -> torch.Tensor:
        """Sigma_p = L_p L_p^T of shape (n_components, d, d)."""
        L = self.cholesky_factors()
        return L @ L.transpose(-1, -2)

    def set_distribution(self, means: torch.Tensor, cholesky: torch.Tensor) -> None:
        """Overwrite the means (P, d) and Cholesky factors (P, d, d) (lower triangular, positive diagonal)."""
        with torch.no_grad():
            dtype = self.means.dtype
            self.means.copy_(torch.as_tensor(means).to(dtype))
            cholesky = torch.as_tensor(cholesky, dtype=torch.float64)
            diag = torch.diagonal(cholesky, dim1=-2, dim2=-1)
            if not bool((diag > 0).all()):
                raise ValueError("cholesky factors need a strictly positive diagonal.")
            self.chol_diag.copy_(inverse_softplus(diag.double()).to(dtype))
            if self.chol_lower is not None:
                self.chol_lower.copy_(torch.tril(cholesky, diagonal=-1).to(dtype))

    # -- sampling --------------------------------------------------------------------------------------------
    def sample_loadings(self, generator: torch.Generator | None = None, n_units: int | None = None):
        """Draw the loadings of one network.

        Parameters
        ----------
        generator : torch.Generator, optional
            Source of z; None uses a generator seeded with ``sample_seed`` (the same network at every call).
        n_units : int, optional
            Size of the network; ``self.n_units`` by default.

        Returns
        -------
        loadings : Tensor of shape (n_units, d)
            Differentiable in the means and Cholesky factors.
        labels : LongTensor of shape (n_units,)
            Population of each unit.
        """
        n = self.n_units if n_units is None else int(n_units)
        labels = self.labels if n == self.n_units else unit_populations(self.mixture_weights, n).to(
            self.means.device)
        if generator is None:
            generator = torch.Generator(device=self.means.device).manual_seed(self.sample_seed)
        z = torch.randn(n, self.n_loadings, generator=generator, device=self.means.device,
                        dtype=self.means.dtype)
        L = self.cholesky_factors()
        # Gather per-unit parameters: v_i = mu_p + L_p z_i, with p = labels[i].
        loadings = self.means[labels] + torch.einsum("nij,nj->ni", L[labels], z)
        return loadings, labels

    def split_loadings(self, loadings: torch.Tensor) -> NetworkWeights:
        """Turn loadings (n_units, d) into the :class:`NetworkWeights` of the corresponding network."""
        R, K = self.rank, self.n_inputs
        n_units = loadings.shape[0]
        return NetworkWeights(
            m=loadings[:, :R],
            n=loadings[:, R:2 * R],
            J=None,
            input_weights=loadings[:, 2 * R:2 * R + K].t(),
            initial_state=(self.initial_state if n_units == self.n_units
                           else self.initial_state.new_zeros(n_units)),
            readout_weights=loadings[:, 2 * R + K:],
            readout_bias=self.readout_bias,
        )

    def weights(self, generator: torch.Generator | None = None) -> NetworkWeights:
        """One sampled network: fresh draws with a generator, the ``sample_seed`` network without."""
        loadings, _ = self.sample_loadings(generator)
        return self.split_loadings(loadings)

    def extra_repr(self) -> str:
        return (f"n_units={self.n_units}, rank={self.rank}, n_components={self.n_components}, "
                f"covariance_type={self.covariance_type!r}, d={self.n_loadings}")

