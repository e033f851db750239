"""Tests for the selective scan ops and the Mamba block / encoder (CPU; one GPU test)."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from spectramind.model.modules.mamba_block import Mamba
from spectramind.model.modules.mamba_encoder import MambaEncoder
from spectramind.model.ops.selective_scan import (
    selective_scan_fn,
    selective_scan_loop,
    selective_scan_ref,
)

# Tolerances are relative to the largest magnitude of the expected tensor (floor 1):
#   max|actual - expected| <= TOL * max(1, max|expected|).
# float64: fast path and reference differ only by summation order (einsum over the stacked
# states vs per-step sums); measured ~3e-16 relative, so 1e-10 leaves ~6 orders of margin.
TOL_F64 = 1e-10
# float32: same reordering at eps32 ~1.2e-7; measured <= 5e-7 relative (forward and grads,
# L=64 .. 4096), so 1e-5 keeps > 1 order of margin.
TOL_F32 = 1e-5
TOLS = {torch.float64: TOL_F64, torch.float32: TOL_F32}


def assert_close_scaled(actual: torch.Tensor, expected: torch.Tensor, tol: float) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    scale = max(1.0, expected.abs().max().item()) if expected.numel() else 1.0
    err = (actual - expected).abs().max().item() if expected.numel() else 0.0
    assert err <= tol * scale, f"max abs err {err:.3e} > {tol:.1e} * {scale:.3e}"


def make_scan_inputs(
    dtype: torch.dtype,
    *,
    batch: int = 2,
    dim: int = 8,
    dstate: int = 4,
    length: int = 64,
    seed: int = 0,
    delta_scale: float = 0.5,
) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=dtype)

    return {
        "u": randn(batch, dim, length),
        "delta": torch.rand(batch, dim, length, generator=g, dtype=dtype) * delta_scale + 0.01,
        "A": -(torch.rand(dim, dstate, generator=g, dtype=dtype) + 0.1),
        "B": randn(batch, dstate, length),
        "C": randn(batch, dstate, length),
        "D": randn(dim),
        "z": randn(batch, dim, length),
        "delta_bias": 0.1 * randn(dim),
    }


OPTION_SETS = {
    "plain": ((), False),
    "D": (("D",), False),
    "z": (("z",), False),
    "bias": (("delta_bias",), False),
    "softplus": ((), True),
    "bias+softplus": (("delta_bias",), True),
    "all": (("D", "z", "delta_bias"), True),
}
CORE = ("u", "delta", "A", "B", "C")


def scan_kwargs(inputs: dict[str, torch.Tensor], option: str) -> dict:
    extras, softplus = OPTION_SETS[option]
    kwargs = {k: inputs[k] for k in (*CORE, *extras)}
    kwargs["delta_softplus"] = softplus
    return kwargs


# --------------------------------------------------------------------------- selective scan
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("option", list(OPTION_SETS))
def test_selective_scan_fn_matches_ref(dtype: torch.dtype, option: str) -> None:
    kwargs = scan_kwargs(make_scan_inputs(dtype), option)
    expected = selective_scan_ref(**kwargs)
    actual = selective_scan_fn(**kwargs)
    assert_close_scaled(actual, expected, TOLS[dtype])


@pytest.mark.parametrize("chunk_size", [1, 7, 32, 64, 1000])
def test_selective_scan_loop_chunk_size_invariant(chunk_size: int) -> None:
    kwargs = scan_kwargs(make_scan_inputs(torch.float64, length=64), "all")
    expected = selective_scan_ref(**kwargs)
    actual = selective_scan_loop(**kwargs, chunk_size=chunk_size)
    assert_close_scaled(actual, expected, TOL_F64)


def test_selective_scan_return_last_state() -> None:
    kwargs = scan_kwargs(make_scan_inputs(torch.float64), "all")
    y_ref, h_ref = selective_scan_ref(**kwargs, return_last_state=True)
    y, h = selective_scan_fn(**kwargs, return_last_state=True)
    assert h.shape == (2, 8, 4)
    assert_close_scaled(y, y_ref, TOL_F64)
    assert_close_scaled(h, h_ref, TOL_F64)


def test_selective_scan_recurrence_by_hand() -> None:
    """One channel, one state, constant inputs: h_t = a h_{t-1} + b has a closed form."""
    length, a_coef, dt = 10, -0.7, 0.3
    u = torch.full((1, 1, length), 2.0, dtype=torch.float64)
    delta = torch.full_like(u, dt)
    A = torch.tensor([[a_coef]], dtype=torch.float64)
    B = torch.full((1, 1, length), 1.5, dtype=torch.float64)
    C = torch.full((1, 1, length), -0.5, dtype=torch.float64)
    decay, inc = math.exp(dt * a_coef), dt * 1.5 * 2.0
    h = [inc * sum(decay**k for k in range(t + 1)) for t in range(length)]
    expected = torch.tensor(h, dtype=torch.float64).view(1, 1, length) * -0.5
    for fn in (selective_scan_ref, selective_scan_fn):
        assert_close_scaled(fn(u, delta, A, B, C), expected, TOL_F64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("option", ["plain", "bias+softplus", "all"])
def test_selective_scan_gradients_match_ref(dtype: torch.dtype, option: str) -> None:
    inputs = make_scan_inputs(dtype, length=48, seed=1)
    kwargs = scan_kwargs(inputs, option)
    leaves = [k for k, v in kwargs.items() if isinstance(v, torch.Tensor)]
    for k in leaves:
        kwargs[k] = kwargs[k].clone().requires_grad_(True)
    y_ref = selective_scan_ref(**kwargs)
    y_fast = selective_scan_fn(**kwargs)
    grad_out = torch.randn(y_ref.shape, generator=torch.Generator().manual_seed(2), dtype=dtype)
    params = [kwargs[k] for k in leaves]
    g_ref = torch.autograd.grad(y_ref, params, grad_out)
    g_fast = torch.autograd.grad(y_fast, params, grad_out)
    for name, a, e in zip(leaves, g_fast, g_ref, strict=True):
        assert torch.isfinite(a).all(), name
        assert_close_scaled(a, e, TOLS[dtype])


def test_selective_scan_gradcheck_float64() -> None:
    inputs = make_scan_inputs(torch.float64, batch=1, dim=2, dstate=3, length=9, seed=3)
    names = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]
    tensors = tuple(inputs[k].clone().requires_grad_(True) for k in names)

    def fn(*args: torch.Tensor) -> torch.Tensor:
        return selective_scan_fn(*args, delta_softplus=True)

    assert torch.autograd.gradcheck(fn, tensors)


def test_long_sequence_stays_finite_where_cumsum_overflows() -> None:
    """L=4096, sum_t delta*|A| >= 1.2e2 (> 88): any exp(-cumsum(delta*A)) form overflows float32."""
    inputs = make_scan_inputs(torch.float32, batch=2, dim=4, dstate=4, length=4096, seed=4)
    u, delta, A, B, C = (inputs[k] for k in CORE)
    # What a naive closed form h_t = P_t * cumsum(dBu_s / P_s), P_t = exp(cumsum(delta*A))
    # would evaluate: 1 / P_t overflows to inf (and P_t underflows to 0 -> 0 * inf = NaN).
    log_p = torch.cumsum(delta.unsqueeze(-1) * A.unsqueeze(-2).unsqueeze(0), dim=2)
    assert torch.isinf(torch.exp(-log_p)).any()

    y = selective_scan_fn(u, delta, A, B, C)
    assert torch.isfinite(y).all()
    assert_close_scaled(y, selective_scan_ref(u, delta, A, B, C), TOL_F32)


def test_selective_scan_keeps_input_dtype_and_layout() -> None:
    kwargs = scan_kwargs(make_scan_inputs(torch.float32), "all")
    kwargs["A"] = kwargs["A"].double()  # promoted internally, output stays u.dtype
    out = selective_scan_fn(**kwargs)
    assert out.dtype == torch.float32
    assert out.is_contiguous()
    assert_close_scaled(out, selective_scan_ref(**kwargs), TOL_F32)


def test_selective_scan_empty_sequence() -> None:
    kwargs = scan_kwargs(make_scan_inputs(torch.float64, length=0), "all")
    for fn in (selective_scan_ref, selective_scan_fn):
        assert fn(**kwargs).shape == (2, 8, 0)


@pytest.mark.parametrize(
    ("name", "bad_shape"),
    [("delta", (2, 8, 63)), ("A", (7, 4)), ("B", (2, 4)), ("C", (2, 5, 64)), ("D", (8, 1))],
)
def test_selective_scan_rejects_bad_shapes(name: str, bad_shape: tuple[int, ...]) -> None:
    kwargs = scan_kwargs(make_scan_inputs(torch.float64), "all")
    kwargs[name] = torch.zeros(bad_shape, dtype=torch.float64)
    for fn in (selective_scan_ref, selective_scan_fn):
        with pytest.raises(ValueError, match=name):
            fn(**kwargs)


def test_cpu_path_never_imports_mamba_ssm() -> None:
    code = (
        "import sys, torch\n"
        "from spectramind.model.modules.mamba_encoder import MambaEncoder\n"
        "enc = MambaEncoder(n_features=3, d_model=16, n_layers=1)\n"
        "enc(torch.randn(2, 10, 3)).sum().backward()\n"
        "assert 'mamba_ssm' not in sys.modules, 'mamba_ssm imported on CPU'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --------------------------------------------------------------------------- Mamba block
# Exactly what mamba_ssm.modules.mamba_simple.Mamba(d_model=48) has: d_inner = 96,
# dt_rank = ceil(48 / 16) = 3, d_state = 16, d_conv = 4, conv_bias=True, bias=False.
EXPECTED_MAMBA_D48 = {
    "A_log": (96, 16),
    "D": (96,),
    "in_proj.weight": (192, 48),
    "conv1d.weight": (96, 1, 4),
    "conv1d.bias": (96,),
    "x_proj.weight": (35, 96),
    "dt_proj.weight": (96, 3),
    "dt_proj.bias": (96,),
    "out_proj.weight": (48, 96),
}
# mamba_ssm Mamba(d_model=16, d_state=8, d_conv=3, expand=3, dt_rank=5, bias=True,
# conv_bias=False): d_inner = 48.
EXPECTED_MAMBA_D16_BIAS = {
    "A_log": (48, 8),
    "D": (48,),
    "in_proj.weight": (96, 16),
    "in_proj.bias": (96,),
    "conv1d.weight": (48, 1, 3),
    "x_proj.weight": (21, 48),
    "dt_proj.weight": (48, 5),
    "dt_proj.bias": (48,),
    "out_proj.weight": (16, 48),
    "out_proj.bias": (16,),
}


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_mamba_state_dict_matches_mamba_ssm_layout() -> None:
    m = Mamba(d_model=48)
    assert list(m.state_dict()) == list(EXPECTED_MAMBA_D48)  # same order as mamba_ssm
    assert _shapes(m) == EXPECTED_MAMBA_D48
    assert m.A_log.dtype == torch.float32 and m.D.dtype == torch.float32

    m2 = Mamba(d_model=16, d_state=8, d_conv=3, expand=3, dt_rank=5, bias=True, conv_bias=False)
    assert _shapes(m2) == EXPECTED_MAMBA_D16_BIAS
    assert not list(m.buffers())


def test_mamba_init_follows_mamba_ssm() -> None:
    torch.manual_seed(0)
    dt_min, dt_max = 0.001, 0.1
    m = Mamba(d_model=32, d_state=8, dt_min=dt_min, dt_max=dt_max)
    expected_a_log = torch.log(torch.arange(1, 9, dtype=torch.float32)).repeat(64, 1)
    assert torch.equal(m.A_log.detach(), expected_a_log)
    assert torch.equal(m.D.detach(), torch.ones(64))
    dt = F.softplus(m.dt_proj.bias.detach().double())
    assert (dt >= dt_min * (1 - 1e-5)).all() and (dt <= dt_max * (1 + 1e-5)).all()
    bound = m.dt_rank**-0.5
    assert m.dt_proj.weight.abs().max() <= bound
    assert m.dt_proj.bias._no_reinit and m.A_log._no_weight_decay and m.D._no_weight_decay


def _functional_mamba(m: Mamba, x: torch.Tensor) -> torch.Tensor:
    """Independent restatement of mamba's reference forward (left-pad conv, ref scan)."""
    length = x.shape[1]
    xz = torch.einsum("bld,ed->bel", x, m.in_proj.weight)
    xi, z = xz[:, : m.d_inner], xz[:, m.d_inner :]
    xi = F.conv1d(F.pad(xi, (m.d_conv - 1, 0)), m.conv1d.weight, m.conv1d.bias, groups=m.d_inner)
    xi = xi * torch.sigmoid(xi)
    x_dbl = torch.einsum("bel,re->brl", xi, m.x_proj.weight)
    dt = torch.einsum("brl,er->bel", x_dbl[:, : m.dt_rank], m.dt_proj.weight)
    B = x_dbl[:, m.dt_rank : m.dt_rank + m.d_state]
    C = x_dbl[:, m.dt_rank + m.d_state :]
    assert B.shape[-1] == C.shape[-1] == length
    A = -torch.exp(m.A_log)
    y = selective_scan_ref(
        xi, dt, A, B, C, m.D, z=z, delta_bias=m.dt_proj.bias, delta_softplus=True
    )
    return torch.einsum("bel,de->bld", y, m.out_proj.weight)


