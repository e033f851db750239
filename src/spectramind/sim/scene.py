"""The astrophysical scene of one visit: star, orbit, transit light curves, stellar noise.

Transit: ``batman`` (Kreidberg 2015, PASP 127, 1161) with the 4-parameter non-linear limb
darkening law, coefficients from a grey model atmosphere (:mod:`spectramind.sim.limb`).
Nothing here is shared with the pipeline's transit model.
"""

from __future__ import annotations

from dataclasses import dataclass

import batman
import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from spectramind.sim.limb import limb_darkening_nonlinear, planck_lambda
from spectramind.sim.plan import World

T0_MEAN_H, T0_STD_H, T0_RANGE_H = 3.75, 0.6, (1.5, 6.0)
MAX_IMPACT = 0.9  # true impact parameters stay below this (unless the star row's is larger)
GRANULATION_TIMESCALE_S = 600.0  # K/G dwarf granulation: ~10 min (Kallinger et al. 2014)
GRANULATION_REF_UM = 1.0  # granulation_ppm is quoted at 1 um; contrast ~ 1/lambda
SPOT_TEMPERATURE_RATIO = 0.8  # T_spot / T_star of the unocculted spots (starspot contrast)
BATMAN_MAX_ERR_PPM = 1.0  # batman's integration error bound for the non-linear law


def planck_photons(wl_um: np.ndarray | float, temp_k: float) -> np.ndarray:
    """Photon spectral radiance (arbitrary units) ~ lambda^-4 / (exp(hc/(lambda k T)) - 1)."""
    return np.asarray(planck_lambda(wl_um, temp_k) * np.asarray(wl_um, dtype=float))


def scale_height_rs(star: pd.Series, depth: float) -> float:
    """Atmospheric scale height in stellar radii for a planet of transit ``depth``."""
    k_b, m_h, grav = 1.380649e-23, 1.6735575e-27, 6.674e-11
    r_sun, m_jup = 6.957e8, 1.898e27
    t_eq = star["Ts"] * np.sqrt(1.0 / (2.0 * star["sma"]))
    r_p = np.sqrt(depth) * star["Rs"] * r_sun
    g = grav * max(star["Mp"], 0.01) * m_jup / r_p**2
    return float(k_b * t_eq / (2.3 * m_h * g) / (star["Rs"] * r_sun))


@dataclass(frozen=True)
class Geometry:
    """True orbit of one visit: mid-transit t0 (h), period (days), a/Rs, inclination (deg)."""

    t0_h: float
    period_d: float
    a_rs: float
    inc_deg: float


def impact_parameter(a_rs: float, inc_deg: float) -> float:
    return float(a_rs * np.cos(np.radians(inc_deg)))


def draw_orbit(rng: np.random.Generator, star: pd.Series, world: World) -> tuple[float, float]:
    """True (a/Rs, i) scattered around the star row: a/Rs x (1 + N(0, s_a)), i + N(0, s_i).

    The scatter is what a catalogue's uncertainties leave; the drawn impact parameter is kept
    below max(MAX_IMPACT, the row's) so that every planet still transits.
    """
    a_row, i_row = float(star["sma"]), float(star["i"])
    a = a_row * (1.0 + world.a_rs_scatter * rng.standard_normal())
    inc = i_row + world.inclination_scatter_deg * rng.standard_normal()
    a = max(a, 1.5)
    inc = min(inc, 180.0 - inc)  # i and 180 - i are the same orbit seen in transit
    b_max = max(MAX_IMPACT, impact_parameter(a_row, i_row))
    if impact_parameter(a, inc) > b_max:
        inc = float(np.degrees(np.arccos(b_max / a)))
    return float(a), float(inc)


def draw_t0(rng: np.random.Generator) -> float:
    return float(np.clip(rng.normal(T0_MEAN_H, T0_STD_H), *T0_RANGE_H))


