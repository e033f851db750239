"""Fusion of the FGS1 and AIRS encodings (and the per-planet vectors).

Both fusions return ``(emb, tokens)``: one embedding per row (batch, d_out) and one token per
AIRS wavelength group (batch, Wb, d_out), ``GELU(Linear(concat(wavelength feature, emb)))``.
The tokens carry what the encoders know about each wavelength group through the fusion (a
mean over wavelength before the head would leave the encoders nothing to say per
wavelength); :class:`~spectramind.model.modules.spectral_head.WavelengthHead` maps each token
to its bins' correction. ``wavelength_tokens=False``: no tokens (None), the embedding alone
(the format-1 architecture).
"""

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


class _TokenMap(nn.Module):
    """``GELU(Linear(concat(per-wavelength features, emb broadcast)))``: (batch, Wb, d_out)."""

    def __init__(self, d_tok: int, d_emb: int, d_out: int, **fk: Any) -> None:
        super().__init__()
        self.linear = nn.Linear(d_tok + d_emb, d_out, **fk)
        self.act = nn.GELU()

    def forward(self, tok: Tensor, emb: Tensor) -> Tensor:
        both = torch.cat([tok, emb.unsqueeze(1).expand(-1, tok.shape[1], -1)], dim=-1)
        return self.act(self.linear(both))


class ConcatFusion(nn.Module):
    """``emb = MLP(concat(fgs_pooled, airs_pooled, extra))`` (batch, d_out); the AIRS tokens
    (batch, Wb, d_airs) with ``emb`` -> wavelength tokens (batch, Wb, d_out).

    fgs_pooled (batch, d_fgs), airs_pooled (batch, d_airs), extra: (batch, d_extra).
    The FGS1 time tokens are accepted (and ignored) so both fusions share one signature.
    """

    def __init__(
        self,
        *,
        d_fgs: int,
        d_airs: int,
        d_extra: int,
        d_out: int,
        dropout: float = 0.0,
        wavelength_tokens: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.mlp = _mlp(d_fgs + d_airs + d_extra, d_out, dropout, device=device, dtype=dtype)
        self.tokens = (
            _TokenMap(d_airs, d_out, d_out, device=device, dtype=dtype)
            if wavelength_tokens
            else None
        )
        self.out_dim = d_out

    def forward(
        self,
        *,
        fgs_tokens: Tensor,
        fgs_pooled: Tensor,
        airs_tokens: Tensor,
        airs_pooled: Tensor,
        extra: Tensor,
    ) -> tuple[Tensor, Tensor | None]:
        emb = self.mlp(torch.cat([fgs_pooled, airs_pooled, extra], dim=-1))
        return emb, (self.tokens(airs_tokens, emb) if self.tokens is not None else None)


class CrossAttentionFusion(nn.Module):
    """AIRS wavelength tokens (queries) attend to the FGS1 time tokens (keys/values).

    airs_tokens (batch, Wb, d_airs), fgs_tokens (batch, T, d_fgs) -> attended (batch, Wb, d_out)
    (with a residual from the projected queries); ``emb``: their mean over wavelength,
    concatenated with ``fgs_pooled`` and ``extra`` -> MLP -> (batch, d_out); the attended
    tokens with ``emb`` -> wavelength tokens (batch, Wb, d_out).
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
        wavelength_tokens: bool = True,
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
        self.tokens = _TokenMap(d_out, d_out, d_out, **fk) if wavelength_tokens else None
        self.out_dim = d_out

    def forward(
        self,
        *,
        fgs_tokens: Tensor,
        fgs_pooled: Tensor,
        airs_tokens: Tensor,
        airs_pooled: Tensor,
        extra: Tensor,
    ) -> tuple[Tensor, Tensor | None]:
        q = self.query(airs_tokens)
        att, _ = self.attn(q, fgs_tokens, fgs_tokens, need_weights=False)
        per_wavelength = self.norm(q + att)  # (batch, Wb, d_out)
        emb = self.mlp(torch.cat([per_wavelength.mean(dim=1), fgs_pooled, extra], dim=-1))
        return emb, (self.tokens(per_wavelength, emb) if self.tokens is not None else None)