def test_mamba_forward_matches_functional_reference() -> None:
    torch.manual_seed(0)
    m = Mamba(d_model=24, d_state=6, d_conv=4, expand=2).double()
    x = torch.randn(2, 37, 24, dtype=torch.float64)
    out = m(x)
    assert out.shape == (2, 37, 24)
    assert_close_scaled(out, _functional_mamba(m, x), TOL_F64)


def test_mamba_float32_matches_float64() -> None:
    torch.manual_seed(0)
    m = Mamba(d_model=24, d_state=6)
    x = torch.randn(2, 50, 24)
    out32 = m(x)
    out64 = Mamba(d_model=24, d_state=6).double()
    out64.load_state_dict(m.state_dict())
    assert_close_scaled(out32.double(), out64(x.double()), TOL_F32)


def test_mamba_is_causal() -> None:
    torch.manual_seed(0)
    m = Mamba(d_model=16, d_state=4, d_conv=4).double()
    x = torch.randn(2, 40, 16, dtype=torch.float64)
    t = 17
    x2 = x.clone()
    x2[:, t + 1 :] = torch.randn(2, 40 - t - 1, 16, dtype=torch.float64)
    y, y2 = m(x), m(x2)
    assert_close_scaled(y2[:, : t + 1], y[:, : t + 1], TOL_F64)
    assert (y2[:, t + 1 :] - y[:, t + 1 :]).abs().max() > 1e-3  # the future did change


