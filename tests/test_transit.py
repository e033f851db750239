"""Tests for :mod:`spectramind.physics.transit` against batman and exact values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spectramind.physics.transit import (
    occulted_flux,
    projected_separation,
    transit_light_curve,
)

batman = pytest.importorskip("batman")
mpmath = pytest.importorskip("mpmath")
from batman import _quadratic_ld  # noqa: E402  (batman's analytic quadratic kernel)

# Required agreement with batman: 1 ppm of the stellar flux. (Observed: ~1e-7, which is
# batman's own error from its Hastings polynomial approximations of K(k) and E(k).)
BATMAN_TOL = 1.0e-6
# Agreement with an independent 30-digit numerical integration of the intensity profile;
# the analytic solution is exact, so only float64 round-off remains.
EXACT_TOL = 1.0e-12
# float32 vs float64 evaluation of the same inputs: a few float32 ulps of 1.0 (1.2e-7);
# the elliptic-integral term is an O(1) difference, so ~5 ulps of round-off are expected.
FLOAT32_TOL = 2.0e-6

F64 = torch.float64
P_VALUES = (0.01, 0.05, 0.1, 0.2, 0.3)
U_PAIRS = ((0.0, 0.0), (0.4, 0.25), (1.0, 0.0), (0.1, 0.6), (0.9, -0.2))
A_RS_VALUES = (3.0, 8.0, 15.0, 30.0)
PERIOD = 3.0
T0 = 0.37


def _t(x: object, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.as_tensor(x, dtype=dtype)


def _impact_parameters(p: float) -> dict[str, float]:
    return {
        "central": 0.0,
        "mid": 0.5,
        "high": 0.9 - p,  # full transit, close to internal tangency at mid-transit
        "grazing_inner": 1.0 - 0.5 * p,  # b > 1 - p: never fully inside the disc
        "grazing_outer": 1.0 + 0.5 * p,  # centre never on the disc
        "miss": 1.0 + 2.0 * p,  # no transit at all
    }


def _times() -> np.ndarray:
    # dense around mid-transit (covers ingress/egress for a/Rs >= 3) + around phase 0.5
    near = np.linspace(T0 - 0.1 * PERIOD, T0 + 0.1 * PERIOD, 4001)
    far = np.linspace(T0 + 0.3 * PERIOD, T0 + 0.7 * PERIOD, 101)
    return np.concatenate([near, far])


def _batman_curve(
    t: np.ndarray, *, a_rs: float, inc: float, p: float, u1: float, u2: float
) -> np.ndarray:
    params = batman.TransitParams()
    params.t0 = T0
    params.per = PERIOD
    params.rp = p
    params.a = a_rs
    params.inc = inc
    params.ecc = 0.0
    params.w = 90.0
    params.fp = 0.0
    params.limb_dark = "quadratic"
    params.u = [u1, u2]
    model = batman.TransitModel(params, t, nthreads=1)
    return np.asarray(model.light_curve(params))


def _reference_flux(z: float, p: float, u1: float, u2: float) -> float:
    """Independent 30-digit quadrature: 1 - int_occ I dA / int_disc I dA (polar, star frame)."""
    mp = mpmath.mp
    with mpmath.workdps(30):
        b, r, c1, c2 = (mpmath.mpf(v) for v in (z, p, u1, u2))

        def intensity(rho: object) -> object:
            one_minus_mu = 1 - mpmath.sqrt(1 - rho**2)
            return 1 - c1 * one_minus_mu - c2 * one_minus_mu**2

        total = 2 * mp.pi * mpmath.quad(lambda x: intensity(x) * x, [0, 1])
        hidden = mpmath.mpf(0)
        if r > b:  # whole annuli inside the planet
            hidden += 2 * mp.pi * mpmath.quad(lambda x: intensity(x) * x, [0, min(r - b, 1)])
        lo, hi = abs(b - r), min(mpmath.mpf(1), b + r)
        if b > 0 and lo < hi:

            def arc(x: object) -> object:
                cos_half = (x**2 + b**2 - r**2) / (2 * b * x)
                return intensity(x) * 2 * x * mpmath.acos(max(min(cos_half, 1), -1))

            hidden += mpmath.quad(arc, [lo, (lo + hi) / 2, hi])
        return float(1 - hidden / total)


# --------------------------------------------------------------------------- batman grid


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("a_rs", A_RS_VALUES)
def test_matches_batman_over_geometry_grid(p: float, a_rs: float) -> None:
    t = _times()
    u1 = _t([u[0] for u in U_PAIRS]).reshape(-1, 1)
    u2 = _t([u[1] for u in U_PAIRS]).reshape(-1, 1)
    rp = torch.full((len(U_PAIRS), 1), p, dtype=F64)
    for name, b_imp in _impact_parameters(p).items():
        inc = math.degrees(math.acos(b_imp / a_rs))
        flux = transit_light_curve(
            _t(t),
            t0=_t(T0),
            period=_t(PERIOD),
            a_rs=_t(a_rs),
            inc_deg=_t(inc),
            rp_rs=rp,
            u1=u1,
            u2=u2,
        )
        assert flux.shape == (len(U_PAIRS), t.size)
        for row, (c1, c2) in enumerate(U_PAIRS):
            ref = _batman_curve(t, a_rs=a_rs, inc=inc, p=p, u1=c1, u2=c2)
            ours = flux[row].numpy()
            err = np.max(np.abs(ours - ref))
            assert err < BATMAN_TOL, f"{name}: b={b_imp}, u=({c1},{c2}): {err * 1e6:.4f} ppm"
            if name == "miss":
                assert np.all(ours == 1.0)
            elif c1 == 0.0 and c2 == 0.0:  # the grid really samples the transit
                assert ours.min() < 1.0 - 0.1 * p * p


def test_grid_covers_all_regimes() -> None:
    """The batman grid above must contain ingress/egress, full-overlap and grazing points."""
    t = _t(_times())
    p, a_rs = 0.1, 8.0
    regimes: set[str] = set()
    for b_imp in _impact_parameters(p).values():
        z = projected_separation(
            t,
            t0=_t(T0),
            period=_t(PERIOD),
            a_rs=_t(a_rs),
            inc_deg=_t(math.degrees(math.acos(b_imp / a_rs))),
        )
        if bool((z <= 1 - p).any()):
            regimes.add("full")
        if bool(((z > 1 - p) & (z < 1 + p)).any()):
            regimes.add("partial")
        if bool((z >= 1 + p).any()):
            regimes.add("none")
        if bool(((z > p) & (z < 1 - p)).any()) and bool((z < p).any()):
            regimes.add("edge_over_centre")
    assert regimes == {"full", "partial", "none", "edge_over_centre"}


# ------------------------------------------------------------------------ edge cases


def _edge_separations(p: float) -> list[float]:
    return [0.0, 0.5 * p, p, 1.0 - p, 1.0, 1.0 + p, 1.0 + 2.0 * p]


@pytest.mark.parametrize("p", (0.01, 0.1, 0.3))
@pytest.mark.parametrize("u", ((0.0, 0.0), (0.4, 0.25), (0.1, 0.6)))
def test_edge_cases_match_exact_quadrature(p: float, u: tuple[float, float]) -> None:
    z = _edge_separations(p) + [p + 1e-9, p - 1e-9, 1.0 - p + 1e-9, 1.0 - p - 1e-9]
    ours = occulted_flux(_t(z), _t(p), _t(u[0]), _t(u[1])).numpy()
    ref = np.array([_reference_flux(zi, p, *u) for zi in z])
    np.testing.assert_allclose(ours, ref, rtol=0.0, atol=EXACT_TOL)


@pytest.mark.parametrize("p", (0.01, 0.1, 0.2, 0.3))
@pytest.mark.parametrize("u", U_PAIRS)
def test_edge_cases_match_batman(p: float, u: tuple[float, float]) -> None:
    # Exactly z = p is left out here: batman 2.5.1 snaps |z - p| < 1e-14 onto a branch that
    # reads an uninitialised variable (c_src/_quadratic_ld.c, "d == p", d < 0.5) and is off
    # by ~5000 ppm there; that point is covered by the exact-quadrature test instead.
    z = np.array(
        [0.0, 0.5 * p, 1.0 - p, 1.0, 1.0 + p, 1.0 + 2.0 * p]
        + [p + 1e-8, p - 1e-8, p + 1e-4, p - 1e-4]
        + [1.0 - p + 1e-12, 1.0 - p - 1e-12, 1.0 + p - 1e-12, 1.0 + p - 1e-6]
    )
    ours = occulted_flux(_t(z), _t(p), _t(u[0]), _t(u[1])).numpy()
    ref = _quadratic_ld._quadratic_ld(z, p, u[0], u[1], 1)
    assert np.max(np.abs(ours - ref)) < BATMAN_TOL


# ---------------------------------------------------------------------- exact values


@pytest.mark.parametrize("p", P_VALUES + (0.5,))
def test_uniform_disc_full_overlap_is_one_minus_p_squared(p: float) -> None:
    z = _t(np.linspace(0.0, 1.0 - p, 101))
    flux = occulted_flux(z, _t(p), _t(0.0), _t(0.0))
    torch.testing.assert_close(flux, torch.full_like(flux, 1.0 - p * p), rtol=0.0, atol=1e-14)


@pytest.mark.parametrize("u", U_PAIRS)
def test_flux_is_one_out_of_transit(u: tuple[float, float]) -> None:
    p = _t([[0.01], [0.1], [0.3]])
    z = torch.cat([1.0 + p.flatten(), _t([1.31, 2.0, 10.0, 1e6])])
    flux = occulted_flux(z, p, _t(u[0]), _t(u[1]))
    out = z >= 1.0 + p
    assert int(out.sum()) > 0
    assert torch.all(flux[out] == 1.0)
    assert torch.all(flux[~out] < 1.0)
    # p = 0: nothing occulted anywhere
    assert torch.all(occulted_flux(_t([0.0, 0.5, 1.0]), _t(0.0), _t(u[0]), _t(u[1])) == 1.0)


def test_behind_star_gives_flux_one() -> None:
    # a/Rs = 1.5, edge-on: at phase 0.5 the planet is behind the star centre (z would be 0)
    t = _t(np.linspace(0.3, 0.7, 201) * PERIOD)
    kw = dict(t0=_t(0.0), period=_t(PERIOD), a_rs=_t(1.5), inc_deg=_t(90.0))
    z = projected_separation(t, **kw)
    assert torch.all(z > 1e3)
    flux = transit_light_curve(t, rp_rs=_t(0.3), u1=_t(0.4), u2=_t(0.25), **kw)
    assert torch.all(flux == 1.0)


def test_projected_separation_values() -> None:
    t = _t([0.0, 0.1, -0.1, 0.3])
    z = projected_separation(t, t0=_t(0.0), period=_t(1.0), a_rs=_t(10.0), inc_deg=_t(90.0))
    expected = 10.0 * np.abs(np.sin(2 * np.pi * np.array([0.0, 0.1, -0.1])))
    np.testing.assert_allclose(z[:3].numpy(), expected, rtol=1e-14, atol=1e-13)
    assert z[3] > 1e3  # cos(phase) < 0: behind the star
    b = projected_separation(_t(2.5), t0=_t(2.5), period=_t(3.0), a_rs=_t(10.0), inc_deg=_t(87.0))
    assert b.item() == pytest.approx(10.0 * math.cos(math.radians(87.0)), rel=1e-14)


@pytest.mark.parametrize("p", (0.05, 0.3))
def test_symmetric_about_t0(p: float) -> None:
    dt = _t(np.linspace(0.0, 0.2, 501))
    kw = dict(
        t0=_t(1.234), period=_t(PERIOD), a_rs=_t(6.0), inc_deg=_t(85.0),
        rp_rs=_t(p), u1=_t(0.4), u2=_t(0.25),
    )  # fmt: skip
    before = transit_light_curve(1.234 - dt, **kw)
    after = transit_light_curve(1.234 + dt, **kw)
    torch.testing.assert_close(before, after, rtol=0.0, atol=1e-13)
    assert before.min() < 1.0 - 0.5 * p * p  # transit actually present
    assert torch.all(torch.diff(after[after < 1.0]) >= -1e-15)  # monotone egress


def test_limb_darkened_centre_value() -> None:
    # z = 0: hidden flux is int_0^p I(rho) 2 pi rho drho / int_0^1 I 2 pi rho drho with
    # I = 1 - u1 (1 - mu) - u2 (1 - mu)^2; closed form of the annulus integrals below.
    p, u1, u2 = 0.2, 0.5, 0.2
    s = math.sqrt(1 - p * p)
    # int_0^p (1 - mu) rho drho and int_0^p (1 - mu)^2 rho drho, mu = sqrt(1 - rho^2)
    j1 = p * p / 2 - (1 - s**3) / 3
    j2 = p * p / 2 - 2 * (1 - s**3) / 3 + (1 - s**4) / 4
    hidden = p * p / 2 - u1 * j1 - u2 * j2
    total = 0.5 - u1 / 6 - u2 / 12
    flux = occulted_flux(_t(0.0), _t(p), _t(u1), _t(u2))
    assert flux.item() == pytest.approx(1 - hidden / total, abs=1e-14)


# ------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("p", (0.01, 0.1, 0.3, 0.5))
def test_gradients_finite_at_edge_cases(p: float) -> None:
    z = _t(_edge_separations(p)).requires_grad_()
    rp = _t(p).requires_grad_()
    u1 = _t(0.4).requires_grad_()
    u2 = _t(0.25).requires_grad_()
    flux = occulted_flux(z, rp, u1, u2)
    grads = torch.autograd.grad(flux.sum(), (z, rp, u1, u2))
    for g in grads:
        assert torch.all(torch.isfinite(g))
    g_z = grads[0]
    assert g_z[0].item() == 0.0  # flux is even in z: flat at the centre
    assert torch.all(g_z[-2:] == 0.0)  # no dependence once out of transit
    assert torch.all(g_z[1:-2] > 0.0)  # flux rises as the planet moves out


@pytest.mark.parametrize("p", (0.01, 0.1, 0.3))
def test_gradient_matches_finite_differences(p: float) -> None:
    # generic points in every regime (away from the kinks at z = 1 +- p)
    z = _t([0.0, 0.3 * p, p, 0.5, 1.0 - 2.0 * p, 1.0 - 0.5 * p, 1.0, 1.0 + 0.5 * p])
    args = (
        z.requires_grad_(),
        _t(p).requires_grad_(),
        _t(0.4).requires_grad_(),
        _t(0.25).requires_grad_(),
    )
    assert torch.autograd.gradcheck(occulted_flux, args, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_light_curve_gradients_finite_everywhere() -> None:
    t = torch.cat([_t([0.0]), _t(np.linspace(-0.2, 0.2, 400)), _t([0.5 * PERIOD])])
    params = {
        "t0": _t(0.0), "period": _t(PERIOD), "a_rs": _t(5.0), "inc_deg": _t(90.0),
        "rp_rs": _t(0.1), "u1": _t(0.4), "u2": _t(0.25),
    }  # fmt: skip
    for v in params.values():
        v.requires_grad_()
    flux = transit_light_curve(t.requires_grad_(), **params)
    grads = torch.autograd.grad(flux.sum(), [t, *params.values()])
    for g in grads:
        assert torch.all(torch.isfinite(g))
    assert grads[0][0].item() == 0.0  # z = 0 exactly (edge-on, mid-transit)
    assert grads[0][-1].item() == 0.0  # behind the star
    assert grads[-3].item() < 0.0  # deeper transit for a larger planet


# -------------------------------------------------------------- dtype, shape, devices


def test_float32_matches_float64() -> None:
    t = _times()
    rp = _t([[0.01], [0.1], [0.3]])
    u1 = _t([[0.4], [0.1], [1.0]])
    u2 = _t([[0.25], [0.6], [0.0]])
    for b_imp in (0.0, 0.5, 0.95):
        kw64 = dict(
            t0=_t(T0), period=_t(PERIOD), a_rs=_t(8.0),
            inc_deg=_t(math.degrees(math.acos(b_imp / 8.0))), rp_rs=rp, u1=u1, u2=u2,
        )  # fmt: skip
        kw32 = {k: v.float() for k, v in kw64.items()}
        f32 = transit_light_curve(_t(t - T0, torch.float32) + kw32["t0"], **kw32)
        assert f32.dtype == torch.float32
        f64 = transit_light_curve(
            _t(t - T0, torch.float32).double() + kw32["t0"].double(),
            **{k: v.double() for k, v in kw32.items()},
        )
        assert f64.dtype == torch.float64
        err = (f32.double() - f64).abs().max().item()
        assert err < FLOAT32_TOL, f"b={b_imp}: {err * 1e6:.3f} ppm"


def test_dtype_promotion_and_broadcast_shapes() -> None:
    t = torch.linspace(-0.1, 0.1, 50, dtype=torch.float32)
    rp = _t([[0.05], [0.1], [0.15]])
    kw = dict(t0=_t(0.0, torch.float32), period=_t(PERIOD, torch.float32),
              a_rs=_t(8.0, torch.float32), inc_deg=_t(89.0, torch.float32))  # fmt: skip
    flux = transit_light_curve(t, rp_rs=rp, u1=_t(0.4), u2=_t(0.25), **kw)
    assert flux.shape == (3, 50)
    assert flux.dtype == torch.float64  # float64 radius ratio promotes
    for i in range(3):
        row = transit_light_curve(t, rp_rs=rp[i, 0], u1=_t(0.4), u2=_t(0.25), **kw)
        torch.testing.assert_close(flux[i], row, rtol=0.0, atol=0.0)
    # a batch of orbits (B, 1, 1) x wavelengths (W, 1) x times (T,)
    t0 = _t([[[0.0]], [[0.01]]], torch.float32)
    kw["t0"] = t0
    flux3 = transit_light_curve(t, rp_rs=rp, u1=_t(0.4), u2=_t(0.25), **kw)
    assert flux3.shape == (2, 3, 50)
    # deeper for larger planets at mid-transit
    assert torch.all(torch.diff(flux[:, 25]) < 0)


def test_rejects_non_tensors() -> None:
    with pytest.raises(TypeError, match="torch.Tensor"):
        occulted_flux(_t([0.1]), 0.1, _t(0.4), _t(0.25))
    with pytest.raises(TypeError, match="torch.Tensor"):
        projected_separation(
            np.zeros(3), t0=_t(0.0), period=_t(1.0), a_rs=_t(5.0), inc_deg=_t(90.0)
        )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    t = _t(np.linspace(-0.2, 0.2, 3001))
    rp = _t(np.linspace(0.01, 0.3, 64)).reshape(-1, 1)
    kw = dict(
        t0=_t(0.0), period=_t(PERIOD), a_rs=_t(6.0), inc_deg=_t(87.0), u1=_t(0.4), u2=_t(0.25)
    )
    cpu = transit_light_curve(t, rp_rs=rp, **kw)
    dev = torch.device("cuda")
    gpu = transit_light_curve(t.to(dev), rp_rs=rp.to(dev), **{k: v.to(dev) for k, v in kw.items()})
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0.0, atol=1e-12)
