"""Step 2 of the physics fit: the depth of every bin with the white-light geometry fixed.

Model of the normalised cube flux of visit v, bin j (wavelength lambda_j), time t:

    F_vj(t) = c_vj * T(t; t0_v, a/Rs, i, k_j, u_j) * m_iv(t) * (1 + f_v(t) g_vj) + beta_vj x_v(t)

* T: the exact quadratic-limb-darkened transit at the white-light geometry, its limb
  darkening the law shifted by the fitted white-light offset (AIRS), FGS1's own fitted pair;
* m_iv: the multiplicative drift of the instrument's white light curve (its basis chosen by
  BIC in :mod:`spectramind.physics.whitelight`): the achromatic part of the systematics
  (drift, exposure ramp) is divided out of every AIRS bin (common-mode correction);
* f_v(t) g_vj: what is left of the AIRS drift, chromatic: one shape f in the span of the
  visit's chosen AIRS drift basis with an amplitude g_j per bin (free per bin, or a
  polynomial in lambda with ``wavelength_degree``); x_v: the standardised jitter regressors.

Each bin is linear in its depth: F = c (1 - D s_j) + c g f + beta x with
s_j = (1 - T(k_ref, u_j)) / k_ref^2 (exact at D = k_ref^2). f comes from alternating least
squares with per-bin fits (:func:`chromatic_drift`, :func:`drift_step`, :func:`fit_bins`).
The FGS1 bin is fitted on its own drift basis: F = B a - D s m + beta x (linear, the drift
coefficients free).

Per-bin sigma: the linearised covariance (not posterior samples). Each depth's variance is
that of the weighted least-squares solve with the drift coefficients free (FGS1: its drift
basis; AIRS: :func:`joint_drift_fit`, the shared chromatic-drift coefficients solved jointly
with every bin), scaled by the bin's reduced chi^2, plus the common-mode term of the
white-light depth error (which carries the geometry and limb-darkening covariance of the
white-light fit: every bin moves with it). Visits are combined by inverse variance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr

from spectramind.physics.common import (
    FitConfig,
    instrument_regressors,
    sample_times,
    transit,
    weighted_lstsq,
)
from spectramind.physics.limb_darkening import limb_darkening
from spectramind.physics.whitelight import WhiteFit

DRIFT_ITERATIONS = 25  # alternating least squares sweeps (converged: depth changes < 1 ppm)
SHAPE_EVERY = 5  # recompute every bin's transit shape at its current depth every this many


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


def fit_bins(
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


def refit_smooth_drift(
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


def bin_limb_darkening(wl: np.ndarray, star: pd.Series, white: WhiteFit) -> tuple[np.ndarray, ...]:
    """(u1, u2) per bin (283,): the law shifted by the fitted AIRS white-light offset, FGS1's
    own fitted pair in bin 0."""
    u1, u2 = limb_darkening(wl, float(star["Ts"]))
    u1, u2 = u1 + white.ld_offset_airs[0], u2 + white.ld_offset_airs[1]
    u1[0], u2[0] = white.u["FGS1"]
    return u1, u2


def unit_shapes(
    t: np.ndarray, geo: dict, k: np.ndarray, u1: np.ndarray, u2: np.ndarray
) -> np.ndarray:
    """Unit-depth transit shapes s_j = (1 - T(t; k_j, u_j)) / k_j^2 (n_t, n_bins)."""
    k = np.asarray(k, dtype=float)
    return ((1.0 - transit(t, **geo, k=k, u1=u1, u2=u2)) / k[:, None] ** 2).T


def fit_fgs_bin(
    y: np.ndarray,
    var: np.ndarray,
    shape: np.ndarray,
    drift: np.ndarray,
    basis: np.ndarray,
    regs: np.ndarray,
) -> tuple[float, float, float]:
    """FGS1 depth, its variance and reduced chi^2 from y = B a - D s m + beta x.

    m: the white-light drift of FGS1 (the product m (1 - D s) linearised at it), B: its
    chosen drift basis, fitted with the depth so the variance includes the drift's; the
    variance is scaled by the reduced chi^2. NaN when fewer points than parameters + 2.
    """
    ok = np.isfinite(y) & np.isfinite(var) & (var > 0)
    design = np.column_stack([basis, -shape * drift, regs])
    if ok.sum() < design.shape[1] + 2:
        return np.nan, np.nan, np.nan
    coef, cov, c2 = weighted_lstsq(design[ok], y[ok], var[ok])
    j = basis.shape[1]
    return float(coef[j]), float(cov[j, j] * c2), c2


def fit_airs_bins(
    y: np.ndarray,
    var: np.ndarray,
    shapes: Callable[[np.ndarray], np.ndarray],
    k_start: np.ndarray,
    basis: np.ndarray,
    regs: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Depth, variance, drift amplitude g, reduced chi^2 (n_bins,) of the (common-mode
    corrected) AIRS bins of one visit, and the shapes (n_t, n_bins) at convergence.

    ``shapes(k)`` gives the unit-depth shapes at radius ratios k. The chromatic drift f
    starts from the dominant pattern of the residuals (:func:`chromatic_drift`) and
    alternates with the per-bin fits (:func:`drift_step`, :func:`fit_bins`); the variances
    are the larger of the per-bin and the joint (:func:`joint_drift_fit`) ones.
    """
    nt, nw = y.shape
    weight = np.where(
        np.isfinite(y) & np.isfinite(var) & (var > 0), 1.0 / np.where(var > 0, var, 1), 0.0
    )
    c, d, g = np.ones(nw), k_start**2, np.zeros(nw)
    beta = np.zeros((regs.shape[1], nw))
    for it in range(DRIFT_ITERATIONS):
        if it % SHAPE_EVERY == 0:
            shape = shapes(np.sqrt(np.clip(np.where(np.isfinite(d), d, k_start**2), 1e-6, 0.25)))
        if it == 0:  # start: the dominant chromatic pattern of the residuals
            with np.errstate(invalid="ignore", divide="ignore"):
                resid = y / (c * (1.0 - d * shape)) - 1.0
            drift = chromatic_drift(resid, weight, basis)
        else:  # alternating least squares: the exact drift given every bin's parameters
            drift = drift_step(y, var, shape, (c, d, c * g, beta), regs, basis)
            drift /= max(float(np.sqrt(np.mean(drift**2))), 1e-30)
        d_old = d
        c, d, vd, g, c2, beta = fit_bins(y, var, shape, drift, regs)
        if not np.any(np.isfinite(d)):
            break
        if it % SHAPE_EVERY != SHAPE_EVERY - 1 and np.nanmax(np.abs(d - d_old)) < 1e-6:
            break
    # the joint solve with the shared drift coefficients gives the variances (the point
    # estimates stay those of the converged alternation); its gauge direction (drift scale vs
    # amplitudes) is removed by the pseudo-inverse
    _, _, vd_joint, _, _ = joint_drift_fit(
        y, var, shape, c * g, basis, np.column_stack([drift, regs])
    )
    vd = np.where(np.isfinite(vd_joint), np.maximum(vd, vd_joint), vd)
    return d, vd, g, c2, shape, drift