def test_mamba_deterministic_under_manual_seed() -> None:
    def build_and_run() -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        torch.manual_seed(1234)
        m = Mamba(d_model=16, d_state=4)
        x = torch.randn(2, 30, 16)
        return m.state_dict(), m(x)

    sd1, y1 = build_and_run()
    sd2, y2 = build_and_run()
    assert sd1.keys() == sd2.keys()
    for k in sd1:
        assert torch.equal(sd1[k], sd2[k]), k
    assert torch.equal(y1, y2)


def test_mamba_state_dict_round_trip_and_kernel_flag() -> None:
    torch.manual_seed(0)
    a = Mamba(d_model=16, d_state=4)
    torch.manual_seed(99)
    b = Mamba(d_model=16, d_state=4, use_cuda_kernels=False)
    b.load_state_dict(a.state_dict(), strict=True)
    x = torch.randn(3, 21, 16)
    assert torch.equal(a(x), b(x))  # CPU: both flags take the same exact torch loop


def test_mamba_rejects_bad_input() -> None:
    m = Mamba(d_model=16)
    with pytest.raises(ValueError, match="d_model"):
        m(torch.randn(2, 10, 8))


# --------------------------------------------------------------------------- encoder
@pytest.mark.parametrize(("pooling", "factor"), [("mean_last", 2), ("mean", 1), ("last", 1)])
@pytest.mark.parametrize("norm", ["rms", "layer"])
def test_encoder_output_shape(pooling: str, factor: int, norm: str) -> None:
    torch.manual_seed(0)
    enc = MambaEncoder(n_features=5, d_model=32, n_layers=2, d_state=8, norm=norm, pooling=pooling)
    x = torch.randn(3, 45, 5)
    assert enc.forward_sequence(x).shape == (3, 45, 32)
    out = enc(x)
    assert enc.out_dim == 32 * factor
    assert out.shape == (3, enc.out_dim)
    assert torch.isfinite(out).all()


