"""Phase stage: common time grid, ingress/egress detection, out-of-transit normalisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def bin_edges(duration_h: float, bin_s: float) -> np.ndarray:
    """Edges (hours) of time bins of ``bin_s`` seconds covering [0, duration_h]."""
    n = max(1, int(np.ceil(duration_h * 3600.0 / bin_s - 1e-9)))
    return np.arange(n + 1) * bin_s / 3600.0


def time_bin(
    t: np.ndarray, flux: np.ndarray, var: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of the finite samples in each time bin.

    t: (n,) hours; flux, var: (n, ...) -> binned flux, var of the mean, count (n_bins, ...).
    Bins without a finite sample get NaN and count 0. Samples outside [edges[0], edges[-1]]
    belong to no bin and are left out.
    """
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)
    n_bins = len(edges) - 1
    inside = (t >= edges[0]) & (t <= edges[-1])
    ok = np.isfinite(flux) & np.isfinite(var) & inside.reshape(-1, *([1] * (flux.ndim - 1)))
    shape = (n_bins, *flux.shape[1:])
    s, sv, cnt = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    np.add.at(s, idx, np.where(ok, flux, 0))
    np.add.at(sv, idx, np.where(ok, var, 0))
    np.add.at(cnt, idx, ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, s / cnt, np.nan)
        vmean = np.where(cnt > 0, sv / cnt**2, np.nan)
    return mean, vmean, cnt


#: 1.4826 MAD of first differences / sqrt(2): the white-noise std of a smooth series
MAD_TO_STD = 1.4826
#: lowest number of finite first differences for a measured noise scale (else 1)
MIN_DIFFS = 16


