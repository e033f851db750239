"""Step 1 of the physics fit: the joint white-light fit of FGS1 and AIRS.

Model of the white light curve of instrument i (FGS1, or the flux-weighted AIRS sum), visit v:

    W_iv(t) = T(t; t0_v, a/Rs, inc, k_i, u_i) * (B_iv(t) a_iv) + sum_r beta_ivr x_ivr(t)

* T: the exact quadratic-limb-darkened transit; t0 per visit, a/Rs and inc shared, radius
  ratio k and limb darkening (u1, u2) per instrument, and a per-visit AIRS-CH0 time offset
  dt_v from FGS1 (the two instruments' clocks need not agree: AIRS sees the transit at
  t0_v + dt_v); the AIRS curve is modelled as the
  flux-weighted sum of ``WHITE_LD_GROUPS`` wavelength groups, each with the limb-darkening law
  shifted by the fitted AIRS offset;
* B_iv: the multiplicative drift basis of that instrument and visit (below), its coefficients
  a_iv and the jitter coefficients beta_iv profiled out by weighted least squares at every
  step of the non-linear fit (variable projection);
* Gaussian priors (:class:`~spectramind.physics.population.FitPrior`) on ln(a/Rs / star
  sma), inc - star i and the limb-darkening offsets u - law of each instrument: learned on the
  train split by maximum likelihood over its fits (``results/physics/population.json``), or
  the weak broad prior of the config for the train fits that population is learned from.
  Every fit reports its data-only measurement of these quantities (the prior divided out of
  the linearised posterior, :func:`data_measurements`), which is what the population learns.

Drift chosen from the data, per instrument and per visit, by model selection (BIC): B is the
Legendre polynomials P_0..P_n of the time scaled to [-1, 1] over the visit, n in
1..``drift_max_order``, optionally with an exposure-start ramp column exp(-t / tau) (the
standard settling systematic of IR detectors, fitted by the JWST and Ariel pipelines), tau on
the grid ``ramp_tau_h``. Every candidate is a linear least-squares problem given the transit,
so all of them are scored at the current transit and the one of least
BIC = n ln(chi2 / n) + p ln n is kept (the variance scale profiled out, so a mis-scaled cube
variance does not move the choice; p counts the basis, the regressors and tau). The fit
alternates: a fit at the largest order, the choice, a refit, the choice again (a refit if it
changed).
A linear basis chosen by BIC rather than a GP baseline because it keeps the variable
projection exact and cheap (milliseconds per candidate, 42 candidates), gives the spectral
step a finite basis whose linearised covariance it can carry into every depth's sigma, and
does not need per-visit kernel hyperparameters that the correlated stellar noise (granulation)
would pull towards short length scales that absorb the transit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import OptimizeResult, least_squares

from spectramind.constants import VISIT_HOURS
from spectramind.physics.common import (
    INSTRUMENTS,
    FitConfig,
    instrument_regressors,
    sample_times,
    transit,
    weighted_lstsq,
    white_light,
)
from spectramind.physics.limb_darkening import limb_darkening
from spectramind.physics.population import PRIOR_KEYS, FitPrior

N_GLOBAL = 8  # a/Rs, inc, k_FGS1, k_AIRS, u1/u2 FGS1, u1/u2 AIRS (after the per-visit t0)
MAX_AIRS_DT_H = 0.25  # bound of the AIRS-CH0 time offset (h): far beyond any clock error
WHITE_LD_GROUPS = 12  # wavelength groups of the AIRS white-light model (LD varies within < 0.01)
SELECTION_ROUNDS = 2  # choose the drift, refit; this many times


# --------------------------------------------------------------------------- drift basis
def legendre_basis(t: np.ndarray, order: int) -> np.ndarray:
    """Legendre polynomials P_0..P_order (n, order + 1) of the time scaled to [-1, 1] over one
    visit (0..``VISIT_HOURS``)."""
    tau = np.asarray(t, dtype=float) / (VISIT_HOURS / 2.0) - 1.0
    return np.polynomial.legendre.legvander(tau, order)


def drift_basis(t: np.ndarray, order: int, ramp_tau_h: float | None = None) -> np.ndarray:
    """Drift basis (n, order + 1 [+ 1]): Legendre P_0..P_order, plus the exposure-start ramp
    exp(-t / tau) (t in hours since the visit start) when ``ramp_tau_h`` is given."""
    b = legendre_basis(t, order)
    if ramp_tau_h is None:
        return b
    return np.column_stack([b, np.exp(-np.asarray(t, dtype=float) / ramp_tau_h)])


def bic(chi2: float, n: int, p: int) -> float:
    """Bayesian information criterion n ln(chi2 / n) + p ln n of a Gaussian fit whose variance
    scale is profiled out (chi2: weighted residual sum of squares of n points, p parameters)."""
    return float(n * np.log(max(chi2, 1e-300) / n) + p * np.log(n))


@dataclass(frozen=True)
class DriftChoice:
    order: int
    ramp_tau_h: float | None  # None: no ramp term
    bic: float


def drift_candidates(cfg: FitConfig) -> list[tuple[int, float | None]]:
    """Every (order, ramp tau or None) the selection scores."""
    taus: list[float | None] = [None, *cfg.ramp_tau_h]
    return [(n, tau) for n in range(1, cfg.drift_max_order + 1) for tau in taus]


def select_drift(
    y: np.ndarray,
    var: np.ndarray,
    t: np.ndarray,
    shape: np.ndarray,
    regs: np.ndarray,
    candidates: list[tuple[int, float | None]],
) -> DriftChoice:
    """The candidate drift of least BIC for y = shape * (B a) + regs beta (shape: the transit
    model, fixed); a candidate with too few valid points is never chosen (BIC inf)."""
    ok = np.isfinite(y) & np.isfinite(var) & (var > 0) & np.isfinite(shape)
    n = int(ok.sum())
    best = DriftChoice(candidates[0][0], candidates[0][1], np.inf)
    for order, tau in candidates:
        basis = drift_basis(t, order, tau)
        p = basis.shape[1] + regs.shape[1] + (tau is not None)
        if n < p + 2:
            continue
        design = np.column_stack([shape[:, None] * basis, regs])
        _, _, chi2_red = weighted_lstsq(design[ok], y[ok], var[ok])
        score = bic(chi2_red * max(n - design.shape[1], 1), n, p)
        if score < best.bic:
            best = DriftChoice(order, tau, score)
    return best


# --------------------------------------------------------------------------- white light fit
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
    ld_offset_fgs1: tuple[float, float] = (0.0, 0.0)  # fitted (u1, u2) minus the law, FGS1
    airs_dt_h: np.ndarray | None = None  # (n_visits,) AIRS-CH0 time offset from FGS1 (h)
    # PRIOR_KEYS -> (value, data-only sd): what this fit measured of the prior's quantities
    # (absent where the data constrain it less than a tenth of the prior does)
    measurements: dict[str, tuple[float, float]] | None = None
    choice: dict[str, list[DriftChoice]] | None = None  # instrument -> per-visit drift choice
    basis: dict[str, list[np.ndarray]] | None = None  # instrument -> per-visit (n_time, p)


@dataclass
class WhiteProblem:
    """What the white-light fit needs, prepared once from the cube and the star row."""

    curves: dict[str, tuple[np.ndarray, np.ndarray]]  # (flux, var) each (n_visits, n_time)
    times: dict[str, np.ndarray]  # sample times (n_visits, n_time)
    regs: dict[str, list[np.ndarray]]  # per-visit regressors (n_time, n_r)
    u_prior: dict[str, tuple[float, float]]
    group_weight: np.ndarray  # (n_groups,) AIRS white-light weights
    group_u: tuple[np.ndarray, np.ndarray]  # (n_groups,) law u1, u2 of the AIRS groups
    star: pd.Series
    n_visits: int
    prior: FitPrior


def prepare_white(
    cube: xr.Dataset, star: pd.Series, cfg: FitConfig, prior: FitPrior
) -> WhiteProblem:
    """The white light curves, sample times, regressors and limb-darkening priors."""
    wl = cube["wavelength"].values
    lvl = np.nan_to_num(cube["oot_level"].values[0])
    wl_eff = {"FGS1": wl[0], "AIRS-CH0": float(np.average(wl[1:], weights=lvl[1:] + 1e-12))}
    u_prior = {}
    for i in INSTRUMENTS:
        u1p, u2p = limb_darkening(np.array([wl_eff[i]]), float(star["Ts"]))
        u_prior[i] = (float(u1p[0]), float(u2p[0]))
    groups = np.array_split(np.arange(1, len(wl)), WHITE_LD_GROUPS)
    g_weight = np.array([lvl[g].sum() for g in groups])
    nv = cube.sizes["visit"]
    curves = white_light(cube)
    if not all(np.isfinite(curves[i][0]).any() for i in INSTRUMENTS):
        raise ValueError("no finite white-light flux")  # all-NaN cube: nothing to fit
    return WhiteProblem(
        curves=curves,
        times={"FGS1": sample_times(cube, "time_fgs"), "AIRS-CH0": sample_times(cube, "time_airs")},
        regs={
            i: [instrument_regressors(cube, i, v, cfg.use_regressors) for v in range(nv)]
            for i in INSTRUMENTS
        },
        u_prior=u_prior,
        group_weight=g_weight / max(g_weight.sum(), 1e-30),
        group_u=limb_darkening(np.array([wl[g].mean() for g in groups]), float(star["Ts"])),
        star=star,
        n_visits=nv,
        prior=prior,
    )


def start_and_bounds(
    cube: xr.Dataset, prob: WhiteProblem
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start vector and bounds of x = (t0_v..., a/Rs, inc, k_FGS1, k_AIRS, u_FGS1, u_AIRS,
    dt_v...)."""
    star, m = prob.star, prob.prior.mean
    airs = prob.curves["AIRS-CH0"][0]
    k0 = np.sqrt(max(float(1 - np.nanmin(airs)), 1e-4))
    t0_guess = 0.5 * (cube["ingress"].values + cube["egress"].values)
    x0 = np.r_[
        t0_guess,
        star["sma"] * np.exp(m["ln_sma_ratio"]),
        star["i"] + m["d_inc_deg"],
        k0,
        k0,
        np.r_[prob.u_prior["FGS1"]] + [m["ld_fgs1_u1"], m["ld_fgs1_u2"]],
        np.r_[prob.u_prior["AIRS-CH0"]] + [m["ld_airs_u1"], m["ld_airs_u2"]],
        np.full(prob.n_visits, m["airs_dt_h"]),
    ]
    dt_max = np.full(prob.n_visits, MAX_AIRS_DT_H)
    lo = np.r_[
        t0_guess - 1.0,
        0.5 * star["sma"],
        max(star["i"] - 10, 0),
        1e-3,
        1e-3,
        -1,
        -1,
        -1,
        -1,
        -dt_max,
    ]
    hi = np.r_[t0_guess + 1.0, 2.0 * star["sma"], 90.0, 0.5, 0.5, 2, 2, 2, 2, dt_max]
    return np.clip(x0, lo + 1e-9, hi - 1e-9), lo, hi


