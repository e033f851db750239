"""Mamba sequence encoder for FGS1 light curves: ``(batch, L, n_features) -> (batch, out_dim)``.

Layout follows mamba_ssm's ``MixerModel`` (pre-norm residual blocks named
``layers.{i}.norm`` / ``layers.{i}.mixer`` and a final ``norm_f``), so the ``mixer``
weights are interchangeable with ``mamba_ssm.modules.mamba_simple.Mamba``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor, nn

from spectramind.model.modules.mamba_block import Mamba

__all__ = ["MambaEncoder", "MambaResidualBlock"]

NormKind = Literal["rms", "layer"]
PoolingKind = Literal["mean_last", "mean", "last"]


def _make_norm(kind: NormKind, d_model: int, eps: float, **factory_kwargs: Any) -> nn.Module:
    if kind == "rms":
        return nn.RMSNorm(d_model, eps=eps, **factory_kwargs)
    if kind == "layer":
        return nn.LayerNorm(d_model, eps=eps, **factory_kwargs)
    raise ValueError(f"norm must be 'rms' or 'layer', got {kind!r}")


class MambaResidualBlock(nn.Module):
    """Pre-norm residual block: ``x + dropout(mixer(norm(x)))``; (batch, L, d) -> (batch, L, d)."""

    def __init__(self, *, norm: nn.Module, mixer: Mamba, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = norm
        self.mixer = mixer
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.dropout(self.mixer(self.norm(x)))


class MambaEncoder(nn.Module):
    """Stack of Mamba blocks pooled to a fixed-size embedding.

    Pipeline::

        x (batch, L, n_features)
          -> input_proj                    (batch, L, d_model)
          -> n_layers x [x + Mamba(norm(x))]
          -> norm_f                        (batch, L, d_model)   == forward_sequence(x)
          -> pooling                       (batch, out_dim)      == forward(x)

    Pooling (over valid time steps when a mask is given):
        ``"mean"``      mean over time                        out_dim = d_model
        ``"last"``      features at the last (valid) step     out_dim = d_model
                        (the causal summary of the whole sequence)
        ``"mean_last"`` concat(mean, last)                    out_dim = 2 * d_model

    ``mask`` (batch, L) bool, True = valid step.  The model is causal, so with
    right-padding (valid steps first) the pooled embedding equals that of the unpadded
    sequence exactly; padding elsewhere is only excluded from the pooling.

    Args (keyword-only):
        n_features: input channels per time step.
        d_model: width of the residual stream.
        n_layers: number of Mamba blocks.
        d_state, d_conv, expand, dt_rank: passed to :class:`Mamba`.
        norm: ``"rms"`` (RMSNorm) or ``"layer"`` (LayerNorm).
        norm_eps: epsilon of the norms.
        pooling: see above.
        dropout: dropout on each mixer output before the residual add.
        rescale_prenorm_residual: divide each ``mixer.out_proj.weight`` by
            ``sqrt(n_layers)`` at init (as mamba_ssm's ``_init_weights``) so the residual
            stream variance does not grow with depth.
        use_cuda_kernels: passed to :class:`Mamba`.
        device, dtype: factory kwargs.
    """

    def __init__(
        self,
        *,
        n_features: int,
        d_model: int = 128,
        n_layers: int = 4,
        d_state: int = 16,
        d_conv: int = 4,
        expand: float = 2,
        dt_rank: int | Literal["auto"] = "auto",
        norm: NormKind = "rms",
        norm_eps: float = 1e-5,
        pooling: PoolingKind = "mean_last",
        dropout: float = 0.0,
        rescale_prenorm_residual: bool = True,
        use_cuda_kernels: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        if pooling not in ("mean_last", "mean", "last"):
            raise ValueError(f"pooling must be 'mean_last', 'mean' or 'last', got {pooling!r}")
        factory_kwargs: dict[str, Any] = {"device": device, "dtype": dtype}
        self.n_features = n_features
        self.d_model = d_model
        self.pooling = pooling
        self.out_dim = 2 * d_model if pooling == "mean_last" else d_model

        self.input_proj = nn.Linear(n_features, d_model, **factory_kwargs)
        self.layers = nn.ModuleList(
            MambaResidualBlock(
                norm=_make_norm(norm, d_model, norm_eps, **factory_kwargs),
                mixer=Mamba(
                    d_model=d_model,
                    d_state=d_state,
                    d_conv=d_conv,
                    expand=expand,
                    dt_rank=dt_rank,
                    use_cuda_kernels=use_cuda_kernels,
                    **factory_kwargs,
                ),
                dropout=dropout,
            )
            for _ in range(n_layers)
        )
        self.norm_f = _make_norm(norm, d_model, norm_eps, **factory_kwargs)

        if rescale_prenorm_residual:
            with torch.no_grad():
                for module in self.modules():
                    if isinstance(module, Mamba):
                        module.out_proj.weight.div_(math.sqrt(n_layers))

    def forward_sequence(self, x: Tensor) -> Tensor:
        """Per-step features: ``x`` (batch, L, n_features) -> (batch, L, d_model)."""
        if x.dim() != 3 or x.shape[-1] != self.n_features:
            raise ValueError(
                f"expected (batch, L, n_features={self.n_features}), got {tuple(x.shape)}"
            )
        h = self.input_proj(x)
        for layer in self.layers:
            h = layer(h)
        return self.norm_f(h)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x`` (batch, L, n_features), optional ``mask`` (batch, L) bool -> (batch, out_dim)."""
        h = self.forward_sequence(x)  # (batch, L, d_model)
        batch, length, _ = h.shape
        if length == 0:
            raise ValueError("cannot pool an empty sequence (L == 0)")

        if mask is None:
            mean = h.mean(dim=1)
            last = h[:, -1]
        else:
            if mask.shape != (batch, length):
                raise ValueError(
                    f"mask must be (batch, L) = {(batch, length)}, got {tuple(mask.shape)}"
                )
            mask = mask.to(device=h.device, dtype=torch.bool)
            if not bool(mask.any(dim=1).all()):
                raise ValueError("every sequence needs at least one valid step in mask")
            weights = mask.to(h.dtype).unsqueeze(-1)  # (batch, L, 1)
            mean = (h * weights).sum(dim=1) / weights.sum(dim=1)
            steps = torch.arange(length, device=h.device).expand(batch, length)
            last_idx = torch.where(mask, steps, -1).amax(dim=1)  # (batch,)
            last = h[torch.arange(batch, device=h.device), last_idx]

        if self.pooling == "mean":
            return mean
        if self.pooling == "last":
            return last
        return torch.cat([mean, last], dim=-1)
