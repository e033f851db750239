"""The calibration chain ADC -> dark -> flat -> CDS -> photometry/trace -> phase, fused.

The pixel stages run in one streaming pass over chunks of frame pairs (cache-sized, no
pixel-level intermediate is written), so the chain costs about as much as reading the
files. Each stage is still available on its own (:func:`run_stages` with ``stop_after``)
for the per-stage Snakemake rules. Products are xarray Datasets with named dims and units.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from spectramind import __version__, conventions, io, streams
from spectramind.calibration import detector, extraction, phase
from spectramind.constants import VISIT_HOURS
from spectramind.defaults import schema_defaults
from spectramind.timing import timed

PIXEL_STAGES = ("adc", "dark", "flat", "cds")
STAGES = (*PIXEL_STAGES, "photometry", "trace", "phase")
CHUNK_ELEMENTS = 1 << 18  # pixels per chunk (~1 MB float32): the working set stays in cache
#: units of the cube's per-time-bin QA series that are not detector positions (pixel)
QA_UNITS = {
    "airs_background": "count / pixel",
    "fgs_background": "count / pixel",
    "fgs_masked_fraction": "1",
    "airs_masked_fraction": "1",
    "fgs_transient_pixels": "count",
    "airs_transient_pixels": "count",
}


@dataclass(frozen=True)
@schema_defaults("calibration")
class CalibrationConfig:
    """Parameters of every stage (config keys ``calibration.*``; defaults: the schema)."""

    adc_offset_sign: str
    linearity: bool
    hot_pixel_sigma: float
    flat_minimum: float
    dark_dt_s: Mapping[str, tuple[float, float]]
    cosmic_ray_sigma: float
    background_rows: tuple[tuple[int, int], ...]
    extraction: str
    extraction_rows: tuple[int, int]
    fgs_aperture_radius: float
    fgs_annulus: tuple[float, float]
    time_bin_s: float
    transit_baseline_degree: int
    transit_depth_guess: float
    oot_margin_h: float
    engine: str

    def __post_init__(self) -> None:
        """Relations between keys that the JSON schema cannot state (each would otherwise give
        NaN or a silently wrong product): row ranges [start, stop) with start < stop, an
        annulus outside the aperture, enough time bins for the transit baseline."""
        ranges = {
            "extraction_rows": [self.extraction_rows],
            "background_rows": list(self.background_rows),
        }
        for key, rows in ranges.items():
            for lo, hi in rows:
                if not 0 <= lo < hi <= 32:
                    raise ValueError(
                        f"calibration.{key}: [{lo}, {hi}] is not a row range [start, stop) "
                        "with 0 <= start < stop <= 32"
                    )
        inner, outer = self.fgs_annulus
        if not self.fgs_aperture_radius <= inner < outer:
            raise ValueError(
                f"calibration.fgs_annulus: [{inner}, {outer}] must satisfy fgs_aperture_radius "
                f"({self.fgs_aperture_radius}) <= inner < outer (a background annulus outside "
                "the aperture)"
            )
        n_bins = int(np.ceil(VISIT_HOURS * 3600.0 / self.time_bin_s - 1e-9))
        if n_bins < self.transit_baseline_degree + 4:
            raise ValueError(
                f"calibration.time_bin_s: {self.time_bin_s} s gives {n_bins} time bins over the "
                f"{VISIT_HOURS} h visit; transit detection with transit_baseline_degree="
                f"{self.transit_baseline_degree} needs at least {self.transit_baseline_degree + 4}"
            )

    @classmethod
    def from_dict(cls, d: Mapping) -> CalibrationConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown calibration config keys: {unknown}")
        conv = dict(known)
        for key in ("extraction_rows", "fgs_annulus"):
            if key in conv:
                conv[key] = tuple(conv[key])
        if "background_rows" in conv:
            conv["background_rows"] = tuple(tuple(r) for r in conv["background_rows"])
        if "dark_dt_s" in conv:
            conv["dark_dt_s"] = {k: tuple(v) for k, v in conv["dark_dt_s"].items()}
        if conv.get("engine", "numba") not in ("numba", "numpy"):
            raise ValueError(
                f"calibration.engine must be 'numba' or 'numpy', got {conv['engine']!r}"
            )
        if conv.get("extraction", "optimal") not in ("optimal", "box"):
            raise ValueError(
                f"calibration.extraction must be 'optimal' or 'box', got {conv['extraction']!r}"
            )
        return cls(**conv)

    def digest(self) -> str:
        """sha256 of the config (recorded in every product)."""
        return hashlib.sha256(
            json.dumps(asdict(self), sort_keys=True, default=list).encode()
        ).hexdigest()


# --------------------------------------------------------------------------- pixel stages
@dataclass(frozen=True)
class PixelProducts:
    """Output of the fused pixel stages for one instrument and visit."""

    flux: np.ndarray  # (n_pairs, ny, nx) CDS counts per pair, flat-fielded
    var: np.ndarray  # same shape
    mask: np.ndarray  # same shape, True = bad
    static_mask: np.ndarray  # (ny, nx) dead | hot | bad flat
    n_cosmic: int
    stages: dict[str, str]


def run_pixel_stages(
    raw: np.ndarray | io.SignalFile,
    maps: io.CalibrationMaps,
    *,
    gain: float,
    offset: float,
    instrument: str,
    cfg: CalibrationConfig,
    stop_after: str = "cds",
    timings: dict[str, float] | None = None,
    batches: Iterator[tuple[int, np.ndarray]] | None = None,
) -> PixelProducts:
    """ADC -> linearity -> dark -> flat -> CDS (-> cosmic-ray flags) over chunks of pairs.

    raw: (2n, ny, nx) uint16, or an opened signal file: the numba engine then calibrates
    its batches as they are decoded (streamed, read and compute overlapped); the numpy
    engine and the per-read stages read it whole first. ``stop_after`` in ("adc", "dark",
    "flat") returns per-read arrays (2n, ny, nx) instead of CDS pairs (for the per-stage
    rules). ``batches``: the decoded batches of ``raw`` when the caller already started
    them (:func:`stream_signal`, to decode ahead), else they are started here.
    """
    if stop_after not in PIXEL_STAGES:
        raise ValueError(f"stop_after must be one of {PIXEL_STAGES}")
    n_reads, ny, nx = n_frames(raw), *_frame_shape(raw)
    if (ny, nx) != maps.dark.shape:
        raise ValueError(f"frames are {ny}x{nx} but calibration maps are {maps.dark.shape}")
    static = detector.pixel_mask(
        maps.dead,
        maps.dark,
        maps.flat,
        hot_sigma=cfg.hot_pixel_sigma,
        flat_minimum=cfg.flat_minimum,
    )
    bad_flat = detector.bad_flat_mask(maps.flat, minimum=cfg.flat_minimum)
    dt = cfg.dark_dt_s[instrument]
    if stop_after == "cds" and cfg.engine == "numba":
        return _run_pixel_stages_numba(
            raw, maps, gain, offset, cfg, static, bad_flat, dt, timings, batches
        )
    if isinstance(raw, io.SignalFile):
        with timed(timings, "read"):
            raw = io.read_frames(raw)
    per_read = stop_after != "cds"
    n_out = n_reads if per_read else n_reads // 2
    flux = np.empty((n_out, ny, nx), dtype=np.float32)
    var = np.empty_like(flux) if not per_read else np.zeros((0, ny, nx), np.float32)
    mask = np.empty(flux.shape, dtype=bool)
    step = 32 * max(
        1, CHUNK_ELEMENTS // (32 * ny * nx)
    )  # 32 reads: cache lines of the pixel-major reader
    coeffs = maps.linear_corr.astype(np.float32)
    for a in range(0, n_reads, step):
        r = raw[a : a + step]
        x = detector.adc_decode(r, gain, offset, sign=cfg.adc_offset_sign)
        m = detector.saturation_mask(r) | static
        if cfg.linearity:
            x = detector.linearity_correct(x, coeffs)
        if stop_after != "adc":
            x = detector.dark_subtract(x, maps.dark, dt)
        if stop_after not in ("adc", "dark"):
            x = detector.flat_field(x, maps.flat, bad_flat)
        if per_read:
            flux[a : a + len(r)], mask[a : a + len(r)] = x, m
            continue
        c = detector.cds(x)
        o = slice(a // 2, a // 2 + len(c))
        flux[o] = c
        var[o] = detector.cds_variance(c, maps.read, maps.flat, bad_flat)
        mask[o] = m[0::2] | m[1::2]
    stages = {"adc": "COMPLETE", "linearity": "COMPLETE" if cfg.linearity else "SKIPPED"}
    for s in ("dark", "flat", "cds"):
        stages[s] = (
            "COMPLETE" if PIXEL_STAGES.index(s) <= PIXEL_STAGES.index(stop_after) else "SKIPPED"
        )
    n_cr = 0
    if not per_read:
        n_cr = _flag_cosmic_rays_inplace(flux, var, mask, cfg.cosmic_ray_sigma, step // 2)
    return PixelProducts(flux, var, mask, static, n_cr, stages)


CR_SCATTER_PAIRS = 512  # pairs used to estimate each pixel's robust frame-to-frame scatter


def _stage_record(linearity: bool) -> dict[str, str]:
    return {
        "adc": "COMPLETE",
        "linearity": "COMPLETE" if linearity else "SKIPPED",
        "dark": "COMPLETE",
        "flat": "COMPLETE",
        "cds": "COMPLETE",
    }


def _cr_scatter(flux: np.ndarray) -> np.ndarray:
    n = flux.shape[0]
    return detector.temporal_scatter(flux[:: max(1, n // CR_SCATTER_PAIRS)][:CR_SCATTER_PAIRS])


def n_frames(raw: np.ndarray | io.SignalFile) -> int:
    """Number of reads of a raw array or opened signal file."""
    return raw.n_frames if isinstance(raw, io.SignalFile) else int(raw.shape[0])


def _frame_shape(raw: np.ndarray | io.SignalFile) -> tuple[int, int]:
    return raw.shape if isinstance(raw, io.SignalFile) else (int(raw.shape[1]), int(raw.shape[2]))


STREAM_PREFETCH = 1  # row groups decoded ahead of the kernel


def stream_signal(signal: io.SignalFile) -> Iterator[tuple[int, np.ndarray]]:
    """The batches of :func:`io.iter_signal`, decoded by a background thread from now on,
    one row group ahead of the consumer (read and compute overlap)."""
    return streams.prefetch(io.iter_signal(signal), depth=STREAM_PREFETCH)


def _run_pixel_stages_numba(
    raw: np.ndarray | io.SignalFile,
    maps: io.CalibrationMaps,
    gain: float,
    offset: float,
    cfg: CalibrationConfig,
    static: np.ndarray,
    bad_flat: np.ndarray,
    dt: tuple[float, float],
    timings: dict[str, float] | None = None,
    batches: Iterator[tuple[int, np.ndarray]] | None = None,
) -> PixelProducts:
    """The fused numba path of :func:`run_pixel_stages` (same results as the numpy chain)."""
    from spectramind.calibration import fast

    kernel_maps: dict[str, Any] = {
        "gain": gain,
        "offset": detector.ADC_SIGNS[cfg.adc_offset_sign] * offset,
        "coeffs": maps.linear_corr if cfg.linearity else None,
        "dark": maps.dark,
        "dt": dt,
        "flat_safe": np.where(bad_flat, 1.0, maps.flat),
        "read": maps.read,
        "static_mask": static,
    }
    if isinstance(raw, io.SignalFile):
        flux, var, mask = fast.pixel_chain_stream(
            stream_signal(raw) if batches is None else batches,
            raw.n_frames,
            **kernel_maps,
            timings=timings,
        )
    else:
        with timed(timings, "pixel kernel"):
            flux, var, mask = fast.pixel_chain(raw, **kernel_maps)
    with timed(timings, "cosmic rays"):
        n_cr = fast.flag_cosmic_rays(flux, var, _cr_scatter(flux), cfg.cosmic_ray_sigma, mask)
    return PixelProducts(flux, var, mask, static, n_cr, _stage_record(cfg.linearity))


def _flag_cosmic_rays_inplace(
    flux: np.ndarray, var: np.ndarray, mask: np.ndarray, sigma: float, step: int
) -> int:
    n, total = flux.shape[0], 0
    scatter = _cr_scatter(flux)
    prev = None
    for a in range(0, n, step):
        b = min(a + step, n)
        nxt = flux[b] if b < n else None
        cr = detector.flag_cosmic_rays(
            flux[a:b], var[a:b], sigma, scatter=scatter, prev=prev, nxt=nxt
        )
        prev = flux[b - 1].copy()
        cr &= ~mask[a:b]
        total += int(cr.sum())
        mask[a:b] |= cr
    return total


# --------------------------------------------------------------------------- per-instrument
def extract_airs(pix: PixelProducts, cfg: CalibrationConfig) -> dict[str, np.ndarray]:
    """Trace stage: background, profile, extraction of columns 39:321 in target order.

    Returns flux, var (n, 282) in wl_2..wl_283 order, trace_y, trace_width (n,), background (n,).
    """
    lo, hi = extraction.AIRS_FIRST_COLUMN, extraction.AIRS_STOP_COLUMN
    n = pix.flux.shape[0]
    out_f = np.empty((n, hi - lo), np.float32)
    out_v = np.empty_like(out_f)
    bkg_mean = np.empty(n)
    ty, tw = np.empty(n), np.empty(n)
    step = max(1, CHUNK_ELEMENTS // (pix.flux.shape[1] * (hi - lo)))
    bkgs = []
    for a in range(0, n, step):  # pass 1: background-subtracted mean frame for the profile
        s = slice(a, a + step)
        b = extraction.edge_background(
            pix.flux[s, :, lo:hi], pix.mask[s, :, lo:hi], list(cfg.background_rows)
        )
        bkgs.append(b)
    bkg = np.concatenate(bkgs)
    good = ~pix.mask[:, :, lo:hi]
    num = np.zeros(pix.flux.shape[1:2] + (hi - lo,))
    den = np.zeros_like(num)
    for a in range(0, n, step):
        s = slice(a, a + step)
        d = pix.flux[s, :, lo:hi] - bkg[s][:, None, :]
        num += np.where(good[s], d, 0).sum(axis=0)
        den += good[s].sum(axis=0)
    # pixels bad in every frame (hot blocks on the trace core) get an interpolated profile
    profile = extraction.fill_profile(np.clip(num / np.maximum(den, 1), 0, None), den > 0)
    extract = extraction.optimal_extract if cfg.extraction == "optimal" else extraction.box_extract
    for a in range(0, n, step):  # pass 2: extraction
        s = slice(a, a + step)
        d = pix.flux[s, :, lo:hi] - bkg[s][:, None, :]
        f, v = extract(d, pix.var[s, :, lo:hi], pix.mask[s, :, lo:hi], profile, cfg.extraction_rows)
        out_f[s], out_v[s] = f, v
        ty[s], tw[s] = extraction.trace_centroid(d, pix.mask[s, :, lo:hi], cfg.extraction_rows)
        bkg_mean[s] = bkg[s].mean(axis=1)
    return {
        "flux": extraction.to_target_order(out_f),
        "var": extraction.to_target_order(out_v),
        "trace_y": ty,
        "trace_width": tw,
        "background": bkg_mean,
    }


TEMPLATE_PAIRS = 2048  # pairs averaged for the FGS1 PSF template and centre


def photometry_fgs(pix: PixelProducts, cfg: CalibrationConfig) -> dict[str, np.ndarray]:
    """Photometry stage: aperture photometry at the time-averaged PSF centroid."""
    sub = slice(None, None, max(1, pix.flux.shape[0] // TEMPLATE_PAIRS))
    good = ~pix.mask[sub]
    img = np.where(good, pix.flux[sub], 0).sum(axis=0) / np.maximum(good.sum(axis=0), 1)
    img = np.clip(img - np.median(img), 0, None)
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    tot = img.sum()
    if tot <= 0:
        raise ValueError("FGS1: no stellar flux found in the time-averaged image")
    centre = (float((img * yy).sum() / tot), float((img * xx).sum() / tot))
    n = pix.flux.shape[0]
    step = max(1, CHUNK_ELEMENTS // img.size)
    parts = [
        extraction.aperture_photometry(
            pix.flux[a : a + step],
            pix.var[a : a + step],
            pix.mask[a : a + step],
            centre=centre,
            radius=cfg.fgs_aperture_radius,
            annulus=cfg.fgs_annulus,
            template=img,
            static_mask=pix.static_mask,
        )
        for a in range(0, n, step)
    ]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# --------------------------------------------------------------------------- per-visit and cube
def pair_mid_times(times_h: np.ndarray, n_reads: int, source: str) -> np.ndarray:
    """Mid-time (h) of each start/end pair; the axis must have one time per read."""
    if times_h.size != n_reads:
        raise io.DataError(
            source, f"time axis has {times_h.size} values but the signal has {n_reads} frames"
        )
    return times_h.reshape(-1, 2).mean(axis=1)


@dataclass(frozen=True)
class VisitSeries:
    """Per-pair series of one visit: FGS1 photometry and AIRS extraction."""

    t_fgs: np.ndarray
    fgs: dict[str, np.ndarray]
    t_airs: np.ndarray
    airs: dict[str, np.ndarray]
    stages: dict[str, str]
    n_cosmic: int
    masked_fraction: float


def pair_qa(pix: PixelProducts) -> dict[str, np.ndarray]:
    """Per-pair QA series of a CDS product: ``masked_fraction`` (all masked pixels) and
    ``transient_pixels`` (masked pixels beyond the static dead/hot/bad-flat mask: cosmic-ray
    hits and saturation), each ``(n_pairs,)``."""
    return {
        "masked_fraction": pix.mask.mean(axis=(1, 2)),
        "transient_pixels": (pix.mask & ~pix.static_mask).sum(axis=(1, 2)).astype(np.float64),
    }


def calibrate_visit(
    raw: Mapping[str, np.ndarray | io.SignalFile],
    maps: Mapping[str, io.CalibrationMaps],
    adc: Mapping[str, tuple[float, float]],
    axis: io.AxisInfo,
    cfg: CalibrationConfig,
    source: str = "axis_info.parquet",
    timings: dict[str, float] | None = None,
) -> VisitSeries:
    """Run every pixel stage and the photometry/trace stages for one visit."""
    t_fgs = pair_mid_times(axis.fgs_time_h, n_frames(raw["FGS1"]), source)
    t_airs = pair_mid_times(axis.airs_time_h, n_frames(raw["AIRS-CH0"]), source)
    airs_raw = raw["AIRS-CH0"]
    pf = run_pixel_stages(
        raw["FGS1"],
        maps["FGS1"],
        gain=adc["FGS1"][0],
        offset=adc["FGS1"][1],
        instrument="FGS1",
        cfg=cfg,
        timings=timings,
    )
    airs_batches = None
    if isinstance(airs_raw, io.SignalFile) and cfg.engine == "numba":
        # AIRS is decoded during the FGS1 photometry (the decoder releases the GIL); not
        # earlier, so that the FGS1 reads are freed first (peak memory)
        airs_batches = stream_signal(airs_raw)
    with timed(timings, "photometry"):
        fgs = photometry_fgs(pf, cfg)
    fgs.update(pair_qa(pf))
    n_cr, masked = pf.n_cosmic, [pf.mask.mean()]
    del pf
    pa = run_pixel_stages(
        airs_raw,
        maps["AIRS-CH0"],
        gain=adc["AIRS-CH0"][0],
        offset=adc["AIRS-CH0"][1],
        instrument="AIRS-CH0",
        cfg=cfg,
        timings=timings,
        batches=airs_batches,
    )
    with timed(timings, "trace"):
        airs = extract_airs(pa, cfg)
    airs.update(pair_qa(pa))
    # the propagated variance assumes 1 e-/count and one read per pair: scale it to the
    # measured white noise of each series (see phase.white_noise_scale)
    fgs["var"] = fgs["var"] * phase.white_noise_scale(fgs["flux"], fgs["var"])
    airs["var"] = airs["var"] * phase.white_noise_scale(airs["flux"], airs["var"])[None, :]
    stages = {**pa.stages, "photometry": "COMPLETE", "trace": "COMPLETE"}
    return VisitSeries(
        t_fgs,
        fgs,
        t_airs,
        airs,
        stages,
        n_cr + pa.n_cosmic,
        float(np.mean([*masked, pa.mask.mean()])),
    )


def _detect(
    planet_id: int,
    t: np.ndarray,
    white: np.ndarray,
    star: pd.Series,
    depth: float,
    cfg: CalibrationConfig,
) -> phase.TransitWindow:
    k = float(np.sqrt(min(max(depth, 1e-5), 0.25)))
    t14, t23 = phase.transit_durations(float(star["P"]), float(star["sma"]), float(star["i"]), k)
    if t14 <= 0:
        raise ValueError(f"planet {planet_id}: star row geometry (P, sma, i) gives no transit")
    return phase.detect_transit(
        t, white, t14_h=t14, t23_h=t23, baseline_degree=cfg.transit_baseline_degree
    )


def build_cube(
    planet_id: int,
    visits: list[VisitSeries],
    star: pd.Series,
    wavelengths: np.ndarray,
    cfg: CalibrationConfig,
    duration_h: float = VISIT_HOURS,
) -> xr.Dataset:
    """Phase stage: time-bin both instruments on one grid, detect the transit, normalise.

    Returns the per-planet cube (visit, time, wavelength) with flux normalised to the
    out-of-transit level, its variance, a quality mask and the jitter regressors.
    """
    edges = phase.bin_edges(duration_h, cfg.time_bin_s)
    t = 0.5 * (edges[:-1] + edges[1:])
    nv, nt, nw = len(visits), len(t), len(wavelengths)
    flux = np.full((nv, nt, nw), np.nan)
    var = np.full_like(flux, np.nan)
    level = np.full((nv, nw), np.nan)
    regs = {
        k: np.full((nv, nt), np.nan)
        for k in (
            "fgs_centroid_y",
            "fgs_centroid_x",
            "airs_trace_y",
            "airs_trace_width",
            "airs_background",
            "fgs_background",
            "fgs_masked_fraction",
            "airs_masked_fraction",
            "fgs_transient_pixels",
            "airs_transient_pixels",
        )
    }
    t_inst = {k: np.full((nv, nt), np.nan) for k in ("time_fgs", "time_airs")}
    windows = []
    for v, s in enumerate(visits):
        ff, fv, _ = phase.time_bin(s.t_fgs, s.fgs["flux"], s.fgs["var"], edges)
        af, av, _ = phase.time_bin(s.t_airs, s.airs["flux"], s.airs["var"], edges)
        f = np.concatenate([ff[:, None], af], axis=1)
        fvar = np.concatenate([fv[:, None], av], axis=1)
        lvl_guess = np.nanmedian(f, axis=0)
        # mean sample time of each bin per instrument: with coarse cadences (time-scaled
        # data) it differs from the bin centre, and the fit evaluates its model there
        t_inst["time_fgs"][v] = phase.bin_regressor(s.t_fgs, s.t_fgs, edges)
        t_inst["time_airs"][v] = phase.bin_regressor(s.t_airs, s.t_airs, edges)
        t_white = np.where(np.isfinite(t_inst["time_airs"][v]), t_inst["time_airs"][v], t)
        white = np.nanmean(f[:, 1:] / lvl_guess[1:], axis=1)  # AIRS: its own sample times
        win = _detect(planet_id, t_white, white, star, cfg.transit_depth_guess, cfg)
        if win.depth > 0:  # second pass with the durations of the measured depth
            win = _detect(planet_id, t_white, white, star, win.depth, cfg)
        windows.append(win)
        oot = phase.out_of_transit_mask(t, win, cfg.oot_margin_h)
        flux[v], var[v], level[v] = phase.normalise(f, fvar, oot)
        var[v] *= phase.red_noise_beta2(flux[v], var[v], oot)[None, :]
        regs["fgs_centroid_y"][v] = phase.bin_regressor(s.t_fgs, s.fgs["centroid_y"], edges)
        regs["fgs_centroid_x"][v] = phase.bin_regressor(s.t_fgs, s.fgs["centroid_x"], edges)
        regs["fgs_background"][v] = phase.bin_regressor(s.t_fgs, s.fgs["background"], edges)
        regs["airs_trace_y"][v] = phase.bin_regressor(s.t_airs, s.airs["trace_y"], edges)
        regs["airs_trace_width"][v] = phase.bin_regressor(s.t_airs, s.airs["trace_width"], edges)
        regs["airs_background"][v] = phase.bin_regressor(s.t_airs, s.airs["background"], edges)
        for k in ("masked_fraction", "transient_pixels"):
            regs[f"fgs_{k}"][v] = phase.bin_regressor(s.t_fgs, s.fgs[k], edges)
            regs[f"airs_{k}"][v] = phase.bin_regressor(s.t_airs, s.airs[k], edges)
    quality = ~(np.isfinite(flux) & np.isfinite(var) & (var > 0))
    stages = {**visits[0].stages, "phase": "COMPLETE"}
    dims = ("visit", "time", "wavelength")
    ds = xr.Dataset(
        {
            "flux": (
                dims,
                np.where(quality, np.nan, flux).astype(np.float64),
                {"units": "1", "long_name": "flux normalised to the out-of-transit median"},
            ),
            "variance": (
                dims,
                np.where(quality, np.nan, var),
                {"units": "1", "long_name": "variance of flux"},
            ),
            "quality": (
                dims,
                quality.astype(np.uint8),
                {
                    "long_name": "quality flag of flux",
                    "flag_values": np.array([0, 1], dtype=np.uint8),
                    "flag_meanings": "valid no_valid_data",
                },
            ),
            "oot_level": (
                ("visit", "wavelength"),
                level,
                {
                    "units": "count",
                    "long_name": "out-of-transit median level (counts per frame pair)",
                },
            ),
            **{
                k: (
                    ("visit", "time"),
                    r,
                    {"units": QA_UNITS.get(k, "pixel"), "long_name": k.replace("_", " ")},
                )
                for k, r in regs.items()
            },
            **{
                k: (
                    ("visit", "time"),
                    v,
                    {"units": "h", "long_name": f"mean sample time of the bin, {k[5:].upper()}"},
                )
                for k, v in t_inst.items()
            },
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
                    {
                        "long_name": f"{edge} inside the observed time span",
                        "flag_values": np.array([0, 1], dtype=np.uint8),
                        "flag_meanings": "not_observed observed",
                    },
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
        },
        coords={
            "visit": np.arange(nv),
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
            "stages": json.dumps(stages),
            "software": f"spectramind {__version__}",
            "config_sha256": cfg.digest(),
            "calibration_config": json.dumps(asdict(cfg), default=list),
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
