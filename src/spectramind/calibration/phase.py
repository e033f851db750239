"""Phase stage: common time grid, ingress/egress detection, out-of-transit normalisation.

:func:`build_cube` runs the stage on the per-pair series of every visit of a planet
(:class:`spectramind.calibration.pipeline.VisitSeries`): :func:`phase_visit` bins, detects and
normalises each visit, :func:`cube_dataset` assembles the per-planet cube with its
data-quality bits and provenance (:mod:`spectramind.provenance`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from spectramind import conventions, provenance
from spectramind.calibration import dq
from spectramind.constants import VISIT_HOURS

if TYPE_CHECKING:  # pipeline imports this module
    from spectramind.calibration.pipeline import CalibrationConfig, VisitSeries


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
    s, sv, cnt = (_bin_sum(idx, np.where(ok, x, 0), n_bins).reshape(shape) for x in (flux, var, ok))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, s / cnt, np.nan)
        vmean = np.where(cnt > 0, sv / cnt**2, np.nan)
    return mean, vmean, cnt


def _bin_sum(idx: np.ndarray, x: np.ndarray, n_bins: int) -> np.ndarray:
    """Sums of the rows of ``x`` (n, ...) in bins ``idx`` (n,) -> (n_bins, prod(...)) float64
    (one ``bincount`` over the flattened array: ``np.add.at`` is ~50 x slower)."""
    x2 = x.reshape(len(x), -1)
    m = x2.shape[1]
    flat = (idx[:, None] * m + np.arange(m)).ravel()
    return np.bincount(flat, weights=x2.ravel(), minlength=n_bins * m).reshape(n_bins, m)


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


def _trapezoid_fits(
    base: np.ndarray, f: np.ndarray, shapes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fits of ``f`` (n,) by ``base`` (n, k) plus ``-depth * shape`` for every
    row of ``shapes`` (m, n), all at once (the depth's normal equation after projecting the
    baseline out; its variance the Schur complement): the depth's S/N (depth over
    std(residual) times its unit-variance error) and depth / baseline constant, (m,) each.
    A shape that the baseline spans gives NaN."""
    gram_inv = np.linalg.pinv(base.T @ base)
    beta_f = gram_inv @ (base.T @ f)
    r_f = f - base @ beta_f
    beta_s = shapes @ base @ gram_inv  # (m, k)
    r_s = shapes - beta_s @ base.T  # (m, n)
    ss = np.einsum("ij,ij->i", r_s, r_s)
    ok = ss > 1e-12 * np.maximum(np.einsum("ij,ij->i", shapes, shapes), 1e-300)
    ss = np.where(ok, ss, np.nan)
    coef = -(r_s @ r_f) / ss  # the coefficient of the column -shape
    resid = r_f[None, :] + coef[:, None] * r_s
    sigma = resid.std(axis=1) + 1e-12
    snr = coef / (sigma / np.sqrt(ss))
    level = beta_f[0] + coef * beta_s[:, 0]
    return snr, coef / np.maximum(level, 1e-12)


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
    shapes = np.stack([trapezoid(tg, c, t14_h, t23_h) for c in centres]) if len(centres) else None
    if shapes is not None:
        keep = (shapes.sum(axis=1) >= 2) & ~np.all(shapes > 0, axis=1)
        snrs, depths = _trapezoid_fits(base, fg, shapes[keep])
        if snrs.size and np.isfinite(snrs).any():
            i = int(np.nanargmax(snrs))
            best = (float(snrs[i]), float(centres[keep][i]), float(depths[i]))
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


# --------------------------------------------------------------------------- the stage
#: units of the cube's per-time-bin QA series that are not detector positions (pixel)
QA_UNITS = {
    "airs_background": "count / pixel",
    "fgs_background": "count / pixel",
    "fgs_masked_fraction": "1",
    "airs_masked_fraction": "1",
    "fgs_transient_pixels": "count",
    "airs_transient_pixels": "count",
}
#: cube regressor -> (instrument of the series, key in that instrument's series)
REGRESSORS = {
    "fgs_centroid_y": ("fgs", "centroid_y"),
    "fgs_centroid_x": ("fgs", "centroid_x"),
    "airs_trace_y": ("airs", "trace_y"),
    "airs_trace_width": ("airs", "trace_width"),
    "airs_background": ("airs", "background"),
    "fgs_background": ("fgs", "background"),
    "fgs_masked_fraction": ("fgs", "masked_fraction"),
    "airs_masked_fraction": ("airs", "masked_fraction"),
    "fgs_transient_pixels": ("fgs", "transient_pixels"),
    "airs_transient_pixels": ("airs", "transient_pixels"),
}


@dataclass(frozen=True)
class PhasedVisit:
    """One visit on the cube's time grid: normalised flux (n_time, n_wl) with variance and
    DQ bits, the out-of-transit level (n_wl,), regressors and mean sample times (n_time,)."""

    flux: np.ndarray
    var: np.ndarray
    dq: np.ndarray
    level: np.ndarray
    regressors: dict[str, np.ndarray]
    times: dict[str, np.ndarray]
    window: TransitWindow


