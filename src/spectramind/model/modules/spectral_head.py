"""The spectral decoder: the low-rank prior layer and the heteroscedastic head.

:class:`SpectralPriorLayer` holds the training-label prior (:mod:`spectramind.model.prior`)
as buffers plus a few learnable noise/prior scales, and turns the physics fit's depths and
uncertainties into a posterior mean and variance (``ops.spectral.lowrank_posterior``).
:class:`HeteroscedasticHead` adds the learned, planet-specific correction to that posterior:
``mu`` and a positive ``sigma`` for every bin; :class:`WavelengthHead` maps the fusion's
AIRS wavelength tokens to a per-bin part of that correction. All spectral arithmetic is
float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spectramind.model.data import wavelength_groups
from spectramind.model.ops.spectral import lowrank_posterior
from spectramind.model.prior import SpectralPrior

__all__ = ["N_MODULATIONS", "HeteroscedasticHead", "SpectralPriorLayer", "WavelengthHead"]

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


def error_modes(n_bins: int, n_modes: int) -> Tensor:
    """(n_bins, 1 + n_modes) patterns of correlated physics-fit errors: a constant on the AIRS
    bins, then Legendre polynomials P_1..P_n_modes across the AIRS bins (FGS1 bin 0 is 0)."""
    x = torch.linspace(-1.0, 1.0, n_bins - 1, dtype=_F64)
    cols = [torch.ones_like(x)]
    p_prev, p = torch.ones_like(x), x
    for k in range(1, n_modes + 1):
        cols.append(p)
        p_prev, p = p, ((2 * k + 1) * x * p - k * p_prev) / (k + 1)
    out = torch.zeros(n_bins, 1 + n_modes, dtype=_F64)
    out[1:] = torch.stack(cols, dim=1)
    return out


class SpectralPriorLayer(nn.Module):
    """Posterior of the spectrum under the low-rank prior given the physics fit.

    Buffers (from the training labels): ``mean`` (W,), ``basis`` (W, R), ``lam`` (R,), ``tau2``
    (W,), ``amp_ref`` (), ``coherence`` (3,), ``curvature`` (W-3,), ``level_mean`` (), ``ortho``
    (W, R) (orthonormal ``basis``); ``offset`` (W, 1 + M) the error patterns of
    :func:`error_modes` (derived from the config, not saved).
    Parameters: ``log_noise_scale`` (2,) and ``log_noise_floor`` (2,) per instrument (FGS1,
    AIRS) for ``s2 = (scale sigma)^2 + floor^2``; ``log_offset``, ``log_offset_scale`` and
    ``log_baseline`` for the variance of the AIRS level offset,
    ``(rho0^2 + (a level_err)^2) (1 + (b / baseline_h)^4)``: the white-light fit's own depth
    uncertainty ``level_err``, recalibrated, inflated when a short out-of-transit baseline
    makes the level degenerate with the drift; ``log_modes`` (M,) for the variances
    ``(m_k level_err)^2`` of the smooth error modes P_1..P_M (drift residuals are correlated
    across wavelength, far beyond the independent per-bin sigma); ``depth_bias`` (2,) per instrument, a
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

    def __init__(
        self,
        *,
        n_bins: int,
        rank: int,
        noise_modes: int = 6,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        fk: dict[str, Any] = {"device": device, "dtype": _F64}
        self.n_bins, self.rank, self.noise_modes = n_bins, rank, noise_modes
        r = rank + 1
        for name, shape in (
            ("mean", (n_bins,)),
            ("basis", (n_bins, r)),
            ("lam", (r,)),
            ("tau2", (n_bins,)),
            ("amp_ref", ()),
            ("coherence", (3,)),
            ("curvature", (n_bins - 3,)),
            ("level_mean", ()),
            ("ortho", (n_bins, r)),
        ):
            self.register_buffer(name, torch.zeros(shape, **fk))
        self.register_buffer("offset", error_modes(n_bins, noise_modes).to(**fk), persistent=False)
        self.log_noise_scale = nn.Parameter(torch.zeros(2, **fk))
        self.log_noise_floor = nn.Parameter(torch.full((2,), math.log(1e-5), **fk))
        self.log_offset = nn.Parameter(torch.tensor(math.log(2e-5), **fk))
        self.log_offset_scale = nn.Parameter(torch.tensor(math.log(1.3), **fk))
        self.log_baseline = nn.Parameter(torch.tensor(math.log(1.5), **fk))
        self.log_modes = nn.Parameter(torch.zeros(noise_modes, **fk))
        self.depth_bias = nn.Parameter(torch.zeros(2, **fk))
        self.log_shape = nn.Parameter(torch.zeros((), **fk))

    @torch.no_grad()
    def set_prior(self, prior: SpectralPrior) -> None:
        """Copy a fitted :class:`SpectralPrior` into the buffers (shapes must match)."""
        if prior.basis.shape != tuple(self.basis.shape):
            raise ValueError(
                f"prior basis {prior.basis.shape} != layer basis {tuple(self.basis.shape)}"
            )
        ortho = prior.basis.copy()
        ortho[:, 0] /= np.sqrt(self.n_bins)
        values = {
            "mean": prior.mean,
            "basis": prior.basis,
            "lam": prior.lam,
            "tau2": prior.tau2,
            "amp_ref": prior.amp_ref,
            "coherence": np.asarray(prior.coherence),
            "curvature": prior.curvature,
            "level_mean": prior.level_mean,
            "ortho": ortho,
        }
        for name, v in values.items():
            getattr(self, name).copy_(torch.as_tensor(np.asarray(v), dtype=_F64))

    def forward(
        self,
        *,
        amp: Tensor,
        mods: Tensor,
        depth: Tensor | None = None,
        sigma: Tensor | None = None,
        baseline_h: Tensor | None = None,
        level_err: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """amp (n,), mods (n, 4) log-scale modulations; the physics fit: depth/sigma (n, W),
        baseline_h (n,), level_err (n,), or None -> posterior (mean, var) and the planet's prior
        per-bin variance tau2, each (n, W) float64."""
        n = amp.shape[0]
        mods = mods.to(_F64)
        mods = torch.cat([_bounded(mods[:, :1]), _inflation(mods[:, 1:])], dim=1)
        amp2 = (amp.to(_F64) / self.amp_ref) ** 2
        shape_var = amp2 * torch.exp(2.0 * (self.log_shape + mods[:, 0]))  # (n,)
        lam = torch.cat(
            [self.lam[:1].unsqueeze(0).expand(n, 1), self.lam[1:] * shape_var[:, None]], dim=1
        )
        tau2 = self.tau2 * amp2[:, None]
        mean = self.mean.expand(n, -1)
        if depth is None or sigma is None or baseline_h is None or level_err is None:
            return (*lowrank_posterior(mean, self.basis, lam, tau2, offset=self.offset), tau2)
        inst = torch.zeros(self.n_bins, dtype=torch.long, device=depth.device)
        inst[1:] = 1
        log_scale = (
            self.log_noise_scale[inst] + torch.stack([mods[:, 1], mods[:, 2]], dim=1)[:, inst]
        )
        noise_var = (torch.exp(log_scale) * sigma.to(_F64)) ** 2 + torch.exp(
            2.0 * self.log_noise_floor[inst]
        )
        # a short out-of-transit baseline makes the level degenerate with the drift
        short = (torch.exp(self.log_baseline) / baseline_h.to(_F64).clamp_min(0.1)) ** 4
        level_err = level_err.to(_F64)
        level_var = (
            torch.exp(2.0 * self.log_offset) + (torch.exp(self.log_offset_scale) * level_err) ** 2
        )
        level_var = level_var * torch.exp(2.0 * mods[:, 3]) * (1.0 + short)
        mode_var = torch.exp(2.0 * self.log_modes) * level_err[:, None] ** 2  # (n, M)
        offset_var = torch.cat([level_var[:, None], mode_var], dim=1)
        depth = depth.to(_F64) - _BIAS_UNIT * self.depth_bias[inst]
        post = lowrank_posterior(
            mean,
            self.basis,
            lam,
            tau2,
            depth=depth,
            noise_var=noise_var,
            offset=self.offset,
            offset_var=offset_var,
        )
        return (*post, tau2)


class HeteroscedasticHead(nn.Module):
    """``mu`` and positive ``sigma`` per bin from the embedding and the prior posterior.

    With ``s`` the planet's mean AIRS posterior std and ``sd`` the bin's posterior std (both
    detached)::

        mu    = post_mean + s * (ortho @ coef + delta) + sd * tok_delta
        sigma = sqrt(post_var + floor^2)
                * exp(log_sigma_scale[instrument] + inflation(log_sigma + tok_log_sigma))

    ``coef`` (R), ``delta`` (W) and ``log_sigma`` (W) are linear in the embedding and zero at
    initialisation; ``tok_delta`` / ``tok_log_sigma`` (W) come from the wavelength tokens
    (:class:`WavelengthHead`, also zero at initialisation, None without it), so an untrained
    head returns the prior posterior. The per-planet ``inflation`` is at least -log 2: only
    the global scale, fitted on all training planets, can make sigma much smaller than the
    posterior's. The returned ``delta`` is the free per-bin part (both sources, in depth
    units) that the symbolic losses regularise.
    emb (n, d), post_mean/post_var (n, W), ortho (W, R) -> (mu, sigma, delta) each (n, W).
    """

    def __init__(
        self,
        *,
        d_in: int,
        n_bins: int,
        rank: int,
        sigma_floor: float = 1e-6,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.n_bins, self.rank, self.sigma_floor = n_bins, rank, sigma_floor
        self.proj = nn.Linear(d_in, (rank + 1) + 2 * n_bins, device=device, dtype=dtype)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.log_sigma_scale = nn.Parameter(torch.zeros(2, device=device, dtype=_F64))

    def forward(
        self,
        emb: Tensor,
        post_mean: Tensor,
        post_var: Tensor,
        ortho: Tensor,
        tok: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        out = self.proj(emb).to(_F64)
        r = self.rank + 1
        coef, delta, log_sigma = out[:, :r], out[:, r : r + self.n_bins], out[:, r + self.n_bins :]
        scale = post_var[:, 1:].mean(dim=1, keepdim=True).sqrt().detach()
        shift = scale * delta
        if tok is not None:
            shift = shift + post_var.sqrt().detach() * tok[0]
            log_sigma = log_sigma + tok[1]
        mu = post_mean + scale * (coef @ ortho.T) + shift
        inst = torch.ones(self.n_bins, dtype=torch.long, device=emb.device)
        inst[0] = 0
        log_s = _bounded(self.log_sigma_scale[inst]) + _inflation(log_sigma)
        sigma = torch.sqrt(post_var + self.sigma_floor**2) * torch.exp(log_s)
        return mu, sigma, shift


class WavelengthHead(nn.Module):
    """Per-bin corrections from the AIRS wavelength tokens: token ``g`` (of
    :func:`~spectramind.model.data.wavelength_groups` group ``g``) and two features of its
    group -- the mean physics residual ``(depth - post_mean) / post_sd`` and the mean
    ``log(sigma / post_sd)``, detached; 0 without physics inputs -- map, through one linear
    layer, to a mean shift (units of the bin's posterior std) and a log-sigma inflation for
    each bin of the group. Zero-initialised: an untrained head changes nothing.
    tokens (n, Wb, d_in) -> (tok_delta, tok_log_sigma) each (n, W) float64, 0 at the FGS1 bin.
    """

    index: Tensor
    average: Tensor

    N_GROUP_FEATURES = 2

    def __init__(
        self,
        *,
        d_in: int,
        n_bins: int,
        n_groups: int,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        groups = wavelength_groups(n_bins - 1, n_groups)
        self.width = width = max(len(g) for g in groups)
        index = np.concatenate([gi * width + np.arange(len(g)) for gi, g in enumerate(groups)])
        average = np.zeros((n_bins - 1, n_groups))
        for gi, g in enumerate(groups):
            average[g, gi] = 1.0 / len(g)
        self.register_buffer("index", torch.as_tensor(index, device=device), persistent=False)
        self.register_buffer(
            "average", torch.as_tensor(average, dtype=_F64, device=device), persistent=False
        )
        self.proj = nn.Linear(d_in + self.N_GROUP_FEATURES, 2 * width, device=device)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def group_features(
        self,
        post_mean: Tensor,
        post_var: Tensor,
        depth: Tensor | None = None,
        sigma: Tensor | None = None,
    ) -> Tensor:
        """(n, Wb, 2) group means of the physics residual and log sigma ratio (zeros without
        physics inputs; NaN bins count as 0)."""
        n = post_mean.shape[0]
        if depth is None or sigma is None:
            return post_mean.new_zeros(n, self.average.shape[1], self.N_GROUP_FEATURES)
        sd = post_var.detach().sqrt()
        z = (depth.to(_F64) - post_mean.detach()) / sd
        ratio = torch.log(sigma.to(_F64).clamp_min(1e-12) / sd)
        feats = torch.stack([z[:, 1:], ratio[:, 1:]], dim=-1).nan_to_num(0.0, 0.0, 0.0)
        return torch.einsum("nbf,bg->ngf", feats.clamp(-10.0, 10.0), self.average)

    def forward(self, tokens: Tensor, group_feats: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([tokens, group_feats.to(tokens.dtype)], dim=-1)
        out = self.proj(x).to(_F64)  # (n, Wb, 2 width)
        w = self.width
        delta = out[..., :w].flatten(1)[:, self.index]
        log_sigma = out[..., w:].flatten(1)[:, self.index]
        pad = delta.new_zeros(delta.shape[0], 1)
        return torch.cat([pad, delta], dim=1), torch.cat([pad, log_sigma], dim=1)
