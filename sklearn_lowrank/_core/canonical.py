"""The canonical form of low-rank loadings: orthogonal, balanced columns ordered by singular value."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["canonical_factors", "canonicalize_"]


def canonical_factors(m: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-express ``m n^T`` with orthogonal, balanced columns ordered by singular value (float64).

    Parameters
    ----------
    m, n : Tensor of shape (n_units, rank)

    Returns
    -------
    m_c, n_c : float64 Tensor of shape (n_units, rank)
        ``m_c n_c^T = m n^T``; the columns of ``m_c`` are orthogonal, those of ``n_c`` too, column r of both has
        norm sqrt(s_r) where s_r is the r-th singular value of ``m n^T``; the largest-magnitude entry of each
        column of ``m_c`` is positive.

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core.canonical import canonical_factors
    >>> m, n = torch.randn(30, 2, dtype=torch.float64), torch.randn(30, 2, dtype=torch.float64)
    >>> m_c, n_c = canonical_factors(m, n)
    >>> bool(torch.allclose(m_c @ n_c.T, m @ n.T)), bool(abs(m_c[:, 0] @ m_c[:, 1]) < 1e-8)
    (True, True)
    """
    m, n = m.detach().double(), n.detach().double()
    qm, rm = torch.linalg.qr(m)
    qn, rn = torch.linalg.qr(n)
    u, s, vt = torch.linalg.svd(rm @ rn.T)
    scale = s.sqrt()
    m_c, n_c = (qm @ u) * scale, (qn @ vt.T) * scale
    idx = m_c.abs().argmax(dim=0)
    signs = torch.sign(m_c[idx, torch.arange(m_c.shape[1], device=m_c.device)])
    signs[signs == 0] = 1.0
    return m_c * signs, n_c * signs


def canonicalize_(module: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Rotate a low-rank module's ``m``, ``n`` into canonical form in place (J unchanged).

    The optimiser's state for ``m`` and ``n`` (Adam's moments, kept for a warm start) refers to the old basis and
    is dropped; the state of the other parameters is kept. L-BFGS's state (a history of steps of all parameters
    together) is dropped whole. Modules without ``m``, ``n`` are left as they are.

    Parameters
    ----------
    module : nn.Module
    optimizer : torch.optim.Optimizer, optional

    Examples
    --------
    >>> import torch
    >>> from sklearn_lowrank._core import LowRankRNN
    >>> from sklearn_lowrank._core.canonical import canonicalize_
    >>> net = LowRankRNN(10, 0, 10, 2, alpha=0.2, generator=torch.Generator().manual_seed(0))
    >>> J = (net.m @ net.n.T).detach()
    >>> canonicalize_(net)
    >>> bool(torch.allclose(net.m @ net.n.T, J, atol=1e-5)), bool(abs(net.m[:, 0] @ net.m[:, 1]) < 1e-4)
    (True, True)
    """
    m, n = getattr(module, "m", None), getattr(module, "n", None)
    if not isinstance(m, nn.Parameter) or not isinstance(n, nn.Parameter):
        return
    m_c, n_c = canonical_factors(m, n)
    with torch.no_grad():
        m.copy_(m_c)
        n.copy_(n_c)
    if isinstance(optimizer, torch.optim.LBFGS):
        optimizer.state.clear()
    elif optimizer is not None:
        for p in (m, n):
            optimizer.state.pop(p, None)