def light_curves(
    t_h: np.ndarray, geometry: Geometry, depth: np.ndarray, ld: np.ndarray
) -> np.ndarray:
    """Relative flux (len(depth), len(t_h)) of the transit, one curve per wavelength.

    ``depth`` (n_wl,) is (Rp/Rs)^2, ``ld`` (n_wl, 4) the non-linear law coefficients.
    Only the in-transit samples are integrated (the rest is exactly 1).
    """
    t_h = np.asarray(t_h, dtype=float)
    depth = np.atleast_1d(np.asarray(depth, dtype=float))
    out = np.ones((depth.size, t_h.size))
    a, inc = geometry.a_rs, geometry.inc_deg
    b = impact_parameter(a, inc)
    k_max = float(np.sqrt(depth.max()))
    half = (
        geometry.period_d
        * 24.0
        / (2 * np.pi)
        * np.arcsin(min(1.0, np.sqrt(max((1 + k_max) ** 2 - b**2, 0.0)) / a))
    )
    inside = np.abs(t_h - geometry.t0_h) <= half * 1.05 + 1e-3
    if not inside.any():
        return out
    params = batman.TransitParams()
    params.t0, params.per = geometry.t0_h / 24.0, geometry.period_d
    params.a, params.inc, params.ecc, params.w = a, inc, 0.0, 90.0
    params.limb_dark = "nonlinear"
    params.rp, params.u = float(np.sqrt(depth[0])), list(ld[0])
    model = batman.TransitModel(params, t_h[inside] / 24.0, max_err=BATMAN_MAX_ERR_PPM)
    for j in range(depth.size):
        params.rp, params.u = float(np.sqrt(depth[j])), [float(c) for c in ld[j]]
        out[j, inside] = model.light_curve(params)
    return out


def limb_coefficients(wl_um: np.ndarray, star: pd.Series) -> np.ndarray:
    """Non-linear law coefficients (len(wl), 4) of the star (grey atmosphere at its Ts)."""
    return limb_darkening_nonlinear(wl_um, float(star["Ts"]))


def granulation(
    rng: np.random.Generator, t_s: np.ndarray, rms_ppm: float, dt_s: float = 10.0
) -> np.ndarray:
    """Relative stellar flux variation at 1 um (len(t_s),): red noise, ~10 min correlation.

    Drawn on a regular ``dt_s`` grid (independent of the cadence, so every time scale sees
    the same star), Gaussian-filtered, scaled to ``rms_ppm`` and interpolated to ``t_s``.
    """
    if rms_ppm <= 0 or t_s.size == 0:
        return np.zeros_like(t_s, dtype=float)
    grid = np.arange(t_s.min() - dt_s, t_s.max() + 2 * dt_s, dt_s)
    g = gaussian_filter1d(rng.standard_normal(grid.size), GRANULATION_TIMESCALE_S / dt_s)
    g = (g - g.mean()) / max(float(g.std()), 1e-12) * rms_ppm * 1e-6
    return np.interp(t_s, grid, g)


def granulation_scale(wl_um: np.ndarray | float) -> np.ndarray:
    """Chromatic scaling of the granulation amplitude: contrast ~ lambda^-1."""
    return GRANULATION_REF_UM / np.asarray(wl_um, dtype=float)


def spot_depth_factor(wl_um: np.ndarray, teff_k: float, filling: float) -> np.ndarray:
    """Depth multiplier 1 / (1 - f (1 - B(T_spot) / B(T))) of unocculted spots (filling f).

    Unocculted dark spots make the unspotted chord brighter than the disc average, so the
    transit is deeper, more so in the blue (Rackham et al. 2018, ApJ 853, 122, eq. 3).
    """
    contrast = planck_lambda(wl_um, SPOT_TEMPERATURE_RATIO * teff_k) / planck_lambda(wl_um, teff_k)
    return 1.0 / (1.0 - filling * (1.0 - contrast))
