"""Per-planet physics fit: transit x multiplicative drift x jitter, white light then spectrum.

Model of the normalised cube flux of visit v, bin j (wavelength lambda_j), time t:

    F_vj(t) = c_vj * T(t; t0_v, a/Rs, i, k_j, u_j) * (1 + f_v(t) g_vj) + sum_r beta_vjr x_vr(t)

* T: the exact quadratic-limb-darkened transit (:mod:`spectramind.physics.transit`);
* f_v(t): polynomial drift in time (degree ``time_degree``), taken from the white-light fit;
* g_vj: its wavelength dependence, free per bin or a polynomial in lambda
  (``wavelength_degree``); x_vr: the standardised jitter regressors of the cube.

Step 1 (white light): FGS1 and the flux-weighted AIRS white light curve are fitted jointly
(shared t0 per visit, a/Rs, i; k, u1, u2 per instrument) by non-linear least squares with
the linear baseline coefficients profiled out (variable projection) and Gaussian priors
on a/Rs, i (star row) and u (limb-darkening law).
Step 2 (spectrum): with the geometry fixed, each AIRS bin is linear in its depth:
F = c (1 - D s_j(t)) + c g f(t) + beta x, where s_j = (1 - T(k_ref, u_j)) / k_ref^2. The
depth and its error come from weighted least squares, the error scaled by the residual
scatter (sqrt of reduced chi^2). Visits are combined by inverse variance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import xarray as xr
from scipy.optimize import least_squares

from spectramind import conventions
from spectramind.constants import VISIT_HOURS
from spectramind.defaults import schema_defaults
from spectramind.physics.limb_darkening import limb_darkening
from spectramind.physics.transit import transit_light_curve

MIN_GOOD_BINS = 200  # fewer bins with a valid fit than this: the planet's fit is "failed"
WHITE_LD_GROUPS = 12  # wavelength groups of the AIRS white-light model (LD varies within < 0.01)
AIRS_REGRESSORS = ("airs_trace_y", "airs_trace_width", "fgs_centroid_y", "fgs_centroid_x")
FGS_REGRESSORS = ("fgs_centroid_y", "fgs_centroid_x")


@dataclass(frozen=True)
@schema_defaults("physics")
class FitConfig:
    """Config keys ``physics.*`` (defaults: the schema)."""

    time_degree: int
    wavelength_degree: int | None  # None: g free per bin
    use_regressors: bool
    prior_sma_frac: float
    prior_inc_deg: float
    prior_ld: float
    min_snr: float
    partial_sigma_scale: float
    fallback_depth: float
    fallback_sigma: float

    @classmethod
    def from_dict(cls, d: Mapping) -> FitConfig:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown physics config keys: {unknown}")
        return cls(**d)


def transit(
    t_h: np.ndarray,
    *,
    t0_h: float,
    period_d: float,
    a_rs: float,
    inc_deg: float,
    k: np.ndarray | float,
    u1: np.ndarray | float,
    u2: np.ndarray | float,
) -> np.ndarray:
    """Relative flux (n_k, n_t) (or (n_t,) for scalar k/u) of the exact transit model."""
    f64 = torch.float64
    k_t, u1_t, u2_t = (torch.as_tensor(np.asarray(v, dtype=float), dtype=f64) for v in (k, u1, u2))
    scalar = k_t.ndim == 0 and u1_t.ndim == 0 and u2_t.ndim == 0
    out = transit_light_curve(
        torch.as_tensor(np.asarray(t_h, dtype=float) / 24.0, dtype=f64),
        t0=torch.tensor(t0_h / 24.0, dtype=f64),
        period=torch.tensor(period_d, dtype=f64),
        a_rs=torch.tensor(a_rs, dtype=f64),
        inc_deg=torch.tensor(inc_deg, dtype=f64),
        rp_rs=k_t.reshape(-1, 1),
        u1=u1_t.reshape(-1, 1),
        u2=u2_t.reshape(-1, 1),
    ).numpy()
    return out[0] if scalar else out


def time_basis(t: np.ndarray, degree: int) -> np.ndarray:
    """Polynomial basis (n, degree + 1) in time scaled to [-1, 1] over one visit (0..7.5 h)."""
    tau = np.asarray(t, dtype=float) / (VISIT_HOURS / 2.0) - 1.0
    return np.vander(tau, degree + 1, increasing=True)


def standardise(x: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-std columns with NaN -> 0 (constant columns -> 0)."""
    x = np.asarray(x, dtype=float)
    mu = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0)
    z = (x - mu) / np.where(sd > 0, sd, 1.0)
    return np.nan_to_num(np.where(sd > 0, z, 0.0))


