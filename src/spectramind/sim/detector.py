"""The simulated instruments: optics (PSF, trace, jitter), systematics and the detector.

Magnitudes measured on the real first 50 frames and calibration maps of planet 342072318
in ``resources/ariel`` unless stated (``benchmarks/bench_realism.py`` prints the comparison).

==========================  =================================================================
effect                      model and magnitude
==========================  =================================================================
AIRS trace                  row centre 15.59; two Gaussians integrated over pixels, core sigma
                            0.60 -> 1.42 px and halo sigma 1.80 -> 5.03 px from 1.95 to 3.86 um,
                            halo weight 0.45 -> 0.18, plus a flat scattered-light floor of 3-6 %
                            of the column flux x 0.35 (least-squares fits to the real mean CDS
                            frame; the floor scaled to the real edge-row level).
FGS1 PSF                    centre (15.30, 15.75), two circular Gaussians sigma 0.995 / 2.15 px,
                            halo weight 0.31; pixel-phase response 1 - 0.04 (phi_y^2 + phi_x^2).
pointing jitter             FGS1 pixels: white 0.08 px rms per frame pair, red (30 s Gaussian
                            filter) 0.02 px rms, and a slow (20 min) pointing drift 0.01 px rms;
                            AIRS sees 0.35x of it (dy) and 0.1x along the dispersion (dx).
PSF breathing               the PSF and trace widths scale by 1 + b(t): b has rms
                            ``psf_breathing`` (0.3 %), correlation 0.7 with the slow pointing
                            drift (thermal defocus follows it), the rest its own 20 min red
                            noise; it moves light out of apertures and across the flat.
gain drift                  1 + A p_t(t) p_w(lambda), per instrument independently: time order
                            drawn per visit in [drift_order_min, drift_order_max], A ~ U(0.004,
                            0.015) (p scaled to max |p| = 1).
exposure-start ramp         1 - R exp(-t / tau) per instrument, R ~ U(0, 2) ramp_amplitude,
                            tau ~ U(0.2, 1) h (persistence/thermal settling of IR arrays).
background                  AIRS 2.7 counts/s/pixel, FGS1 30 counts/s/pixel.
dark current                dark map x dt; hot pixels are the dark map's outliers.
photon noise                Gaussian with variance = 0.65 x counts (effective 1.54 e-/count).
read noise                  N(0, read map) per read.
reset offset                per pixel, per visit, N(2.5, 2) counts, equal in both reads.
bad pixels                  per visit from a pool: the real maps plus variants with hot
                            fractions up to 2 %, dead up to 1.5 %, half in 2-8 pixel clusters,
                            and 0-2 bad columns (:func:`map_variant`).
cosmic rays                 1.6e-5 hits per pixel per s, lognormal deposit (median 3000 counts)
                            spread along a track of 1 + Exp(cosmic_track_px) pixels in a
                            random direction (oblique incidence through the detector).
non-linearity               per-pixel inverse of linear_corr (Newton, c0..c5).
ADC                         adu = floor((x - offset) * gain), clipped to uint16.
time scale K                K times fewer frame pairs over the same 7.5 h, each the average of K
                            pairs: the per-pair noise terms (photon, read, white jitter) are
                            divided by sqrt(K).
==========================  =================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_dilation, gaussian_filter1d
from scipy.special import erf

from spectramind import io

AIRS_DT = (0.1, 4.6)  # s of light/dark accumulated at the start and end read
FGS_DT = (0.1, 0.2)
AIRS_BACKGROUND = 2.7  # counts/s/pixel
FGS_BACKGROUND = 30.0
SHOT_NOISE_FACTOR = 0.65  # photon-noise variance / counts (effective 1.54 e-/count)
FGS_INTRAPIXEL = 0.04
AIRS_ROW_CENTRE = 15.59
FGS_CENTRE = (15.30, 15.75)
FGS_PSF = (0.995, 2.15, 0.31)  # core sigma, halo sigma, halo weight
_TRACE_WL = np.array([1.95, 2.30, 2.62, 2.92, 3.19, 3.45, 3.68, 3.86])
_TRACE_CORE = np.array([0.600, 0.791, 0.958, 1.071, 1.189, 1.277, 1.332, 1.417])
_TRACE_HALO = np.array([1.798, 2.269, 2.969, 3.418, 3.945, 4.318, 4.583, 5.035])
_TRACE_W = np.array([0.446, 0.369, 0.294, 0.267, 0.232, 0.209, 0.202, 0.184])
_TRACE_SCATTER = 0.35 * np.array([0.058, 0.043, 0.040, 0.036, 0.029, 0.030, 0.032, 0.033])
RESET_OFFSET = (2.5, 2.0)
CR_RATE_PER_PIXEL_S = 1.6e-5
CR_MEDIAN_COUNTS = 3000.0
CR_MAX_TRACK_PX = 12
JITTER_RED_RMS, JITTER_WHITE_RMS, JITTER_RED_TIMESCALE_S = 0.02, 0.08, 30.0
JITTER_SLOW_RMS, SLOW_TIMESCALE_S = 0.01, 1200.0
BREATHING_POINTING_CORRELATION = 0.7
AIRS_JITTER_SCALE_Y, AIRS_JITTER_SCALE_X = 0.35, 0.1
DRIFT_AMPLITUDE = (0.004, 0.015)
RAMP_TAU_H = (0.2, 1.0)
HOT_DARK_FACTOR = (10.0, 300.0)  # hot pixel dark current / median dark (log-uniform)
CLUSTER_SHARE = 0.5  # share of the extra bad pixels that come in clusters
CLUSTER_SIZE = (2, 8)
BAD_COLUMNS_MAX = 2
COARSE_STEPS = 20  # grid points per correlation time of a long red-noise series
CHUNK_ELEMENTS = 1 << 17  # pixels per work chunk: ~0.5 MB float32 arrays stay in cache


# --------------------------------------------------------------------------- optics
def pixel_gaussian(
    pos: np.ndarray, centre: np.ndarray | float, sigma: np.ndarray | float
) -> np.ndarray:
    """Fraction of a unit 1-D Gaussian falling in the pixel [pos-0.5, pos+0.5]."""
    s = np.sqrt(2.0) * sigma
    return 0.5 * (erf((pos + 0.5 - centre) / s) - erf((pos - 0.5 - centre) / s))


def airs_trace_profile(wl_um: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row profile of the AIRS trace and its derivatives: P, dP/dy0, d2P/dy0^2, dP/ds.

    Four (32, 356) arrays; s is the relative width scale (sigma -> sigma (1 + s)). Each column
    of P sums to 1 - scatter fraction (the scatter floor is added separately).
    """
    wl = np.asarray(wl_um)
    core, halo = np.interp(wl, _TRACE_WL, _TRACE_CORE), np.interp(wl, _TRACE_WL, _TRACE_HALO)
    w, scat = np.interp(wl, _TRACE_WL, _TRACE_W), np.interp(wl, _TRACE_WL, _TRACE_SCATTER)
    rows = np.arange(32.0)[:, None]
    h = 1e-3

    def prof(y0: float, s: float = 0.0) -> np.ndarray:
        return (1 - scat) * (
            (1 - w) * pixel_gaussian(rows, y0, core * (1 + s))
            + w * pixel_gaussian(rows, y0, halo * (1 + s))
        )

    y = AIRS_ROW_CENTRE
    p0, pp, pm = prof(y), prof(y + h), prof(y - h)
    ps = (prof(y, h) - prof(y, -h)) / (2 * h)
    return p0, (pp - pm) / (2 * h), (pp - 2 * p0 + pm) / h**2, ps


