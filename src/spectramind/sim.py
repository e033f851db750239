"""Realistic simulator of Ariel Data Challenge 2025 raw data, in the exact challenge layout.

Every effect the real data has (ExoSim 2, DESIGN.md), with the magnitude used here. Unless
stated, magnitudes were measured on the real first 50 frames and calibration maps of planet
342072318 in ``resources/ariel`` (``benchmarks/bench_realism.py`` prints the comparison).

==========================  =================================================================
effect                      model and magnitude
==========================  =================================================================
stellar spectrum            AIRS: the real per-column CDS flux of star 342072318 (Ts 4798 K,
                            ``resources/ariel/derived/airs_reference_flux.csv``; ~5e3 counts per
                            4.5 s at column 39, ~1e5 at column 320) scaled by the ratio of
                            Planck photon spectra B(lambda, Ts) / B(lambda, 4798 K) and by a
                            brightness factor (Rs/0.871)^2 * 10^(-0.4 dm), dm ~ N(0, 0.35) mag,
                            clipped to [0.3, 2.5], then capped so that no wavelength gets more
                            than 2x the reference star's flux (exposure-matched: no saturation).
                            FGS1: 2.07e6 counts/s for the reference star, the same scalings at
                            0.7 um.
transit                     circular orbit, P, a/Rs, i from the star row; t0 ~ N(3.75 h, 0.6 h)
                            clipped to [1.5, 6] h of the 7.5 h visit, so long transits are
                            partial; quadratic limb darkening u1 = 0.44 (lambda/0.7um)^-0.85
                            (5800/Ts)^0.5, u2 = 0.22 (lambda/0.7um)^-0.2 (a smooth fit to the
                            trend of tabulated Claret coefficients); exact model from
                            ``spectramind.physics.transit``.
true spectra                real 2024 shapes (resources/ariel/2024/train_labels.csv): mean depth
                            replaced by D ~ lognormal(mean 0.0147, std 0.011), clipped
                            [5e-4, 0.08]; features scaled by sqrt(D/d_2024) x (H/H_median)
                            (atmospheric scale height H = k T_eq / (2.3 m_H g) from Ts, a/Rs,
                            Mp, Rs; ratio clipped [0.25, 4]) x lognormal(0, 0.25) variation.
AIRS trace                  row centre 15.59; two Gaussians integrated over pixels, core sigma
                            0.60 -> 1.42 px and halo sigma 1.80 -> 5.03 px from 1.95 to 3.86 um,
                            halo weight 0.45 -> 0.18, plus a flat scattered-light floor of 3-6 %
                            of the column flux x 0.35 (least-squares fits to the real mean CDS
                            frame; the floor scaled to the real edge-row level).
FGS1 PSF                    centre (15.30, 15.75), two circular Gaussians sigma 0.995 / 2.15 px,
                            halo weight 0.31 (fit to the real mean FGS1 CDS frame); pixel-phase
                            (intra-pixel) response 1 - 0.04 (phi_y^2 + phi_x^2) of the
                            undersampled PSF, phi the centroid offset from the pixel centre.
background                  AIRS 2.7 counts/s/pixel, FGS1 30 counts/s/pixel (real dark columns
                            and the median FGS1 pixel).
pointing jitter             a common pointing series in FGS1 pixels: red (Gaussian-filtered,
                            30 s) 0.02 px rms + white 0.08 px rms per frame pair (the real
                            centroid scatter is ~0.11 px); AIRS sees 0.35x of it (dy) and 0.1x
                            along the dispersion (dx). The shifted PSF/trace is multiplied by
                            the flat, so jitter couples to the photometry through the flat.
gain drift                  multiplicative 1 + A p_t(t) p_w(lambda), p_t and p_w random
                            5th-order polynomials scaled to max |p| = 1, A ~ U(0.004, 0.015).
dark current                dark map x dt (counts/s; hot pixels are the dark map's outliers);
                            dt = 0.1 / 4.6 s (AIRS start/end), 0.1 / 0.2 s (FGS1).
photon noise                Gaussian with variance = 0.65 x counts (effective 1.54 e-/count:
                            the variance of the real column sums is sub-Poisson in counts).
read noise                  N(0, read map) per read.
reset offset                per pixel, per visit, N(2.5, 2) counts, identical in the start and the
                            end read (it cancels in CDS; real decoded start reads have median 7.1).
dead pixels                 the dead map: no photo-response (offset and read noise only).
cosmic rays                 5 hits /cm^2/s on 18 um pixels (1.6e-5 per pixel per s), each a
                            lognormal deposit (median 3000 counts) on one pixel, between the
                            start and the end read.
non-linearity               per-pixel inverse of linear_corr (Newton, c0..c5): the raw read x
                            satisfies sum_k c_k x^k = linear counts.
ADC                         adu = floor((x - offset) * gain), clipped to uint16; offset -1000,
                            gain 0.4369 (adc_info.csv); decode x = adu / gain + offset.
reads and times             start/end reads with the real integration times and time axes
                            (axis_info.parquet): AIRS 11250 frames (0.1 / 4.5 s), FGS1 135000.
time scale K                K times fewer frame pairs over the same 7.5 h, each at the real
                            per-frame flux, all random noise terms (photon, read, white jitter)
                            divided by sqrt(K): time-binned light curves keep the noise of
                            full-size data. K = 1 is exact full-size data.
==========================  =================================================================

Determinism: each visit draws from ``SeedSequence([seed, planet_id, visit])``, so a planet's
data do not depend on which other planets are simulated.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.special import erf

from spectramind import io
from spectramind.physics.limb_darkening import limb_darkening
from spectramind.physics.transit import transit_light_curve

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "ariel"

AIRS_DT = (0.1, 4.6)  # s of light/dark accumulated at the start and end read
FGS_DT = (0.1, 0.2)
AIRS_CDS_REF_S = 4.5  # integration of the reference CDS flux table
REF_TS = 4798.0  # K, star 342072318 of the reference flux
REF_RS = 0.871
FGS_REF_RATE = 2.07e6  # counts/s, FGS1 PSF total of the reference star
AIRS_BACKGROUND = 2.7  # counts/s/pixel
FGS_BACKGROUND = 30.0
SHOT_NOISE_FACTOR = 0.65  # photon-noise variance / counts (effective 1.54 e-/count)
FGS_INTRAPIXEL = 0.04  # pixel-phase response amplitude of the undersampled FGS1 PSF
AIRS_ROW_CENTRE = 15.59
FGS_CENTRE = (15.30, 15.75)
FGS_PSF = (0.995, 2.15, 0.31)  # core sigma, halo sigma, halo weight
# trace shape nodes (wavelength um -> core sigma, halo sigma, halo weight, scatter fraction)
_TRACE_WL = np.array([1.95, 2.30, 2.62, 2.92, 3.19, 3.45, 3.68, 3.86])
_TRACE_CORE = np.array([0.600, 0.791, 0.958, 1.071, 1.189, 1.277, 1.332, 1.417])
_TRACE_HALO = np.array([1.798, 2.269, 2.969, 3.418, 3.945, 4.318, 4.583, 5.035])
_TRACE_W = np.array([0.446, 0.369, 0.294, 0.267, 0.232, 0.209, 0.202, 0.184])
_TRACE_SCATTER = 0.35 * np.array([0.058, 0.043, 0.040, 0.036, 0.029, 0.030, 0.032, 0.033])
RESET_OFFSET = (2.5, 2.0)
CR_RATE_PER_PIXEL_S = 1.6e-5
CR_MEDIAN_COUNTS = 3000.0
JITTER_RED_RMS, JITTER_WHITE_RMS, JITTER_RED_TIMESCALE_S = 0.02, 0.08, 30.0
MAX_FLUX_FACTOR = 2.0  # peak pixels stay below ~1e5 counts (FGS1 ~0.9e5, AIRS ~1.1e5)
AIRS_JITTER_SCALE_Y, AIRS_JITTER_SCALE_X = 0.35, 0.1
DEPTH_MEAN, DEPTH_STD, DEPTH_RANGE = 0.0147, 0.011, (5e-4, 0.08)
CHUNK_ELEMENTS = 1 << 17  # pixels per work chunk: ~0.5 MB float32 arrays stay in cache


# --------------------------------------------------------------------------- physics pieces
def planck_photons(wl_um: np.ndarray | float, temp_k: float) -> np.ndarray:
    """Photon spectral radiance (arbitrary units) ~ lambda^-4 / (exp(hc/(lambda k T)) - 1)."""
    x = 14387.77 / (np.asarray(wl_um, dtype=float) * temp_k)  # hc/k in um K
    return np.asarray(wl_um, dtype=float) ** -4 / np.expm1(x)


def scale_height_rs(star: pd.Series, depth: float) -> float:
    """Atmospheric scale height in stellar radii for a planet of transit ``depth``."""
    k_b, m_h, grav = 1.380649e-23, 1.6735575e-27, 6.674e-11
    r_sun, m_jup = 6.957e8, 1.898e27
    t_eq = star["Ts"] * np.sqrt(1.0 / (2.0 * star["sma"]))
    r_p = np.sqrt(depth) * star["Rs"] * r_sun
    g = grav * max(star["Mp"], 0.01) * m_jup / r_p**2
    return float(k_b * t_eq / (2.3 * m_h * g) / (star["Rs"] * r_sun))


def draw_spectrum(
    rng: np.random.Generator, shapes: np.ndarray, star: pd.Series, h_median: float
) -> np.ndarray:
    """A 2025-like spectrum (283,) from a random real 2024 shape (see module table)."""
    shape = shapes[rng.integers(len(shapes))]
    s_ln = np.sqrt(np.log1p((DEPTH_STD / DEPTH_MEAN) ** 2))
    depth = float(np.clip(rng.lognormal(np.log(DEPTH_MEAN) - s_ln**2 / 2, s_ln), *DEPTH_RANGE))
    m = float(shape.mean())
    h_ratio = np.clip(scale_height_rs(star, depth) / h_median, 0.25, 4.0)
    amp = np.sqrt(depth / m) * h_ratio * rng.lognormal(0.0, 0.25)
    return np.clip(depth + (shape - m) * amp, 1e-5, None)


def random_polynomial(rng: np.random.Generator, x: np.ndarray, degree: int = 5) -> np.ndarray:
    """Random polynomial in ``x`` (any range, mapped to [-1, 1]) scaled to max |p| = 1."""
    x = np.asarray(x, dtype=float)
    span = x.max() - x.min()
    u = 2 * (x - x.min()) / span - 1 if span > 0 else np.zeros_like(x)
    p = np.polynomial.chebyshev.chebval(u, rng.normal(size=degree + 1) * np.r_[0, np.ones(degree)])
    return p / max(np.abs(p).max(), 1e-12)


def pointing_jitter(rng: np.random.Generator, t_s: np.ndarray, time_scale: int) -> np.ndarray:
    """Pointing offsets (n, 2) = (y, x) in FGS1 pixels at times ``t_s`` (seconds)."""
    n = t_s.size
    dt = float(np.median(np.diff(t_s))) if n > 1 else 1.0
    red = gaussian_filter1d(
        rng.normal(size=(2, n)), JITTER_RED_TIMESCALE_S / dt, axis=1, mode="wrap"
    )
    red -= red.mean(axis=1, keepdims=True)  # zero mean: a series shorter than the timescale
    red *= JITTER_RED_RMS / np.maximum(
        red.std(axis=1, keepdims=True), 1e-12
    )  # must not blow up its mean
    white = rng.normal(size=(2, n)) * JITTER_WHITE_RMS / np.sqrt(time_scale)
    return (red + white).T


def pixel_gaussian(
    pos: np.ndarray, centre: np.ndarray | float, sigma: np.ndarray | float
) -> np.ndarray:
    """Fraction of a unit 1-D Gaussian falling in the pixel [pos-0.5, pos+0.5]."""
    s = np.sqrt(2.0) * sigma
    return 0.5 * (erf((pos + 0.5 - centre) / s) - erf((pos - 0.5 - centre) / s))


def airs_trace_profile(wl_um: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row profile of the AIRS trace and its 1st/2nd derivative w.r.t. a row shift.

    Returns three (32, 356) arrays P, dP/dy0, d2P/dy0^2 (each column of P sums to
    1 - scatter fraction; the scatter floor is added separately).
    """
    wl = np.asarray(wl_um)
    core, halo = np.interp(wl, _TRACE_WL, _TRACE_CORE), np.interp(wl, _TRACE_WL, _TRACE_HALO)
    w, scat = np.interp(wl, _TRACE_WL, _TRACE_W), np.interp(wl, _TRACE_WL, _TRACE_SCATTER)
    rows = np.arange(32.0)[:, None]
    h = 1e-3

    def prof(y0: float) -> np.ndarray:
        return (1 - scat) * (
            (1 - w) * pixel_gaussian(rows, y0, core) + w * pixel_gaussian(rows, y0, halo)
        )

    p0, pp, pm = prof(AIRS_ROW_CENTRE), prof(AIRS_ROW_CENTRE + h), prof(AIRS_ROW_CENTRE - h)
    return p0, (pp - pm) / (2 * h), (pp - 2 * p0 + pm) / h**2