def unpack(x: np.ndarray, nv: int) -> tuple[np.ndarray, float, float, dict, dict]:
    """(t0 per visit, a/Rs, inc, k per instrument, (u1, u2) per instrument) of x (the AIRS
    time offsets: :func:`airs_offsets`)."""
    a_rs, inc, kf, ka, u1f, u2f, u1a, u2a = x[nv : nv + N_GLOBAL]
    return (
        x[:nv],
        a_rs,
        inc,
        {"FGS1": kf, "AIRS-CH0": ka},
        {"FGS1": (u1f, u2f), "AIRS-CH0": (u1a, u2a)},
    )


def airs_offsets(x: np.ndarray, nv: int) -> np.ndarray:
    """The per-visit AIRS-CH0 time offsets dt_v (h) of x."""
    return np.asarray(x[nv + N_GLOBAL : nv + N_GLOBAL + nv], dtype=float)


def white_transit(prob: WhiteProblem, inst: str, v: int, x: np.ndarray) -> np.ndarray:
    """The transit of instrument ``inst``, visit ``v`` at parameters x (n_time,)."""
    t0, a_rs, inc, k, u = unpack(x, prob.n_visits)
    tv = prob.times[inst][v]
    if inst == "FGS1":
        geo = dict(t0_h=float(t0[v]), period_d=float(prob.star["P"]), a_rs=a_rs, inc_deg=inc)
        return transit(tv, **geo, k=k[inst], u1=u[inst][0], u2=u[inst][1])
    t0_airs = float(t0[v] + airs_offsets(x, prob.n_visits)[v])
    geo = dict(t0_h=t0_airs, period_d=float(prob.star["P"]), a_rs=a_rs, inc_deg=inc)
    g_u1, g_u2 = prob.group_u
    du1, du2 = (u[inst][m] - prob.u_prior[inst][m] for m in (0, 1))
    tr = transit(tv, **geo, k=np.full(len(g_u1), k[inst]), u1=g_u1 + du1, u2=g_u2 + du2)
    return prob.group_weight @ tr