def white_noise_scale(flux: np.ndarray, var: np.ndarray, degree: int = 2) -> np.ndarray:
    """Measured / propagated white-noise variance of per-pair series (photon transfer).

    flux, var: (n,) or (n, n_wl) per-pair series. The measured variance is the robust
    (1.4826 MAD) variance of the first differences / 2, which a smooth signal (transit,
    drift) does not reach; the propagated one the median of ``var``. The propagated
    variance assumes one electron per count and one read per sample: data whose gain or
    number of co-added reads differ (sub-Poisson detectors; time-scaled simulations, whose
    pairs average K pairs) are out by a factor this measures. Across wavelengths the
    log-ratio is smoothed by a polynomial of ``degree`` in the column index (the factor
    depends on the photon/read mix, which changes slowly). Returns (n_wl,) or a scalar.
    """
    f2 = flux.reshape(flux.shape[0], -1)
    v2 = var.reshape(var.shape[0], -1)
    d = np.diff(f2, axis=0)
    cols = np.flatnonzero(
        (np.isfinite(d).sum(axis=0) >= MIN_DIFFS) & (np.isfinite(v2).sum(axis=0) > 0)
    )  # columns without data (dead columns, filled later) are left out
    log_r = np.full(f2.shape[1], np.nan)
    if cols.size:
        dc = d[:, cols]
        mad = np.nanmedian(np.abs(dc - np.nanmedian(dc, axis=0)), axis=0)
        meas = (MAD_TO_STD * mad) ** 2 / 2
        prop = np.nanmedian(v2[:, cols], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            log_r[cols] = np.log(meas / prop)
    ok = np.isfinite(log_r)
    if not ok.any():
        return np.ones(f2.shape[1]).reshape(flux.shape[1:])
    x = np.arange(f2.shape[1], dtype=float)
    if ok.sum() > degree + 1 and f2.shape[1] > 1:
        coef = np.polynomial.polynomial.polyfit(x[ok], log_r[ok], degree)
        smooth = np.polynomial.polynomial.polyval(x, coef)
    else:
        smooth = np.full(x.shape, np.median(log_r[ok]))
    return np.exp(smooth).reshape(flux.shape[1:])


def red_noise_beta2(flux: np.ndarray, var: np.ndarray, oot: np.ndarray) -> np.ndarray:
    """Squared red-noise factor beta^2 >= 1 per wavelength of binned light curves.

    flux, var: (n_time, n_wl) binned; oot: (n_time,) bool. beta^2 = the measured variance
    of the out-of-transit bins (first differences, :func:`white_noise_scale`) / their
    propagated variance, at least 1: noise correlated on the bin's scale (pointing jitter,
    granulation) is not in the propagated white variance ("time-averaging" beta, Pont, Zucker
    & Queloz 2006, MNRAS 373, 231; Winn et al. 2008, ApJ 683, 1076). Column 0 (FGS1) and
    the AIRS columns 1: are measured separately.
    """
    sel = oot if oot.sum() > MIN_DIFFS else np.ones_like(oot)
    out = np.ones(flux.shape[1])
    out[:1] = white_noise_scale(flux[sel, :1], var[sel, :1])
    if flux.shape[1] > 1:
        out[1:] = white_noise_scale(flux[sel, 1:], var[sel, 1:])
    return np.maximum(out, 1.0)


def bin_regressor(t: np.ndarray, x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Time-binned mean of a regressor (n,) -> (n_bins,), NaN where empty."""
    mean, _, _ = time_bin(t, x, np.zeros_like(x), edges)
    return mean


@dataclass(frozen=True)
class TransitWindow:
    """Detected transit contact times (hours) and whether each lies inside the data."""

    ingress_h: float
    egress_h: float
    ingress_observed: bool
    egress_observed: bool
    snr: float
    depth: float


def transit_durations(
    period_d: float, a_rs: float, inc_deg: float, k: float
) -> tuple[float, float]:
    """Total (T14) and full (T23) transit durations in hours for a circular orbit.

    T23 is 0 for a grazing transit (b > 1 - k); T14 is 0 if there is no transit (b > 1 + k).
    """
    inc = np.radians(inc_deg)
    b = a_rs * np.cos(inc)
    sin_i = max(np.sin(inc), 1e-12)

    def dur(r: float) -> float:
        arg = r**2 - b**2
        if arg <= 0:
            return 0.0
        return float(period_d * 24.0 / np.pi * np.arcsin(min(1.0, np.sqrt(arg) / (a_rs * sin_i))))

    return dur(1.0 + k), dur(1.0 - k)


def trapezoid(t: np.ndarray, t0: float, t14: float, t23: float) -> np.ndarray:
    """Unit-depth trapezoid transit shape (0 outside, 1 in full transit)."""
    half14, half23 = t14 / 2, t23 / 2
    x = np.abs(t - t0)
    ramp = (half14 - x) / max(half14 - half23, 1e-9)
    return np.clip(np.where(x <= half23, 1.0, ramp), 0.0, 1.0)


def detect_transit(
    t: np.ndarray, white: np.ndarray, *, t14_h: float, t23_h: float, baseline_degree: int = 3
) -> TransitWindow:
    """Transit centre by matched filtering: for each trial centre, fit a polynomial baseline
    (``baseline_degree``, absorbs the gain drift) plus a trapezoid of the known durations by
    linear least squares; keep the centre with the most significant positive depth.

    t: (n,) hours; white: (n,) relative flux (NaN allowed). Contacts outside the data are
    reported as not observed (partial transit).
    """
    good = np.isfinite(white)
    if good.sum() < baseline_degree + 4:
        raise ValueError("too few valid time bins to detect the transit")
    tg, fg = t[good], white[good]
    span = max(tg[-1] - tg[0], 1e-9)
    tau = (tg - tg[0]) / span * 2 - 1
    base = np.vander(tau, baseline_degree + 1, increasing=True)
    step = max(np.median(np.diff(tg)) / 2, 1e-3)
    centres = np.arange(tg[0] - t14_h / 2 + step, tg[-1] + t14_h / 2 - step, step)
    best = (-np.inf, tg[len(tg) // 2], 0.0)
    for c in centres:
        shape = trapezoid(tg, c, t14_h, t23_h)
        in_data = shape.sum()
        if in_data < 2 or np.all(shape > 0):
            continue
        design = np.column_stack([base, -shape])
        coef, res, *_ = np.linalg.lstsq(design, fg, rcond=None)
        resid = fg - design @ coef
        sigma = np.std(resid) + 1e-12
        cov = np.linalg.pinv(design.T @ design)
        snr = coef[-1] / (sigma * np.sqrt(cov[-1, -1]))
        if snr > best[0]:
            best = (snr, c, coef[-1] / max(coef[0], 1e-12))
    snr, c, depth = best
    t_in, t_out = c - t14_h / 2, c + t14_h / 2
    return TransitWindow(
        ingress_h=float(t_in),
        egress_h=float(t_out),
        ingress_observed=bool(t_in >= t[0]),
        egress_observed=bool(t_out <= t[-1]),
        snr=float(snr),
        depth=float(depth),
    )


def out_of_transit_mask(t: np.ndarray, window: TransitWindow, margin_h: float) -> np.ndarray:
    """(n,) bool: times at least ``margin_h`` outside [ingress, egress]."""
    return (t < window.ingress_h - margin_h) | (t > window.egress_h + margin_h)


def normalise(
    flux: np.ndarray, var: np.ndarray, oot: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Divide each wavelength's light curve by its out-of-transit median.

    flux, var: (n_time, n_wl); oot: (n_time,) bool. Returns flux, var, level (n_wl,).
    If fewer than 3 out-of-transit bins exist, the median of all bins is used.
    """
    sel = oot if oot.sum() >= 3 else np.ones_like(oot)
    level = np.nanmedian(flux[sel], axis=0)
    safe = np.where(np.isfinite(level) & (level != 0), level, np.nan)
    return flux / safe, var / safe**2, level
