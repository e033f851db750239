"""AIRS encoders over (time, wavelength): a 2-D CNN or a graph network over wavelength.

Both map ``x`` (batch, C, T, Wb) -- C channels of T time steps for Wb wavelength groups --
to per-wavelength tokens (batch, Wb, hidden) and a pooled embedding (batch, hidden).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["AirsCNNEncoder", "AirsGNNEncoder", "chain_adjacency"]


def _check_input(x: Tensor, channels: int) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"expected (batch, C={channels}, T, Wb), got {tuple(x.shape)}")


class AirsCNNEncoder(nn.Module):
    """2-D CNN: ``n_layers`` x [Conv2d (kernel_time, kernel_wavelength), stride 2 in time, GELU],
    then the mean over time. ``x`` (batch, C, T, Wb) -> (tokens (batch, Wb, hidden), pooled)."""

    def __init__(
        self,
        *,
        in_channels: int,
        hidden: int = 16,
        n_layers: int = 3,
        kernel_time: int = 5,
        kernel_wavelength: int = 3,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        fk: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(n_layers):
            layers += [
                nn.Conv2d(
                    c,
                    hidden,
                    (kernel_time, kernel_wavelength),
                    stride=(2, 1),
                    padding=(kernel_time // 2, kernel_wavelength // 2),
                    **fk,
                ),
                nn.GELU(),
            ]
            c = hidden
        self.net = nn.Sequential(*layers)
        self.out_dim = hidden

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        _check_input(x, self.in_channels)
        tokens = self.net(x).mean(dim=2).transpose(1, 2)  # (batch, Wb, hidden)
        return tokens, tokens.mean(dim=1)


def chain_adjacency(n_nodes: int, radius: int, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Symmetric-normalised adjacency ``D^-1/2 (A + I) D^-1/2`` of wavelength neighbours
    (``|i - j| <= radius``): (n_nodes, n_nodes)."""
    idx = torch.arange(n_nodes)
    a = ((idx[:, None] - idx[None, :]).abs() <= radius).to(dtype)
    d = a.sum(dim=1).rsqrt()
    return d[:, None] * a * d[None, :]


class AirsGNNEncoder(nn.Module):
    """Graph network over wavelength: each group's light curve is encoded by a shared temporal
    CNN (the node features), then ``n_layers`` residual graph convolutions
    ``h + GELU(Linear(A_hat h))`` over the chain of wavelength neighbours within ``radius``.
    ``x`` (batch, C, T, Wb) -> (tokens (batch, Wb, hidden), pooled (batch, hidden))."""

    def __init__(
        self,
        *,
        in_channels: int,
        hidden: int = 16,
        n_layers: int = 2,
        radius: int = 2,
        kernel_time: int = 5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        fk: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.radius = radius
        self.node_encoder = nn.Sequential(
            nn.Conv1d(in_channels, hidden, kernel_time, stride=2, padding=kernel_time // 2, **fk),
            nn.GELU(),
            nn.Conv1d(hidden, hidden, kernel_time, stride=2, padding=kernel_time // 2, **fk),
            nn.GELU(),
        )
        self.graph_layers = nn.ModuleList(nn.Linear(hidden, hidden, **fk) for _ in range(n_layers))
        self.act = nn.GELU()
        self.out_dim = hidden

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        _check_input(x, self.in_channels)
        b, c, t, w = x.shape
        nodes = x.permute(0, 3, 1, 2).reshape(b * w, c, t)  # one sequence per wavelength group
        h = self.node_encoder(nodes).mean(dim=-1).reshape(b, w, -1)  # (batch, Wb, hidden)
        adj = chain_adjacency(w, self.radius, dtype=h.dtype).to(h.device)
        for layer in self.graph_layers:
            h = h + self.act(layer(adj @ h))
        return h, h.mean(dim=1)
