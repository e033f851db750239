"""The spectral decoder: the low-rank prior layer and the heteroscedastic head.

:class:`SpectralPriorLayer` holds the training-label prior (:mod:`spectramind.model.prior`)
as buffers plus a few learnable noise/prior scales, and turns the physics fit's depths and
uncertainties into a posterior mean and variance (``ops.spectral.lowrank_posterior``).
:class:`HeteroscedasticHead` adds the learned, planet-specific correction to that posterior:
``mu`` and a positive ``sigma`` for every bin. All spectral arithmetic is float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spectramind.model.ops.spectral import lowrank_posterior
from spectramind.model.prior import SpectralPrior

__all__ = ["N_MODULATIONS", "HeteroscedasticHead", "SpectralPriorLayer"]

#: per-planet modulations of the prior layer: log scales of the shape prior (bounded, either
#: way), of the FGS1 noise, the AIRS noise and the AIRS offset (inflation mostly: >= -log 2)
N_MODULATIONS = 4
#: bound on every learned log scale (a factor e^4 ~ 55 either way)
_MAX_LOG = 4.0
_F64 = torch.float64
#: unit of the learned physics depth bias (100 ppm): keeps the parameter O(1)
_BIAS_UNIT = 1e-4


def _bounded(x: Tensor) -> Tensor:
    return _MAX_LOG * torch.tanh(x / _MAX_LOG)


def _inflation(x: Tensor) -> Tensor:
    """A log-scale that mostly inflates: 0 at x = 0, at least -log 2, at most _MAX_LOG.

    The metric punishes over-confidence far harder than under-confidence, and a planet unlike
    the training ones must not get a sigma far below the global calibration."""
    return (F.softplus(x) - math.log(2.0)).clamp_max(_MAX_LOG)


class SpectralPriorLayer(nn.Module):
    """Posterior of the spectrum under the low-rank prior given the physics fit.

    Buffers (from the training labels): ``mean`` (W,), ``basis`` (W, R), ``lam`` (R,), ``tau2``
    (W,), ``amp_ref`` (), ``offset`` (W,) (1 on AIRS bins), ``coherence`` (3,), ``curvature``
    (W-3,), ``level_mean`` (), ``ortho`` (W, R) (orthonormal ``basis``).
    Parameters: ``log_noise_scale`` (2,) and ``log_noise_floor`` (2,) per instrument (FGS1,
    AIRS) for ``s2 = (scale sigma)^2 + floor^2``; ``log_offset`` and ``log_baseline`` for the
    AIRS offset variance ``rho^2 (1 + (b / baseline_h)^4)`` (a short out-of-transit baseline
    makes the physics level degenerate with the drift); ``depth_bias`` (2,) per instrument, a
    systematic bias of the physics depths (units of 1e-4); ``log_shape`` (scale of the
    coefficient prior). The remainder variance ``tau2`` is not learned: it is the
    leave-one-out estimate, which the in-sample likelihood would shrink.
    """

    mean: Tensor
    basis: Tensor
    lam: Tensor
    tau2: Tensor
    amp_ref: Tensor
    offset: Tensor
    coherence: Tensor
    curvature: Tensor
    level_mean: Tensor
    ortho: Tensor

    def __init__(self, *, n_bins: int, rank: int, device: torch.device | str | None = None) -> None:
        super().__init__()
        fk: dict[str, Any] = {"device": device, "dtype": _F64}
        self.n_bins, self.rank = n_bins, rank
        r = rank + 1
        for name, shape in (("mean", (n_bins,)), ("basis", (n_bins, r)), ("lam", (r,)), ("tau2", (n_bins,)),
                            ("amp_ref", ()), ("offset", (n_bins,)), ("coherence", (3,)),
                            ("curvature", (n_bins - 3,)), ("level_mean", ()), ("ortho", (n_bins, r))):
            self.register_buffer(name, torch.zeros(shape, **fk))
        self.log_noise_scale = nn.Parameter(torch.zeros(2, **fk))
        self.log_noise_floor = nn.Parameter(torch.full((2,), math.log(1e-5), **fk))
        self.log_offset = nn.Parameter(torch.tensor(math.log(1e-4), **fk))
        self.log_baseline = nn.Parameter(torch.tensor(math.log(1.5), **fk))
        self.depth_bias = nn.Parameter(torch.zeros(2, **fk))
        self.log_shape = nn.Parameter(torch.zeros((), **fk))

    @torch.no_grad()
    def set_prior(self, prior: SpectralPrior) -> None:
        """Copy a fitted :class:`SpectralPrior` into the buffers (shapes must match)."""
        if prior.basis.shape != tuple(self.basis.shape):
            raise ValueError(f"prior basis {prior.basis.shape} != layer basis {tuple(self.basis.shape)}")
        offset = np.ones(self.n_bins)
        offset[0] = 0.0
        ortho = prior.basis.copy()
        ortho[:, 0] /= np.sqrt(self.n_bins)
        values = {"mean": prior.mean, "basis": prior.basis, "lam": prior.lam, "tau2": prior.tau2,
                  "amp_ref": prior.amp_ref, "offset": offset, "coherence": np.asarray(prior.coherence),
                  "curvature": prior.curvature, "level_mean": prior.level_mean, "ortho": ortho}
        for name, v in values.items():
            getattr(self, name).copy_(torch.as_tensor(np.asarray(v), dtype=_F64))

    def forward(self, *, amp: Tensor, mods: Tensor, depth: Tensor | None = None, sigma: Tensor | None = None,
                baseline_h: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """amp (n,), mods (n, 4) log-scale modulations, depth/sigma (n, W) and baseline_h (n,)
        or None -> posterior (mean, var) and the planet's prior per-bin variance tau2, each
        (n, W) float64."""
        n = amp.shape[0]
        mods = mods.to(_F64)
        mods = torch.cat([_bounded(mods[:, :1]), _inflation(mods[:, 1:])], dim=1)
        amp2 = (amp.to(_F64) / self.amp_ref) ** 2
        shape_var = amp2 * torch.exp(2.0 * (self.log_shape + mods[:, 0]))  # (n,)
        lam = torch.cat([self.lam[:1].unsqueeze(0).expand(n, 1), self.lam[1:] * shape_var[:, None]], dim=1)
        tau2 = self.tau2 * amp2[:, None]
        mean = self.mean.expand(n, -1)
        if depth is None or sigma is None or baseline_h is None:
            return (*lowrank_posterior(mean, self.basis, lam, tau2, offset=self.offset), tau2)
        inst = torch.zeros(self.n_bins, dtype=torch.long, device=depth.device)
        inst[1:] = 1
        log_scale = self.log_noise_scale[inst] + torch.stack([mods[:, 1], mods[:, 2]], dim=1)[:, inst]
        noise_var = (torch.exp(log_scale) * sigma.to(_F64)) ** 2 + torch.exp(2.0 * self.log_noise_floor[inst])
        # a short out-of-transit baseline makes the level degenerate with the drift
        short = (torch.exp(self.log_baseline) / baseline_h.to(_F64).clamp_min(0.1)) ** 4
        offset_var = torch.exp(2.0 * (self.log_offset + mods[:, 3])) * (1.0 + short)
        depth = depth.to(_F64) - _BIAS_UNIT * self.depth_bias[inst]
        post = lowrank_posterior(mean, self.basis, lam, tau2, depth=depth, noise_var=noise_var,
                                 offset=self.offset, offset_var=offset_var)
        return (*post, tau2)


class HeteroscedasticHead(nn.Module):
    """``mu`` and positive ``sigma`` per bin from the embedding and the prior posterior.

    With ``s`` the planet's mean AIRS posterior std (detached)::

        mu    = post_mean + s * (ortho @ coef + delta)
        sigma = sqrt(post_var + floor^2) * exp(log_sigma_scale[instrument] + inflation(log_sigma))

    ``coef`` (R), ``delta`` (W) and ``log_sigma`` (W) are linear in the embedding and zero at
    initialisation, so an untrained head returns the prior posterior. The per-planet
    ``inflation`` is at least -log 2: only the global scale, fitted on all training planets,
    can make sigma much smaller than the posterior's. ``delta`` is the
    free per-bin part that the symbolic losses regularise.
    emb (n, d), post_mean/post_var (n, W), ortho (W, R) -> (mu, sigma, delta) each (n, W).
    """

    def __init__(self, *, d_in: int, n_bins: int, rank: int, sigma_floor: float = 1e-6,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.n_bins, self.rank, self.sigma_floor = n_bins, rank, sigma_floor
        self.proj = nn.Linear(d_in, (rank + 1) + 2 * n_bins, device=device, dtype=dtype)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.log_sigma_scale = nn.Parameter(torch.zeros(2, device=device, dtype=_F64))

    def forward(self, emb: Tensor, post_mean: Tensor, post_var: Tensor, ortho: Tensor
                ) -> tuple[Tensor, Tensor, Tensor]:
        out = self.proj(emb).to(_F64)
        r = self.rank + 1
        coef, delta, log_sigma = out[:, :r], out[:, r : r + self.n_bins], out[:, r + self.n_bins :]
        scale = post_var[:, 1:].mean(dim=1, keepdim=True).sqrt().detach()
        mu = post_mean + scale * (coef @ ortho.T + delta)
        inst = torch.ones(self.n_bins, dtype=torch.long, device=emb.device)
        inst[0] = 0
        log_s = _bounded(self.log_sigma_scale[inst]) + _inflation(log_sigma)
        sigma = torch.sqrt(post_var + self.sigma_floor**2) * torch.exp(log_s)
        return mu, sigma, scale * delta