def white_models(prob: WhiteProblem, bases: dict[str, list[np.ndarray]], x: np.ndarray) -> dict:
    """instrument -> per visit (transit, drift, model, valid mask), drift profiled out."""
    out = {}
    for i in INSTRUMENTS:
        rows = []
        for v in range(prob.n_visits):
            tr = white_transit(prob, i, v, x)
            y, var = prob.curves[i][0][v], prob.curves[i][1][v]
            ok = np.isfinite(y) & np.isfinite(var) & (var > 0)
            basis = bases[i][v]
            design = np.column_stack([tr[:, None] * basis, prob.regs[i][v]])
            coef, _, _ = weighted_lstsq(design[ok], y[ok], var[ok])
            rows.append((tr, basis @ coef[: basis.shape[1]], design @ coef, ok))
        out[i] = rows
    return out


def white_residuals(
    prob: WhiteProblem, bases: dict[str, list[np.ndarray]], cfg: FitConfig, x: np.ndarray
) -> np.ndarray:
    """Normalised residuals of every white light curve, then the prior terms."""
    res = []
    for i, rows in white_models(prob, bases, x).items():
        for v, (_, _, model, ok) in enumerate(rows):
            y, var = prob.curves[i][0][v], prob.curves[i][1][v]
            res.append(((y - model) / np.sqrt(var))[ok])
    q = prior_quantities(prob, x)
    p = prob.prior
    res.append(np.array([(q[k] - p.mean[k]) / p.sd[k] for k in PRIOR_KEYS]))
    later = airs_offsets(x, prob.n_visits)[1:]  # visit 0's offset is in q
    res.append((later - p.mean["airs_dt_h"]) / p.sd["airs_dt_h"])
    return np.concatenate(res)


