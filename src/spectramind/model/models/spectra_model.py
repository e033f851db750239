"""SpectraModel: FGS1 Mamba encoder + AIRS CNN/GNN encoder + fusion + spectral decoder.

::

    fgs  (n, V, T', Cf) --normalise--> MambaEncoder (per visit) --> fgs tokens / pooled
    airs (n, V, T, Wb, Ca) --bin time, normalise--> AirsCNNEncoder | AirsGNNEncoder --> airs tokens / pooled
    aux (n, Fa), phys (n, Fp) --normalise--> MLP --> extra
    fusion (concat | cross_attention) per visit, mean over real visits
        --> emb (n, d_fusion) and wavelength tokens (n, Wb, d_fusion)
    emb --> modulations (n, 4) --> SpectralPriorLayer(physics depth, sigma, baseline) --> post mean/var
    tokens + group physics residuals --> WavelengthHead --> per-bin shift / log-sigma (n, 283)
    emb, per-bin parts --> HeteroscedasticHead(post mean/var) --> mu, sigma (n, 283)

The wavelength tokens let the encoders correct each wavelength group's bins (the embedding
alone, pooled over wavelength, can only move the spectrum along the prior's few shapes or by
one 32-d linear map); ``wavelength_head=False`` drops them (the format-1 architecture). Every
output layer is zero-initialised: the untrained model is the prior layer's posterior.

Without physics inputs (``use_physics=False``) the physics channels and features are zeroed
and the prior layer returns the prior itself (the encoders must find the depth); without
encoders (``use_encoders=False``) the embedding is zero: the prior layer and the learned
global scales alone. Normalisation statistics and the spectral prior live in buffers, so the
``state_dict`` is the whole trained model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from spectramind.constants import N_BINS
from spectramind.defaults import schema_defaults
from spectramind.model.data import (
    AIRS_CHANNELS,
    AIRS_PHYSICS_CHANNELS,
    AUX_FEATURES,
    FGS_CHANNELS,
    FGS_PHYSICS_CHANNELS,
    PHYS_FEATURES,
    PlanetFeatures,
)
from spectramind.model.modules.airs_encoder import AirsCNNEncoder, AirsGNNEncoder
from spectramind.model.modules.fusion import ConcatFusion, CrossAttentionFusion
from spectramind.model.modules.mamba_encoder import MambaEncoder
from spectramind.model.modules.spectral_head import (
    N_MODULATIONS,
    HeteroscedasticHead,
    SpectralPriorLayer,
    WavelengthHead,
)
from spectramind.model.prior import MIN_DEPTH, SpectralPrior

__all__ = ["ModelConfig", "SpectraModel", "to_tensors"]


@dataclass(frozen=True)
@schema_defaults("model.architecture")
class ModelConfig:
    """Architecture (config keys ``model.*`` that shape the network; saved with a checkpoint).

    ``spectral_rank`` is the rank actually fitted (the requested rank capped by the number of
    training planets), so a checkpoint's config rebuilds exactly its network.
    """

    use_physics: bool
    use_encoders: bool
    airs_encoder: Literal["cnn", "gnn"]
    fusion: Literal["concat", "cross_attention"]
    fgs_time_bin: int
    airs_time_bin: int
    airs_wavelength_bins: int
    d_model: int
    mamba_layers: int
    d_state: int
    d_conv: int
    expand: int
    airs_hidden: int
    airs_layers: int
    gnn_radius: int
    d_fusion: int
    n_heads: int
    dropout: float
    spectral_rank: int
    noise_modes: int
    sigma_floor: float
    wavelength_head: bool
    n_bins: int = N_BINS

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown model config keys: {unknown}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def to_tensors(feats: PlanetFeatures, device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """The model's input dict from :class:`PlanetFeatures` (float32 sequences, float64 spectra)."""
    f32, f64 = torch.float32, torch.float64
    return {
        "fgs": torch.as_tensor(feats.fgs, dtype=f32, device=device),
        "airs": torch.as_tensor(feats.airs, dtype=f32, device=device),
        "visit_mask": torch.as_tensor(feats.visit_mask, device=device),
        "aux": torch.as_tensor(feats.aux, dtype=f32, device=device),
        "phys": torch.as_tensor(feats.phys, dtype=f32, device=device),
        "depth": torch.as_tensor(feats.depth, dtype=f64, device=device),
        "sigma": torch.as_tensor(feats.sigma, dtype=f64, device=device),
        "amp_physics": torch.as_tensor(feats.amp_physics, dtype=f64, device=device),
        "amp_star": torch.as_tensor(feats.amp_star, dtype=f64, device=device),
        "baseline_h": torch.as_tensor(feats.baseline_h, dtype=f64, device=device),
        "level_err": torch.as_tensor(feats.level_err, dtype=f64, device=device),
    }