def airs_scatter_fraction(wl_um: np.ndarray) -> np.ndarray:
    return np.interp(np.asarray(wl_um), _TRACE_WL, _TRACE_SCATTER)


def fgs_psf(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """FGS1 PSF frames (n, 32, 32) for pointing offsets ``dy, dx`` (n,).

    Unit total times the pixel-phase (intra-pixel) response 1 - a (phi_y^2 + phi_x^2),
    phi the centroid's offset from its pixel centre.
    """
    core, halo, w = FGS_PSF
    pos = np.arange(32.0)[None, :]
    cy, cx = FGS_CENTRE[0] + dy[:, None], FGS_CENTRE[1] + dx[:, None]
    out = (1 - w) * np.einsum(
        "ny,nx->nyx", pixel_gaussian(pos, cy, core), pixel_gaussian(pos, cx, core)
    )
    out += w * np.einsum("ny,nx->nyx", pixel_gaussian(pos, cy, halo), pixel_gaussian(pos, cx, halo))
    phase = (cy - np.round(cy)) ** 2 + (cx - np.round(cx)) ** 2
    return out * (1.0 - FGS_INTRAPIXEL * phase)[:, :, None]


# --------------------------------------------------------------------------- detector pieces
def polyval_pixels(x: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """sum_k c_k x^k per pixel (Horner), coeffs (6, ny, nx) lowest power first."""
    out = np.broadcast_to(coeffs[-1], x.shape).astype(x.dtype, copy=True)
    for c in coeffs[-2::-1]:
        out *= x
        out += c
    return out


def invert_linearity(
    linear: np.ndarray, coeffs: np.ndarray, *, tol: float = 0.01, max_iter: int = 6
) -> np.ndarray:
    """Raw counts x with ``polyval_pixels(x, coeffs) == linear`` (Newton from the linear guess).

    Iterates until the largest Newton step is below ``tol`` counts (two steps for the
    real maps up to ~5e4 counts, three near 1e5), at most ``max_iter`` steps.
    """
    c = coeffs.astype(linear.dtype)
    dcoeffs = c[1:] * np.arange(1, c.shape[0], dtype=linear.dtype)[:, None, None]
    x = (linear - c[0]) / c[1]
    for _ in range(max_iter):
        step = polyval_pixels(x, c)
        step -= linear
        step /= polyval_pixels(x, dcoeffs)
        x -= step
        if np.abs(step).max() < tol:
            break
    return x


def adc_encode(counts: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """ADC: adu = floor((counts - offset) * gain), clipped to the uint16 range."""
    adu = np.floor((counts - offset) * gain)
    return np.clip(adu, 0, np.iinfo(np.uint16).max).astype(np.uint16)


def cosmic_rays(rng: np.random.Generator, shape: tuple[int, ...], dt_s: float) -> np.ndarray:
    """Cosmic-ray deposits (counts) for frames of ``shape`` exposed ``dt_s`` seconds."""
    out = np.zeros(shape, dtype=np.float32)
    n_hits = rng.poisson(CR_RATE_PER_PIXEL_S * dt_s * np.prod(shape))
    idx = tuple(rng.integers(0, s, n_hits) for s in shape)
    np.add.at(out, idx, rng.lognormal(np.log(CR_MEDIAN_COUNTS), 0.8, n_hits).astype(np.float32))
    return out


# --------------------------------------------------------------------------- reads
@dataclass(frozen=True)
class ReadModel:
    """What turns an expected photo-current into raw uint16 reads for one instrument."""

    maps: io.CalibrationMaps
    dt: tuple[float, float]
    gain: float
    offset: float
    noise_scale: float  # 1/sqrt(time_scale)
    reset: np.ndarray  # (32, W) reset offsets of this visit


def make_reads(rng: np.random.Generator, rate: np.ndarray, model: ReadModel) -> np.ndarray:
    """Raw start/end reads ``(2n, 32, W)`` uint16 for photo-currents ``rate`` (n, 32, W) counts/s."""
    maps, (dt0, dt1), k = model.maps, model.dt, model.noise_scale
    # a dead pixel (or a non-physical negative flat value) has no photo-response
    cur = np.clip(np.where(maps.dead, 0.0, rate + maps.dark), 0.0, None).astype(np.float32)
    mu0, dmu = cur * dt0, cur * (dt1 - dt0)
    ks = np.float32(k * np.sqrt(SHOT_NOISE_FACTOR))
    q0 = mu0 + np.sqrt(mu0) * (ks * rng.standard_normal(mu0.shape, dtype=np.float32))
    q1 = q0 + dmu + np.sqrt(dmu) * (ks * rng.standard_normal(dmu.shape, dtype=np.float32))
    q1 += np.where(maps.dead, 0.0, cosmic_rays(rng, q1.shape, dt1 - dt0)).astype(np.float32)
    out = np.empty((2 * rate.shape[0], *rate.shape[1:]), dtype=np.uint16)
    read = maps.read.astype(np.float32) * k
    for j, q in enumerate((q0, q1)):
        x = invert_linearity(q + model.reset, maps.linear_corr)
        x += read * rng.standard_normal(x.shape, dtype=np.float32)
        out[j::2] = adc_encode(x, model.gain, model.offset)
    return out


# --------------------------------------------------------------------------- one visit
@dataclass(frozen=True)
class VisitTruth:
    """Truth of one simulated visit (returned for tests and benchmarks)."""

    t0_h: float
    drift_amplitude: float
    airs_columns_depth: np.ndarray  # (356,) depth per detector column
    pointing: np.ndarray  # (n_fgs_pairs, 2)


def column_depths(spectrum: np.ndarray) -> np.ndarray:
    """Depth per AIRS detector column (356,): column c holds bin wl_(2 + 320 - c)."""
    cols = np.clip(np.arange(356), 39, 320)
    return spectrum[1 + 320 - cols]


def pair_times(times_h: np.ndarray, time_scale: int) -> np.ndarray:
    """Indices of the frames kept: every ``time_scale``-th start/end pair."""
    pairs = np.arange(0, times_h.size // 2, time_scale)
    return np.stack([2 * pairs, 2 * pairs + 1], axis=1).ravel()


def light_curves(
    t_h: np.ndarray, star: pd.Series, t0_h: float, depth: np.ndarray, wl_um: np.ndarray
) -> np.ndarray:
    """Relative flux (len(depth), len(t_h)) of the transit for each wavelength."""
    u1, u2 = limb_darkening(wl_um, float(star["Ts"]))
    f64 = torch.float64
    lc = transit_light_curve(
        torch.as_tensor(t_h / 24.0, dtype=f64),
        t0=torch.tensor(t0_h / 24.0, dtype=f64),
        period=torch.tensor(float(star["P"]), dtype=f64),
        a_rs=torch.tensor(float(star["sma"]), dtype=f64),
        inc_deg=torch.tensor(float(star["i"]), dtype=f64),
        rp_rs=torch.as_tensor(np.sqrt(depth), dtype=f64)[:, None],
        u1=torch.as_tensor(u1, dtype=f64)[:, None],
        u2=torch.as_tensor(u2, dtype=f64)[:, None],
    )
    return lc.numpy()


def simulate_visit(
    *,
    star: pd.Series,
    spectrum: np.ndarray,
    maps: dict[str, io.CalibrationMaps],
    axis: io.AxisInfo,
    adc: dict[str, tuple[float, float]],
    seed: Sequence[int],
    time_scale: int = 1,
    wavelengths: np.ndarray,
    brightness: float | None = None,
) -> tuple[dict[str, np.ndarray], VisitTruth]:
    """Simulate one visit: raw uint16 frames per instrument and the truth used.

    ``spectrum`` (283,) is (Rp/Rs)^2 per target bin; ``maps`` the calibration per
    instrument; ``axis`` the full-size real axes (subsampled here by ``time_scale``);
    ``brightness`` the stellar flux relative to the reference star 342072318 (None: drawn
    from Rs and a random magnitude offset).
    """
    rng = np.random.default_rng(np.random.SeedSequence(list(seed)))
    k = 1.0 / np.sqrt(time_scale)
    t0_h = float(np.clip(rng.normal(3.75, 0.6), 1.5, 6.0))
    amp = float(rng.uniform(0.004, 0.015))
    dmag = rng.normal(0.0, 0.35)
    if brightness is None:
        brightness = exposure_matched_brightness(star, dmag, axis.airs_wavelength_um)

    # ---- time axes of the kept frames, pair mid-times
    fgs_idx = pair_times(axis.fgs_time_h, time_scale)
    airs_idx = pair_times(axis.airs_time_h, time_scale)
    t_fgs = axis.fgs_time_h[fgs_idx].reshape(-1, 2).mean(1)
    t_airs = axis.airs_time_h[airs_idx].reshape(-1, 2).mean(1)
    pointing = pointing_jitter(rng, t_fgs * 3600.0, time_scale)
    p_t_fgs = random_polynomial(rng, np.r_[0.0, 7.5, t_fgs])[2:]
    p_t_airs = np.interp(t_airs, t_fgs, p_t_fgs)
    wl_airs = axis.airs_wavelength_um
    p_w = random_polynomial(rng, np.r_[wavelengths[0], wl_airs])
    resets = {i: rng.normal(*RESET_OFFSET, size=maps[i].dark.shape) for i in maps}

    frames: dict[str, np.ndarray] = {}
    # ---- FGS1
    lc = light_curves(t_fgs, star, t0_h, spectrum[:1], wavelengths[:1])[0]
    flux = FGS_REF_RATE * brightness * planck_photons(0.7, star["Ts"]) / planck_photons(0.7, REF_TS)
    series = flux * lc * (1 + amp * p_t_fgs * p_w[0])
    model = ReadModel(maps["FGS1"], FGS_DT, *adc["FGS1"], noise_scale=k, reset=resets["FGS1"])
    frames["FGS1"] = _render(
        rng,
        series.size,
        model,
        lambda s: (
            maps["FGS1"].flat
            * (series[s, None, None] * fgs_psf(pointing[s, 0], pointing[s, 1]) + FGS_BACKGROUND)
        ),
    )

    # ---- AIRS-CH0
    ref = pd.read_csv(RESOURCES / "derived" / "airs_reference_flux.csv")[
        "cds_flux_counts"
    ].to_numpy()
    col_flux = (
        ref
        / AIRS_CDS_REF_S
        * brightness
        * planck_photons(wl_airs, star["Ts"])
        / planck_photons(wl_airs, REF_TS)
    )
    depth_cols = column_depths(spectrum)
    lc_airs = light_curves(t_airs, star, t0_h, depth_cols, wl_airs)  # (356, n)
    spec_t = (col_flux[:, None] * lc_airs * (1 + amp * p_w[1:, None] * p_t_airs[None, :])).T
    d1, d2 = np.gradient(spec_t, axis=1), np.gradient(np.gradient(spec_t, axis=1), axis=1)
    j_airs = np.stack([np.interp(t_airs, t_fgs, pointing[:, i]) for i in (0, 1)], axis=1)
    dy, dx = AIRS_JITTER_SCALE_Y * j_airs[:, 0], AIRS_JITTER_SCALE_X * j_airs[:, 1]
    spec_t = spec_t - dx[:, None] * d1 + 0.5 * dx[:, None] ** 2 * d2  # shift along dispersion
    p0, p1, p2 = airs_trace_profile(wl_airs)
    scat = airs_scatter_fraction(wl_airs) / 32.0
    model = ReadModel(
        maps["AIRS-CH0"], AIRS_DT, *adc["AIRS-CH0"], noise_scale=k, reset=resets["AIRS-CH0"]
    )

    def airs_rate(s: slice) -> np.ndarray:
        y = dy[s, None, None]
        prof = p0 + y * p1 + 0.5 * y**2 * p2 + scat
        return maps["AIRS-CH0"].flat * (spec_t[s, None, :] * prof + AIRS_BACKGROUND)

    frames["AIRS-CH0"] = _render(rng, t_airs.size, model, airs_rate)
    truth = VisitTruth(
        t0_h=t0_h, drift_amplitude=amp, airs_columns_depth=depth_cols, pointing=pointing
    )
    return frames, truth


def flux_factor(star: pd.Series, brightness: float, wl_um: np.ndarray) -> np.ndarray:
    """Stellar photon flux relative to the reference star at ``wl_um``."""
    return brightness * planck_photons(wl_um, float(star["Ts"])) / planck_photons(wl_um, REF_TS)


def exposure_matched_brightness(star: pd.Series, dmag: float, wl_airs: np.ndarray) -> float:
    """Brightness (Rs/0.871)^2 10^(-0.4 dmag), clipped to [0.3, 2.5] and then capped so that
    no wavelength (FGS1 0.7 um or AIRS) exceeds MAX_FLUX_FACTOR x the reference star: like
    the real exposure times, no star drives its peak pixels into saturation."""
    b = float(np.clip((float(star["Rs"]) / REF_RS) ** 2 * 10 ** (-0.4 * dmag), 0.3, 2.5))
    peak = float(np.max(flux_factor(star, b, np.r_[0.7, wl_airs[39:321]])))
    return b * min(1.0, MAX_FLUX_FACTOR / peak)


def _render(
    rng: np.random.Generator,
    n_pairs: int,
    model: ReadModel,
    rate_fn: Callable[[slice], np.ndarray],
) -> np.ndarray:
    ny, nx = model.maps.dark.shape
    out = np.empty((2 * n_pairs, ny, nx), dtype=np.uint16)
    step = max(1, CHUNK_ELEMENTS // (ny * nx))
    for start in range(0, n_pairs, step):
        s = slice(start, min(start + step, n_pairs))
        out[2 * s.start : 2 * s.stop] = make_reads(rng, rate_fn(s).astype(np.float32), model)
    return out


# --------------------------------------------------------------------------- dataset
def subsampled_axis(axis: io.AxisInfo, time_scale: int) -> pd.DataFrame:
    """axis_info table (NaN-padded columns) for data simulated with ``time_scale``."""
    a_idx, f_idx = pair_times(axis.airs_time_h, time_scale), pair_times(axis.fgs_time_h, time_scale)
    cols = {
        "AIRS-CH0-axis0-h": axis.airs_time_h[a_idx],
        "AIRS-CH0-axis2-um": axis.airs_wavelength_um,
        "AIRS-CH0-integration_time": axis.airs_integration_s[a_idx],
        "FGS1-axis0-h": axis.fgs_time_h[f_idx],
    }
    n = max(len(v) for v in cols.values())
    return pd.DataFrame(
        {k: np.pad(v, (0, n - len(v)), constant_values=np.nan) for k, v in cols.items()}
    )


def default_calibration_dir() -> Path:
    return RESOURCES / "2025" / "calibration"


@dataclass(frozen=True)
class PlannedPlanet:
    planet_id: int
    split: str
    n_visits: int


def plan_dataset(
    *,
    n_train: int,
    n_test: int,
    seed: int,
    stars: str | Path | None = None,
    second_visit_fraction: float = 0.1,
) -> list[PlannedPlanet]:
    """Which planets (ids from the star rows), splits and visit counts a dataset will have.

    Cheap and deterministic: the workflow calls it at parse time to know the simulated
    planets before they exist. Default stars: a random sample of the 900 real train rows.
    """
    if n_train < 0 or n_test < 0 or n_train + n_test == 0:
        raise ValueError(f"need n_train + n_test > 0, got {n_train}, {n_test}")
    if not 0 <= second_visit_fraction <= 1:
        raise ValueError(f"second_visit_fraction must be in [0, 1], got {second_visit_fraction}")
    rng = np.random.default_rng(seed)
    stars_path = Path(stars) if stars else RESOURCES / "2025" / "train_star_info.csv"
    star_df = io.read_star_info(stars_path)
    n_total = n_train + n_test
    if len(star_df) < n_total:
        raise io.DataError(stars_path, f"{len(star_df)} star rows, need {n_total}")
    ids = star_df.index.to_numpy()
    chosen = (
        ids[np.sort(rng.choice(len(ids), n_total, replace=False))] if not stars else ids[:n_total]
    )
    n_two = max(1, int(round(second_visit_fraction * n_total))) if second_visit_fraction > 0 else 0
    two = set(rng.choice(chosen, min(n_two, n_total), replace=False).tolist())
    return [
        PlannedPlanet(int(pid), "train" if j < n_train else "test", 2 if pid in two else 1)
        for j, pid in enumerate(chosen)
    ]


def simulate_dataset(
    out: str | Path,
    *,
    n_train: int,
    n_test: int,
    seed: int,
    time_scale: int = 1,
    stars: str | Path | None = None,
    spectra: str | Path | None = None,
    calibration: str | Path | None = None,
    second_visit_fraction: float = 0.1,
    log: Callable[[str], object] = print,
) -> dict[int, list[VisitTruth]]:
    """Write a complete challenge-layout dataset to ``out`` (see module docstring).

    Besides the challenge files it writes ``test_truth.csv`` (true spectra of the test
    split) and ``sim_truth.csv`` (t0 and drift amplitude per planet and visit).
    """
    if time_scale < 1:
        raise ValueError(f"time_scale must be >= 1, got {time_scale}")
    plan = plan_dataset(
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        stars=stars,
        second_visit_fraction=second_visit_fraction,
    )
    out = Path(out)
    stars_path = Path(stars) if stars else RESOURCES / "2025" / "train_star_info.csv"
    star_df = io.read_star_info(stars_path)
    cal_dir = Path(calibration) if calibration else default_calibration_dir()
    maps = {i: io.read_calibration(cal_dir / f"{i}_calibration_0", i) for i in io.INSTRUMENTS}
    axis = io.read_axis_info(RESOURCES / "2025" / "axis_info.parquet")
    adc = io.read_adc_info(RESOURCES / "2025" / "adc_info.csv")
    wavelengths = io.read_wavelengths(RESOURCES / "2025" / "wavelengths.csv")
    given = io.read_labels(spectra) if spectra else None
    shapes = io.read_labels(RESOURCES / "2024" / "train_labels.csv").to_numpy()
    h_median = float(np.median([scale_height_rs(r, DEPTH_MEAN) for _, r in star_df.iterrows()]))
    spectra_out: dict[int, np.ndarray] = {}
    for p in plan:
        if given is not None:
            if p.planet_id not in given.index:
                raise io.DataError(str(spectra), f"no spectrum for planet {p.planet_id}")
            spectra_out[p.planet_id] = given.loc[p.planet_id].to_numpy(dtype=float)
        else:
            rng = np.random.default_rng(np.random.SeedSequence([seed, p.planet_id, 1000]))
            spectra_out[p.planet_id] = draw_spectrum(
                rng, shapes, star_df.loc[p.planet_id], h_median
            )

    out.mkdir(parents=True, exist_ok=True)
    truths: dict[int, list[VisitTruth]] = {}
    for p in plan:
        truths[p.planet_id] = []
        for visit in range(p.n_visits):
            log(f"simulating {p.split}/{p.planet_id} visit {visit}")
            frames, truth = simulate_visit(
                star=star_df.loc[p.planet_id],
                spectrum=spectra_out[p.planet_id],
                maps=maps,
                axis=axis,
                adc=adc,
                seed=(seed, p.planet_id, visit),
                time_scale=time_scale,
                wavelengths=wavelengths,
            )
            truths[p.planet_id].append(truth)
            pdir = out / p.split / str(p.planet_id)
            for inst, fr in frames.items():
                io.write_signal(pdir / f"{inst}_signal_{visit}.parquet", fr)
                _copy_tree(cal_dir / f"{inst}_calibration_0", pdir / f"{inst}_calibration_{visit}")
    for split, label_file in (("train", "train.csv"), ("test", "test_truth.csv")):
        ids = [p.planet_id for p in plan if p.split == split]
        star_df.loc[ids].reset_index().to_csv(out / f"{split}_star_info.csv", index=False)
        labels = pd.DataFrame([spectra_out[i] for i in ids], columns=io.WL_COLUMNS)
        labels.insert(0, "planet_id", np.asarray(ids, dtype=np.int64))
        labels.to_csv(out / label_file, index=False)
    rows_truth = [
        {"planet_id": pid, "visit": v, "t0_h": tr.t0_h, "drift_amplitude": tr.drift_amplitude}
        for pid, trs in truths.items()
        for v, tr in enumerate(trs)
    ]
    pd.DataFrame(rows_truth).to_csv(out / "sim_truth.csv", index=False)
    subsampled_axis(axis, time_scale).to_parquet(out / "axis_info.parquet", index=False)
    shutil.copyfile(RESOURCES / "2025" / "wavelengths.csv", out / "wavelengths.csv")
    shutil.copyfile(RESOURCES / "2025" / "adc_info.csv", out / "adc_info.csv")
    return truths


def _copy_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in io.CALIBRATION_MAPS:
        shutil.copyfile(src / f"{name}.parquet", dst / f"{name}.parquet")