def airs_scatter_fraction(wl_um: np.ndarray) -> np.ndarray:
    return np.interp(np.asarray(wl_um), _TRACE_WL, _TRACE_SCATTER)


def fgs_psf(dy: np.ndarray, dx: np.ndarray, breathing: np.ndarray | None = None) -> np.ndarray:
    """FGS1 PSF frames (n, 32, 32) for pointing offsets ``dy, dx`` (n,), widths x (1 + b).

    Unit total times the pixel-phase (intra-pixel) response 1 - a (phi_y^2 + phi_x^2).
    """
    core, halo, w = FGS_PSF
    scale = 1.0 if breathing is None else (1.0 + breathing)[:, None]
    pos = np.arange(32.0)[None, :]
    cy, cx = FGS_CENTRE[0] + dy[:, None], FGS_CENTRE[1] + dx[:, None]
    gy, gx = pixel_gaussian(pos, cy, core * scale), pixel_gaussian(pos, cx, core * scale)
    out = (1 - w) * np.einsum("ny,nx->nyx", gy, gx)
    hy, hx = pixel_gaussian(pos, cy, halo * scale), pixel_gaussian(pos, cx, halo * scale)
    out += w * np.einsum("ny,nx->nyx", hy, hx)
    phase = (cy - np.round(cy)) ** 2 + (cx - np.round(cx)) ** 2
    return out * (1.0 - FGS_INTRAPIXEL * phase)[:, :, None]