def test_encoder_gradient_flow() -> None:
    torch.manual_seed(0)
    enc = MambaEncoder(n_features=4, d_model=16, n_layers=3, d_state=4)
    x = torch.randn(2, 33, 4, requires_grad=True)
    enc(x).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in enc.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_encoder_is_causal_and_right_padding_is_exact() -> None:
    torch.manual_seed(0)
    enc = MambaEncoder(n_features=3, d_model=16, n_layers=2, d_state=4).double()
    x = torch.randn(2, 30, 3, dtype=torch.float64)
    padded = torch.cat([x, torch.randn(2, 7, 3, dtype=torch.float64)], dim=1)
    mask = torch.zeros(2, 37, dtype=torch.bool)
    mask[:, :30] = True
    assert_close_scaled(enc.forward_sequence(padded)[:, :30], enc.forward_sequence(x), TOL_F64)
    assert_close_scaled(enc(padded, mask=mask), enc(x), TOL_F64)


def test_encoder_ragged_mask() -> None:
    torch.manual_seed(0)
    enc = MambaEncoder(n_features=3, d_model=8, n_layers=1, d_state=4, pooling="mean_last")
    x = torch.randn(2, 20, 3)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 12:] = False
    out = enc(x, mask=mask)
    assert_close_scaled(out[1], enc(x[1:2, :12])[0], TOL_F32)
    assert_close_scaled(out[0], enc(x[:1])[0], TOL_F32)
    with pytest.raises(ValueError, match="valid"):
        enc(x, mask=torch.zeros(2, 20, dtype=torch.bool))


