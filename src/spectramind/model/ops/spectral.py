"""Spectral kernels of the model: the challenge likelihood in torch and the low-rank
Gaussian posterior of a spectrum given noisy per-bin depths.

Shapes: ``n`` planets, ``W`` bins (283: bin 0 FGS1, bins 1.. AIRS), ``R`` basis columns.

Low-rank spectral prior (a GP with a low-rank plus diagonal covariance)::

    y = m + X c + e         c ~ N(0, diag(lam)),  e ~ N(0, diag(tau2))     (the spectrum)
    d = y + A o + n         o ~ N(0, diag(rho2)),  n ~ N(0, diag(s2))      (the physics fit)

``A`` (W, M) holds the patterns of the correlated errors of the fit (e.g. a constant on the
AIRS bins: the white-light geometry error shifts all AIRS depths together; smooth modes in
wavelength: drift residuals). With ``C = X diag(lam) X^T + diag(tau2)`` and
``Sd = C + A diag(rho2) A^T + diag(s2)``::

    E[y | d]   = m + C Sd^{-1} (d - m)
    Var[y | d] = diag(C - C Sd^{-1} C)

:func:`lowrank_posterior` computes both with the Woodbury identity in O(W R^2) per planet;
:func:`lowrank_posterior_ref` is the dense O(W^3) reference used by the tests. Without an
observation (``depth=None``) the posterior is the prior: ``(m, diag(C))``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from spectramind.constants import FGS_WEIGHT, SIGMA_FLOOR, SIGMA_TRUE_AIRS, SIGMA_TRUE_FGS

__all__ = [
    "challenge_log_likelihood",
    "challenge_score",
    "lowrank_posterior",
    "lowrank_posterior_ref",
    "second_difference",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def challenge_log_likelihood(y: Tensor, mu: Tensor, sigma: Tensor) -> Tensor:
    """Elementwise ``log N(y; mu, max(sigma, 1e-15))`` (broadcasting), as the metric."""
    s = sigma.clamp_min(SIGMA_FLOOR)
    z = (y - mu) / s
    return -_LOG_SQRT_2PI - torch.log(s) - 0.5 * z * z


def challenge_score(
    y: Tensor,
    mu: Tensor,
    sigma: Tensor,
    *,
    naive_mean: float,
    naive_sigma: float,
    fgs_weight: float = FGS_WEIGHT,
) -> Tensor:
    """Unclipped challenge score (a scalar tensor, differentiable in ``mu`` and ``sigma``).

    ``y, mu, sigma``: (n, W) with bin 0 the FGS1 bin. Equals
    ``spectramind.metric.challenge_score(..., clip=False)``: the weighted mean over elements
    of ``(L_pred - L_naive) / (L_true - L_naive)``, weight ``fgs_weight`` on bin 0.
    """
    if y.shape != mu.shape or y.shape != sigma.shape or y.dim() != 2:
        raise ValueError(
            f"y, mu, sigma must be equal (n, W) shapes, got {y.shape}, {mu.shape}, {sigma.shape}"
        )
    n_bins = y.shape[1]
    sigma_true = torch.full((n_bins,), SIGMA_TRUE_AIRS, dtype=y.dtype, device=y.device)
    sigma_true[0] = SIGMA_TRUE_FGS
    weights = torch.ones(n_bins, dtype=y.dtype, device=y.device)
    weights[0] = fgs_weight
    l_pred = challenge_log_likelihood(y, mu, sigma)
    l_true = -_LOG_SQRT_2PI - torch.log(sigma_true)
    l_naive = challenge_log_likelihood(
        y, torch.full_like(y, naive_mean), torch.full_like(y, naive_sigma)
    )
    ratio = (l_pred - l_naive) / (l_true - l_naive)
    return (ratio * weights).sum() / (weights.sum() * y.shape[0])


def second_difference(x: Tensor) -> Tensor:
    """``x[..., j+1] - 2 x[..., j] + x[..., j-1]`` along the last axis: (..., W) -> (..., W-2)."""
    return x[..., 2:] - 2.0 * x[..., 1:-1] + x[..., :-2]


def _check(mean: Tensor, basis: Tensor, lam: Tensor, tau2: Tensor, offset: Tensor) -> None:
    n, w = mean.shape
    if basis.shape[0] != w or basis.dim() != 2:
        raise ValueError(f"basis must be (W={w}, R), got {tuple(basis.shape)}")
    r = basis.shape[1]
    if lam.shape != (n, r):
        raise ValueError(f"lam must be (n={n}, R={r}), got {tuple(lam.shape)}")
    if tau2.shape != (n, w):
        raise ValueError(f"tau2 must be (n, W) = {(n, w)}, got {tuple(tau2.shape)}")
    if offset.dim() != 2 or offset.shape[0] != w:
        raise ValueError(f"offset must be (W={w}, M), got {tuple(offset.shape)}")


def lowrank_posterior(
    mean: Tensor,
    basis: Tensor,
    lam: Tensor,
    tau2: Tensor,
    *,
    depth: Tensor | None = None,
    noise_var: Tensor | None = None,
    offset: Tensor,
    offset_var: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Posterior mean and marginal variance of the spectrum (Woodbury form).

    Args:
        mean: (n, W) prior mean ``m``.
        basis: (W, R) columns of ``X``.
        lam: (n, R) prior variance of the coefficients ``c``.
        tau2: (n, W) prior variance of the per-bin part ``e``.
        depth: (n, W) observed depths ``d``; ``None``: no observation (returns the prior).
        noise_var: (n, W) variance ``s2`` of ``d``'s independent noise.
        offset: (W, M) patterns ``A`` of the correlated errors of ``d``.
        offset_var: (n, M) their variances ``rho2``.

    Returns:
        ``(post_mean, post_var)``, each (n, W).
    """
    _check(mean, basis, lam, tau2, offset)
    prior_var = torch.einsum("wr,nr->nw", basis * basis, lam) + tau2  # diag(C)
    if depth is None:
        return mean, prior_var
    if (
        noise_var is None
        or offset_var is None
        or depth.shape != mean.shape
        or noise_var.shape != mean.shape
    ):
        raise ValueError("depth, noise_var (n, W) and offset_var (n, M) are needed together")
    if offset_var.shape != (mean.shape[0], offset.shape[1]):
        raise ValueError(
            f"offset_var must be (n, M) = {(mean.shape[0], offset.shape[1])}, got {tuple(offset_var.shape)}"
        )
    n, w = mean.shape
    # Sd = D + U G U^T with D = tau2 + s2 (diagonal), U = [X, a], G = diag(lam, rho2)
    dinv = 1.0 / (tau2 + noise_var)  # (n, W)
    u = torch.cat([basis, offset], dim=1)  # (W, R+M)
    g = torch.cat([lam, offset_var], dim=1)  # (n, R+M)
    ut_dinv = u.T.unsqueeze(0) * dinv.unsqueeze(1)  # (n, R+M, W)
    m_mat = torch.diag_embed(1.0 / g) + ut_dinv @ u  # (n, R+M, R+M)
    m_chol = torch.linalg.cholesky(m_mat)

    def sd_inv(v: Tensor) -> Tensor:  # Sd^{-1} v for v (n, W, k)
        first = dinv.unsqueeze(-1) * v
        inner = torch.cholesky_solve(ut_dinv @ v, m_chol)  # (n, R+M, k)
        return first - dinv.unsqueeze(-1) * (u @ inner)

    # C = X L X^T + T acting on a vector: X (L (X^T v)) + T v
    def c_mul(v: Tensor) -> Tensor:
        return basis @ (lam.unsqueeze(-1) * (basis.T @ v)) + tau2.unsqueeze(-1) * v

    resid = (depth - mean).unsqueeze(-1)  # (n, W, 1)
    post_mean = mean + c_mul(sd_inv(resid)).squeeze(-1)

    # diag(C Sd^{-1} C) with Sd^{-1} = D^{-1} - D^{-1} U M^{-1} U^T D^{-1}:
    #   diag(C D^{-1} C) - rowsum(P * (P M^{-1})),  P = C D^{-1} U  (n, W, R+M)
    xl = basis.unsqueeze(0) * lam.unsqueeze(1)  # X diag(lam): (n, W, R)
    xt_dinv_x = (basis.T.unsqueeze(0) * dinv.unsqueeze(1)) @ basis  # (n, R, R)
    quad = torch.einsum("nwr,nrs,nws->nw", xl, xt_dinv_x, xl)  # x_j^T L X^T D^-1 X L x_j
    cdc = quad + 2.0 * tau2 * dinv * torch.einsum("nwr,wr->nw", xl, basis) + tau2 * tau2 * dinv
    xt_dinv_u = (basis.T.unsqueeze(0) * dinv.unsqueeze(1)) @ u  # (n, R, R+M)
    p_mat = xl @ xt_dinv_u + (tau2 * dinv).unsqueeze(-1) * u.unsqueeze(0)
    p_minv = torch.cholesky_solve(p_mat.transpose(1, 2), m_chol).transpose(1, 2)
    post_var = prior_var - (cdc - (p_mat * p_minv).sum(-1))
    return post_mean, post_var.clamp_min(0.0)


def lowrank_posterior_ref(
    mean: Tensor,
    basis: Tensor,
    lam: Tensor,
    tau2: Tensor,
    *,
    depth: Tensor,
    noise_var: Tensor,
    offset: Tensor,
    offset_var: Tensor,
) -> tuple[Tensor, Tensor]:
    """Dense reference of :func:`lowrank_posterior` (builds the (W, W) covariances)."""
    _check(mean, basis, lam, tau2, offset)
    c = torch.einsum("wr,nr,vr->nwv", basis, lam, basis) + torch.diag_embed(tau2)
    sd = c + torch.einsum("wm,nm,vm->nwv", offset, offset_var, offset) + torch.diag_embed(noise_var)
    gain = torch.linalg.solve(sd, c).transpose(1, 2)  # C Sd^{-1} (Sd, C symmetric)
    post_mean = mean + (gain @ (depth - mean).unsqueeze(-1)).squeeze(-1)
    post_var = torch.diagonal(c - gain @ c, dim1=1, dim2=2)
    return post_mean, post_var