def prior_quantities(prob: WhiteProblem, x: np.ndarray) -> dict[str, float]:
    """The prior's quantities (:data:`PRIOR_KEYS`) at parameters x."""
    _, a_rs, inc, _, u = unpack(x, prob.n_visits)
    law_f, law_a = prob.u_prior["FGS1"], prob.u_prior["AIRS-CH0"]
    return {
        "ln_sma_ratio": float(np.log(max(a_rs, 1e-12) / prob.star["sma"])),
        "d_inc_deg": float(inc - prob.star["i"]),
        "ld_fgs1_u1": float(u["FGS1"][0] - law_f[0]),
        "ld_fgs1_u2": float(u["FGS1"][1] - law_f[1]),
        "ld_airs_u1": float(u["AIRS-CH0"][0] - law_a[0]),
        "ld_airs_u2": float(u["AIRS-CH0"][1] - law_a[1]),
        "airs_dt_h": float(airs_offsets(x, prob.n_visits)[0]),
    }


#: parameter index (after the per-visit t0) of each prior quantity and its derivative d q / d x
_PRIOR_PARAM = {
    "ln_sma_ratio": 0,
    "d_inc_deg": 1,
    "ld_fgs1_u1": 4,
    "ld_fgs1_u2": 5,
    "ld_airs_u1": 6,
    "ld_airs_u2": 7,
    "airs_dt_h": 8,  # visit 0's
}


def data_measurements(
    prob: WhiteProblem, x: np.ndarray, cov: np.ndarray
) -> dict[str, tuple[float, float]]:
    """What the data alone measured of each prior quantity: the linearised posterior (value,
    marginal variance) with the Gaussian prior divided out (precisions subtract; the value
    is the precision-weighted difference). A quantity whose data precision is below a tenth
    of the prior's is left out (the fit learned it from the prior, not the data)."""
    q = prior_quantities(prob, x)
    p, nv = prob.prior, prob.n_visits
    a_rs = float(x[nv])
    out = {}
    for k, j in _PRIOR_PARAM.items():
        scale = 1.0 / a_rs if k == "ln_sma_ratio" else 1.0  # d ln(a) / d a
        var_post = float(cov[nv + j, nv + j]) * scale**2
        if not (np.isfinite(var_post) and var_post > 0):
            continue
        prec_prior = 1.0 / p.sd[k] ** 2
        prec_data = 1.0 / var_post - prec_prior
        if prec_data < 0.1 * prec_prior:
            continue
        value = (q[k] / var_post - p.mean[k] * prec_prior) / prec_data
        out[k] = (float(value), float(np.sqrt(1.0 / prec_data)))
    return out


