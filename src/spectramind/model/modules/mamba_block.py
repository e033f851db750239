"""Mamba (S6) block with the exact parameter layout of ``mamba_ssm.modules.mamba_simple.Mamba``.

A ``state_dict`` moves unchanged between this module and ``mamba_ssm``'s ``Mamba`` built
with the same hyper-parameters (``d_inner = expand * d_model``,
``dt_rank = ceil(d_model / 16)`` when ``"auto"``)::

    A_log           (d_inner, d_state)               float32, log(1..d_state) per row
    D               (d_inner,)                       float32, ones
    in_proj.weight  (2 * d_inner, d_model)           (+ in_proj.bias (2 * d_inner,) if bias)
    conv1d.weight   (d_inner, 1, d_conv)             (+ conv1d.bias (d_inner,) if conv_bias)
    x_proj.weight   (dt_rank + 2 * d_state, d_inner)
    dt_proj.weight  (d_inner, dt_rank)
    dt_proj.bias    (d_inner,)
    out_proj.weight (d_model, d_inner)               (+ out_proj.bias (d_model,) if bias)

``mamba_ssm`` is never imported here; on CUDA the scan dispatches through
:func:`spectramind.model.ops.selective_scan.selective_scan_fn`, which uses the
``mamba_ssm`` kernel when it is installed.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spectramind.model.ops.selective_scan import selective_scan_fn, selective_scan_loop

__all__ = ["Mamba"]


def _at_least_fp32(t: Tensor) -> Tensor:
    return t.to(torch.promote_types(t.dtype, torch.float32))


class Mamba(nn.Module):
    """Selective state-space (S6) mixer: ``(batch, L, d_model) -> (batch, L, d_model)``.

    Data flow (as in mamba_ssm's reference path)::

        xz      = in_proj(hidden)                       (batch, 2*d_inner, L)
        x, z    = split(xz)                             (batch, d_inner, L) each
        x       = silu(causal depthwise conv1d(x))      (truncated to L)
        dt,B,C  = split(x_proj(x), [dt_rank, d_state, d_state])
        dt      = dt_proj.weight @ dt                   (batch, d_inner, L); bias added in
                                                        the scan, then softplus
        y       = selective_scan(x, dt, A=-exp(A_log), B, C, D, z=z,
                                 delta_bias=dt_proj.bias, delta_softplus=True)
        out     = out_proj(y)                           (batch, L, d_model)

    Args (keyword-only):
        d_model: model width.
        d_state: SSM state size N.
        d_conv: causal depthwise convolution width.
        expand: ``d_inner = int(expand * d_model)``.
        dt_rank: rank of the dt projection; ``"auto"`` -> ``ceil(d_model / 16)``.
        dt_min, dt_max: range of the log-uniform initial step size.
        dt_init: ``"random"`` (uniform +-std) or ``"constant"`` dt_proj weight init.
        dt_scale: multiplies the dt_proj weight init std ``dt_rank ** -0.5``.
        dt_init_floor: lower clamp of the initial step size.
        conv_bias: bias in ``conv1d``.
        bias: bias in ``in_proj`` and ``out_proj``.
        use_cuda_kernels: if True, the scan goes through ``selective_scan_fn`` (mamba_ssm's
            CUDA kernel for CUDA inputs when installed); if False, always the exact torch
            loop.  Either way CPU inputs use the torch loop.
        device, dtype: factory kwargs.  ``A_log`` and ``D`` are kept in float32 as in
            mamba_ssm (``.to(dtype)`` / ``.double()`` still converts them).
    """

    def __init__(
        self,
        *,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: float = 2,
        dt_rank: int | Literal["auto"] = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init: Literal["random", "constant"] = "random",
        dt_scale: float = 1.0,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        use_cuda_kernels: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
        factory_kwargs: dict[str, Any] = {"device": device, "dtype": dtype}
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.use_cuda_kernels = use_cuda_kernels

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias, **factory_kwargs)
        self.conv1d = nn.Conv1d(
            in_channels=self.d_inner,
            out_channels=self.d_inner,
            kernel_size=d_conv,
            groups=self.d_inner,
            padding=d_conv - 1,
            bias=conv_bias,
            **factory_kwargs,
        )
        self.act = nn.SiLU()
        self.x_proj = nn.Linear(
            self.d_inner, self.dt_rank + 2 * d_state, bias=False, **factory_kwargs
        )
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True, **factory_kwargs)

        # dt_proj init: weight ~ U(+-dt_rank**-0.5 * dt_scale) (or constant), bias =
        # softplus^{-1}(dt) with dt log-uniform in [dt_min, dt_max], so that
        # softplus(dt_proj.bias) starts in that range.
        dt_init_std = self.dt_rank**-0.5 * dt_scale
        if dt_init == "constant":
            nn.init.constant_(self.dt_proj.weight, dt_init_std)
        elif dt_init == "random":
            nn.init.uniform_(self.dt_proj.weight, -dt_init_std, dt_init_std)
        else:
            raise ValueError(f"dt_init must be 'random' or 'constant', got {dt_init!r}")
        dt = torch.exp(
            torch.rand(self.d_inner, device=device, dtype=torch.float32)
            * (math.log(dt_max) - math.log(dt_min))
            + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        inv_dt = dt + torch.log(-torch.expm1(-dt))  # inverse of softplus
        with torch.no_grad():
            self.dt_proj.bias.copy_(inv_dt)
        self.dt_proj.bias._no_reinit = True  # type: ignore[attr-defined]

        # S4D-real initialisation: A = -(1..d_state) for every channel, stored as log.
        A = torch.arange(1, d_state + 1, dtype=torch.float32, device=device)
        A = A.repeat(self.d_inner, 1).contiguous()  # (d_inner, d_state)
        self.A_log = nn.Parameter(torch.log(A))
        self.A_log._no_weight_decay = True  # type: ignore[attr-defined]
        self.D = nn.Parameter(torch.ones(self.d_inner, device=device))
        self.D._no_weight_decay = True  # type: ignore[attr-defined]

        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory_kwargs)

    def forward(self, hidden_states: Tensor) -> Tensor:
        """``hidden_states`` (batch, L, d_model) -> (batch, L, d_model); causal in L."""
        if hidden_states.dim() != 3 or hidden_states.shape[-1] != self.d_model:
            raise ValueError(
                f"expected (batch, L, d_model={self.d_model}), got {tuple(hidden_states.shape)}"
            )
        batch, seqlen, _ = hidden_states.shape

        xz = self.in_proj(hidden_states).transpose(1, 2)  # (batch, 2*d_inner, L)
        x, z = xz.chunk(2, dim=1)  # (batch, d_inner, L) each
        x = self.act(self.conv1d(x)[..., :seqlen])  # causal: drop the right padding

        x_dbl = self.x_proj(x.transpose(1, 2))  # (batch, L, dt_rank + 2*d_state)
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight).transpose(1, 2)  # (batch, d_inner, L), no bias
        B = B.transpose(1, 2).contiguous()  # (batch, d_state, L)
        C = C.transpose(1, 2).contiguous()  # (batch, d_state, L)
        # A, D, dt bias in (at least) float32, as mamba does with .float(); float64 stays.
        A = -torch.exp(_at_least_fp32(self.A_log))  # (d_inner, d_state)

        scan = selective_scan_fn if self.use_cuda_kernels else selective_scan_loop
        y = scan(
            x.contiguous(),
            dt.contiguous(),
            A,
            B,
            C,
            _at_least_fp32(self.D),
            z=z.contiguous(),
            delta_bias=_at_least_fp32(self.dt_proj.bias),
            delta_softplus=True,
        )
        assert isinstance(y, Tensor)
        return self.out_proj(y.transpose(1, 2))  # (batch, L, d_model)

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, d_inner={self.d_inner}, d_state={self.d_state}, "
            f"d_conv={self.d_conv}, dt_rank={self.dt_rank}, "
            f"use_cuda_kernels={self.use_cuda_kernels}"
        )