def _normalise(x: Tensor, mean: Tensor, std: Tensor, zero: Tensor) -> Tensor:
    """(x - mean) / std along the last axis, NaN -> 0, channels in ``zero`` forced to 0."""
    z = torch.nan_to_num((x - mean) / std, nan=0.0, posinf=0.0, neginf=0.0)
    return z * (~zero).to(z.dtype)


def _airs_encoder(cfg: ModelConfig, channels: int, fk: dict[str, Any]) -> nn.Module:
    """The AIRS encoder the config names (``cnn`` or ``gnn``)."""
    if cfg.airs_encoder == "cnn":
        return AirsCNNEncoder(
            in_channels=channels, hidden=cfg.airs_hidden, n_layers=cfg.airs_layers, **fk
        )
    if cfg.airs_encoder == "gnn":
        return AirsGNNEncoder(
            in_channels=channels,
            hidden=cfg.airs_hidden,
            n_layers=cfg.airs_layers,
            radius=cfg.gnn_radius,
            **fk,
        )
    raise ValueError(f"airs_encoder must be 'cnn' or 'gnn', got {cfg.airs_encoder!r}")


def _fusion(cfg: ModelConfig, fk: dict[str, Any]) -> nn.Module:
    """The fusion the config names (``concat`` or ``cross_attention``)."""
    d_fgs_pooled = 2 * cfg.d_model
    if cfg.fusion == "concat":
        return ConcatFusion(
            d_fgs=d_fgs_pooled,
            d_airs=cfg.airs_hidden,
            d_extra=cfg.d_fusion,
            d_out=cfg.d_fusion,
            dropout=cfg.dropout,
            wavelength_tokens=cfg.wavelength_head,
            **fk,
        )
    if cfg.fusion == "cross_attention":
        return CrossAttentionFusion(
            d_fgs=cfg.d_model,
            d_fgs_pooled=d_fgs_pooled,
            d_airs=cfg.airs_hidden,
            d_extra=cfg.d_fusion,
            d_out=cfg.d_fusion,
            n_heads=cfg.n_heads,
            dropout=cfg.dropout,
            wavelength_tokens=cfg.wavelength_head,
            **fk,
        )
    raise ValueError(f"fusion must be 'concat' or 'cross_attention', got {cfg.fusion!r}")


def _visit_mean(x: Tensor, rows: Tensor, n: int, v: int, mask: Tensor) -> Tensor:
    """Mean over each planet's real visits of per-visit rows ``x`` (m, ...) -> (n, ...)."""
    full = x.new_zeros(n * v, *x.shape[1:]).index_put((rows,), x).reshape(n, v, *x.shape[1:])
    w = mask.to(x.dtype).reshape(n, v, *([1] * (x.dim() - 1)))
    return (full * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)