def choose_bases(
    prob: WhiteProblem, x: np.ndarray, cfg: FitConfig
) -> tuple[dict[str, list[DriftChoice]], dict[str, list[np.ndarray]]]:
    """The BIC drift choice of every instrument and visit at the transit of x, and its bases."""
    cands = drift_candidates(cfg)
    choice: dict[str, list[DriftChoice]] = {}
    for i in INSTRUMENTS:
        choice[i] = [
            select_drift(
                prob.curves[i][0][v],
                prob.curves[i][1][v],
                prob.times[i][v],
                white_transit(prob, i, v, x),
                prob.regs[i][v],
                cands,
            )
            for v in range(prob.n_visits)
        ]
    return choice, bases_of(prob, choice)


def bases_of(prob: WhiteProblem, choice: dict[str, list[DriftChoice]]) -> dict:
    """instrument -> per-visit drift basis (n_time, p) of the chosen drifts."""
    return {
        i: [drift_basis(prob.times[i][v], c.order, c.ramp_tau_h) for v, c in enumerate(choice[i])]
        for i in INSTRUMENTS
    }


def fit_white(cube: xr.Dataset, star: pd.Series, cfg: FitConfig, prior: FitPrior) -> WhiteFit:
    """Step 1: the joint white-light fit with the drift chosen per instrument and visit."""
    prob = prepare_white(cube, star, cfg, prior)
    x, lo, hi = start_and_bounds(cube, prob)
    # the first fit at the largest order: a too flexible drift widens the errors, a too stiff
    # one moves the transit (a wrong start the choice could not recover from)
    start = DriftChoice(cfg.drift_max_order, None, np.nan)
    choice = {i: [start] * prob.n_visits for i in INSTRUMENTS}
    bases = bases_of(prob, choice)
    sol = None
    for rnd in range(SELECTION_ROUNDS + 1):
        sol = least_squares(
            partial(white_residuals, prob, bases, cfg),
            x,
            bounds=(lo, hi),
            x_scale="jac",
            method="trf",
            max_nfev=200,
        )
        x = sol.x
        if rnd == SELECTION_ROUNDS:
            break
        new_choice, new_bases = choose_bases(prob, x, cfg)
        same = all(
            (a.order, a.ramp_tau_h) == (b.order, b.ramp_tau_h)
            for i in INSTRUMENTS
            for a, b in zip(new_choice[i], choice[i], strict=True)
        )
        choice, bases = new_choice, new_bases
        if same:
            break
    return white_result(prob, bases, choice, sol)


def white_result(
    prob: WhiteProblem, bases: dict, choice: dict[str, list[DriftChoice]], sol: OptimizeResult
) -> WhiteFit:
    """The WhiteFit of a finished least-squares solution (errors from its Jacobian)."""
    nv = prob.n_visits
    n_data = sum(int(np.isfinite(prob.curves[i][0]).sum()) for i in INSTRUMENTS)
    chi2_red = float(2 * sol.cost / max(n_data - len(sol.x), 1))
    try:
        # the residuals include the prior terms: this is the posterior covariance
        cov = np.linalg.pinv(sol.jac.T @ sol.jac) * chi2_red
        err = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        cov = np.full((len(sol.x), len(sol.x)), np.nan)
        err = np.full(len(sol.x), np.nan)
    t0, a_rs, inc, k, u = unpack(sol.x, nv)
    m = white_models(prob, bases, sol.x)
    q = prior_quantities(prob, sol.x)  # the limb-darkening offsets from the law among them
    return WhiteFit(
        t0_h=np.asarray(t0, dtype=float),
        a_rs=float(a_rs),
        inc_deg=float(inc),
        k={i: float(k[i]) for i in INSTRUMENTS},
        u={i: (float(u[i][0]), float(u[i][1])) for i in INSTRUMENTS},
        k_err={"FGS1": float(err[nv + 2]), "AIRS-CH0": float(err[nv + 3])},
        drift={i: np.stack([r[1] for r in m[i]]) for i in INSTRUMENTS},
        model={i: np.stack([r[2] for r in m[i]]) for i in INSTRUMENTS},
        chi2_red=chi2_red,
        success=bool(sol.success) and bool(np.all(np.isfinite(sol.x))),
        ld_offset_airs=(q["ld_airs_u1"], q["ld_airs_u2"]),
        ld_offset_fgs1=(q["ld_fgs1_u1"], q["ld_fgs1_u2"]),
        airs_dt_h=airs_offsets(sol.x, nv),
        measurements=data_measurements(prob, sol.x, cov),
        choice=choice,
        basis=bases,
    )
