"""The physics products: one planet's fit (white light then spectrum, with a flagged fallback)
and its NetCDF dataset ``results/physics/{planet}.nc``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from spectramind import conventions, provenance
from spectramind.physics.common import (
    INSTRUMENTS,
    FitConfig,
    sample_times,
    transit,
    white_light,
)
from spectramind.physics.population import PRIOR_KEYS, FitPrior
from spectramind.physics.spectral import fit_spectrum
from spectramind.physics.whitelight import WhiteFit, fit_white

MIN_GOOD_BINS = 200  # fewer bins with a valid fit than this: the planet's fit is "failed"
SHORT_NAMES = {"FGS1": "fgs", "AIRS-CH0": "airs"}


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


def fit_planet(
    cube: xr.Dataset, star: pd.Series, cfg: FitConfig, prior: FitPrior | None = None
) -> PlanetFit:
    """White-light then spectral fit, with a flagged, wider-sigma fallback that never raises
    for data problems (a partial transit, a low S/N, or a failed optimisation).

    ``prior``: the population prior learned on train (None: the config's broad prior, as for
    the train fits the population is learned from). A failed fit predicts the prior's
    fallback spectrum (the train labels' mean and sd per bin; NaN under the broad prior,
    which knows no labels); a bin with no valid data takes its neighbours' depth and the
    fallback sigma of its bin (under the broad prior: the largest sigma of the planet).

    A failed fit says why in ``reason``: star geometry out of range (never fitted, never
    "ok"), the exception the fit raised, a white-light fit that did not converge, or too
    few bins with a finite depth.
    """
    nw = cube.sizes["wavelength"]
    if prior is None:
        prior = cfg.broad_prior()
    white: WhiteFit | None = None
    reason = ""
    depth = sigma = chi2 = np.full(nw, np.nan)
    problems = geometry_problems(star)
    if problems:
        reason = "star parameters out of range: " + ", ".join(problems)
    else:
        try:
            white = fit_white(cube, star, cfg, prior)
            depth, sigma, chi2 = fit_spectrum(cube, star, white, cfg)
        except (ValueError, np.linalg.LinAlgError, RuntimeError) as exc:
            reason = f"the fit raised {type(exc).__name__}: {exc}"
    good = np.isfinite(depth) & np.isfinite(sigma)
    if not reason and white is not None and not white.success:
        reason = "the white-light fit did not converge"
    if not reason and good.sum() < MIN_GOOD_BINS:
        reason = f"{int(good.sum())} bins with a finite depth, fewer than {MIN_GOOD_BINS}"
    if reason:
        fb_mu, fb_sd = fallback_of(prior, nw)
        return PlanetFit(fb_mu, fb_sd, np.full(nw, np.nan), "failed", white, reason)
    if not good.all():  # a dead bin (no valid data): its neighbours' depth, the fallback sigma
        idx = np.arange(nw)
        depth = np.where(good, depth, np.interp(idx, idx[good], depth[good]))
        fb_sd = fallback_of(prior, nw)[1]
        sigma = np.where(good, sigma, np.where(np.isfinite(fb_sd), fb_sd, np.nanmax(sigma)))
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


def fallback_of(prior: FitPrior, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) (n_bins,) a failed fit predicts: the prior's fallback spectrum, NaN without
    one (the broad prior). ValueError when the fallback has another number of bins."""
    if prior.fallback_mu is None or prior.fallback_sigma is None:
        return np.full(n_bins, np.nan), np.full(n_bins, np.nan)
    if len(prior.fallback_mu) != n_bins or len(prior.fallback_sigma) != n_bins:
        raise ValueError(
            f"the prior's fallback spectrum has {len(prior.fallback_mu)} bins, the cube {n_bins}"
        )
    return np.asarray(prior.fallback_mu, float), np.asarray(prior.fallback_sigma, float)


def _var(dims: tuple[str, ...], values: np.ndarray, units: str, long_name: str) -> tuple:
    return dims, values, {"units": units, "long_name": long_name}


def fitted_transits(cube: xr.Dataset, w: WhiteFit, inst: str) -> np.ndarray:
    """(n_visits, n_time) fitted white-light transit of one instrument alone (one
    limb-darkening law at the fitted coefficients) at its sample times."""
    tv = sample_times(cube, f"time_{SHORT_NAMES[inst]}")
    dt = np.zeros(len(w.t0_h)) if inst == "FGS1" or w.airs_dt_h is None else w.airs_dt_h
    return np.stack(
        [
            transit(
                tv[v],
                t0_h=float(w.t0_h[v] + dt[v]),
                period_d=float(cube.attrs["star_P"]),
                a_rs=w.a_rs,
                inc_deg=w.inc_deg,
                k=w.k[inst],
                u1=w.u[inst][0],
                u2=w.u[inst][1],
            )
            for v in range(len(w.t0_h))
        ]
    )