def locate_transit(
    planet_id: int, t: np.ndarray, white: np.ndarray, star: pd.Series, cfg: CalibrationConfig
) -> TransitWindow:
    """The transit window of a white-light curve: matched filter with the durations of a
    point-like planet (no depth assumed), then again with those of the measured depth."""

    def detect(depth: float) -> TransitWindow:
        k = float(np.sqrt(min(max(depth, 1e-5), 0.25)))
        t14, t23 = transit_durations(float(star["P"]), float(star["sma"]), float(star["i"]), k)
        if t14 <= 0:
            raise ValueError(f"planet {planet_id}: star row geometry (P, sma, i) gives no transit")
        return detect_transit(
            t, white, t14_h=t14, t23_h=t23, baseline_degree=cfg.transit_baseline_degree
        )

    win = detect(0.0)
    return detect(win.depth) if win.depth > 0 else win


def bin_series(s: VisitSeries, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both instruments time-binned on ``edges``: flux, var and DQ bits (n_time, 1 + n_airs),
    column 0 FGS1 then the AIRS bins; DQ is the OR over the pairs of each bin."""
    ff, fv, _ = time_bin(s.t_fgs, s.fgs["flux"], s.fgs["var"], edges)
    af, av, _ = time_bin(s.t_airs, s.airs["flux"], s.airs["var"], edges)
    fgs_dq = s.fgs.get("dq", np.zeros(len(s.t_fgs), dq.DTYPE))
    airs_dq = s.airs.get("dq", np.zeros(s.airs["flux"].shape, dq.DTYPE))
    bits = np.concatenate(
        [dq.bin_or(s.t_fgs, fgs_dq, edges)[:, None], dq.bin_or(s.t_airs, airs_dq, edges)], axis=1
    )
    return (
        np.concatenate([ff[:, None], af], axis=1),
        np.concatenate([fv[:, None], av], axis=1),
        bits,
    )


def phase_visit(
    planet_id: int, s: VisitSeries, star: pd.Series, edges: np.ndarray, cfg: CalibrationConfig
) -> PhasedVisit:
    """Bin one visit, detect its transit on the AIRS white light, normalise every bin to its
    out-of-transit median and scale the variance by the red-noise beta^2."""
    t = 0.5 * (edges[:-1] + edges[1:])
    f, fvar, bits = bin_series(s, edges)
    # mean sample time of each bin per instrument: with coarse cadences (time-scaled
    # data) it differs from the bin centre, and the fit evaluates its model there
    times = {
        "time_fgs": bin_regressor(s.t_fgs, s.t_fgs, edges),
        "time_airs": bin_regressor(s.t_airs, s.t_airs, edges),
    }
    t_white = np.where(np.isfinite(times["time_airs"]), times["time_airs"], t)
    white = np.nanmean(f[:, 1:] / np.nanmedian(f, axis=0)[1:], axis=1)  # AIRS sample times
    win = locate_transit(planet_id, t_white, white, star, cfg)
    oot = out_of_transit_mask(t, win, cfg.oot_margin_h)
    flux, var, level = normalise(f, fvar, oot)
    var = var * red_noise_beta2(flux, var, oot)[None, :]
    missing = ~(np.isfinite(flux) & np.isfinite(var) & (var > 0))
    regs = {
        name: bin_regressor(getattr(s, f"t_{inst}"), getattr(s, inst)[key], edges)
        for name, (inst, key) in REGRESSORS.items()
    }
    return PhasedVisit(
        flux=np.where(missing, np.nan, flux),
        var=np.where(missing, np.nan, var),
        dq=bits | np.where(missing, dq.NO_VALID_DATA, 0).astype(dq.DTYPE),
        level=level,
        regressors=regs,
        times=times,
        window=win,
    )


def _cube_variables(phased: Sequence[PhasedVisit]) -> dict[str, Any]:
    dims = ("visit", "time", "wavelength")
    return {
        "flux": (
            dims,
            np.stack([p.flux for p in phased]).astype(np.float64),
            {"units": "1", "long_name": "flux normalised to the out-of-transit median"},
        ),
        "variance": (
            dims,
            np.stack([p.var for p in phased]),
            {"units": "1", "long_name": "variance of flux"},
        ),
        "quality": (
            dims,
            np.stack([p.dq for p in phased]),
            dq.cf_attributes("data-quality bits of flux"),
        ),
        "oot_level": (
            ("visit", "wavelength"),
            np.stack([p.level for p in phased]),
            {"units": "count", "long_name": "out-of-transit median level (counts per frame pair)"},
        ),
        **{
            k: (
                ("visit", "time"),
                np.stack([p.regressors[k] for p in phased]),
                {"units": QA_UNITS.get(k, "pixel"), "long_name": k.replace("_", " ")},
            )
            for k in REGRESSORS
        },
        **{
            k: (
                ("visit", "time"),
                np.stack([p.times[k] for p in phased]),
                {"units": "h", "long_name": f"mean sample time of the bin, {k[5:].upper()}"},
            )
            for k in ("time_fgs", "time_airs")
        },
    }


def _visit_variables(phased: Sequence[PhasedVisit], visits: Sequence[VisitSeries]) -> dict:
    windows = [p.window for p in phased]
    flag = {
        "flag_values": np.array([0, 1], dtype=np.uint8),
        "flag_meanings": "not_observed observed",
    }
    return {
        "ingress": (
            ("visit",),
            [w.ingress_h for w in windows],
            {"units": "h", "long_name": "detected ingress time since visit start"},
        ),
        "egress": (
            ("visit",),
            [w.egress_h for w in windows],
            {"units": "h", "long_name": "detected egress time since visit start"},
        ),
        **{
            f"{edge}_observed": (
                ("visit",),
                np.array([getattr(w, f"{edge}_observed") for w in windows], dtype=np.uint8),
                {"long_name": f"{edge} inside the observed time span", **flag},
            )
            for edge in ("ingress", "egress")
        },
        "transit_snr": (
            ("visit",),
            [w.snr for w in windows],
            {"units": "1", "long_name": "matched-filter depth S/N"},
        ),
        "cosmic_rays": (
            ("visit",),
            np.array([v.n_cosmic for v in visits], dtype=np.int64),
            {
                "units": "count",
                "long_name": "cosmic-ray hits flagged in the visit (both instruments)",
            },
        ),
        "masked_pixel_fraction": (
            ("visit",),
            [v.masked_fraction for v in visits],
            {"units": "1", "long_name": "fraction of pixels masked in the visit"},
        ),
    }


def cube_dataset(
    planet_id: int,
    phased: Sequence[PhasedVisit],
    visits: Sequence[VisitSeries],
    star: pd.Series,
    wavelengths: np.ndarray,
    edges: np.ndarray,
    cfg: CalibrationConfig,
    provenance_attrs: Mapping[str, str],
) -> xr.Dataset:
    """The per-planet cube (visit, time, wavelength) of the phased visits, with CF metadata,
    bounds, sigma and ``provenance_attrs`` (:func:`spectramind.provenance.attributes`)."""
    t = 0.5 * (edges[:-1] + edges[1:])
    ds = xr.Dataset(
        {**_cube_variables(phased), **_visit_variables(phased, visits)},
        coords={
            "visit": np.arange(len(phased)),
            "time": (
                "time",
                t,
                {"units": "h", "long_name": "time bin centre since visit start", "axis": "T"},
            ),
            "wavelength": (
                "wavelength",
                np.asarray(wavelengths, dtype=np.float64),
                {
                    "units": "um",
                    "long_name": "wl_1 (FGS1) then wl_2..wl_283 (AIRS-CH0)",
                    "bounds": "wavelength_bnds",
                },
            ),
        },
        attrs={
            **conventions.global_attributes(
                title=f"Calibrated spectral time series of planet {planet_id}",
                history=f"phase (calibration config sha256 {cfg.digest()[:12]})",
                comment="flux normalised to the out-of-transit median per visit and bin; "
                "times in hours since the visit start, star_P in days",
            ),
            "planet_id": int(planet_id),
            **conventions.star_attributes(star),
            **provenance_attrs,
            "time_bin_s": float(cfg.time_bin_s),
        },
    )
    ds["wavelength_bnds"] = (
        ("wavelength", "nv"),
        conventions.bin_bounds(ds["wavelength"].values),
        {"units": "um", "long_name": "wavelength bin edges (midpoints of the bin centres)"},
    )
    ds["time_bnds"] = (("time", "nv"), np.column_stack([edges[:-1], edges[1:]]), {"units": "h"})
    ds["time"].attrs["bounds"] = "time_bnds"
    return conventions.with_sigma(ds, "variance", "sigma", of="flux")


def build_cube(
    planet_id: int,
    visits: list[VisitSeries],
    star: pd.Series,
    wavelengths: np.ndarray,
    cfg: CalibrationConfig,
    duration_h: float = VISIT_HOURS,
    *,
    config: Mapping[str, Any] | None = None,
    reference_files: Iterable[provenance.RefFile] = (),
) -> xr.Dataset:
    """Phase stage: time-bin both instruments on one grid, detect the transit, normalise.

    Returns the per-planet cube (visit, time, wavelength) with flux normalised to the
    out-of-transit level, its variance, the DQ bits (``quality``) and the jitter regressors.
    ``config``: the whole run config (its hash goes into ``config_sha256``);
    ``reference_files``: those of this stage, beside the visits' own.
    """
    edges = bin_edges(duration_h, cfg.time_bin_s)
    phased = [phase_visit(planet_id, s, star, edges, cfg) for s in visits]
    attrs = provenance.attributes(
        section="calibration",
        section_config=cfg,
        stages=provenance.with_stage([s.stages for s in visits], "phase"),
        config=config,
        reference_files=[*(r for s in visits for r in s.reference_files), *reference_files],
    )
    return cube_dataset(planet_id, phased, visits, star, wavelengths, edges, cfg, attrs)
