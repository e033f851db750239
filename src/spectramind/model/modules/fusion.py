"""Fusion of the FGS1 and AIRS encodings (and the per-planet vectors) into one embedding."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ConcatFusion", "CrossAttentionFusion"]


def _mlp(d_in: int, d_out: int, dropout: float, **fk: Any) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, d_out, **fk),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(d_out, d_out, **fk),
        nn.GELU(),
    )


class ConcatFusion(nn.Module):
    """``MLP(concat(fgs_pooled, airs_pooled, *extra))`` -> (batch, d_out).

    fgs_pooled (batch, d_fgs), airs_pooled (batch, d_airs), extra: (batch, d_i) each.
    The token inputs are accepted (and ignored) so both fusions share one signature.
    """

    def __init__(
        self,
        *,
        d_fgs: int,
        d_airs: int,
        d_extra: int,
        d_out: int,
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.mlp = _mlp(d_fgs + d_airs + d_extra, d_out, dropout, device=device, dtype=dtype)
        self.out_dim = d_out

    def forward(
        self,
        *,
        fgs_tokens: Tensor,
        fgs_pooled: Tensor,
        airs_tokens: Tensor,
        airs_pooled: Tensor,
        extra: Tensor,
    ) -> Tensor:
        return self.mlp(torch.cat([fgs_pooled, airs_pooled, extra], dim=-1))


class CrossAttentionFusion(nn.Module):
    """AIRS wavelength tokens (queries) attend to the FGS1 time tokens (keys/values).

    airs_tokens (batch, Wb, d_airs), fgs_tokens (batch, T, d_fgs) -> attended (batch, Wb, d_out)
    (with a residual from the projected queries), mean over wavelength, concatenated with
    ``fgs_pooled`` and ``extra`` -> MLP -> (batch, d_out).
    """

    def __init__(
        self,
        *,
        d_fgs: int,
        d_fgs_pooled: int,
        d_airs: int,
        d_extra: int,
        d_out: int,
        n_heads: int = 2,
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        fk: dict[str, Any] = {"device": device, "dtype": dtype}
        if d_out % n_heads:
            raise ValueError(f"d_out={d_out} must be divisible by n_heads={n_heads}")
        self.query = nn.Linear(d_airs, d_out, **fk)
        self.attn = nn.MultiheadAttention(
            d_out, n_heads, kdim=d_fgs, vdim=d_fgs, batch_first=True, **fk
        )
        self.norm = nn.LayerNorm(d_out, **fk)
        self.mlp = _mlp(d_out + d_fgs_pooled + d_extra, d_out, dropout, **fk)
        self.out_dim = d_out

    def forward(
        self,
        *,
        fgs_tokens: Tensor,
        fgs_pooled: Tensor,
        airs_tokens: Tensor,
        airs_pooled: Tensor,
        extra: Tensor,
    ) -> Tensor:
        q = self.query(airs_tokens)
        att, _ = self.attn(q, fgs_tokens, fgs_tokens, need_weights=False)
        fused = self.norm(q + att).mean(dim=1)  # (batch, d_out)
        return self.mlp(torch.cat([fused, fgs_pooled, extra], dim=-1))