def test_encoder_mixer_keys_follow_mamba_ssm_mixer_model() -> None:
    enc = MambaEncoder(n_features=3, d_model=48, n_layers=2)
    keys = enc.state_dict().keys()
    for i in range(2):
        prefix = f"layers.{i}.mixer."
        assert {k[len(prefix) :] for k in keys if k.startswith(prefix)} == set(EXPECTED_MAMBA_D48)
        assert f"layers.{i}.norm.weight" in keys
    assert "norm_f.weight" in keys and "input_proj.weight" in keys


# --------------------------------------------------------------------------- GPU vs mamba_ssm
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_matches_mamba_ssm_on_cuda() -> None:
    interface = pytest.importorskip("mamba_ssm.ops.selective_scan_interface")
    mamba_simple = pytest.importorskip("mamba_ssm.modules.mamba_simple")
    dev = torch.device("cuda")
    # mamba_ssm's own float32 test tolerances for its kernel vs its torch reference.
    rtol, atol = 6e-4, 2e-3

    inputs = make_scan_inputs(torch.float32, batch=2, dim=16, dstate=8, length=256, seed=5)
    inputs = {k: v.to(dev) for k, v in inputs.items()}
    kernel_out = interface.selective_scan_fn(**inputs, delta_softplus=True)
    ours_loop = selective_scan_loop(**inputs, delta_softplus=True)
    ours_fn = selective_scan_fn(**inputs, delta_softplus=True)
    torch.testing.assert_close(ours_loop, kernel_out, rtol=rtol, atol=atol)
    torch.testing.assert_close(ours_fn, kernel_out, rtol=0, atol=0)  # dispatched to kernel

    torch.manual_seed(0)
    theirs = mamba_simple.Mamba(d_model=64, d_state=16, d_conv=4, expand=2, use_fast_path=False)
    theirs = theirs.to(dev)
    ours = Mamba(d_model=64, d_state=16, d_conv=4, expand=2).to(dev)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours_loop_block = Mamba(d_model=64, use_cuda_kernels=False).to(dev)
    ours_loop_block.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 128, 64, device=dev)
    # mamba_ssm's reference path always; its fused path too when causal_conv1d is there.
    fast_paths = [False] + ([True] if importlib.util.find_spec("causal_conv1d") else [])
    with torch.no_grad():
        ours_y, ours_loop_y = ours(x), ours_loop_block(x)
        for fast in fast_paths:
            theirs.use_fast_path = fast
            ref = theirs(x)
            torch.testing.assert_close(ours_y, ref, rtol=rtol, atol=atol)
            torch.testing.assert_close(ours_loop_y, ref, rtol=rtol, atol=atol)