def weighted_lstsq(
    design: np.ndarray, y: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares: coefficients, covariance (from var), reduced chi^2."""
    w = 1.0 / np.sqrt(var)
    a, b = design * w[:, None], y * w
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    resid = b - a @ coef
    dof = max(len(y) - design.shape[1], 1)
    cov = np.linalg.pinv(a.T @ a)
    return coef, cov, float(resid @ resid / dof)


@dataclass
class WhiteFit:
    t0_h: np.ndarray  # (n_visits,)
    a_rs: float
    inc_deg: float
    k: dict[str, float]
    u: dict[str, tuple[float, float]]
    k_err: dict[str, float]
    drift: dict[str, np.ndarray]  # instrument -> (n_visits, n_time) multiplicative baseline
    model: dict[str, np.ndarray]  # full model (n_visits, n_time)
    chi2_red: float
    success: bool
    ld_offset_airs: tuple[float, float] = (0.0, 0.0)  # fitted (u1, u2) minus the law, AIRS


def sample_times(cube: xr.Dataset, name: str) -> np.ndarray:
    """(n_visits, n_time) mean sample time of each bin for one instrument (bin centres where
    the cube has no such variable or a bin is empty)."""
    centres = np.broadcast_to(cube["time"].values, (cube.sizes["visit"], cube.sizes["time"]))
    if name not in cube:
        return centres.copy()
    t = cube[name].values
    return np.where(np.isfinite(t), t, centres)


def white_light(cube: xr.Dataset) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """FGS1 and flux-weighted AIRS white light curves (flux, var) each (n_visits, n_time)."""
    f, v = cube["flux"].values, cube["variance"].values
    w = np.nan_to_num(cube["oot_level"].values[:, None, 1:])  # counts: flux weighting
    good = np.isfinite(f[:, :, 1:]) & np.isfinite(v[:, :, 1:])
    ws = np.where(good, w, 0)
    tot = ws.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        airs = np.where(good, f[:, :, 1:], 0).__mul__(ws).sum(axis=2) / tot
        airs_var = (np.where(good, v[:, :, 1:], 0) * ws**2).sum(axis=2) / tot**2
    airs = np.where(tot > 0, airs, np.nan)
    return {"FGS1": (f[:, :, 0], v[:, :, 0]), "AIRS-CH0": (airs, airs_var)}


def _regressors(cube: xr.Dataset, names: tuple[str, ...], v: int) -> np.ndarray:
    return standardise(np.stack([cube[n].values[v] for n in names], axis=1))


def fit_white(cube: xr.Dataset, star: pd.Series, cfg: FitConfig) -> WhiteFit:
    """Step 1: joint white-light fit of FGS1 and AIRS (see module docstring)."""
    t = cube["time"].values
    wl = cube["wavelength"].values
    curves = white_light(cube)
    nv = cube.sizes["visit"]
    insts = ("FGS1", "AIRS-CH0")
    wl_eff = {
        "FGS1": wl[0],
        "AIRS-CH0": float(
            np.average(wl[1:], weights=np.nan_to_num(cube["oot_level"].values[0, 1:]) + 1e-12)
        ),
    }
    u_prior = {}
    for i in insts:
        u1p, u2p = limb_darkening(np.array([wl_eff[i]]), float(star["Ts"]))
        u_prior[i] = (float(u1p[0]), float(u2p[0]))
    regs = {
        i: [
            (
                _regressors(cube, AIRS_REGRESSORS if i == "AIRS-CH0" else FGS_REGRESSORS, v)
                if cfg.use_regressors
                else np.zeros((len(t), 0))
            )
            for v in range(nv)
        ]
        for i in insts
    }
    basis = time_basis(t, cfg.time_degree)
    if not all(np.isfinite(curves[i][0]).any() for i in insts):
        raise ValueError("no finite white-light flux")  # all-NaN cube: nothing to fit
    k0 = np.sqrt(max(float(np.nanmedian([1 - np.nanmin(curves["AIRS-CH0"][0])])), 1e-4))
    t0_guess = 0.5 * (cube["ingress"].values + cube["egress"].values)
    x0 = np.r_[t0_guess, star["sma"], star["i"], k0, k0, u_prior["FGS1"], u_prior["AIRS-CH0"]]
    lo = np.r_[
        t0_guess - 1.0, 0.5 * star["sma"], max(star["i"] - 10, 0), 1e-3, 1e-3, -1, -1, -1, -1
    ]
    hi = np.r_[t0_guess + 1.0, 2.0 * star["sma"], 90.0, 0.5, 0.5, 2, 2, 2, 2]
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)

    def unpack(x: np.ndarray) -> tuple[np.ndarray, float, float, dict, dict]:
        t0 = x[:nv]
        a_rs, inc, kf, ka, u1f, u2f, u1a, u2a = x[nv:]
        return (
            t0,
            a_rs,
            inc,
            {"FGS1": kf, "AIRS-CH0": ka},
            {"FGS1": (u1f, u2f), "AIRS-CH0": (u1a, u2a)},
        )

    # the AIRS white light curve is a flux-weighted sum over bins with different limb
    # darkening: model it as such over WHITE_LD_GROUPS wavelength groups, the law shifted
    # by the fitted offset (u_airs - u_prior)
    groups = np.array_split(np.arange(1, len(wl)), WHITE_LD_GROUPS)
    lvl = np.nan_to_num(cube["oot_level"].values[0])
    g_weight = np.array([lvl[g].sum() for g in groups])
    g_weight = g_weight / max(g_weight.sum(), 1e-30)
    g_u1, g_u2 = limb_darkening(np.array([wl[g].mean() for g in groups]), float(star["Ts"]))

    times = {"FGS1": sample_times(cube, "time_fgs"), "AIRS-CH0": sample_times(cube, "time_airs")}

    def white_transit(
        i: str, v: int, t0v: float, a_rs: float, inc: float, k: float, u: tuple[float, float]
    ) -> np.ndarray:
        tv = times[i][v]
        if i == "FGS1":
            return transit(
                tv,
                t0_h=t0v,
                period_d=float(star["P"]),
                a_rs=a_rs,
                inc_deg=inc,
                k=k,
                u1=u[0],
                u2=u[1],
            )
        tr = transit(
            tv,
            t0_h=t0v,
            period_d=float(star["P"]),
            a_rs=a_rs,
            inc_deg=inc,
            k=np.full(len(groups), k),
            u1=g_u1 + (u[0] - u_prior[i][0]),
            u2=g_u2 + (u[1] - u_prior[i][1]),
        )
        return g_weight @ tr

    def models(x: np.ndarray) -> dict:
        t0, a_rs, inc, k, u = unpack(x)
        out = {}
        for i in insts:
            rows = []
            for v in range(nv):
                tr = white_transit(i, v, t0[v], a_rs, inc, k[i], u[i])
                y, var = curves[i][0][v], curves[i][1][v]
                ok = np.isfinite(y) & np.isfinite(var) & (var > 0)
                design = np.column_stack([tr[:, None] * basis, regs[i][v]])
                coef, _, _ = weighted_lstsq(design[ok], y[ok], var[ok])
                drift = basis @ coef[: basis.shape[1]]
                rows.append((tr, drift, design @ coef, ok))
            out[i] = rows
        return out

    def residuals(x: np.ndarray) -> np.ndarray:
        res = []
        for i, rows in models(x).items():
            for v, (_, _, model, ok) in enumerate(rows):
                y, var = curves[i][0][v], curves[i][1][v]
                res.append(((y - model) / np.sqrt(var))[ok])
        t0, a_rs, inc, _, u = unpack(x)
        res.append(
            np.array(
                [
                    (a_rs - star["sma"]) / (cfg.prior_sma_frac * star["sma"]),
                    (inc - star["i"]) / cfg.prior_inc_deg,
                ]
            )
        )
        res.append(
            (np.r_[u["FGS1"], u["AIRS-CH0"]] - np.r_[u_prior["FGS1"], u_prior["AIRS-CH0"]])
            / cfg.prior_ld
        )
        return np.concatenate(res)

    sol = least_squares(residuals, x0, bounds=(lo, hi), x_scale="jac", method="trf", max_nfev=200)
    n_data = sum(int(np.isfinite(curves[i][0]).sum()) for i in insts)
    chi2_red = float(2 * sol.cost / max(n_data - len(x0), 1))
    try:
        cov = np.linalg.pinv(sol.jac.T @ sol.jac) * chi2_red
        err = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        err = np.full(len(x0), np.nan)
    t0, a_rs, inc, k, u = unpack(sol.x)
    m = models(sol.x)
    return WhiteFit(
        t0_h=np.asarray(t0, dtype=float),
        a_rs=float(a_rs),
        inc_deg=float(inc),
        k={i: float(k[i]) for i in insts},
        u={i: (float(u[i][0]), float(u[i][1])) for i in insts},
        k_err={"FGS1": float(err[nv + 2]), "AIRS-CH0": float(err[nv + 3])},
        drift={i: np.stack([r[1] for r in m[i]]) for i in insts},
        model={i: np.stack([r[2] for r in m[i]]) for i in insts},
        chi2_red=chi2_red,
        success=bool(sol.success) and bool(np.all(np.isfinite(sol.x))),
        ld_offset_airs=(
            float(u["AIRS-CH0"][0] - u_prior["AIRS-CH0"][0]),
            float(u["AIRS-CH0"][1] - u_prior["AIRS-CH0"][1]),
        ),
    )


def chromatic_drift(resid: np.ndarray, weight: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Common drift shape f(t) (n_t,) of residuals ``resid`` (n_t, n_bins) ~ f(t) g_j.

    The first left singular vector of the weighted, per-bin-centred residual matrix,
    projected on the polynomial time ``basis`` (the drift is a smooth polynomial in time),
    scaled to unit rms. Using every bin gives the chromatic leverage that separates the
    drift from the (nearly achromatic) transit.
    """
    r = np.where(np.isfinite(resid), resid, 0.0)
    r = r - (r * weight).sum(axis=0) / np.maximum(weight.sum(axis=0), 1e-30)
    w = np.sqrt(weight / np.maximum(weight.mean(), 1e-30))
    u, _, _ = np.linalg.svd(r * w, full_matrices=False)
    f = u[:, 0]
    coef, *_ = np.linalg.lstsq(basis, f, rcond=None)
    f = basis @ coef
    return f / max(np.sqrt(np.mean(f**2)), 1e-30)


def _fit_bins(
    y: np.ndarray, var: np.ndarray, shape: np.ndarray, drift: np.ndarray, regs: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Per-bin linear fit y = c (1 - D s_j) + c g f + beta x, all bins in one batched solve.

    Returns c, D, var(D), g, chi2 (n_bins,) and beta (n_r, n_bins); bins with fewer than
    10 valid samples get NaN.
    """
    nt, nb = y.shape
    ok = np.isfinite(y) & np.isfinite(var) & (var > 0)
    w = np.where(ok, 1.0 / np.where(ok, var, 1.0), 0.0)  # (n_t, n_bins)
    common = np.column_stack([np.ones(nt), drift, regs])  # (n_t, p - 1)
    design = np.concatenate(
        [
            np.broadcast_to(common[None, :, :1], (nb, nt, 1)),
            -shape.T[:, :, None],
            np.broadcast_to(common[None, :, 1:], (nb, nt, common.shape[1] - 1)),
        ],
        axis=2,
    )
    wt = w.T[:, :, None]  # (n_bins, n_t, 1)
    normal = np.einsum("btp,btq->bpq", design * wt, design)
    rhs = np.einsum("btp,bt->bp", design * wt, np.where(ok, y, 0.0).T)
    good = ok.sum(axis=0) >= 10
    p = design.shape[2]
    normal[~good] = np.eye(p)
    cov = np.linalg.inv(normal)
    coef = np.einsum("bpq,bq->bp", cov, rhs)
    resid = np.where(ok, y, 0.0).T - np.einsum("btp,bp->bt", design, coef)
    chi2 = (resid**2 * w.T).sum(axis=1) / np.maximum(ok.sum(axis=0) - p, 1)
    c = np.where(good, coef[:, 0], 1.0)  # a bin without data gives NaN below, not 0 / 0
    out_d = coef[:, 1] / c
    out_v = cov[:, 1, 1] / c**2 * chi2
    g = coef[:, 2] / c
    nan = np.where(good, 1.0, np.nan)
    return c * nan, out_d * nan, out_v * nan, g * nan, chi2 * nan, coef[:, 3:].T * nan


def joint_drift_fit(
    y: np.ndarray,
    var: np.ndarray,
    shape: np.ndarray,
    gain: np.ndarray,
    basis: np.ndarray,
    regs: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """All bins at once with one shared drift: y_j = c_j - e_j s_j + G_j (B a) + r_j x.

    y, var, shape: (n_t, n_bins); gain: G_j = c_j g_j (n_bins,) from the previous per-bin
    fit; basis B (n_t, m); regs (n_t, n_r) per-bin columns (may include the current drift,
    making this the Gauss-Newton linearisation of the bilinear drift model). Solved exactly by the Schur
    complement of the shared coefficients ``a``, so every depth's variance includes the
    uncertainty of the drift it shares with the other bins. Returns c, D = e/c, var(D),
    reduced chi^2 per bin and the drift B a (n_t,).
    """
    nt, nb = y.shape
    m = basis.shape[1]
    ok = np.isfinite(y) & np.isfinite(var) & (var > 0) & np.isfinite(gain)[None, :]
    w = np.where(ok, 1.0 / np.where(ok, var, 1.0), 0.0)
    yz = np.where(ok, y, 0.0)
    s_mat = np.zeros((m, m))
    rhs = np.zeros(m)
    per_bin: list[tuple[np.ndarray, ...] | None] = []
    for j in range(nb):
        x = np.column_stack([np.ones(nt), -shape[:, j], regs])
        g = gain[j] * basis if np.isfinite(gain[j]) else np.zeros_like(basis)
        wj = w[:, j]
        a_jj = x.T @ (x * wj[:, None])
        if ok[:, j].sum() < x.shape[1] + 2 or np.linalg.matrix_rank(a_jj) < x.shape[1]:
            per_bin.append(None)
            continue
        a_inv = np.linalg.inv(a_jj)
        c_j = x.T @ (g * wj[:, None])
        b_j = x.T @ (wj * yz[:, j])
        s_mat += g.T @ (g * wj[:, None]) - c_j.T @ a_inv @ c_j
        rhs += g.T @ (wj * yz[:, j]) - c_j.T @ a_inv @ b_j
        per_bin.append((x, g, a_inv, c_j, b_j))
    s_inv = np.linalg.pinv(s_mat, rcond=1e-9, hermitian=True)  # drops the gauge direction(s)
    a = s_inv @ rhs
    c, d, vd, chi2 = (np.full(nb, np.nan) for _ in range(4))
    for j, item in enumerate(per_bin):
        if item is None:
            continue
        x, g, a_inv, c_j, b_j = item
        beta = a_inv @ (b_j - c_j @ a)
        cov = a_inv + a_inv @ c_j @ s_inv @ c_j.T @ a_inv
        resid = (y[:, j] - x @ beta - g @ a)[ok[:, j]]
        dof = max(int(ok[:, j].sum()) - x.shape[1], 1)
        c2 = float(np.sum(resid**2 * w[ok[:, j], j]) / dof)
        c[j], d[j] = beta[0], beta[1] / beta[0]
        # var(e/c) ~ var(e)/c^2 (c ~ 1 after normalisation), scaled by the residual scatter
        vd[j], chi2[j] = cov[1, 1] / beta[0] ** 2 * c2, c2
    return c, d, vd, chi2, basis @ a


def drift_step(
    y: np.ndarray,
    var: np.ndarray,
    shape: np.ndarray,
    params: tuple[np.ndarray, ...],
    regs: np.ndarray,
    basis: np.ndarray,
) -> np.ndarray:
    """Least-squares drift f = B a given every bin's (c, D, h = c g, beta): the f-step of the
    alternating least squares of the bilinear model (exact, one small normal system)."""
    c, d, h, beta = params
    ok = (
        np.isfinite(y)
        & np.isfinite(var)
        & (var > 0)
        & np.isfinite(h)[None, :]
        & np.isfinite(d)[None, :]
    )
    w = np.where(ok, 1.0 / np.where(ok, var, 1.0), 0.0)
    hz = np.nan_to_num(h)
    r = np.where(ok, y - c * (1.0 - d * shape) - np.nan_to_num(regs @ beta), 0.0)
    lhs = np.einsum("tm,tj,tn->mn", basis, w * hz**2, basis)
    rhs = np.einsum("tm,tj->m", basis, w * hz * r)
    a = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    return basis @ a


DRIFT_ITERATIONS = 25  # alternating least squares sweeps (converged: depth changes < 1 ppm)


def fit_spectrum(
    cube: xr.Dataset, star: pd.Series, white: WhiteFit, cfg: FitConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 2: depth, its sigma and reduced chi^2 per bin (283,), visits combined.

    All 283 bins share one drift shape f(t) (the gain drift is common to both instruments,
    with an amplitude g_j per bin). It comes from :func:`chromatic_drift` of the AIRS
    residuals, alternating with per-bin linear fits of (c, D, g, beta) and the transit
    shape at each bin's current depth; a final :func:`joint_drift_fit` solves all bins
    with the shared drift coefficients, so each depth's variance includes the drift's.
    """
    t = cube["time"].values
    wl = cube["wavelength"].values
    nv, nw = cube.sizes["visit"], len(wl)
    u1, u2 = limb_darkening(wl, float(star["Ts"]))
    du = np.array(white.ld_offset_airs)
    u1, u2 = (
        u1 + du[0],
        u2 + du[1],
    )  # the law shifted through the fitted AIRS white-light coefficients
    u1[0], u2[0] = white.u["FGS1"]
    basis = time_basis(t, cfg.time_degree)
    depth = np.full((nv, nw), np.nan)
    var_d = np.full((nv, nw), np.nan)
    chi2 = np.full((nv, nw), np.nan)
    f, v = cube["flux"].values, cube["variance"].values
    k_start = np.r_[white.k["FGS1"], np.full(nw - 1, white.k["AIRS-CH0"])]
    t_fgs, t_airs = sample_times(cube, "time_fgs"), sample_times(cube, "time_airs")
    for vi in range(nv):
        regs = (
            _regressors(cube, AIRS_REGRESSORS, vi) if cfg.use_regressors else np.zeros((len(t), 0))
        )
        y, var = f[vi], v[vi]
        weight = np.where(
            np.isfinite(y) & np.isfinite(var) & (var > 0), 1.0 / np.where(var > 0, var, 1), 0.0
        )
        c, d, g = np.ones(nw), k_start**2, np.zeros(nw)
        beta = np.zeros((regs.shape[1], nw))
        drift = np.zeros(len(t))
        for it in range(DRIFT_ITERATIONS):
            if it % 5 == 0:
                # unit-depth transit shape of each bin at its current radius ratio: the linear
                # model c (1 - D s_j) is then exact at convergence (D = k_j^2)
                k_j = np.sqrt(np.clip(np.where(np.isfinite(d), d, k_start**2), 1e-6, 0.25))
                geo = dict(
                    t0_h=float(white.t0_h[vi]),
                    period_d=float(star["P"]),
                    a_rs=white.a_rs,
                    inc_deg=white.inc_deg,
                )
                tr = np.vstack(
                    [
                        transit(t_fgs[vi], **geo, k=k_j[:1], u1=u1[:1], u2=u2[:1]),
                        transit(t_airs[vi], **geo, k=k_j[1:], u1=u1[1:], u2=u2[1:]),
                    ]
                )
                shape = ((1.0 - tr) / k_j[:, None] ** 2).T  # (n_t, 283)
            if it == 0:  # start: the dominant chromatic pattern of the AIRS residuals
                with np.errstate(invalid="ignore", divide="ignore"):
                    resid = y / (c * (1.0 - d * shape)) - 1.0
                drift = chromatic_drift(resid[:, 1:], weight[:, 1:], basis)
            else:  # alternating least squares: the exact drift given every bin's parameters
                drift = drift_step(y, var, shape, (c, d, c * g, beta), regs, basis)
                drift /= max(float(np.sqrt(np.mean(drift**2))), 1e-30)
            d_old = d
            c, d, vd, g, c2, beta = _fit_bins(y, var, shape, drift, regs)
            if not np.any(np.isfinite(d)):
                break
            if it % 5 != 4 and np.nanmax(np.abs(d - d_old)) < 1e-6:
                break
        # joint linearised solve: per-bin (c, e, h, beta) with the drift column, plus the
        # shared drift coefficients scaled by each bin's amplitude; the gauge direction
        # (drift scale vs amplitudes) is removed by the pseudo-inverse
        # point estimates stay those of the converged alternation; the joint solve gives
        # their variances
        _, _, vd_joint, _, _ = joint_drift_fit(
            y, var, shape, c * g, basis, np.column_stack([drift, regs])
        )
        vd = np.where(np.isfinite(vd_joint), np.maximum(vd, vd_joint), vd)
        if cfg.wavelength_degree is not None:
            d[1:], vd[1:] = _refit_smooth_drift(
                y[:, 1:],
                var[:, 1:],
                wl[1:],
                g[1:],
                shape[:, 1:].T,
                drift,
                regs,
                cfg.wavelength_degree,
            )
        # the white-light depth error moves every bin together (geometry, limb darkening):
        # a common-mode term on top of each bin's own variance
        rel = np.r_[
            2 * white.k_err["FGS1"] / white.k["FGS1"],
            np.full(nw - 1, 2 * white.k_err["AIRS-CH0"] / white.k["AIRS-CH0"]),
        ]
        depth[vi], var_d[vi], chi2[vi] = d, vd + (d * rel) ** 2, c2
    w = 1.0 / var_d
    with np.errstate(invalid="ignore", divide="ignore"):
        comb = np.nansum(depth * w, axis=0) / np.nansum(w, axis=0)
        comb_sigma = 1.0 / np.sqrt(np.nansum(w, axis=0))
        n_chi2 = np.isfinite(chi2).sum(axis=0)
        chi2_mean = np.where(n_chi2 > 0, np.nansum(chi2, axis=0) / np.maximum(n_chi2, 1), np.nan)
    return np.where(np.isfinite(comb_sigma), comb, np.nan), comb_sigma, chi2_mean


def _refit_smooth_drift(
    f: np.ndarray,
    v: np.ndarray,
    wl: np.ndarray,
    g: np.ndarray,
    shape: np.ndarray,
    drift: np.ndarray,
    regs: np.ndarray,
    degree: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-fit depths with g(lambda) a weighted polynomial of the free per-bin estimates."""
    ok = np.isfinite(g)
    coefs = np.polyfit(wl[ok], g[ok], degree)
    g_s = np.polyval(coefs, wl)
    depth, var_d = np.full(len(wl), np.nan), np.full(len(wl), np.nan)
    for j in range(len(wl)):
        y, var = f[:, j], v[:, j]
        good = np.isfinite(y) & np.isfinite(var) & (var > 0)
        if good.sum() < 10:
            continue
        yc = y / (1.0 + g_s[j] * drift)
        design = np.column_stack([np.ones(len(y)), -shape[j], regs])
        coef, cov, c2 = weighted_lstsq(
            design[good], yc[good], var[good] / (1.0 + g_s[j] * drift[good]) ** 2
        )
        depth[j], var_d[j] = coef[1] / coef[0], cov[1, 1] / coef[0] ** 2 * c2
    return depth, var_d


@dataclass
class PlanetFit:
    depth: np.ndarray
    sigma: np.ndarray
    chi2_red: np.ndarray
    flag: str  # "ok", "partial", "low_snr", "failed"
    white: WhiteFit | None
    reason: str = ""  # why the fit failed ("" unless flag is "failed")


def geometry_problems(star: pd.Series) -> list[str]:
    """Star parameters outside the range the fit works in: ``sma`` (a/Rs) > 1,
    ``0 < i <= 90`` degrees (the readers fold i > 90 to 180 - i), ``Ts`` > 0, ``P`` > 0."""
    checks = (
        ("sma", float(star["sma"]) > 1.0, "> 1"),
        ("i", 0.0 < float(star["i"]) <= 90.0, "in (0, 90]"),
        ("Ts", float(star["Ts"]) > 0.0, "> 0"),
        ("P", float(star["P"]) > 0.0, "> 0"),
    )
    return [f"{k} {float(star[k]):g} (must be {rule})" for k, ok, rule in checks if not ok]


def fit_planet(cube: xr.Dataset, star: pd.Series, cfg: FitConfig) -> PlanetFit:
    """White-light then spectral fit, with a flagged, wider-sigma fallback that never raises
    for data problems (a partial transit, a low S/N, or a failed optimisation).

    A failed fit says why in ``reason``: star geometry out of range (never fitted, never
    "ok"), the exception the fit raised, a white-light fit that did not converge, or too
    few bins with a finite depth.
    """
    nw = cube.sizes["wavelength"]
    white: WhiteFit | None = None
    reason = ""
    depth = sigma = chi2 = np.full(nw, np.nan)
    problems = geometry_problems(star)
    if problems:
        reason = "star parameters out of range: " + ", ".join(problems)
    else:
        try:
            white = fit_white(cube, star, cfg)
            depth, sigma, chi2 = fit_spectrum(cube, star, white, cfg)
        except (ValueError, np.linalg.LinAlgError, RuntimeError) as exc:
            reason = f"the fit raised {type(exc).__name__}: {exc}"
    good = np.isfinite(depth) & np.isfinite(sigma)
    if not reason and white is not None and not white.success:
        reason = "the white-light fit did not converge"
    if not reason and good.sum() < MIN_GOOD_BINS:
        reason = f"{int(good.sum())} bins with a finite depth, fewer than {MIN_GOOD_BINS}"
    if reason:
        return PlanetFit(
            np.full(nw, cfg.fallback_depth),
            np.full(nw, cfg.fallback_sigma),
            np.full(nw, np.nan),
            "failed",
            white,
            reason,
        )
    if not good.all():  # a dead bin (no valid data): its neighbours' depth, the fallback sigma
        idx = np.arange(nw)
        depth = np.where(good, depth, np.interp(idx, idx[good], depth[good]))
        sigma = np.where(good, sigma, cfg.fallback_sigma)
    flag = "ok"
    observed = cube["ingress_observed"].values.astype(bool) & cube["egress_observed"].values.astype(
        bool
    )
    if not observed.all():
        flag, sigma = "partial", sigma * cfg.partial_sigma_scale
    if np.nanmax(cube["transit_snr"].values) < cfg.min_snr:
        flag, sigma = "low_snr", np.maximum(sigma * cfg.partial_sigma_scale, np.abs(depth) * 0.5)
    # (Rp/Rs)^2 >= 0: bins of a shallow or undetected transit can fit below zero, which the
    # submission refuses; the sigma of the unclipped fit still covers the truth
    return PlanetFit(np.clip(depth, 0.0, None), sigma, chi2, flag, white)


def fit_dataset(planet_id: int, cube: xr.Dataset, fit: PlanetFit) -> xr.Dataset:
    """The physics product ``results/physics/{planet}.nc`` (CF-1.10 attributes)."""
    wl = cube["wavelength"]
    white_attrs = {"units": "1", "long_name": "white light curve, normalised flux"}
    data: dict[str, tuple] = {
        "depth": (
            ("wavelength",),
            fit.depth,
            {"units": "1", "long_name": "transit depth (Rp/Rs)^2"},
        ),
        "depth_sigma": (
            ("wavelength",),
            fit.sigma,
            {"units": "1", "long_name": "1-sigma uncertainty of depth"},
        ),
        "chi2_red": (
            ("wavelength",),
            fit.chi2_red,
            {"units": "1", "long_name": "reduced chi-square of the spectral fit"},
        ),
    }
    if "wavelength_bnds" in cube:
        data["wavelength_bnds"] = (
            cube["wavelength_bnds"].dims,
            cube["wavelength_bnds"].values,
            cube["wavelength_bnds"].attrs,
        )
    attrs: dict[str, object] = {
        **conventions.global_attributes(
            title=f"Physics transit fit of planet {planet_id}",
            history="fit_transit (white-light then spectral transit fit of the cube)",
            comment="k_* = Rp/Rs, a_rs = a/Rs (1), inc_deg in degrees, t0 in hours since the "
            "visit start; white_*: normalised flux (1)",
        ),
        "planet_id": int(planet_id),
        "flag": fit.flag,
    }
    if fit.reason:
        attrs["failure_reason"] = fit.reason
    if fit.white is not None:
        w = fit.white
        data["t0"] = (
            ("visit",),
            w.t0_h,
            {"units": "h", "long_name": "mid-transit time since visit start"},
        )
        for i, name in (("FGS1", "fgs"), ("AIRS-CH0", "airs")):
            data[f"white_{name}_model"] = (
                ("visit", "time"),
                w.model[i],
                {"units": "1", "long_name": f"{i} fitted model (transit x drift x jitter)"},
            )
            data[f"white_{name}_drift"] = (
                ("visit", "time"),
                w.drift[i],
                {"units": "1", "long_name": f"{i} fitted drift (polynomial in time)"},
            )
            attrs[f"k_{name}"], attrs[f"k_{name}_err"] = w.k[i], w.k_err[i]
            attrs[f"u1_{name}"], attrs[f"u2_{name}"] = w.u[i]
            if "star_P" in cube.attrs:  # the fitted transit alone, for the light-curve figure
                tv = sample_times(cube, f"time_{name}")
                data[f"white_{name}_transit"] = (
                    ("visit", "time"),
                    np.stack(
                        [
                            transit(
                                tv[v],
                                t0_h=float(w.t0_h[v]),
                                period_d=float(cube.attrs["star_P"]),
                                a_rs=w.a_rs,
                                inc_deg=w.inc_deg,
                                k=w.k[i],
                                u1=w.u[i][0],
                                u2=w.u[i][1],
                            )
                            for v in range(len(w.t0_h))
                        ]
                    ),
                    {
                        "units": "1",
                        "long_name": f"{i} fitted transit alone (one limb-darkening law at the "
                        "fitted coefficients; no drift, no jitter)",
                    },
                )
        attrs.update(a_rs=w.a_rs, inc_deg=w.inc_deg, white_chi2_red=w.chi2_red)
        attrs["ld_offset_airs_u1"], attrs["ld_offset_airs_u2"] = w.ld_offset_airs
        wl_curves = white_light(cube)
        data["white_fgs"] = (("visit", "time"), wl_curves["FGS1"][0], white_attrs)
        data["white_airs"] = (("visit", "time"), wl_curves["AIRS-CH0"][0], white_attrs)
    return xr.Dataset(
        data, coords={"wavelength": wl, "time": cube["time"], "visit": cube["visit"]}, attrs=attrs
    )