class SpectraModel(nn.Module):
    """The SpectraMind model (see the module docstring). Keyword-only constructor.

    ``forward(batch)`` takes :func:`to_tensors`' dict and returns ``{"mu", "sigma", "delta",
    "post_mean", "post_var", "tau2"}``, each (n, 283) float64 (``tau2``: the planet's prior
    per-bin variance).
    """

    fgs_mean: Tensor
    fgs_std: Tensor
    airs_mean: Tensor
    airs_std: Tensor
    aux_mean: Tensor
    aux_std: Tensor
    phys_mean: Tensor
    phys_std: Tensor
    fgs_zero: Tensor
    airs_zero: Tensor
    aux_zero: Tensor
    phys_zero: Tensor

    def __init__(self, *, config: ModelConfig, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.config = cfg = config
        fk: dict[str, Any] = {"device": device}
        cf, ca, fa, fp = (
            len(FGS_CHANNELS),
            len(AIRS_CHANNELS),
            len(AUX_FEATURES),
            len(PHYS_FEATURES),
        )
        for name, size in (("fgs", cf), ("airs", ca), ("aux", fa), ("phys", fp)):
            self.register_buffer(f"{name}_mean", torch.zeros(size, dtype=torch.float32, **fk))
            self.register_buffer(f"{name}_std", torch.ones(size, dtype=torch.float32, **fk))
        off = not cfg.use_physics
        self.register_buffer(
            "fgs_zero",
            torch.tensor([off and c in FGS_PHYSICS_CHANNELS for c in FGS_CHANNELS], **fk),
            persistent=False,
        )
        self.register_buffer(
            "airs_zero",
            torch.tensor([off and c in AIRS_PHYSICS_CHANNELS for c in AIRS_CHANNELS], **fk),
            persistent=False,
        )
        self.register_buffer("phys_zero", torch.full((fp,), off, **fk), persistent=False)
        self.register_buffer("aux_zero", torch.zeros(fa, dtype=torch.bool, **fk), persistent=False)

        self.fgs_encoder = MambaEncoder(
            n_features=cf,
            d_model=cfg.d_model,
            n_layers=cfg.mamba_layers,
            d_state=cfg.d_state,
            d_conv=cfg.d_conv,
            expand=cfg.expand,
            pooling="mean_last",
            **fk,
        )
        self.airs_encoder = _airs_encoder(cfg, ca, fk)
        self.extra_mlp = nn.Sequential(nn.Linear(fa + fp, cfg.d_fusion, **fk), nn.GELU())
        self.fusion = _fusion(cfg, fk)
        self.modulation = nn.Linear(cfg.d_fusion, N_MODULATIONS, **fk)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.prior = SpectralPriorLayer(
            n_bins=cfg.n_bins, rank=cfg.spectral_rank, noise_modes=cfg.noise_modes, **fk
        )
        self.head = HeteroscedasticHead(
            d_in=cfg.d_fusion,
            n_bins=cfg.n_bins,
            rank=cfg.spectral_rank,
            sigma_floor=cfg.sigma_floor,
            **fk,
        )
        self.wavelength_head = (
            WavelengthHead(
                d_in=cfg.d_fusion,
                n_bins=cfg.n_bins,
                n_groups=cfg.airs_wavelength_bins,
                device=device,
            )
            if cfg.wavelength_head
            else None
        )

    # ------------------------------------------------------------------ training-split state
    @torch.no_grad()
    def set_normalisation(self, stats: dict[str, np.ndarray]) -> None:
        """Copy :func:`spectramind.model.data.normalisation_stats` into the buffers."""
        for name in ("fgs", "airs", "aux", "phys"):
            for kind in ("mean", "std"):
                buf = getattr(self, f"{name}_{kind}")
                buf.copy_(torch.as_tensor(stats[f"{name}_{kind}"], dtype=buf.dtype))

    def set_prior(self, prior: SpectralPrior) -> None:
        self.prior.set_prior(prior)

    # ------------------------------------------------------------------ forward
    def planet_vector(self, batch: dict[str, Tensor]) -> Tensor:
        """Normalised per-planet features (n, Fa + Fp): star/cube summaries and physics summaries."""
        return torch.cat(
            [
                _normalise(batch["aux"], self.aux_mean, self.aux_std, self.aux_zero),
                _normalise(batch["phys"], self.phys_mean, self.phys_std, self.phys_zero),
            ],
            dim=-1,
        )

    def _sequences(self, batch: dict[str, Tensor], rows: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised FGS1 (m, T', Cf) and time-binned AIRS (m, T, Wb, Ca) of the real visits."""
        fgs = _normalise(
            batch["fgs"].flatten(0, 1)[rows], self.fgs_mean, self.fgs_std, self.fgs_zero
        )
        airs = batch["airs"].flatten(0, 1)[rows]
        if self.config.airs_time_bin > 1:
            k = self.config.airs_time_bin
            t_used = airs.shape[1] // k * k
            airs = airs[:, :t_used].unflatten(1, (-1, k)).nanmean(dim=2)
        return fgs, _normalise(airs, self.airs_mean, self.airs_std, self.airs_zero)

    def embed(
        self, batch: dict[str, Tensor], *, use_encoders: bool | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Fused embedding (n, d_fusion) and wavelength tokens (n, Wb, d_fusion), each the mean
        over real visits, from the light curves and per-planet features (zeros and None
        without encoders; ``use_encoders`` overrides the config, e.g. to fit the prior scales;
        tokens None without ``wavelength_head``)."""
        mask = batch["visit_mask"]
        n, v = mask.shape
        if not (self.config.use_encoders if use_encoders is None else use_encoders):
            return batch["fgs"].new_zeros(n, self.config.d_fusion), None
        rows = mask.flatten().nonzero().squeeze(1)  # real visits only: padding costs nothing
        fgs, airs = self._sequences(batch, rows)
        extra = self.extra_mlp(self.planet_vector(batch)).repeat_interleave(v, dim=0)[rows]
        fgs_tokens = self.fgs_encoder.forward_sequence(fgs)  # (m, T', d_model)
        fgs_pooled = torch.cat([fgs_tokens.mean(dim=1), fgs_tokens[:, -1]], dim=-1)
        airs_tokens, airs_pooled = self.airs_encoder(airs.permute(0, 3, 1, 2))
        emb_rows, tok_rows = self.fusion(
            fgs_tokens=fgs_tokens,
            fgs_pooled=fgs_pooled,
            airs_tokens=airs_tokens,
            airs_pooled=airs_pooled,
            extra=extra,
        )  # (m, d_fusion), (m, Wb, d_fusion) | None
        emb = _visit_mean(emb_rows, rows, n, v, mask)
        tokens = _visit_mean(tok_rows, rows, n, v, mask) if tok_rows is not None else None
        return emb, tokens

    def forward(
        self, batch: dict[str, Tensor], *, use_encoders: bool | None = None
    ) -> dict[str, Tensor]:
        emb, tokens = self.embed(batch, use_encoders=use_encoders)
        mods = self.modulation(emb)
        # the star-only amplitude is stored at unit depth (amp ~ depth^1.5): scaled here to the
        # mean training depth of the prior; it stands in where a planet has no physics depth
        amp_star = batch["amp_star"] * self.prior.level_mean.clamp_min(MIN_DEPTH) ** 1.5
        if self.config.use_physics:
            amp_phys = batch["amp_physics"]
            post_mean, post_var, tau2 = self.prior(
                amp=torch.where(torch.isfinite(amp_phys), amp_phys, amp_star),
                mods=mods,
                depth=batch["depth"],
                sigma=batch["sigma"],
                baseline_h=batch["baseline_h"],
                level_err=batch["level_err"],
            )
        else:
            post_mean, post_var, tau2 = self.prior(amp=amp_star, mods=mods)
        tok = None
        if tokens is not None and self.wavelength_head is not None:
            phys = self.config.use_physics
            feats = self.wavelength_head.group_features(
                post_mean,
                post_var,
                batch["depth"] if phys else None,
                batch["sigma"] if phys else None,
            )
            tok = self.wavelength_head(tokens, feats)
        mu, sigma, delta = self.head(emb, post_mean, post_var, self.prior.ortho, tok)
        return {
            "mu": mu,
            "sigma": sigma,
            "delta": delta,
            "post_mean": post_mean,
            "post_var": post_var,
            "tau2": tau2,
        }