def _red(rng: np.random.Generator, n: int, timescale_samples: float) -> np.ndarray:
    """Zero-mean, unit-rms Gaussian-filtered noise (2, n) of correlation ``timescale_samples``.

    Long timescales are drawn on a grid of timescale / COARSE_STEPS samples and interpolated
    (the filtered series has no power on shorter scales; a 3000-sample kernel is slow).
    """
    step = max(1, int(timescale_samples // COARSE_STEPS))
    m = (n - 1) // step + 2
    r = gaussian_filter1d(
        rng.normal(size=(2, m)), max(timescale_samples / step, 1e-3), axis=1, mode="wrap"
    )
    if step > 1:
        x = np.arange(n) / step
        r = np.stack([np.interp(x, np.arange(m), r[i]) for i in range(2)])
    else:
        r = r[:, :n]
    r -= r.mean(axis=1, keepdims=True)
    return r / np.maximum(r.std(axis=1, keepdims=True), 1e-12)


def pointing_jitter(
    rng: np.random.Generator, t_s: np.ndarray, time_scale: int, breathing_rms: float = 0.0
) -> np.ndarray:
    """Pointing (n, 3) = (dy, dx in FGS1 pixels, relative width change b) at ``t_s`` (s).

    Red and slow parts are drawn on the cadence's own time grid; the white part (per pair)
    shrinks with sqrt(time_scale) like every per-pair noise term.
    """
    n = t_s.size
    dt = float(np.median(np.diff(t_s))) if n > 1 else 1.0
    red = _red(rng, n, JITTER_RED_TIMESCALE_S / dt) * JITTER_RED_RMS
    slow = _red(rng, n, SLOW_TIMESCALE_S / dt) * JITTER_SLOW_RMS
    white = rng.normal(size=(2, n)) * JITTER_WHITE_RMS / np.sqrt(time_scale)
    own = _red(rng, n, SLOW_TIMESCALE_S / dt)[0]
    drive = slow[0] / JITTER_SLOW_RMS  # unit rms: the thermal (slow) pointing drift
    rho = BREATHING_POINTING_CORRELATION
    b = breathing_rms * (rho * drive + np.sqrt(1 - rho**2) * own)
    return np.column_stack([(red + slow + white).T, b])


# --------------------------------------------------------------------------- systematics
def random_polynomial(rng: np.random.Generator, x: np.ndarray, degree: int = 5) -> np.ndarray:
    """Random polynomial in ``x`` (any range, mapped to [-1, 1]) scaled to max |p| = 1."""
    x = np.asarray(x, dtype=float)
    span = x.max() - x.min()
    u = 2 * (x - x.min()) / span - 1 if span > 0 else np.zeros_like(x)
    p = np.polynomial.chebyshev.chebval(u, rng.normal(size=degree + 1) * np.r_[0, np.ones(degree)])
    return p / max(np.abs(p).max(), 1e-12)


def exposure_ramp(t_h: np.ndarray, amplitude: float, tau_h: float) -> np.ndarray:
    """Exposure-start ramp 1 - R exp(-t / tau) (t from the visit start, hours)."""
    return 1.0 - amplitude * np.exp(-np.asarray(t_h, dtype=float) / tau_h)


# --------------------------------------------------------------------------- calibration maps
def _cluster_pixels(rng: np.random.Generator, shape: tuple[int, int], n: int) -> np.ndarray:
    """A bool map with ~``n`` pixels in compact random clusters of 2-8 pixels."""
    out = np.zeros(shape, dtype=bool)
    while out.sum() < n:
        size = int(rng.integers(CLUSTER_SIZE[0], CLUSTER_SIZE[1] + 1))
        blob = np.zeros(shape, dtype=bool)
        y, x = int(rng.integers(shape[0])), int(rng.integers(shape[1]))
        blob[y, x] = True
        while blob.sum() < size:
            grown = binary_dilation(blob) & ~blob
            cand = np.flatnonzero(grown)
            blob.flat[rng.choice(cand, min(len(cand), size - int(blob.sum())), replace=False)] = (
                True
            )
        out |= blob
    return out


def _extra_bad(
    rng: np.random.Generator,
    shape: tuple[int, int],
    fraction: float,
    taken: np.ndarray,
    present: np.ndarray,
) -> np.ndarray:
    """New bad pixels (not in ``taken``) that bring ``present`` up to ``fraction``."""
    n = int(round(fraction * taken.size)) - int(present.sum())
    out = np.zeros(shape, dtype=bool)
    if n <= 0:
        return out
    n_cluster = int(round(CLUSTER_SHARE * n))
    out |= _cluster_pixels(rng, shape, n_cluster) if n_cluster else out
    free = np.flatnonzero(~(out | taken))
    out.flat[rng.choice(free, min(len(free), max(n - int(out.sum()), 0)), replace=False)] = True
    return out & ~taken


def hot_fraction(dark: np.ndarray) -> float:
    """Fraction of pixels whose dark current exceeds HOT_DARK_FACTOR[0] x the median."""
    return float(np.mean(dark > HOT_DARK_FACTOR[0] * np.median(dark)))


def map_variant(
    rng: np.random.Generator,
    maps: io.CalibrationMaps,
    hot_fraction: float,
    dead_fraction: float,
    bad_columns: int = 0,
) -> io.CalibrationMaps:
    """A copy of ``maps`` with hot and dead pixels added up to the given fractions.

    Half of the added pixels come in clusters, the rest scattered; ``bad_columns`` whole
    columns become dead. Hot pixels get a dark current 10-300x the median (log-uniform).
    """
    shape = maps.dark.shape
    dead = maps.dead.copy()
    for _ in range(bad_columns):
        dead[:, int(rng.integers(shape[1]))] = True
    dead |= _extra_bad(rng, shape, dead_fraction, dead, dead)
    med = float(np.median(maps.dark))
    hot_now = maps.dark > HOT_DARK_FACTOR[0] * med
    hot = _extra_bad(rng, shape, hot_fraction, hot_now | dead, hot_now & ~dead)
    dark = maps.dark.copy()
    lo, hi = (float(np.log10(f)) for f in HOT_DARK_FACTOR)
    factors = 10 ** rng.uniform(lo, hi, size=int(hot.sum()))
    dark[hot] = max(med, 1e-3) * factors
    return io.CalibrationMaps(
        dark=dark, flat=maps.flat.copy(), read=maps.read.copy(), dead=dead,
        linear_corr=maps.linear_corr.copy(),
    )  # fmt: skip


# --------------------------------------------------------------------------- detector
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


def cosmic_rays(
    rng: np.random.Generator, shape: tuple[int, ...], dt_s: float, track_px: float = 0.0
) -> np.ndarray:
    """Cosmic-ray deposits (counts) for frames ``shape`` (n, ny, nx) exposed ``dt_s`` seconds.

    Each hit deposits a lognormal charge along a straight track of 1 + Exp(``track_px``)
    pixels (at most CR_MAX_TRACK_PX) in a random in-plane direction, split evenly.
    """
    out = np.zeros(shape, dtype=np.float32)
    n_hits = int(rng.poisson(CR_RATE_PER_PIXEL_S * dt_s * np.prod(shape)))
    if n_hits == 0:
        return out
    frame, y0, x0 = (rng.integers(0, s, n_hits) for s in shape)
    charge = rng.lognormal(np.log(CR_MEDIAN_COUNTS), 0.8, n_hits)
    length = np.zeros(n_hits) if track_px <= 0 else rng.exponential(track_px, n_hits)
    length = np.minimum(length, CR_MAX_TRACK_PX - 1)
    angle = rng.uniform(0, 2 * np.pi, n_hits)
    n_pts = (np.ceil(2 * length) + 1).astype(int)  # two samples per pixel of track
    hit = np.repeat(np.arange(n_hits), n_pts)
    step = np.arange(hit.size) - np.repeat(np.cumsum(n_pts) - n_pts, n_pts)
    frac = np.where(n_pts[hit] > 1, step / np.maximum(n_pts[hit] - 1, 1), 0.0)
    yy = np.rint(y0[hit] + frac * length[hit] * np.sin(angle[hit])).astype(int)
    xx = np.rint(x0[hit] + frac * length[hit] * np.cos(angle[hit])).astype(int)
    ok = (yy >= 0) & (yy < shape[1]) & (xx >= 0) & (xx < shape[2])
    dep = (charge[hit] / n_pts[hit]).astype(np.float32)
    np.add.at(out, (frame[hit][ok], yy[ok], xx[ok]), dep[ok])
    return out


@dataclass(frozen=True)
class ReadModel:
    """What turns an expected photo-current into raw uint16 reads for one instrument."""

    maps: io.CalibrationMaps
    dt: tuple[float, float]
    gain: float
    offset: float
    noise_scale: float  # 1/sqrt(time_scale)
    reset: np.ndarray  # (32, W) reset offsets of this visit
    track_px: float = 0.0  # mean cosmic-ray track length beyond the first pixel


def make_reads(rng: np.random.Generator, rate: np.ndarray, model: ReadModel) -> np.ndarray:
    """Raw start/end reads ``(2n, 32, W)`` uint16 for photo-currents ``rate`` (n, 32, W) counts/s."""
    maps, (dt0, dt1), k = model.maps, model.dt, model.noise_scale
    # a dead pixel (or a non-physical negative flat value) has no photo-response
    cur = np.clip(np.where(maps.dead, 0.0, rate + maps.dark), 0.0, None).astype(np.float32)
    mu0, dmu = cur * dt0, cur * (dt1 - dt0)
    ks = np.float32(k * np.sqrt(SHOT_NOISE_FACTOR))
    q0 = mu0 + np.sqrt(mu0) * (ks * rng.standard_normal(mu0.shape, dtype=np.float32))
    q1 = q0 + dmu + np.sqrt(dmu) * (ks * rng.standard_normal(dmu.shape, dtype=np.float32))
    crs = cosmic_rays(rng, q1.shape, dt1 - dt0, model.track_px)
    q1 += np.where(maps.dead, 0.0, crs).astype(np.float32)
    out = np.empty((2 * rate.shape[0], *rate.shape[1:]), dtype=np.uint16)
    read = maps.read.astype(np.float32) * k
    for j, q in enumerate((q0, q1)):
        x = invert_linearity(q + model.reset, maps.linear_corr)
        x += read * rng.standard_normal(x.shape, dtype=np.float32)
        out[j::2] = adc_encode(x, model.gain, model.offset)
    return out


def render(
    rng: np.random.Generator,
    n_pairs: int,
    model: ReadModel,
    rate_fn: Callable[[slice], np.ndarray],
) -> np.ndarray:
    """Raw reads (2 n_pairs, ny, nx) of the photo-currents ``rate_fn(pairs)``, chunk by chunk."""
    ny, nx = model.maps.dark.shape
    out = np.empty((2 * n_pairs, ny, nx), dtype=np.uint16)
    step = max(1, CHUNK_ELEMENTS // (ny * nx))
    for start in range(0, n_pairs, step):
        s = slice(start, min(start + step, n_pairs))
        out[2 * s.start : 2 * s.stop] = make_reads(rng, rate_fn(s).astype(np.float32), model)
    return out