def fit_visit(
    cube: xr.Dataset, star: pd.Series, white: WhiteFit, cfg: FitConfig, v: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth, variance and reduced chi^2 of every bin (283,) of visit ``v``."""
    wl = cube["wavelength"].values
    y, var = cube["flux"].values[v], cube["variance"].values[v]
    u1, u2 = bin_limb_darkening(wl, star, white)
    geo = dict(
        t0_h=float(white.t0_h[v]), period_d=float(star["P"]), a_rs=white.a_rs, inc_deg=white.inc_deg
    )
    t_fgs, t_airs = sample_times(cube, "time_fgs")[v], sample_times(cube, "time_airs")[v]
    depth, vd, chi2 = (np.full(len(wl), np.nan) for _ in range(3))
    if white.basis is None:
        raise ValueError("fit_visit: the white-light fit carries no drift bases")
    # FGS1: its own drift basis and regressors, the shape iterated to D = k^2
    k_f = white.k["FGS1"]
    regs_f = instrument_regressors(cube, "FGS1", v, cfg.use_regressors)
    for _ in range(2):
        s_f = unit_shapes(t_fgs, geo, np.array([k_f]), u1[:1], u2[:1])[:, 0]
        d_f, vd_f, c2_f = fit_fgs_bin(
            y[:, 0], var[:, 0], s_f, white.drift["FGS1"][v], white.basis["FGS1"][v], regs_f
        )
        k_f = float(np.sqrt(np.clip(d_f, 1e-6, 0.25))) if np.isfinite(d_f) else k_f
    depth[0], vd[0], chi2[0] = d_f, vd_f, c2_f
    # AIRS: the white-light drift divided out, then the chromatic rest
    m = white.drift["AIRS-CH0"][v]
    m = np.where(np.isfinite(m) & (np.abs(m) > 0), m, 1.0)[:, None]
    ya, va = y[:, 1:] / m, var[:, 1:] / m**2
    regs_a = instrument_regressors(cube, "AIRS-CH0", v, cfg.use_regressors)
    basis_a = white.basis["AIRS-CH0"][v]
    dt = 0.0 if white.airs_dt_h is None else float(white.airs_dt_h[v])
    geo_a = {**geo, "t0_h": geo["t0_h"] + dt}  # AIRS sees the transit at t0 + its offset
    d, vda, g, c2, shape, drift = fit_airs_bins(
        ya,
        va,
        lambda k: unit_shapes(t_airs, geo_a, k, u1[1:], u2[1:]),
        np.full(len(wl) - 1, white.k["AIRS-CH0"]),
        basis_a,
        regs_a,
    )
    if cfg.wavelength_degree is not None:
        d, vda = refit_smooth_drift(
            ya, va, wl[1:], g, shape.T, drift, regs_a, cfg.wavelength_degree
        )
    depth[1:], vd[1:], chi2[1:] = d, vda, c2
    # the white-light depth error moves every bin together (geometry, limb darkening):
    # a common-mode term on top of each bin's own variance
    rel = np.r_[
        2 * white.k_err["FGS1"] / white.k["FGS1"],
        np.full(len(wl) - 1, 2 * white.k_err["AIRS-CH0"] / white.k["AIRS-CH0"]),
    ]
    return depth, vd + (depth * rel) ** 2, chi2


def combine_visits(
    depth: np.ndarray, var_d: np.ndarray, chi2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse-variance mean depth, its sigma and the mean reduced chi^2 over visits (axis 0)."""
    w = 1.0 / var_d
    with np.errstate(invalid="ignore", divide="ignore"):
        comb = np.nansum(depth * w, axis=0) / np.nansum(w, axis=0)
        comb_sigma = 1.0 / np.sqrt(np.nansum(w, axis=0))
        n_chi2 = np.isfinite(chi2).sum(axis=0)
        chi2_mean = np.where(n_chi2 > 0, np.nansum(chi2, axis=0) / np.maximum(n_chi2, 1), np.nan)
    return np.where(np.isfinite(comb_sigma), comb, np.nan), comb_sigma, chi2_mean


def fit_spectrum(
    cube: xr.Dataset, star: pd.Series, white: WhiteFit, cfg: FitConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 2: depth, its sigma and reduced chi^2 per bin (283,), visits combined."""
    rows = [fit_visit(cube, star, white, cfg, v) for v in range(cube.sizes["visit"])]
    depth, var_d, chi2 = (np.stack([r[m] for r in rows]) for m in range(3))
    return combine_visits(depth, var_d, chi2)