def white_variables(cube: xr.Dataset, w: WhiteFit) -> tuple[dict, dict]:
    """Data variables and attributes of the white-light fit."""
    data: dict[str, tuple] = {
        "t0": _var(("visit",), w.t0_h, "h", "mid-transit time since visit start")
    }
    if w.airs_dt_h is not None:
        data["airs_dt"] = _var(
            ("visit",), w.airs_dt_h, "h", "AIRS-CH0 time offset from FGS1 (transit at t0 + dt)"
        )
    attrs: dict[str, object] = {}
    for i, name in SHORT_NAMES.items():
        data[f"white_{name}_model"] = _var(
            ("visit", "time"), w.model[i], "1", f"{i} fitted model (transit x drift x jitter)"
        )
        data[f"white_{name}_drift"] = _var(
            ("visit", "time"), w.drift[i], "1", f"{i} fitted drift (chosen basis in time)"
        )
        if w.choice is not None:
            data[f"drift_order_{name}"] = _var(
                ("visit",),
                np.array([c.order for c in w.choice[i]], dtype=np.int32),
                "1",
                f"{i} drift Legendre order chosen by BIC",
            )
            data[f"ramp_tau_{name}"] = _var(
                ("visit",),
                np.array([np.nan if c.ramp_tau_h is None else c.ramp_tau_h for c in w.choice[i]]),
                "h",
                f"{i} exposure-ramp time constant chosen by BIC (NaN: no ramp)",
            )
        attrs[f"k_{name}"], attrs[f"k_{name}_err"] = w.k[i], w.k_err[i]
        attrs[f"u1_{name}"], attrs[f"u2_{name}"] = w.u[i]
        if "star_P" in cube.attrs:  # the fitted transit alone, for the light-curve figure
            data[f"white_{name}_transit"] = _var(
                ("visit", "time"),
                fitted_transits(cube, w, i),
                "1",
                f"{i} fitted transit alone (one limb-darkening law at the fitted "
                "coefficients; no drift, no jitter)",
            )
    attrs.update(a_rs=w.a_rs, inc_deg=w.inc_deg, white_chi2_red=w.chi2_red)
    attrs["ld_offset_airs_u1"], attrs["ld_offset_airs_u2"] = w.ld_offset_airs
    attrs["ld_offset_fgs1_u1"], attrs["ld_offset_fgs1_u2"] = w.ld_offset_fgs1
    for k, (value, sd) in (w.measurements or {}).items():  # what the population learns from
        attrs[f"measured_{k}"], attrs[f"measured_{k}_sd"] = value, sd
    wl_curves = white_light(cube)
    for i in INSTRUMENTS:
        data[f"white_{SHORT_NAMES[i]}"] = _var(
            ("visit", "time"), wl_curves[i][0], "1", "white light curve, normalised flux"
        )
    return data, attrs


def prior_measurements(fit: xr.Dataset) -> dict[str, tuple[float, float]]:
    """{PRIOR_KEYS: (value, data-only sd)} a physics product measured (none for a failed fit
    or one whose data did not constrain the quantity)."""
    if str(fit.attrs.get("flag", "failed")) == "failed":
        return {}
    return {
        k: (float(fit.attrs[f"measured_{k}"]), float(fit.attrs[f"measured_{k}_sd"]))
        for k in PRIOR_KEYS
        if f"measured_{k}" in fit.attrs
    }


def fit_dataset(
    planet_id: int,
    cube: xr.Dataset,
    fit: PlanetFit,
    cfg: FitConfig | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    prior: FitPrior | None = None,
) -> xr.Dataset:
    """The physics product ``results/physics/{planet}.nc`` (CF-1.10 attributes).

    With ``cfg`` (the fit's config) the product carries the provenance of
    :mod:`spectramind.provenance`: the cube's per-visit stages plus ``fit``, its reference
    files, its ``calibration_config_sha256``, this fit's ``physics_config_sha256`` and, given
    the run's ``config``, the whole-config ``config_sha256``. With ``prior`` (the one the fit
    used) it records the prior's source, means and sds (``prior_<key>_mean``/``_sd``); a
    white-light fit records what it measured of them (``measured_<key>``/``_sd``)."""
    data: dict[str, tuple] = {
        "depth": _var(("wavelength",), fit.depth, "1", "transit depth (Rp/Rs)^2"),
        "depth_sigma": _var(("wavelength",), fit.sigma, "1", "1-sigma uncertainty of depth"),
        "chi2_red": _var(
            ("wavelength",), fit.chi2_red, "1", "reduced chi-square of the spectral fit"
        ),
    }
    if "wavelength_bnds" in cube:
        b = cube["wavelength_bnds"]
        data["wavelength_bnds"] = (b.dims, b.values, b.attrs)
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
    if prior is not None:
        attrs["prior_source"] = prior.source
        for k in PRIOR_KEYS:
            attrs[f"prior_{k}_mean"], attrs[f"prior_{k}_sd"] = prior.mean[k], prior.sd[k]
    if cfg is not None:
        attrs.update(
            provenance.inherit(
                cube.attrs, stage="fit", section="physics", section_config=cfg, config=config
            )
        )
    if fit.white is not None:
        w_data, w_attrs = white_variables(cube, fit.white)
        data.update(w_data)
        attrs.update(w_attrs)
    return xr.Dataset(
        data,
        coords={"wavelength": cube["wavelength"], "time": cube["time"], "visit": cube["visit"]},
        attrs=attrs,
    )
